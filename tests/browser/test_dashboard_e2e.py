"""The control UI end to end: real Chromium (playwright-core) against the real headless app.

pytest owns the processes and the fake upstreams; ``frontend/e2e/dashboard.e2e.mjs`` drives the
browser through every user action and asserts what the user sees, once per window width (720,
1000 and 1400 px; the script also checks 1180 x 800, the desktop window's size). Afterwards this
test checks what those actions left on disk: the app's ``config.toml`` / ``secrets.json`` and the
Codex files.

    the app        python -m api_router --headless --user-data <tmp> --port <free>  (empty config)
    upstreams      four FakeProviders (real aiohttp servers on 127.0.0.1) in this test's loop
    fake control   POST <control>/<name>/<ok|fail>: lets the script make an upstream fail or recover
    the browser    node frontend/e2e/dashboard.e2e.mjs (Debian chromium, fresh profile)

Screenshots and the script's log go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomlkit

from tests.support import fake_provider as fp
from tests.support.browser import ARTIFACTS, FRONTEND, require_browser, run_script
from tests.support.processes import spawn, wait_health

pytestmark = pytest.mark.browser

SCRIPT = FRONTEND / "e2e" / "dashboard.e2e.mjs"

# Keys the script types into the UI; the upstreams must receive exactly these.
KEY_P1 = "sk-e2e-p1-7f3a9c0d5b2e4a61"
KEY_P2 = "sk-e2e-p2-1c8e6f4a2d9b3e75"

USER_CODEX_CONFIG = '# my own Codex settings\nmodel = "gpt-5-codex"\n'


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    _, err = proc.communicate()
    return err


# (width, colour scheme the run starts in); every run takes screenshots in both schemes.
VIEWPORTS = [(720, "light"), (1000, "dark"), (1400, "light")]


@pytest.mark.parametrize(("width", "scheme"), VIEWPORTS, ids=[f"{w}px-{s}" for w, s in VIEWPORTS])
async def test_dashboard_end_to_end(tmp_path: Path, width: int, scheme: str) -> None:
    require_browser()
    started = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)

    user_data = tmp_path / "user-data"
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(USER_CODEX_CONFIG, encoding="utf-8")

    fakes = {name: await fp.FakeProvider(name).start() for name in ("p1", "p2", "p3", "p4")}
    for fake in fakes.values():
        fake.always(fp.json_ok(f"hello from {fake.name}"))
    control = await fp.serve_switches(fakes, {  # POST /<name>/fail: 503 from now on; /ok heals it
        "ok": lambda fake: fp.json_ok(f"hello from {fake.name}"),
        "fail": lambda _: fp.status(503, "upstream overloaded, try again later")})
    control_url = f"http://127.0.0.1:{control.addresses[0][1]}"

    port = fp.free_port()
    app = spawn(user_data, "--port", str(port), env={"CODEX_HOME": str(codex_home)})
    node_out = ""
    try:
        await asyncio.to_thread(wait_health, port, app, 20)
        secrets_path = user_data / "secrets.json"
        first_token = json.loads(secrets_path.read_text())["gateway_token"]
        assert tomlkit.parse((user_data / "config.toml").read_text()).get("provider_order") == []

        node_out = await run_script(SCRIPT, {
            "E2E_GATEWAY": f"http://127.0.0.1:{port}/",
            "E2E_TOKEN": first_token,
            "E2E_FAKE_URLS": json.dumps({n: f.base_url for n, f in fakes.items()}),
            "E2E_FAKE_CONTROL": control_url,
            "E2E_KEYS": json.dumps({"p1": KEY_P1, "p2": KEY_P2}),
            "E2E_CODEX_HOME": str(codex_home),
            "E2E_WIDTH": str(width),
            "E2E_SCHEME": scheme,
        }, name=f"dashboard-{width}")
    finally:
        app_err = await asyncio.to_thread(_stop, app)
        await control.cleanup()
        for fake in fakes.values():
            await fake.stop()
    print(node_out)
    print(f"[pytest] end-to-end run took {time.monotonic() - started:.1f} s")
    assert app.returncode == 0, app_err
    assert "Traceback" not in app_err, app_err

    # --- what the UI actions left in the app's files --------------------------------------------------
    config = tomlkit.parse((user_data / "config.toml").read_text()).unwrap()
    assert config["provider_order"] == ["p2", "p1", "p3", "p4"]  # reordered in the UI, then two added
    for name, fake in fakes.items():
        assert config["providers"][name]["base_url"] == fake.base_url  # p2 was typed HTTP://: saved http://
    assert config["providers"]["p1"]["display_name"] == "Relay One"
    assert config["providers"]["p3"]["model_map"] == {"gpt-test": "vendor/gpt-test", "*": "vendor/default"}
    assert config["providers"]["p4"]["usage_adapter"] == "new_api"  # from the new-api relay template
    routing = config["routing"]
    assert routing["manual_override"] == ""  # locked to p1, then back to automatic
    assert routing["preferred_provider"] == "p2"  # chosen explicitly, saved with the other fields
    assert routing["failure_threshold"] == 1 and routing["cooldown_seconds"] == 60
    assert config["ui"]["start_hidden"] is False
    assert config["request_log"]["retention_days"] == 7
    secrets = json.loads(secrets_path.read_text())
    assert secrets["providers"] == {"p1": KEY_P1, "p2": KEY_P2}
    new_token = secrets["gateway_token"]
    assert new_token != first_token and new_token.startswith("ao_")

    # --- the upstreams saw the keys typed into the UI ---------------------------------------------------
    auth_seen = {n: {r.headers.get("Authorization") for r in f.requests} for n, f in fakes.items()}
    assert auth_seen["p1"] == {f"Bearer {KEY_P1}"}
    assert auth_seen["p2"] == {f"Bearer {KEY_P2}"}
    assert not auth_seen["p3"] & {f"Bearer {KEY_P1}", f"Bearer {KEY_P2}"}  # no key leaves for another host
    assert not auth_seen["p4"] & {f"Bearer {KEY_P1}", f"Bearer {KEY_P2}"}

    # --- Connect Codex wrote the files ----------------------------------------------------------------------
    codex_raw = (codex_home / "config.toml").read_text(encoding="utf-8")
    codex = tomlkit.parse(codex_raw).unwrap()
    assert codex["model_provider"] == "api_router"
    block = codex["model_providers"]["api_router"]
    assert block["base_url"] == f"http://127.0.0.1:{port}/v1"
    assert block["wire_api"] == "responses"
    assert codex["model"] == "gpt-5-codex" and "# my own Codex settings" in codex_raw  # merged, not replaced
    auth_raw = (codex_home / "auth.json").read_bytes()
    assert not auth_raw.startswith(b"\xef\xbb\xbf")
    assert json.loads(auth_raw.decode("utf-8")) == {"OPENAI_API_KEY": new_token}
    backup = codex_home / "api-router-backup"
    assert (backup / "config.toml").read_text(encoding="utf-8") == USER_CODEX_CONFIG

    for name in (f"dashboard-{width}-light.png", f"dashboard-{width}-dark.png",
                 "dashboard-1180-light.png", "dashboard-1180-dark.png"):
        shot = ARTIFACTS / name
        assert shot.is_file() and shot.stat().st_size > 10_000, name


if __name__ == "__main__":  # pragma: no cover - convenience: python tests/browser/test_dashboard_e2e.py
    raise SystemExit(pytest.main([__file__, "-q", "-s", *sys.argv[1:]]))
