"""The app as a real process (``api-router --headless``), for CLI, crash, soak and security tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from api_router.paths import Paths
from tests.support.fake_provider import free_port
from tests.support.harness import write_config, write_keys

TOKEN = "ao_" + "7" * 32


# Sets the open-files limit (soft, hard), then becomes the command that follows (the same process).
_WITH_OPEN_FILES = ("import os, resource, sys; "
                    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2]))); "
                    "os.execv(sys.argv[3], sys.argv[3:])")
# Takes SIGHUP as a terminal's shell gives it (by default), then becomes the command that follows. (A
# preexec_fn would run Python between fork and exec in a process that has threads: it may deadlock.)
_IN_A_TERMINAL = "import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def spawn(user_data: Path, *args: str, env: dict | None = None, output=subprocess.PIPE,
          open_files: tuple[int, int] | None = None, in_a_terminal: bool = False) -> subprocess.Popen:
    """The app as a real process. Pass ``output`` (a file) for long runs: an unread pipe fills up.
    ``open_files``: the (soft, hard) open-files limit it starts with. ``in_a_terminal``: with SIGHUP as a
    terminal's shell gives it (a test run under nohup would pass it on ignored)."""
    cmd = [sys.executable, "-m", "api_router", "--headless", "--user-data", str(user_data), *args]
    if open_files is not None:
        cmd = [sys.executable, "-c", _WITH_OPEN_FILES, *map(str, open_files), *cmd]
    if in_a_terminal:
        cmd = [sys.executable, "-c", _IN_A_TERMINAL, *cmd]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("DISPLAY", None)
    return subprocess.Popen(cmd, stdout=output, stderr=output, text=True, env=full_env)


def wait_health(port: int, proc: subprocess.Popen, timeout: float = 10, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.communicate()}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("gateway did not start")


def start_and_stop(user_data: Path) -> str:
    """The app as a process, until it serves; then stopped. Returns what it wrote on stderr."""
    port = free_port()
    proc = spawn(user_data, "--port", str(port))
    try:
        wait_health(port, proc)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    return err


def setup_user_data(tmp_path: Path, providers: dict, **routing) -> Path:
    paths = Paths(tmp_path / "ud")
    write_config(paths, providers, routing=routing)
    write_keys(paths, dict.fromkeys(providers, "sk-cli-test-000000"), token=TOKEN)
    return paths.user_data
