"""Reading the TOML files users write (API Router's config.toml, Codex's), without loading tomlkit for it.

The standard library's tomllib (TOML 1.0) reads the usual file. tomlkit writes files back with their
comments kept, and also reads TOML 1.1 (inline tables over several lines or with a trailing comma,
``\\e``, times without seconds); it takes about 0.9 MB once imported, so it is imported only to write a
file, or to read one that tomllib cannot. A file either parser reads is a file the app reads, as when
tomlkit read everything.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from api_router.lazy import LazyModule

if TYPE_CHECKING:
    import tomlkit
    from tomlkit.toml_document import TOMLDocument
else:
    tomlkit = LazyModule("tomlkit")

# tomlkit is here for the writers too: through this module it is loaded on first use.
__all__ = ["TomlError", "document", "dumped", "loads", "same_values", "tomlkit"]


class TomlError(ValueError):
    """The text is not TOML that API Router can read; the message says where, in one line."""


def loads(text: str) -> Mapping[str, Any]:
    """The values of ``text``, to read them."""
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        return document(text)  # TOML 1.1, or what tomlkit says about it


def document(text: str) -> TOMLDocument:
    """``text`` as a document to change and write back, comments and all."""
    try:
        return tomlkit.parse(text)
    except Exception as exc:  # tomlkit raises several error types (and RecursionError on deep nesting)
        raise TomlError(" ".join(str(exc).split()) or type(exc).__name__) from None


def dumped(doc: TOMLDocument) -> str:
    """``doc`` as text, checked to read back as the values the document holds. tomlkit writes a table
    added next to keys written dotted (``providers.p1.base_url = …``) in among them, so that the keys
    after it land in the new table: such a text would move the user's settings, and is never saved."""
    text = tomlkit.dumps(doc)
    try:
        ok = same_values(loads(text), doc.unwrap())
    except TomlError:
        ok = False
    if not ok:
        dotted = _dotted_names(doc.body)
        if not dotted:
            raise TomlError("the change cannot be written into this file's layout without changing what other "
                            "settings say")
        named = ", ".join(dotted[:3]) + (", …" if len(dotted) > 3 else "") if dotted else "a.b.c = …"
        tables = list(dict.fromkeys(name.rsplit(".", 1)[0] for name in dotted)) or ["a.b"]
        written = " and ".join(f"[{table}]" for table in tables[:3]) + (" …" if len(tables) > 3 else "")
        raise TomlError(f"the change cannot be written into this file's layout without moving other settings: "
                        f"it has settings written as dotted keys ({named}), which a table the change adds would "
                        f"land among; write them as {'a ' if len(tables) == 1 else ''}{written} "
                        f"{'table' if len(tables) == 1 else 'tables'}")
    return text


def _dotted_names(body: list[tuple[Any, Any]], prefix: str = "", dotted: bool = False) -> list[str]:
    """The settings a document writes as dotted keys at its top (``providers.p5.base_url = …``: where a
    table added would land among them), by their full names."""
    names: list[str] = []
    for key, item in body:
        if key is None:
            continue
        inner = getattr(getattr(item, "value", None), "body", None)
        if isinstance(inner, list) and (dotted or key.is_dotted()):
            found = _dotted_names(inner, f"{prefix}{key.key}.", dotted=key.is_dotted())
            names += [name for name in found if name not in names]
        elif dotted and f"{prefix}{key.key}" not in names:
            names.append(f"{prefix}{key.key}")
    return names


def same_values(a: Any, b: Any) -> bool:
    """Equal as TOML values (a NaN equals a NaN: it is the same value written back); tomlkit's values (what
    ``loads`` gives for TOML 1.1) compare as the plain ones they stand for."""
    a, b = (v.unwrap() if hasattr(v, "unwrap") else v for v in (a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def plain(value: Any) -> Any:
    """A value read from a tomlkit document as plain Python (its dicts, lists and scalars)."""
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value
