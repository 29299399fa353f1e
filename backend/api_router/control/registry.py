"""The control API's one dispatcher: which methods exist, what arguments they take, what errors mean.

Both transports — ``POST /api/<method>`` in the browser and pywebview's ``js_api`` in the desktop
window — call ``Registry.run``. Only methods marked ``@exposed`` are reachable; every argument is
checked against the method's type hints here, so a wrong type is a 400 naming the argument, never a
500 from deep inside; and what a failed call tells the user is decided here too (``Refused``), so a
transport only puts it into its own form.
"""

from __future__ import annotations

import errno
import inspect
import logging
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from api_router.config import ConfigError
from api_router.fsutil import NotAFile, ReadOnlyFile, cannot_write
from api_router.store import DamagedDatabase
from api_router.texts import listed, quoted, shown

log = logging.getLogger(__name__)

F = typing.TypeVar("F", bound=Callable[..., Any])


# Said to a client without the gateway token, with where to find it (a rotation leaves a running Codex
# with the old one).
WRONG_TOKEN = ("missing or wrong gateway token (Authorization: Bearer ao_…): API Router shows the token on its "
               "dashboard, and its Connect Codex writes it into Codex's auth.json")


class ControlError(ConfigError):
    """A refused control call; the message is shown to the user as is (HTTP 400)."""


def unsaved_change(exc: OSError) -> str | None:
    """What to tell the user when a change could not be saved (the user-data folder became
    read-only, the disk is full…); None when ``exc`` is not a file that could not be written."""
    if exc.filename is None or isinstance(exc, (TimeoutError, ConnectionError)):
        return None
    if isinstance(exc, ReadOnlyFile):
        return (f"API Router did not save the change: {exc.filename} is read-only; make it writable if API Router "
                "should change it")
    if exc.errno == errno.ELOOP:
        return (f"API Router could not save the change: {cannot_write(exc)}; it is a symbolic link that leads back "
                "to itself: remove the link, or point it at a file")
    if isinstance(exc, NotAFile):  # says itself what it is and what to do
        return f"API Router did not save the change: {exc.filename}: {exc.strerror}"
    return f"API Router could not save the change: {cannot_write(exc)}; check that the folder is writable and has space"


class UnknownMethod(LookupError):
    """No exposed method of that name (HTTP 404)."""


class NotAllowed(PermissionError):
    """The caller's token is no longer the gateway token (HTTP 401): it changed while the call waited."""


class Refused(Exception):
    """A control call that did not do what it was asked, with what to tell the user and the HTTP status
    that says so (the desktop bridge shows the message alike)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _refusal(exc: Exception) -> Refused | None:
    """What ``exc`` from a control call tells the user; None: a fault of API Router's own (logged by the
    transport, which answers it as an internal error)."""
    if isinstance(exc, UnknownMethod):
        return Refused(404, str(exc))
    if isinstance(exc, NotAllowed):
        return Refused(401, str(exc))
    if isinstance(exc, (ConfigError, ValueError)):
        return Refused(400, str(exc))
    if isinstance(exc, DamagedDatabase):  # the user was told (an event); this answer says what to do
        return Refused(500, str(exc))
    message = unsaved_change(exc) if isinstance(exc, OSError) else None
    if message is None:
        return None
    log.warning("could not save a change: %s", exc)
    return Refused(500, message)


def exposed(fn: F) -> F:
    """Mark a method as part of the control API."""
    fn.__control_api__ = True  # type: ignore[attr-defined]
    return fn


def hands_out_the_token(fn: F) -> F:
    """Mark a control method whose answer holds the gateway token by design (to show it, to write it
    into Codex's files): the one answer not masked (see ``Registry``)."""
    fn.__control_hands_out_token__ = True  # type: ignore[attr-defined]
    return fn


def made_in_pieces_by(twin: str) -> Callable[[F], F]:
    """Mark a control method whose answer the target's method ``twin`` (same arguments) also makes a piece
    at a time, for a download too long for one JSON answer: ``Registry.pieces`` checks such a call as it
    checks the method's own, so both say the same of the same arguments."""
    def mark(fn: F) -> F:
        fn.__control_pieces__ = twin  # type: ignore[attr-defined]
        return fn

    return mark


def waits_on_loop(fn: F) -> F:
    """Mark a control method that waits for work on the gateway's loop (a test, a usage check), up to a
    minute: its transport runs it apart from the quick calls, so that many of it never hold them up."""
    fn.__control_waits__ = True  # type: ignore[attr-defined]
    return fn


@dataclass(frozen=True)
class Param:
    name: str
    check: Callable[[Any], bool]
    words: str  # what an acceptable value is, for the error message
    required: bool


@dataclass(frozen=True)
class Method:
    name: str
    params: tuple[Param, ...]
    open_kwargs: bool  # takes **values (checked by the method itself against the config schema)
    doc: str
    waits: bool = False  # see ``waits_on_loop``
    hands_out_token: bool = False  # see ``hands_out_the_token``
    pieces_by: str | None = None  # see ``made_in_pieces_by``

    def check(self, kwargs: Mapping[str, Any]) -> None:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(kwargs) - set(known))
        # "self" is the method's own first parameter: never a keyword a call may pass, open or not.
        if unknown and (not self.open_kwargs or "self" in kwargs):
            raise ControlError(f"bad arguments for {self.name}: unknown argument(s) {listed(unknown)}")
        for p in self.params:
            if p.name not in kwargs:
                if p.required:
                    raise ControlError(f"bad arguments for {self.name}: {p.name} is required")
                continue
            value = kwargs[p.name]
            if not p.check(value):
                beyond = " that fits in 64 bits" if "an integer" in p.words and _too_big(value) else ""
                raise ControlError(f"{self.name}: {p.name} must be {p.words}{beyond} (got {_shown(value)})")


class Registry:
    """``mask``: applied to every answer (but those of ``hands_out_the_token`` methods) — the redactor's
    ``in_value``, so no answer says a key back, wherever in it one was put."""

    def __init__(self, target: object, before_call: Callable[[], None] = lambda: None,
                 mask: Callable[[Any], Any] = lambda answer: answer) -> None:
        self._target = target
        self._before_call = before_call
        self._mask = mask
        self.methods: dict[str, Method] = {}
        for name, fn in inspect.getmembers(type(target), inspect.isfunction):
            if getattr(fn, "__control_api__", False):
                self.methods[name] = _describe(name, fn)

    def waits(self, name: str) -> bool:
        """Whether method ``name`` (an unknown one: no) waits on the gateway's loop."""
        method = self.methods.get(name)
        return method is not None and method.waits

    def run(self, name: str, kwargs: Any, allowed: Callable[[], bool] | None = None) -> Any:
        """Check and run one call; raises ``Refused`` when it was refused or could not be saved (anything
        else is a fault of API Router's own). ``allowed``: asked once the files are caught up with, right
        before the call runs (see ``still_the_token``)."""
        return _refusing(self.call, name, kwargs, allowed)

    def call(self, name: str, kwargs: Any, allowed: Callable[[], bool] | None = None) -> Any:
        """Check and run one call; raises UnknownMethod, NotAllowed or ControlError (ConfigError) as they are."""
        method = self._method(name)
        kwargs = self._checked(method, kwargs, allowed)
        answer = getattr(self._target, name)(**kwargs)
        return answer if method.hands_out_token else self._mask(answer)

    def pieces(self, name: str, kwargs: Any, allowed: Callable[[], bool] | None = None) -> Any:
        """A call of ``name`` checked as ``run`` checks it, answered by its twin (``made_in_pieces_by``): what
        the twin returns, to be written out a piece at a time (masked by the twin itself, if need be).
        Raises ``Refused`` as ``run`` does."""
        return _refusing(self._call_twin, name, kwargs, allowed)

    def _call_twin(self, name: str, kwargs: Any, allowed: Callable[[], bool] | None) -> Any:
        method = self._method(name)
        if method.pieces_by is None:
            raise UnknownMethod(f"{quoted(name)} is not made in pieces")
        return getattr(self._target, method.pieces_by)(**self._checked(method, kwargs, allowed))

    def _method(self, name: str) -> Method:
        method = self.methods.get(name)
        if method is None:
            raise UnknownMethod(f"unknown control method {quoted(name)}")
        return method

    def _checked(self, method: Method, kwargs: Any, allowed: Callable[[], bool] | None) -> dict[str, Any]:
        """The call's arguments, checked, once the files are caught up with and (``allowed``) the caller is."""
        if kwargs is None:
            kwargs = {}
        if not isinstance(kwargs, dict):
            raise ControlError(f"{method.name}() takes one object of keyword arguments")
        method.check(kwargs)
        self._before_call()
        if allowed is not None and not allowed():
            raise NotAllowed(WRONG_TOKEN)
        return kwargs


def _refusing(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, a refusal of it (or a change it could not save) raised as ``Refused``."""
    try:
        return call(*args)
    except Exception as exc:
        refused = _refusal(exc)
        if refused is None:
            raise
        raise refused from None


def _describe(name: str, fn: Callable[..., Any]) -> Method:
    hints = typing.get_type_hints(fn)
    params = []
    open_kwargs = False
    for p in list(inspect.signature(fn).parameters.values())[1:]:  # skip self
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            open_kwargs = True
            continue
        check, words = _checker(hints.get(p.name, Any))
        params.append(Param(p.name, check, words, p.default is inspect.Parameter.empty))
    return Method(name, tuple(params), open_kwargs, inspect.getdoc(fn) or "", getattr(fn, "__control_waits__", False),
                  getattr(fn, "__control_hands_out_token__", False), getattr(fn, "__control_pieces__", None))


def _checker(hint: Any) -> tuple[Callable[[Any], bool], str]:
    """A check and its description for a type hint; only the shapes JSON arguments take are supported."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return (lambda v: True), "anything"
    if hint is type(None):
        return (lambda v: v is None), "null"
    if hint is bool:
        return (lambda v: isinstance(v, bool)), "true or false"
    if hint is int:
        return _an_integer, "an integer"
    if hint is float:
        return _a_number, "a number"
    if hint is str:
        return (lambda v: isinstance(v, str)), "a string"
    if origin is Literal:
        choices = typing.get_args(hint)
        return (lambda v: isinstance(v, str) and v in choices), "one of " + ", ".join(repr(c) for c in choices)
    if origin is list:
        (item,) = typing.get_args(hint)
        each, words = _checker(item)
        return (lambda v: isinstance(v, list) and all(each(i) for i in v)), f"a list of {_plural(words)}"
    if origin is dict:
        key, value = typing.get_args(hint)
        kcheck, _ = _checker(key)
        vcheck, vwords = _checker(value)
        return (lambda v: isinstance(v, dict) and all(kcheck(k) and vcheck(x) for k, x in v.items()),
                f"an object of {_plural(vwords)}")
    if origin in (typing.Union, types.UnionType):
        parts = [_checker(a) for a in typing.get_args(hint)]
        return (lambda v: any(c(v) for c, _ in parts)), " or ".join(w for _, w in parts)
    raise TypeError(f"control API argument type {hint!r} is not supported")


_INT64 = (-(2 ** 63), 2 ** 63 - 1)  # ids and counts go to SQLite, whose integers are 64-bit


def _an_integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v <= _INT64[1]


def _too_big(v: Any) -> bool:
    """A whole number outside 64 bits. A JSON reader takes one it cannot hold as an integer for a float
    (-2**63 - 1 becomes the float -2**63): a float that large is one."""
    if isinstance(v, float):
        return math.isfinite(v) and v == int(v) and abs(v) >= 2 ** 63
    return isinstance(v, int) and not isinstance(v, bool) and not _INT64[0] <= v <= _INT64[1]


def _a_number(v: Any) -> bool:
    return _an_integer(v) or (isinstance(v, float) and math.isfinite(v))


def _plural(words: str) -> str:
    return {"a string": "strings", "an integer": "integers", "a number": "numbers"}.get(words, words)


def _shown(value: Any) -> str:
    return shown(value, 60)
