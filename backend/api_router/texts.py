"""Text as a person reads it in a message: bounded, however long what it quotes."""

from __future__ import annotations

import datetime
import json
import math
import re
import unicodedata
from collections.abc import Iterable

QUOTED_MAX = 80
# What a line shown to a person must not hold: C0, DEL and C1 controls (a terminal acts on U+009B as on
# ESC [), and the line breaks of Unicode.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Words from outside (an upstream's error) on one line: controls and runs of white space as one space."""
    return " ".join(_CONTROL.sub(" ", text).split())


# A byte that is not UTF-8 in a name the system gave (a folder named in Latin-1) is a lone surrogate in
# Python's str (U+DC80–U+DCFF, "surrogateescape"); JSON, SQLite and a UTF-8 file refuse those.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def utf8_writable(text: str) -> str:
    """``text`` with every lone surrogate written as an escape: the byte it stands for as ``\\xe9``, so a
    path under a Latin-1 folder name reads as the bytes it is, and any other one as ``\\udXXX``."""
    if text.isascii():  # nearly every log line and message: no regex pass (a log line may be checked twice)
        return text
    return _SURROGATE.sub(_escape_surrogate, text)


def shortened(text: str, limit: int) -> str:
    """``text`` whole when it fits in ``limit`` characters, else its start and "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: object, limit: int = QUOTED_MAX) -> str:
    """Something a client sent (an id, a model name), as an error names it: in quotes and shortened —
    the message must say what it refers to without echoing a 100 KB id back."""
    return repr(shortened(value if isinstance(value, str) else written(value), limit))


def shown(value: object, limit: int = QUOTED_MAX) -> str:
    """A value as ``written`` writes it, shortened."""
    return shortened(written(value), limit)


def listed(values: Iterable[object], most: int = 5) -> str:
    """Names a client sent, quoted, the first ``most`` of them (and how many more)."""
    names = list(values)
    more = len(names) - most
    return ", ".join(quoted(v) for v in names[:most]) + (f" and {more} more" if more > 0 else "")


def written(value: object) -> str:
    """``value`` as the person who sent it wrote it — JSON notation (``null``, ``true``, ``{"gpt-5": 1}``,
    which TOML shares for these), a string in quotes — or what the value is when it is nested too deeply
    to write (a TOML dotted key or a JSON document can nest a thousand levels, and writing it would raise
    instead of answering)."""
    try:
        if isinstance(value, str):
            return repr(value)
        if isinstance(value, float) and not math.isfinite(value):  # TOML's inf and nan (JSON has none)
            return repr(value)
        if isinstance(value, (datetime.date, datetime.time)):  # a TOML date or time, as the file has it
            return value.isoformat()
        try:
            return json.dumps(value, ensure_ascii=False, default=_as_written)
        except (TypeError, ValueError):  # not a JSON value (a set, say): as Python writes it
            return repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to show"


def _as_written(value: object) -> object:
    """A TOML date or time as the file has it (json.dumps' ``default`` for one nested in a list or table)."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return value


_LRM = "\u200e"  # LEFT-TO-RIGHT MARK: zero width, understood by every text renderer (unlike the isolates)


def left_to_right(text: str) -> str:
    """``text`` laid out left to right where a right-to-left name in it would turn the line around: a
    renderer takes a line's direction from its first strong letter, so "שרת ראשי — 63 % left" read
    "● left % 63 — שרת ראשי", and digits after an Arabic name join it. Text without right-to-left
    letters comes back as it is."""
    if not any(unicodedata.bidirectional(c) in ("R", "AL") for c in text):
        return text
    return _LRM + text


def name_in_line(name: str) -> str:
    """A name that may be right-to-left, kept apart from the words and numbers after it in a line."""
    return name + _LRM if any(unicodedata.bidirectional(c) in ("R", "AL") for c in name) else name
