"""``python3 tasks.py build`` -> the one-file executable at the repository root, then that binary:
headless through a fake provider, and the desktop start-hidden / Show / Quit check."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from api_router.paths import Paths
from tests.desktop.app import ROOT, App, check_lifecycle, start_app
from tests.desktop.xsession import XSession, free_port, require_gui_stack
from tests.support.fake_provider import FakeProvider
from tests.support.harness import simple_body, write_config, write_keys

pytestmark = [pytest.mark.build, pytest.mark.desktop]

EXE = ROOT / ("API Router.exe" if os.name == "nt" else "API Router")
TOKEN = "ao_" + "1" * 32


@pytest.fixture(scope="module")
def built_exe() -> Iterator[Path]:
    require_gui_stack()  # the executable is only complete when the GUI stack was there to bundle
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(ROOT / "tasks.py"), "build"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert EXE.is_file() and os.access(EXE, os.X_OK), f"{EXE} was not produced"
    print(f"\n[build test] tasks.py build took {time.monotonic() - started:.0f} s, "
          f"{EXE.stat().st_size / 1e6:.0f} MB")
    yield EXE


async def test_built_binary_headless_serves_through_a_fake_provider(built_exe: Path, tmp_path: Path) -> None:
    # A copy in its own folder: the default user-data/ must appear next to the executable.
    folder = tmp_path / "portable"
    folder.mkdir()
    exe = folder / built_exe.name
    shutil.copy2(built_exe, exe)
    fake = await FakeProvider("p1").start()
    port = free_port()
    paths = Paths(folder / "user-data")
    write_config(paths, {"p1": fake}, listen={"port": port})
    write_keys(paths, {"p1": "sk-test-p1-0123456789"}, token=TOKEN)
    env = {k: v for k, v in os.environ.items() if k != "API_ROUTER_USER_DATA"}
    env["CODEX_HOME"] = str(tmp_path / "codex-home")
    proc = await asyncio.create_subprocess_exec(str(exe), "--headless", cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(base + "/health") as resp:
                        if resp.status == 200 and (await resp.json())["ok"]:
                            break
                except aiohttp.ClientError:
                    pass
                assert proc.returncode is None, "the binary exited early"
                assert time.monotonic() < deadline, "no /health within 30 s"
                await asyncio.sleep(0.2)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(base + "/v1/responses", json=simple_body(), headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
            assert body["output"][-1]["content"][0]["text"] == "hello"
            assert fake.calls == 1
            assert fake.requests[0].headers["Authorization"] == "Bearer sk-test-p1-0123456789"
        assert (folder / "user-data" / "data" / "api-router.sqlite3").is_file()
    finally:
        if proc.returncode is None:
            proc.terminate()  # the one-file bootloader forwards it to the app
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        await fake.stop()
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    assert b"is running (headless)" in out


def test_built_binary_desktop_start_hidden_show_quit(built_exe: Path, xsession: XSession, tmp_path: Path,
                                                     apps: list[App]) -> None:
    app = start_app(xsession, tmp_path, free_port(), command=[str(built_exe)], name="frozen")
    apps.append(app)
    check_lifecycle(xsession, app, screenshot="frozen-window.png")
