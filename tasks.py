#!/usr/bin/env python3
"""Set-up and everyday commands for API Router; standard library only.

    python3 tasks.py run [api-router args]   set up, then start the app
    python3 tasks.py test [pytest args]      set up everything the tests need, run the linters and every test
    python3 tasks.py lint                    only the linters (ruff, mypy, ESLint)
    python3 tasks.py build                   build the root executable (API Router / API Router.exe)
    python3 tasks.py bench                   run the performance benchmarks (budgets relative to the floor)
    python3 tasks.py bench --profile         profile the router and the floor (py-spy) into bench/results/profile/
    python3 tasks.py soak                    run the full soak test

Every step is skipped when its inputs have not changed since it last ran, so repeated commands
are quick; a fresh clone gets everything installed the first time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CACHE = ROOT / ".cache"
FRONTEND = ROOT / "frontend"
WEB_OUT = ROOT / "backend" / "api_router" / "web"
CODEX_VERSION = "0.169.0"
IS_WINDOWS = os.name == "nt"
IS_LINUX = sys.platform.startswith("linux")

# Debian packages, by purpose. GUI: what pywebview (WebKitGTK) and pystray need, and what
# PyGObject needs to compile. Test: a browser and an X server with a tray for the UI tests.
GUI_PACKAGES = ["libgirepository1.0-dev", "libcairo2-dev", "pkg-config", "gir1.2-webkit2-4.1",
                "gir1.2-ayatanaappindicator3-0.1", "python3-dev"]
# tzdata: the day-boundary tests run in named zones (required in Debian 12, not in every image).
TEST_PACKAGES = ["chromium", "xvfb", "xauth", "x11-utils", "xdotool", "imagemagick", "trayer", "dbus",
                 "dbus-x11", "tzdata"]
# PyGObject >= 3.52 needs a newer glib than Debian 12 ships.
GUI_PIP = ["PyGObject==3.50.0", "pycairo"]


def say(message: str) -> None:
    print(f"[tasks] {message}", flush=True)


def run(cmd: list[str], **kw: object) -> None:
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)  # type: ignore[arg-type]


def venv_bin(name: str) -> Path:
    folder = VENV / ("Scripts" if IS_WINDOWS else "bin")
    return folder / (name + (".exe" if IS_WINDOWS else ""))


def digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.read_bytes() if isinstance(part, Path) and part.is_file() else str(part).encode())
    return h.hexdigest()


def up_to_date(stamp: Path, value: str) -> bool:
    return stamp.is_file() and stamp.read_text() == value


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# --- steps ----------------------------------------------------------------------------------------


def apt_install(packages: list[str], why: str) -> bool:
    """Install missing Debian packages when we may; otherwise say exactly what to run."""
    if not IS_LINUX or not shutil.which("dpkg-query"):
        return False
    missing = [p for p in packages if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p],
                                                      capture_output=True, text=True).stdout != "install ok installed"]
    if not missing:
        return True
    line = "apt-get install -y --no-install-recommends " + " ".join(missing)
    if not is_root():
        say(f"{why} needs Debian packages; run as root: sudo apt-get update && sudo {line}")
        return False
    say(f"installing {why} packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env)
    run(line.split(), env=env)
    return True


def ensure_venv() -> None:
    if venv_bin("python").exists():
        return
    say("creating .venv")
    try:
        run([sys.executable, "-m", "venv", VENV])
    except subprocess.CalledProcessError:
        shutil.rmtree(VENV, ignore_errors=True)
        if apt_install(["python3-venv"], "the virtual environment"):
            run([sys.executable, "-m", "venv", VENV])
        else:
            raise SystemExit("python3 -m venv failed; install python3-venv and try again") from None


def ensure_python_deps(extras: list[str]) -> None:
    """Install the project with ``extras``; the venv only grows, so switching between run, test and
    build does not reinstall each time (the stamp keeps the pyproject digest and the extras so far)."""
    ensure_venv()
    stamp = VENV / ".api-router-deps"
    base = digest(ROOT / "pyproject.toml")
    installed: set[str] = set()
    if stamp.is_file():
        lines = stamp.read_text().splitlines()
        if lines and lines[0] == base:
            installed = {e for e in (lines[1] if len(lines) > 1 else "").split(",") if e}
            if set(extras) <= installed:
                return
    wanted = sorted(installed | set(extras))
    spec = f".[{','.join(wanted)}]" if wanted else "."
    run([venv_bin("python"), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([venv_bin("python"), "-m", "pip", "install", "-q", "-e", spec], cwd=ROOT)
    stamp.write_text(base + "\n" + ",".join(wanted))


def gui_possible() -> bool:
    if IS_LINUX:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def ensure_gui_deps(*, required: bool) -> bool:
    """pywebview + pystray, and on Linux the GTK stack (system packages + PyGObject)."""
    python = venv_bin("python")
    stamp = VENV / ".api-router-gui"
    want = digest(ROOT / "pyproject.toml", *GUI_PIP)
    if up_to_date(stamp, want):
        return True
    if IS_LINUX and not apt_install(GUI_PACKAGES, "the desktop window"):
        if required:
            raise SystemExit("the GUI packages are missing (see the apt-get line above)")
        return False
    extras = ["desktop"]
    run([python, "-m", "pip", "install", "-q", "-e", f".[{','.join(extras)}]"], cwd=ROOT)
    if IS_LINUX:
        run([python, "-m", "pip", "install", "-q", *GUI_PIP])
    stamp.write_text(want)
    return True


def frontend_inputs() -> list[Path]:
    files = [FRONTEND / n for n in ("package.json", "package-lock.json", "index.html", "vite.config.ts",
                                    "tsconfig.json")]
    files += sorted(p for p in (FRONTEND / "src").rglob("*") if p.is_file())
    public = FRONTEND / "public"
    files += sorted(p for p in public.rglob("*") if p.is_file()) if public.is_dir() else []
    return files


def npm() -> str:
    exe = shutil.which("npm")
    if exe is None:
        raise SystemExit("npm is required (install Node.js 20+)")
    return exe


def ensure_frontend_deps() -> bool:
    if not (FRONTEND / "package.json").is_file():
        return False
    stamp = FRONTEND / "node_modules" / ".api-router-deps"
    want = digest(FRONTEND / "package-lock.json")
    if not up_to_date(stamp, want):
        run([npm(), "ci", "--no-audit", "--no-fund"], cwd=FRONTEND)
        stamp.write_text(want)
    return True


def ensure_frontend_build() -> None:
    if not ensure_frontend_deps():
        return
    stamp = WEB_OUT / ".api-router-build"
    want = digest(*frontend_inputs())
    if up_to_date(stamp, want) and (WEB_OUT / "index.html").is_file():
        return
    run([npm(), "run", "build"], cwd=FRONTEND)
    stamp.write_text(want)


def ensure_codex() -> Path:
    """The pinned Codex CLI for the end-to-end tests, in a cache folder."""
    prefix = CACHE / f"codex-{CODEX_VERSION}"
    vendor = prefix / "node_modules" / "@openai" / "codex-linux-x64" / "vendor"
    binary = vendor / "x86_64-unknown-linux-musl" / "bin" / "codex"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        run([npm(), "install", "--prefix", prefix, "--no-audit", "--no-fund", f"@openai/codex@{CODEX_VERSION}"])
    return binary


# --- commands -----------------------------------------------------------------------------------------


def cmd_run(args: list[str]) -> int:
    ensure_python_deps([])
    ensure_frontend_build()
    headless = "--headless" in args
    if not headless and gui_possible() and not ensure_gui_deps(required=False):
        say("continuing without the desktop window")
    cmd = [str(venv_bin("api-router")), *args]
    say("$ " + " ".join(cmd))
    if IS_WINDOWS:
        return subprocess.call(cmd)
    os.execv(cmd[0], cmd)
    return 0


def test_environment() -> dict[str, str]:
    env = {**os.environ, "API_ROUTER_TASKS": "1"}  # tests fail, not skip, when a tool is missing
    if IS_LINUX:
        apt_install(TEST_PACKAGES, "the browser and desktop tests")
        if ensure_gui_deps(required=False):
            env["API_ROUTER_TEST_GUI"] = "1"
    codex = ensure_codex()
    env["API_ROUTER_CODEX_BIN"] = str(codex)
    chromium = shutil.which("chromium")
    if chromium:
        env["API_ROUTER_CHROMIUM"] = chromium
    return env


def run_linters() -> int:
    """ruff (lint and import order) and mypy (strict, backend/) for Python, ESLint for the frontend."""
    status = 0
    for cmd in ([venv_bin("ruff"), "check", "backend", "tests", "bench", "build", "tasks.py"],
                [venv_bin("python"), "-m", "mypy"]):
        say("$ " + " ".join(str(c) for c in cmd))
        status |= subprocess.call([str(c) for c in cmd], cwd=ROOT)
    package = FRONTEND / "package.json"
    if package.is_file() and '"lint"' in package.read_text():
        say("$ npm run lint")
        status |= subprocess.call([npm(), "run", "lint"], cwd=FRONTEND)
    if status:
        say("linters found problems (see above)")
    return status


def cmd_lint(args: list[str]) -> int:
    ensure_python_deps(["test"])
    ensure_frontend_deps()
    return run_linters()


def cmd_test(args: list[str]) -> int:
    ensure_python_deps(["test", "build"])  # build: the test suite builds the executable too
    ensure_frontend_build()
    env = test_environment()
    status = run_linters()
    if (FRONTEND / "package.json").is_file():
        status |= subprocess.call([npm(), "test"], cwd=FRONTEND, env=env)
    status |= subprocess.call([str(venv_bin("python")), "-m", "pytest", *args], cwd=ROOT, env=env)
    return status


def cmd_build(args: list[str]) -> int:
    ensure_python_deps(["build"])
    ensure_frontend_build()
    ensure_gui_deps(required=False)
    script = ROOT / "build" / "build_exe.py"
    return subprocess.call([str(venv_bin("python")), str(script), *args], cwd=ROOT)


def ensure_wrk() -> None:
    """wrk, the C load generator for the c=32 figures: the Python fallback caps below the direct
    upstream's rate on 2 cores, so it would measure itself. Installed from Debian where we may;
    elsewhere the bench says loudly which generator ran (BENCH_LOADGEN=python chooses it)."""
    if shutil.which("wrk") or os.environ.get("BENCH_LOADGEN") == "python":
        return
    if not apt_install(["wrk"], "the benchmark load generator") or not shutil.which("wrk"):
        say("wrk is not installed: the c=32 figures will come from the Python load generator, which "
            "caps below the direct upstream's rate (install wrk, or set BENCH_LOADGEN=python to accept that)")


def cmd_bench(args: list[str]) -> int:
    ensure_python_deps(["test"])
    ensure_wrk()
    cmd = [str(venv_bin("python")), "-m", "bench.run", *args]
    if IS_WINDOWS:
        return subprocess.call(cmd, cwd=ROOT)
    # The bench becomes this process: a signal sent to `tasks.py bench` (SIGTERM from a CI job) reaches it
    # and its cleanup, instead of leaving it running orphaned with its helpers.
    os.chdir(ROOT)
    os.execv(cmd[0], cmd)
    return 0


def cmd_soak(args: list[str]) -> int:
    ensure_python_deps(["test"])
    env = {**os.environ, "API_ROUTER_SOAK": "full"}
    return subprocess.call([str(venv_bin("python")), "-m", "pytest", "tests/faults/test_soak.py", "-q", *args],
                           cwd=ROOT, env=env)


COMMANDS = {"run": cmd_run, "test": cmd_test, "lint": cmd_lint, "build": cmd_build, "bench": cmd_bench,
            "soak": cmd_soak}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        if argv:
            say(f"unknown command {argv[0]!r}: choose one of {', '.join(COMMANDS)}")
        return 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    except subprocess.CalledProcessError as exc:
        say(f"step failed (exit {exc.returncode}): {' '.join(str(c) for c in exc.cmd)}")
        return exc.returncode or 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
