"""JSON written as bytes, for every value the gateway read as JSON and writes again.

orjson reads JSON nested up to 1,024 levels but writes at most 254: a request or an answer it read
(a field 300 levels deep is valid JSON) could not be written back, and the gateway failed with its
own error. What orjson cannot write, the standard library writes; what neither can (deeper than
Python's recursion allows, about 900 levels) is ``NestedTooDeep``, which says so in words.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class NestedTooDeep(ValueError):
    """The value nests too deeply for API Router to write it as JSON."""


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError as exc:
        if "Recursion limit" not in str(exc):
            raise
    try:
        # ASCII: orjson read the value, so its strings are valid Unicode; escaped, any of them writes.
        return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False).encode()
    except RecursionError:
        raise NestedTooDeep("JSON nested too deeply for API Router to write it again "
                            "(it writes up to about 900 levels)") from None
