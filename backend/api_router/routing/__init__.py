"""Which provider serves the next request: candidates, health, cooldowns, return to preferred."""

from api_router.routing.router import MAX_RETRY_AFTER_SECONDS, Failure, Health, Router

__all__ = ["MAX_RETRY_AFTER_SECONDS", "Failure", "Health", "Router"]
