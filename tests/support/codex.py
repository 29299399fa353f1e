"""Driving the real Codex CLI (pinned by tasks.py) against a running gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.tools import missing

CONFIG = """\
model = "gpt-5.5"
model_provider = "api_router"
check_for_update_on_startup = false

[model_providers.api_router]
name = "API Router"
base_url = "{base_url}"
wire_api = "responses"
requires_openai_auth = true
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 20000
"""

# Without these Codex tries to reach outside hosts and every run takes seconds longer.
QUIET = """
[analytics]
enabled = false
[otel]
exporter = "none"
trace_exporter = "none"
metrics_exporter = "none"
[features]
plugins = false
"""


DEFAULT_BINARY = (Path(__file__).resolve().parents[2] / ".cache" / "codex-0.169.0" / "node_modules" / "@openai"
                  / "codex-linux-x64" / "vendor" / "x86_64-unknown-linux-musl" / "bin" / "codex")


def codex_binary() -> Path:
    """The pinned Codex binary; ``python3 tasks.py test`` installs it (and then a missing one fails)."""
    path = Path(os.environ.get("API_ROUTER_CODEX_BIN") or DEFAULT_BINARY)
    if not path.is_file():
        missing(f"the Codex CLI is not installed at {path}")
    return path


@dataclass
class CodexRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.stdout.splitlines():
            line = raw.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    @property
    def thread_id(self) -> str:
        return next(e["thread_id"] for e in self.events if e.get("type") == "thread.started")

    @property
    def agent_text(self) -> str:
        texts = []
        for e in self.events:
            item = e.get("item") or {}
            if e.get("type") == "item.completed" and item.get("type") in ("agent_message", "assistant_message"):
                texts.append(item.get("text", ""))
        return "\n".join(texts)


# Codex's built-in OpenAI provider pointed at the gateway: Codex then compacts remotely (a request
# ending with {"type": "compaction_trigger"}), here once the last answer reported 2000 input tokens.
REMOTE_COMPACTION_CONFIG = """\
model = "gpt-5.5"
openai_base_url = "{base_url}"
model_auto_compact_token_limit = 2000
check_for_update_on_startup = false
"""


class Codex:
    def __init__(self, binary: Path, root: Path, base_url: str, token: str, *, home: Path | None = None,
                 remote_compaction: bool = False) -> None:
        """``home``: the CODEX_HOME to use (the gateway's, when it must read the session files)."""
        self.binary = binary
        self.home = home or root / "codex-home"
        self.user_home = root / "home"
        self.workdir = root / "work"
        for folder in (self.home, self.user_home, self.workdir):
            folder.mkdir(parents=True, exist_ok=True)
        template = REMOTE_COMPACTION_CONFIG if remote_compaction else CONFIG
        (self.home / "config.toml").write_text(template.format(base_url=base_url) + QUIET)
        (self.home / "auth.json").write_bytes(json.dumps({"OPENAI_API_KEY": token}).encode())

    def exec(self, prompt: str, *, resume: str | None = None, fork: str | None = None,
             timeout: float = 60) -> CodexRun:
        """``resume``: go on with that session; ``fork``: start a new session from that one's history."""
        args = [str(self.binary), "exec", "--skip-git-repo-check", "--json"]
        if resume:
            args += ["resume", resume]
        if fork:
            args += ["fork", fork]
        args.append(prompt)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
        env.update(CODEX_HOME=str(self.home), HOME=str(self.user_home), RUST_LOG="warn", NO_COLOR="1")

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(args, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout)

        try:
            proc = run()
        except subprocess.TimeoutExpired as hung:
            printed = hung.stdout or b""
            if b'"thread.started"' in (printed.encode() if isinstance(printed, str) else printed):
                raise  # Codex was under way: the gateway (or the test's fake) kept it waiting
            # Codex hung while setting itself up, before it had sent anything to the gateway (it
            # prints thread.started first): its own start, not what is tested. One more try.
            sys.stderr.write(f"Codex hung for {timeout:.0f} s before starting a thread; trying once more\n")
            proc = run()
        return CodexRun(proc.returncode, proc.stdout, proc.stderr)
