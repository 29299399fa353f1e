"""The HTTP gateway: routes, the Responses proxy, upstream attempts, streaming and continuity."""
