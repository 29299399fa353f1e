"""``DesktopApi``: the control API as pywebview's ``js_api``.

pywebview hands JS arguments to Python positionally, while the control API (and the HTTP transport
the browser uses) speaks keyword arguments. So every exposed control method becomes a method that
takes one optional object of keyword arguments: ``api.set_manual_override({provider: "p2"})`` in JS
is ``set_manual_override(provider="p2")`` here, checked and run by the same ``Registry`` the HTTP
transport uses. A refused call raises ``BridgeError``, which pywebview turns into a rejected Promise
whose ``Error.message`` is ours.

One method belongs to the window rather than to the control API:
``save_export({format, provider, outcome, session_id, text})`` asks where to save the request log's
export with the OS dialog, then makes it and writes it there a page of rows at a time
(``desktop/savefile.py``): a long log never crosses the bridge, nor is it whole in memory.

pywebview exposes every public attribute of the object, walking into non-callable ones, so all
state lives in underscore attributes and the public surface is exactly the registry's plus
``save_export``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from api_router.config import ConfigError
from api_router.control import Refused, Registry
from api_router.desktop.savefile import FileSaver
from api_router.request_log import Export
from api_router.store import DamagedDatabase

log = logging.getLogger(__name__)


class BridgeError(Exception):
    """A refused call; ``str()`` is the message the UI shows."""


class QuietRefusals(logging.Filter):
    """For pywebview's logger: it logs every exception of a js_api call as an ERROR traceback, but a
    refused call is the UI's business (and ``_call`` already logged it, or logged the real error)."""

    _marker = f"{__name__}.BridgeError: "

    def filter(self, record: logging.LogRecord) -> bool:
        return self._marker not in record.getMessage()


class _DesktopApiBase:
    def __init__(self, registry: Registry, *, redact: Callable[[str], str], origin_ok: Callable[[], bool],
                 saver: FileSaver | None) -> None:
        self._registry = registry
        self._redact = redact
        self._origin_ok = origin_ok
        self._saver = saver

    def save_export(self, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Ask where to save the request log's export (``format`` csv or jsonl, and the Requests page's
        filters), then write it there; ``{"saved": path or null, "rows": n}``."""
        if not self._origin_ok():
            raise BridgeError("the control API only answers the API Router page")
        if self._saver is None:
            raise BridgeError("this window cannot save files")
        try:  # checked and made as the control call export_requests is (and the browser's download)
            made: Export = self._registry.pieces("export_requests", kwargs)
        except Refused as exc:
            log.info("save_export refused: %s", exc.message)
            raise BridgeError(self._redact(exc.message)) from None
        except Exception:
            log.exception("save_export failed")
            raise BridgeError("internal error in API Router; see its log") from None
        try:
            pieces = made.pieces()
            first = next(pieces, b"")  # the rows counted and the filters read before the dialog opens
            saved = self._saver.save_pieces(made.filename, itertools.chain((first,), pieces))
        except (ConfigError, ValueError, DamagedDatabase) as exc:  # SaveError among the ValueErrors
            log.info("save_export refused: %s", exc)
            raise BridgeError(self._redact(str(exc))) from None
        return {**saved, "rows": made.total or 0}

    def _call(self, name: str, kwargs: Any) -> Any:
        try:
            return self._checked_call(name, kwargs)
        except BridgeError as exc:
            log.info("control call %s refused: %s", name, exc)
            raise

    def _checked_call(self, name: str, kwargs: Any) -> Any:
        if not self._origin_ok():
            # The window left the gateway's own page (a link followed by mistake); that page must not
            # get to change providers or read the token.
            raise BridgeError("the control API only answers the API Router page")
        try:
            return self._registry.run(name, kwargs)
        except Refused as exc:
            raise BridgeError(self._redact(exc.message)) from None
        except Exception:
            log.exception("control call %s failed", name)
            raise BridgeError("internal error in API Router; see its log") from None


def _forwarder(name: str, doc: str) -> Callable[..., Any]:
    # The parameter name shows up in the JS stub pywebview generates; "kwargs" says what it is.
    def method(self: _DesktopApiBase, kwargs: dict[str, Any] | None = None) -> Any:
        return self._call(name, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    return method


def make_desktop_api(registry: Registry, *, redact: Callable[[str], str] = str,
                     origin_ok: Callable[[], bool] = lambda: True, saver: FileSaver | None = None) -> _DesktopApiBase:
    namespace = {name: _forwarder(name, m.doc) for name, m in registry.methods.items()}
    api_class: type[_DesktopApiBase] = type("DesktopApi", (_DesktopApiBase,), namespace)
    return api_class(registry, redact=redact, origin_ok=origin_ok, saver=saver)
