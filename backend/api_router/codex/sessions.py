"""Reading Codex session rollouts: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# The lines a replay needs, found without parsing: a top-level "type" of one of them. (Inside a
# string a quote is escaped, so text that merely mentions it does not match.)
_REPLAYED = re.compile(rb'"type"\s*:\s*"(?:response_item|compacted)"')

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


@dataclass
class Rollout:
    """A session's conversation as Codex recorded it.

    ``history`` is the conversation as it stands now: after a compaction Codex continues from the
    compaction's ``replacement_history``, so that list replaces everything before it.
    ``summarised`` maps the id of each compaction item to the conversation it replaced — the history
    as it stood just before the ``compacted`` line that introduced it.
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    summarised: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def read_rollout(path: Path) -> Rollout:
    """Replay the file: ``response_item`` lines extend the history, ``compacted`` lines replace it.

    Both line formats are read (with and without ``ordinal``). A torn last line, which Codex may be
    in the middle of writing, is skipped.
    """
    out = Rollout()
    with path.open("rb") as fh:
        for raw in fh:
            if not _REPLAYED.search(raw):  # event and turn-context lines, most of a file: not parsed
                continue
            line = _json_line(raw)
            if not isinstance(line, dict) or not isinstance(line.get("payload"), dict):
                continue
            payload = line["payload"]
            if line.get("type") == "response_item":
                out.history.append(payload)
            elif line.get("type") == "compacted" and isinstance(payload.get("replacement_history"), list):
                replacement = [i for i in payload["replacement_history"] if isinstance(i, dict)]
                for item in replacement:
                    if item.get("type") == "compaction" and isinstance(item.get("id"), str):
                        out.summarised[item["id"]] = list(out.history)
                out.history = replacement
    return out


def _json_line(raw: bytes) -> Any:
    """One line's JSON (None when it is not: a torn last line). orjson first — the file is parsed on
    a worker thread, but parsing holds the GIL, so it is time the event loop waits — and the standard
    parser for what orjson refuses and it accepts (NaN, integers beyond 64 bits)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except ValueError:
        return None
