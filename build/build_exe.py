#!/usr/bin/env python3
"""Build the one-file executable with PyInstaller and put it at the repository root.

Run by ``python3 tasks.py build`` with the project's venv (which has PyInstaller and the GUI
libraries); the frontend is built before this runs and bundled when present.

    API Router.exe   (Windows)      API Router   (Linux)

The frozen app keeps its data in ``user-data/`` next to the executable.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DIST = BUILD / "out"
WORK = BUILD / "work"
SPEC = BUILD / "api-router.spec"
NAME = "API Router" + (".exe" if os.name == "nt" else "")


def gui_warning() -> str | None:
    missing = [m for m in ("webview", "pystray") if importlib.util.find_spec(m) is None]
    if sys.platform.startswith("linux") and importlib.util.find_spec("gi") is None:
        missing.append("gi")
    if missing:
        return (f"the GUI libraries are missing ({', '.join(missing)}): this executable will only run headless "
                "(on Linux, install the Debian packages tasks.py prints and build again)")
    return None


def main(argv: list[str]) -> int:
    started = time.monotonic()
    subprocess.run([sys.executable, str(BUILD / "make_icon.py")], check=True, cwd=ROOT)
    warning = gui_warning()
    if warning:
        print(f"[build] WARNING: {warning}", flush=True)
    env = dict(os.environ)
    # pystray picks its backend on import; PyInstaller imports it while analysing, and on a machine
    # without a display the real backends fail there, which would leave them out of the bundle.
    env["PYSTRAY_BACKEND"] = "dummy"
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
           "--distpath", str(DIST), "--workpath", str(WORK), str(SPEC), *argv]
    print("[build] $ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    built = DIST / NAME
    target = ROOT / NAME
    try:
        if target.exists():
            target.unlink()
        shutil.move(str(built), str(target))
    except PermissionError:
        print(f"[build] cannot replace {target}: is API Router still running? Quit it and build again.",
              file=sys.stderr)
        return 1
    size = target.stat().st_size / 1e6
    print(f"[build] {target} ({size:.0f} MB) in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        print(f"[build] failed (exit {exc.returncode}): {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        raise SystemExit(exc.returncode or 1) from exc
