"""LiteLLM's proxy as an optional peer column (``BENCH_LITELLM=1``).

LiteLLM is installed into its own virtual environment (``.cache/bench-litellm-venv``, pinned, set up
once) so it never touches the project's dependencies, and runs as one worker with the fake upstream
as an OpenAI-compatible provider; the table then shows it next to API Router, measured the same way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import client, procs

SPEC = "litellm[proxy]==1.106.0"  # the 1.106 line the README's LiteLLM comparison was measured with;
# later 1.106.x releases pin a certifi newer than the package index here has
VENV = procs.ROOT / ".cache" / "bench-litellm-venv"
MASTER_KEY = "sk-bench-litellm-master-0123456789"
MODEL = "gpt-5-codex"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ensure_installed() -> Path:
    """The litellm executable in its own venv, installed (pip) the first time."""
    exe = VENV / "bin" / "litellm"
    stamp = VENV / ".bench-spec"
    if exe.exists() and stamp.is_file() and stamp.read_text() == SPEC:
        return exe
    log(f"installing {SPEC} into {VENV} (first run only)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", SPEC], check=True)
    stamp.write_text(SPEC)
    return exe


@dataclass
class Peer:
    proc: subprocess.Popen[bytes]
    port: int
    startup_s: float
    version: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        procs.stop(self.proc)


def start(upstream_url: str, work: Path, timeout: float = 180.0) -> Peer:
    exe = ensure_installed()
    work.mkdir(parents=True, exist_ok=True)
    config = work / "litellm.yaml"
    # YAML is a superset of JSON: no YAML library needed here.
    config.write_text(json.dumps({
        "model_list": [{"model_name": MODEL, "litellm_params": {
            "model": f"openai/{MODEL}", "api_base": upstream_url, "api_key": "sk-bench-upstream"}}],
        "litellm_settings": {"drop_params": True, "telemetry": False},
        "general_settings": {"master_key": MASTER_KEY},
    }, indent=1))
    port = procs.free_port()
    env = procs.clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False", LITELLM_LOG="ERROR")
    ask_version = "import importlib.metadata as m; print(m.version('litellm'))"
    version = subprocess.run([str(VENV / "bin" / "python"), "-c", ask_version],
                             capture_output=True, text=True).stdout.strip()
    log_path = work / "litellm.log"
    with open(log_path, "ab") as out:
        t0 = time.perf_counter()
        proc = procs.start_helper([str(exe), "--config", str(config), "--host", procs.HOST, "--port", str(port),
                                   "--num_workers", "1"], cwd=work, env=env, stdout=out, stderr=out)
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        try:
            status, _ = client.get(procs.HOST, port, "/health/liveliness", timeout=2.0)
            if status == 200:
                return Peer(proc, port, time.perf_counter() - t0, version)
        except (OSError, client.HTTPError):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    procs.stop(proc)
    raise RuntimeError(f"LiteLLM did not become ready:\n{log_path.read_text(errors='replace')[-3000:]}")
