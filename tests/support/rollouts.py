"""Codex session files (rollouts) as the real CLI writes them, for continuity tests."""

from __future__ import annotations

import json
from pathlib import Path

SID = "019a0000-0000-7000-8000-00000000c0de"


def write_rollout(codex_home: Path, items: list[dict], sid: str = SID, legacy: bool = False) -> Path:
    folder = codex_home / "sessions" / "2026" / "11" / "24"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rollout-2026-11-24T10-00-00-{sid}.jsonl"
    lines = [{"timestamp": "t", "ordinal": 0, "type": "session_meta", "payload": {"id": sid}}]
    for n, item in enumerate(items, 1):
        line = {"type": "response_item", "payload": item}
        if not legacy:
            line.update(timestamp="t", ordinal=n)
        lines.append(line)
    lines.append({"type": "event_msg", "payload": {"type": "token_count"}})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{\"type\": \"respon")  # torn last line
    return path
