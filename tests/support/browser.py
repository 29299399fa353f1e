"""Running the browser scripts in frontend/e2e/ (Debian chromium via playwright-core) from pytest."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from tests.support.tools import missing

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("API_ROUTER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
NODE = shutil.which("node")
SCRIPT_TIMEOUT = 120  # each script has its own, shorter watchdog; every step inside is bounded too


def require_browser() -> None:
    if NODE is None:
        missing("node is not installed")
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (python3 tasks.py test installs Debian's chromium as root)")
    if not (FRONTEND / "node_modules" / "playwright-core").is_dir():
        missing("frontend/node_modules/playwright-core is missing (npm ci in frontend/)")
    if not (ROOT / "backend" / "api_router" / "web" / "index.html").is_file():
        missing("the UI is not built (python3 tasks.py test builds it)")


async def run_script(script: Path, env: dict[str, str], name: str | None = None) -> str:
    """Run one e2e script to the end; its output is saved next to the screenshots (as ``<name>.log``)
    and must say PASS with exit code 0. Runs as a child process so this test's event loop keeps
    serving meanwhile."""
    ARTIFACTS.mkdir(exist_ok=True)
    assert NODE is not None
    full_env = {**os.environ, "API_ROUTER_CHROMIUM": CHROMIUM, "E2E_ARTIFACTS": str(ARTIFACTS), **env}
    node = await asyncio.create_subprocess_exec(NODE, str(script), cwd=FRONTEND, env=full_env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(node.communicate(), SCRIPT_TIMEOUT)
    except TimeoutError:
        node.kill()
        out, _ = await node.communicate()
        out += f"\n[pytest] killed: the script ran longer than {SCRIPT_TIMEOUT} s\n".encode()
    text = out.decode(errors="replace")
    (ARTIFACTS / f"{name or script.stem}.log").write_text(text, encoding="utf-8")
    assert node.returncode == 0, f"{script.name} failed (exit {node.returncode}):\n{text}"
    assert "PASS" in text, f"{script.name} ended without PASS:\n{text}"
    return text
