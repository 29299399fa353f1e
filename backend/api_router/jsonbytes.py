"""JSON written as bytes, for every value the gateway read as JSON and writes again.

orjson reads JSON nested up to 1,024 levels but writes at most 254: a request or an answer it read
(a field 300 levels deep is valid JSON) could not be written back, and the gateway failed with its
own error. What orjson cannot write, the standard library writes; what neither can (deeper than
Python's recursion allows, about 900 levels) is ``NestedTooDeep``, which says so in words.

A string holding a lone surrogate (a path under a folder whose name is not UTF-8) is written with it
escaped (``texts.utf8_writable``): an answer naming such a path is still an answer, not a 500.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from api_router.texts import utf8_writable


class NestedTooDeep(ValueError):
    """The value nests too deeply for API Router to write it as JSON."""


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError as exc:
        if refuses_surrogates(exc):
            return dumps(utf8_strings(value), sort_keys=sort_keys)
        if "Recursion limit" not in str(exc):
            raise
    try:
        # ASCII: orjson read the value, so its strings are valid Unicode; escaped, any of them writes.
        return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False).encode()
    except RecursionError:
        raise NestedTooDeep("JSON nested too deeply for API Router to write it again "
                            "(it writes up to about 900 levels)") from None


def refuses_surrogates(exc: TypeError) -> bool:
    """Whether orjson refused to write a value for a lone surrogate in one of its strings."""
    return "surrogates" in str(exc)


def utf8_strings(value: Any) -> Any:
    """``value`` with every string in it (keys too) as ``texts.utf8_writable`` writes it."""
    if isinstance(value, str):
        return utf8_writable(value)
    if isinstance(value, dict):
        return {utf8_strings(k): utf8_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [utf8_strings(v) for v in value]
    return value
