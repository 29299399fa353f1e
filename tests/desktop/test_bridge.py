"""DesktopApi: Control's methods as pywebview sees them, one object of keyword arguments each."""

from __future__ import annotations

import inspect
import json
import logging
import re
from pathlib import Path
from typing import Any, Literal

import pytest

from api_router.composition import make_control, open_services
from api_router.control import ControlError, Registry, exposed
from api_router.control.registry import made_in_pieces_by
from api_router.desktop.bridge import BridgeError, QuietRefusals, make_desktop_api
from api_router.desktop.savefile import FileSaver
from api_router.paths import Paths


class FakeControl:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._private = "not exposed"

    @exposed
    def get_status(self) -> dict[str, Any]:
        self.calls.append(("get_status", {}))
        return {"ok": True}

    @exposed
    def set_manual_override(self, provider: str | None = None) -> dict[str, Any]:
        if provider == "nope":
            raise ControlError("unknown provider 'nope'")
        self.calls.append(("set_manual_override", {"provider": provider}))
        return {"manual_override": provider}

    @exposed
    def set_provider_key(self, provider: str, key: str) -> dict[str, Any]:
        raise ControlError(f"key {key} refused")

    @exposed
    def update_routing(self, **values: Any) -> dict[str, Any]:
        return dict(values)

    @exposed
    def explode(self) -> None:
        raise RuntimeError("boom")

    def public_but_not_exposed(self) -> None:
        raise AssertionError("only @exposed methods are part of the API")

    def _helper(self) -> None:
        raise AssertionError("private methods are not part of the API")


def exposed_surface(api: object) -> dict[str, list[str]]:
    """What pywebview's inject_pywebview would publish: public callables with their JS params, and
    (it walks into them) any public non-callable attribute."""
    out: dict[str, list[str]] = {}
    for name in dir(api):
        if name.startswith("_"):
            continue
        attr = getattr(api, name)
        assert inspect.ismethod(attr) or inspect.isfunction(attr), f"public non-method attribute {name!r}"
        out[name] = inspect.getfullargspec(attr).args[1:]
    return out


def test_surface_is_exactly_controls_public_methods() -> None:
    api = make_desktop_api(Registry(FakeControl()))
    assert exposed_surface(api) == {name: ["kwargs"] for name in
                            ("explode", "get_status", "set_manual_override", "set_provider_key", "update_routing",
                             "save_export")}


def test_real_control_surface_matches_the_registry(tmp_path: Path) -> None:
    services = open_services(Paths(tmp_path / "ud"))
    try:
        registry = Registry(make_control(services))
        api = make_desktop_api(registry)
        assert set(exposed_surface(api)) == {*registry.methods, "save_export"}
        assert {"get_status", "set_manual_override", "get_codex_setup", "rotate_gateway_token"} <= set(registry.methods)
        assert api.get_config()["ui"]["start_hidden"] is True  # type: ignore[attr-defined]
    finally:
        services.close()


def test_kwargs_object_becomes_keyword_arguments() -> None:
    control = FakeControl()
    api: Any = make_desktop_api(Registry(control))
    assert api.get_status() == {"ok": True}          # JS: api.get_status()
    assert api.get_status(None) == {"ok": True}      # JS: api.get_status(undefined/null)
    assert api.get_status({}) == {"ok": True}
    assert api.set_manual_override({"provider": "p2"}) == {"manual_override": "p2"}
    assert api.set_manual_override({"provider": None}) == {"manual_override": None}
    assert api.update_routing({"failure_threshold": 3}) == {"failure_threshold": 3}
    assert control.calls[-2:] == [("set_manual_override", {"provider": "p2"}), ("set_manual_override", {"provider": None})]


@pytest.mark.parametrize("call, message", [
    (lambda api: api.set_manual_override({"provider": "nope"}), "unknown provider 'nope'"),
    (lambda api: api.get_status({"verbose": True}), "bad arguments for get_status: unknown argument(s) 'verbose'"),
    (lambda api: api.set_provider_key({"provider": "p1"}), "bad arguments for set_provider_key: key is required"),
    (lambda api: api.get_status(["positional"]), "get_status() takes one object of keyword arguments"),
    (lambda api: api.explode(), "internal error in API Router; see its log"),
])
def test_errors_carry_the_message_js_shows(call: Any, message: str) -> None:
    api = make_desktop_api(Registry(FakeControl()))
    with pytest.raises(BridgeError) as info:
        call(api)
    assert str(info.value) == message


def test_unexpected_errors_are_logged_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    api: Any = make_desktop_api(Registry(FakeControl()))
    with caplog.at_level(logging.ERROR), pytest.raises(BridgeError):
        api.explode()
    assert "boom" in caplog.text


def test_messages_are_redacted() -> None:
    api: Any = make_desktop_api(Registry(FakeControl()), redact=lambda text: text.replace("sk-secret", "sk-…"))
    with pytest.raises(BridgeError, match=r"^key sk-… refused$"):
        api.set_provider_key({"provider": "p1", "key": "sk-secret"})


def test_other_pages_get_nothing() -> None:
    control = FakeControl()
    on_our_page = [True]
    api: Any = make_desktop_api(Registry(control), origin_ok=lambda: on_our_page[0])
    api.get_status()
    on_our_page[0] = False
    with pytest.raises(BridgeError, match="only answers the API Router page"):
        api.get_status()
    assert len(control.calls) == 1


def test_refusals_are_logged_once_and_quietly(caplog: pytest.LogCaptureFixture) -> None:
    api: Any = make_desktop_api(Registry(FakeControl()))
    with caplog.at_level(logging.INFO, logger="api_router.desktop.bridge"), pytest.raises(BridgeError) as info:
        api.set_manual_override({"provider": "nope"})
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "set_manual_override refused: unknown provider 'nope'" in caplog.text
    # What pywebview then logs for the same exception is dropped by the filter; its other records pass.
    tb = f"Traceback (most recent call last):\n  ...\n{type(info.value).__module__}.BridgeError: {info.value}\n"
    quiet = QuietRefusals()
    assert not quiet.filter(logging.LogRecord("pywebview", logging.ERROR, __file__, 1, tb, None, None))
    assert quiet.filter(logging.LogRecord("pywebview", logging.ERROR, __file__, 1, "Function x() does not exist", None, None))


class AskedPaths:
    def __init__(self, answer: Path | None) -> None:
        self.answer = answer
        self.asked: list[tuple[Path, str]] = []

    def __call__(self, folder: Path, filename: str) -> str | None:
        self.asked.append((folder, filename))
        return None if self.answer is None else str(self.answer)


class FakeExport:
    """What Control.request_export gives: a file name, a row count, and the file in pieces."""

    def __init__(self, filename: str = "requests.csv", lines: tuple[str, ...] = ("id,ok\n", "1,true\n")) -> None:
        self.filename, self._lines, self.total = filename, lines, len(lines) - 1

    def pieces(self) -> Any:
        for line in self._lines:
            yield line.encode()


class ExportingControl(FakeControl):
    """With the export call and its piece-by-piece twin, as Control has them."""

    def __init__(self, filename: str = "requests.csv") -> None:
        super().__init__()
        self._filename = filename

    @exposed
    @made_in_pieces_by("request_export")
    def export_requests(self, format: Literal["csv", "jsonl"] = "csv", provider: str | None = None,
                        outcome: str | None = None, session_id: str | None = None,
                        text: str | None = None) -> dict[str, Any]:
        raise AssertionError("save_export makes the file in pieces")

    def request_export(self, format: str = "csv", **filters: Any) -> FakeExport:
        return FakeExport(self._filename)


def test_save_export_asks_where_and_writes_atomically(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    target = tmp_path / "chosen" / "requests.csv"
    target.parent.mkdir()
    target.write_text("an older export")
    ask = AskedPaths(target)
    api: Any = make_desktop_api(Registry(ExportingControl("../../etc/requests.csv")),
                                saver=FileSaver(ask, home=home))
    assert api.save_export({"format": "csv"}) == {"saved": str(target), "rows": 1}
    assert ask.asked == [(home / "Downloads", "requests.csv")]  # no folders from a name
    assert target.read_text() == "id,ok\n1,true\n"
    assert [p.name for p in target.parent.iterdir()] == ["requests.csv"]  # no temp file left
    assert target.stat().st_mode & 0o777 == 0o644


def test_save_export_cancelled_writes_nothing_and_starts_at_home_without_downloads(tmp_path: Path) -> None:
    ask = AskedPaths(None)
    api: Any = make_desktop_api(Registry(ExportingControl()), saver=FileSaver(ask, home=tmp_path))
    assert api.save_export({}) == {"saved": None, "rows": 1}
    assert ask.asked == [(tmp_path, "requests.csv")] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"format": 3}, "export_requests: format must be one of 'csv', 'jsonl' (got 3)"),
    ({"path": "/etc/passwd"}, "bad arguments for export_requests: unknown argument(s) 'path'"),
])
def test_save_export_refuses_bad_arguments(tmp_path: Path, kwargs: Any, message: str) -> None:
    ask = AskedPaths(tmp_path / "x.csv")
    api: Any = make_desktop_api(Registry(ExportingControl()), saver=FileSaver(ask, home=tmp_path))
    with pytest.raises(BridgeError, match=re.escape(message)):
        api.save_export(kwargs)
    assert ask.asked == []


def test_save_export_reports_a_folder_it_cannot_write(tmp_path: Path) -> None:
    ask = AskedPaths(tmp_path / "missing-parent-is-a-file" / "x.csv")
    (tmp_path / "missing-parent-is-a-file").write_text("a file")
    api: Any = make_desktop_api(Registry(ExportingControl()), saver=FileSaver(ask, home=tmp_path))
    with pytest.raises(BridgeError, match=r"could not save .*x\.csv"):
        api.save_export({})


def test_save_export_only_answers_the_api_router_page(tmp_path: Path) -> None:
    ask = AskedPaths(tmp_path / "x.csv")
    api: Any = make_desktop_api(Registry(ExportingControl()), origin_ok=lambda: False,
                                saver=FileSaver(ask, home=tmp_path))
    with pytest.raises(BridgeError, match="only answers the API Router page"):
        api.save_export({})
    assert ask.asked == [] and not (tmp_path / "x.csv").exists()


def test_save_export_writes_the_request_log_a_page_at_a_time(tmp_path: Path) -> None:
    """The export is made and written by the app: a long log never crosses the bridge, nor is it whole in
    memory (it is written as it is read, a page of rows at a time)."""
    from api_router import request_log
    from tests.support.records import record

    services = open_services(Paths(tmp_path / "ud"))
    try:
        for i in range(4100):
            services.store.log_request(record(session="keep" if i % 2 else "other"))
        control = make_control(services)
        target = tmp_path / "requests.jsonl"
        api: Any = make_desktop_api(Registry(control), saver=FileSaver(AskedPaths(target), home=tmp_path))
        assert api.save_export({"format": "jsonl", "session_id": "keep"}) == {"saved": str(target), "rows": 2050}
        lines = target.read_text().splitlines()
        assert len(lines) == 2050 and {json.loads(line)["session_id"] for line in lines} == {"keep"}
        made = control.request_export("csv")
        assert len(list(made.pieces())) == 1 + 3 and made.rows == made.total == 4100  # header + 3 pages
        assert request_log.EXPORT_PAGE_ROWS == 2000
        with pytest.raises(BridgeError, match="outcome must be one of"):
            api.save_export({"outcome": "nonsense"})
        with pytest.raises(BridgeError, match="unknown argument\\(s\\) 'path'"):
            api.save_export({"path": "/etc/passwd"})
        cancelled: Any = make_desktop_api(Registry(control), saver=FileSaver(AskedPaths(None), home=tmp_path))
        assert cancelled.save_export({}) == {"saved": None, "rows": 4100}
    finally:
        services.close()
