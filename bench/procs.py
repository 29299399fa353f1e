"""Starting and watching the processes under test: the fake upstream and API Router itself.

Each runs as a real subprocess, so its CPU time and memory are its own: ``/proc/<pid>/stat``
(utime + stime, all threads) and ``/proc/<pid>/status`` (VmRSS).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import client

HOST = "127.0.0.1"
TOKEN = "ao_" + "b" * 32
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process (all its live threads), in seconds, to the nanosecond.

    ``/proc/<pid>/task/*/schedstat`` counts in ns; ``/proc/<pid>/stat`` only in clock ticks (10 ms),
    which is 3 % of a c=1 sample. Threads of these processes live as long as the process; where
    schedstat is missing the tick count is used.
    """
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        for tid in tasks:
            try:
                total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
            except FileNotFoundError:  # the thread ended between the listing and the read
                pass
        return total / 1e9
    except (OSError, ValueError, IndexError):
        raw = Path(f"/proc/{pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15 of stat)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def compile_sources() -> None:
    """Bytecode for the code under test, as an installed app has it: pip compiles a package when it
    installs it, and the PyInstaller build carries bytecode. In a checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set (as on this machine), every start of the router would otherwise
    compile its ~100 modules from source — a slower start and about 0.5 MB more resident memory left
    behind by the compiler, which no installed app pays (the floor's few modules hardly notice).
    Written to the usual ``__pycache__`` folders (git-ignored); up-to-date files are left alone."""
    import compileall

    for folder in (ROOT / "backend" / "api_router", ROOT / "bench"):
        compileall.compile_dir(folder, quiet=1)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no proxies (everything stays on 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def end_cleanly_on_signals() -> None:
    """SIGTERM (``timeout``, a cancelled CI job) and SIGHUP end the run as Ctrl-C does: through every
    ``finally``, so the processes under test are stopped and the temporary folders removed."""
    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # under nohup a closed terminal does not end the run
            signal.signal(sig, leave)


def _die_with_the_bench() -> None:
    """In a helper process before it runs (Linux): SIGTERM when the bench itself dies, even by SIGKILL
    (a test's timeout), so no helper outlives it serving or checking providers."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
_FOLLOW_BENCH = _die_with_the_bench if sys.platform.startswith("linux") else None


def start_helper(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """A process the bench starts (a target, a peer, py-spy), ending with the bench however it ends.

    ``preexec_fn`` only calls prctl, which is safe between fork and exec. The parent-death signal follows
    the end of the thread that started the helper: the main thread, or (bench.reasoning) an asyncio worker
    thread, which lives until asyncio.run ends, after the helper is stopped."""
    return subprocess.Popen(cmd, preexec_fn=_FOLLOW_BENCH, **kwargs)  # noqa: PLW1509 - see the docstring


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class FakeUpstream:
    proc: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, json_mode: str = "dumps", timeout: float = 15.0) -> FakeUpstream:
        proc = start_helper([sys.executable, "-m", "bench.fake_upstream", "--json", json_mode], cwd=ROOT,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return cls(proc, ready_port(proc, timeout, "the fake upstream"))

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def stop(self) -> None:
        stop(self.proc)


def gateway_command() -> list[str]:
    exe = Path(sys.executable).with_name("api-router")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("api-router")
    return [found] if found else [sys.executable, "-m", "api_router"]


def write_user_data(folder: Path, upstream_url: str, providers: tuple[str, ...] = ("A", "B")) -> None:
    """config.toml with the given providers all pointing at the fake upstream, and secrets.json."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"provider_order = {json.dumps(list(providers))}", "", "[listen]", f'host = "{HOST}"', "port = 0", "",
             "[routing]", f'preferred_provider = "{providers[0]}"', ""]
    for pid in providers:
        lines += [f"[providers.{pid}]", f'display_name = "Provider {pid}"', f'base_url = "{upstream_url}"', ""]
    (folder / "config.toml").write_text("\n".join(lines))
    secrets = {"gateway_token": TOKEN, "providers": {pid: f"sk-bench-{pid}-0123456789" for pid in providers},
               "usage_tokens": {}}
    (folder / "secrets.json").write_text(json.dumps(secrets))
    (folder / "secrets.json").chmod(0o600)


@dataclass
class Gateway:
    """``api-router --headless`` on a free port."""

    proc: subprocess.Popen[bytes]
    port: int
    startup_s: float
    log_path: Path
    extra: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, user_data: Path, codex_home: Path, timeout: float = 20.0) -> Gateway:
        port = free_port()
        log_path = user_data / "bench-gateway.log"
        codex_home.mkdir(parents=True, exist_ok=True)
        env = clean_env(CODEX_HOME=str(codex_home), PYTHONDONTWRITEBYTECODE="1")
        with open(log_path, "ab") as log:
            since = log.tell()
            t0 = time.perf_counter()
            proc = start_helper([*gateway_command(), "--headless", "--user-data", str(user_data),
                                 "--port", str(port)], cwd=user_data, env=env, stdout=log, stderr=log)
        elapsed = wait_health(proc, port, t0, timeout, log_path)
        confirm_banner(proc, port, log_path, since, timeout)
        return cls(proc, port, elapsed, log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss_mb(self.pid)

    def api(self, method: str, body: bytes = b"{}") -> bytes:
        status, data = client.get(HOST, self.port, f"/api/{method}", {
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, body)
        if status != 200:
            raise RuntimeError(f"/api/{method} answered {status}: {data[:300]!r}")
        return data

    def stop(self) -> None:
        stop(self.proc)


@dataclass
class MinimalProxy:
    """``bench/minimal_proxy.py``: the floor the router's budgets are ratios to."""

    proc: subprocess.Popen[bytes]
    port: int
    startup_s: float

    @classmethod
    def start(cls, upstream_url: str, loop: str = "uvloop", gc: str = "tuned", timeout: float = 15.0) -> MinimalProxy:
        t0 = time.perf_counter()
        proc = start_helper([sys.executable, "-m", "bench.minimal_proxy", "--upstream", upstream_url,
                             "--loop", loop, "--gc", gc], cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
        port = ready_port(proc, timeout, "the minimal proxy")
        # Measured the same way as the router's: until GET /health answers.
        return cls(proc, port, wait_health(proc, port, t0, timeout, None))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop(self.proc)


def ready_port(proc: subprocess.Popen[bytes], timeout: float, what: str) -> int:
    """The port from the ``READY <port>`` line a helper process prints once it listens, waited for at
    most ``timeout`` seconds (a helper that hangs before it must not hang the bench)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    pending = b""
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            pending += chunk
            for line in pending.split(b"\n")[:-1]:  # whole lines only: "READY 12" may go on with "345"
                if line.startswith(b"READY "):
                    return int(line.split()[1])
            if not chunk:  # it exited
                break
    stop(proc)
    raise RuntimeError(f"{what} did not start within {timeout:g} s: {pending[-300:]!r}")


def wait_health(proc: subprocess.Popen[bytes], port: int, t0: float, timeout: float, log_path: Path | None) -> float:
    """Seconds from ``t0`` until ``GET /health`` answers 200 (polled every millisecond)."""
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        try:
            status, _ = client.get(HOST, port, "/health", timeout=2.0)
            if status == 200:
                return time.perf_counter() - t0
        except (OSError, client.HTTPError):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.001)
    exited = proc.poll()
    stop(proc)
    tail = log_path.read_text(errors="replace")[-2000:] if log_path and log_path.exists() else ""
    why = f"exited with code {exited}" if exited is not None else f"did not answer /health within {timeout:g} s"
    raise RuntimeError(f"{proc.args} {why}:\n{tail}")


def confirm_banner(proc: subprocess.Popen[bytes], port: int, log_path: Path, since: int, timeout: float) -> None:
    """``/health`` answered on ``port``: check that this gateway is the one listening there (another
    process may have taken the port between ``free_port()`` and the bind) by its banner naming it,
    written after byte ``since`` of its log (an earlier start may have named the same port)."""
    needle = f"{HOST}:{port}/v1".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in log_path.read_bytes()[since:]:
            return
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    stop(proc)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"port {port} answered /health, but not from the gateway started there "
                       f"(exit code {proc.returncode}):\n{tail}")
