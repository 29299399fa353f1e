"""Text as a person reads it in a message: bounded, however long what it quotes."""

from __future__ import annotations

from collections.abc import Iterable

QUOTED_MAX = 80


def shortened(text: str, limit: int) -> str:
    """``text`` whole when it fits in ``limit`` characters, else its start and "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: object, limit: int = QUOTED_MAX) -> str:
    """Something a client sent (an id, a model name), as an error names it: in quotes and shortened —
    the message must say what it refers to without echoing a 100 KB id back."""
    return repr(shortened(value if isinstance(value, str) else written(value), limit))


def shown(value: object, limit: int = QUOTED_MAX) -> str:
    """A value as Python writes it (a string in quotes), shortened."""
    return shortened(written(value), limit)


def listed(values: Iterable[object], most: int = 5) -> str:
    """Names a client sent, quoted, the first ``most`` of them (and how many more)."""
    names = list(values)
    more = len(names) - most
    return ", ".join(quoted(v) for v in names[:most]) + (f" and {more} more" if more > 0 else "")


def written(value: object) -> str:
    """``repr(value)``, or what the value is when it is nested too deeply to write (a TOML dotted key or
    a JSON document can nest a thousand levels, and ``repr`` then raises instead of answering)."""
    try:
        return repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to show"
