"""The UI's typed control API (``frontend/src/types.ts``, ``ControlMethods``) matches the Python registry:
the same methods, the same argument names, and the same settings where the config schema defines them."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from api_router.composition import run_on_loop
from api_router.config import RequestLogConfig, RoutingConfig, UiConfig, settings_of
from api_router.control import Control, ControlError, Registry

TYPES = (Path(__file__).resolve().parents[1] / "frontend" / "src" / "types.ts").read_text(encoding="utf-8")


def _block(opening: str) -> str:
    start = TYPES.index(opening)
    depth, i = 0, TYPES.index("{", start)
    for j in range(i, len(TYPES)):
        depth += {"{": 1, "}": -1}.get(TYPES[j], 0)
        if depth == 0:
            return TYPES[i + 1:j]
    raise AssertionError(f"unbalanced braces after {opening}")


def _fields(body: str) -> set[str]:
    """Top-level field names of an object type body."""
    names, depth = set(), 0
    for raw in body.splitlines():
        code = re.sub(r"/\*\*.*?\*/|//.*", "", raw)
        if depth == 0:
            names.update(m.group(1) for m in re.finditer(r"(?:^|[{;])\s*(\w+)\??\s*:", code))
        depth += code.count("{") - code.count("}")
    return names


def _interface(name: str) -> set[str]:
    """Fields of an interface, those it extends included."""
    head = re.search(rf"export interface {name} (?:extends (\w+) )?\{{", TYPES)
    assert head is not None, f"no interface {name} in types.ts"
    inherited = _interface(head.group(1)) if head.group(1) else set()
    return inherited | _fields(_block(f"export interface {name} "))


def _args(spec: str) -> set[str] | None:
    """Argument names of an ``args`` type; None when it is an open Partial<…> of a settings section."""
    spec = spec.strip()
    if spec == "NoArgs":
        return set()
    if spec.startswith("{"):
        return _fields(spec[1:-1])
    if spec.startswith("Partial<") or spec == "RoutingUpdate":
        return None
    return _interface(spec)


def ts_methods() -> dict[str, str]:
    body = _block("export interface ControlMethods ")
    out = {}
    for m in re.finditer(r"^\s*(\w+): \{ args: (.*?); result: ", body, re.M):
        out[m.group(1)] = m.group(2)
    return out


def test_the_ui_knows_exactly_the_methods_the_backend_exposes(tmp_path) -> None:
    registry = Registry.__new__(Registry)
    Registry.__init__(registry, Control.__new__(Control))
    ts = ts_methods()
    assert set(ts) == set(registry.methods), (set(ts) ^ set(registry.methods))
    for name, method in registry.methods.items():
        expected = _args(ts[name])
        if method.open_kwargs:
            assert expected is None, f"{name}: the backend takes settings as keyword arguments"
            continue
        assert expected == {p.name for p in method.params}, name


def test_settings_types_match_the_config_schema() -> None:
    for interface, section in (("RoutingConfig", RoutingConfig), ("UiSettings", UiConfig),
                               ("RequestLogSettings", RequestLogConfig)):
        schema = {f.name for f in settings_of(section)}
        if section is RoutingConfig:
            schema.discard("manual_override")  # its own method (set_manual_override), shown apart in Status
        assert _interface(interface) == schema, interface


def test_a_call_run_on_the_loop_that_outlasts_its_wait_is_a_clear_refusal_not_a_500():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    services = SimpleNamespace(serving=SimpleNamespace(loop=loop))
    cancelled = threading.Event()

    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def own_timeout():
        raise TimeoutError("the provider did not answer")

    try:
        with pytest.raises(ControlError, match=r"took longer than 0\.2 s and was stopped"):
            run_on_loop(services, slow(), timeout=0.2)
        assert cancelled.wait(2)  # not left running
        with pytest.raises(TimeoutError, match="the provider did not answer"):
            run_on_loop(services, own_timeout(), timeout=5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_no_test_module_imports_another_test_module():
    """Helpers shared by tests live in tests/support (or beside the suite that uses them): a test file or
    conftest imported by another test runs its tests and fixtures twice, or breaks when it moves. Imports
    inside functions count too."""
    import ast
    from pathlib import Path

    tests = Path(__file__).parent
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                last = name.rsplit(".", 1)[-1]
                if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                    found.append(f"{path.relative_to(tests)}:{node.lineno}: {name}")
    assert found == []


def test_what_a_failed_control_call_tells_the_user_is_decided_once_for_both_transports():
    """Registry.run turns each kind of failure into the status and message both transports pass on; a
    fault of the app's own is not dressed up as a refusal (the transport logs it as an internal error)."""
    from api_router.config import ConfigError
    from api_router.control import Refused, Registry, exposed
    from api_router.store import DamagedDatabase

    class Target:
        @exposed
        def fails(self, kind: str) -> None:
            raise {"config": ConfigError("port must be an integer"), "value": ValueError("no such provider 'x'"),
                   "damaged": DamagedDatabase("the store is damaged: restore it"),
                   "unsaved": PermissionError(13, "Permission denied", "/ud/config.toml"),
                   "socket": ConnectionResetError(104, "reset"), "bug": KeyError("oops")}[kind]

    registry = Registry(Target())
    for name, kwargs, status, says in (("nothing", {}, 404, "unknown control method"),
                                       ("fails", {"kind": 1}, 400, "kind"),
                                       ("fails", {"kind": "config"}, 400, "port must be an integer"),
                                       ("fails", {"kind": "value"}, 400, "no such provider"),
                                       ("fails", {"kind": "damaged"}, 500, "restore it"),
                                       ("fails", {"kind": "unsaved"}, 500, "could not save the change")):
        with pytest.raises(Refused) as refused:
            registry.run(name, kwargs)
        assert refused.value.status == status and says in refused.value.message, (name, kwargs)
    for kind, error in (("socket", ConnectionResetError), ("bug", KeyError)):
        with pytest.raises(error):
            registry.run("fails", {"kind": kind})
