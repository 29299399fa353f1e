"""Text as a person reads it in a message: bounded, however long what it quotes."""

from __future__ import annotations

QUOTED_MAX = 80


def shortened(text: str, limit: int) -> str:
    """``text`` whole when it fits in ``limit`` characters, else its start and "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: object, limit: int = QUOTED_MAX) -> str:
    """Something a client sent (an id, a model name), as an error names it: in quotes and shortened —
    the message must say what it refers to without echoing a 100 KB id back."""
    return repr(shortened(value if isinstance(value, str) else repr(value), limit))
