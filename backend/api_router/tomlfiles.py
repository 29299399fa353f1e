"""Reading the TOML files users write (API Router's config.toml, Codex's), without loading tomlkit for it.

The standard library's tomllib (TOML 1.0) reads the usual file. tomlkit writes files back with their
comments kept, and also reads TOML 1.1 (inline tables over several lines or with a trailing comma,
``\\e``, times without seconds); it takes about 0.9 MB once imported, so it is imported only to write a
file, or to read one that tomllib cannot. A file either parser reads is a file the app reads, as when
tomlkit read everything.
"""

from __future__ import annotations

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
__all__ = ["TomlError", "document", "loads", "tomlkit"]


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
