"""Reading Codex session rollouts: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Session ids are UUIDs in practice; anything that could act as a glob or a path is refused.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def find_rollout(codex_home: Path, session_id: str) -> Path | None:
    """The newest rollout file of ``session_id``; ``resume`` appends to the same file."""
    if not _SAFE_ID.match(session_id):
        return None
    root = codex_home / "sessions"
    if not root.is_dir():
        return None
    matches = [p for p in root.rglob(f"rollout-*-{session_id}.jsonl") if p.is_file()]
    return max(matches, key=lambda p: p.stat().st_mtime_ns) if matches else None


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every ``response_item`` payload in file order: messages, reasoning, tool calls and outputs.

    Both line formats are read (with and without ``ordinal``). A torn last line, which Codex may
    be in the middle of writing, is skipped.
    """
    items: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for raw in fh:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("type") == "response_item":
                payload = line.get("payload")
                if isinstance(payload, dict):
                    items.append(payload)
    return items
