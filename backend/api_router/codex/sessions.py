"""Reading Codex session rollouts: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``."""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from api_router.continuity.index import COMPACTION_TYPES, sealed_key

# The lines a replay needs, found without parsing: a top-level "type" of one of them. (Inside a
# string a quote is escaped, so text that merely mentions it does not match.)
_REPLAYED = re.compile(rb'"type"\s*:\s*"(?:response_item|compacted)"')
_FORKED = re.compile(rb'"forked_from_id"\s*:\s*"')  # in the session_meta line of a forked session

# Session ids are UUIDs in practice; anything that could act as a glob or a path is refused.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# rollout-YYYY-MM-DDTHH-MM-SS-<session id>.jsonl
_ROLLOUT_NAME = re.compile(r"rollout-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-(.+)\.jsonl")


# A UUIDv7 (Codex's session ids) starts with its creation time in milliseconds.
_UUID7 = re.compile(r"^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE)


def find_rollout(codex_home: Path, session_id: str) -> Path | None:
    """The newest rollout file of ``session_id``; ``resume`` appends to the same file.

    Codex files a session under the day it began, which a UUIDv7 session id tells: the folders of
    that day and the days either side (time zones) are searched first, and the whole tree — a
    year of heavy use is ~11,000 files, 26 ms — only when they do not hold it (any other id, or a
    file moved)."""
    if not _SAFE_ID.match(session_id):
        return None
    root = codex_home / "sessions"
    if not root.is_dir():
        return None
    pattern = f"rollout-*-{session_id}.jsonl"
    return (_newest(_around_creation(root, session_id, pattern), session_id)
            or _newest(root.rglob(pattern), session_id))


def _around_creation(root: Path, session_id: str, pattern: str) -> Iterator[Path]:
    match = _UUID7.match(session_id)
    if match is None:
        return
    created = int(match.group(1) + match.group(2), 16) / 1000
    for shift in (-1, 0, 1):
        day = time.localtime(created + shift * 86_400)
        yield from (root / f"{day.tm_year:04d}" / f"{day.tm_mon:02d}" / f"{day.tm_mday:02d}").glob(pattern)


def _newest(paths: Iterable[Path], session_id: str) -> Path | None:
    """The newest of ``paths`` that is ``session_id``'s file: the glob's ``*`` also matches the start of
    another session's id (``…-861e-133c187c160c`` for ``133c187c160c``), whose history is not this one's."""
    newest: tuple[int, Path] | None = None
    for path in paths:
        named = _ROLLOUT_NAME.fullmatch(path.name)
        if named is None or named.group(1) != session_id:
            continue
        try:
            st = path.stat()
        except OSError:  # removed since the search saw it
            continue
        if stat.S_ISREG(st.st_mode) and (newest is None or st.st_mtime_ns > newest[0]):
            newest = (st.st_mtime_ns, path)
    return newest[1] if newest else None


@dataclass
class Rollout:
    """A session's conversation as Codex recorded it.

    ``history`` is the conversation as it stands now: after a compaction Codex continues from the
    compaction's ``replacement_history``, so that list replaces everything before it.
    ``summarised`` maps the id and the sealed content of each compaction item to the conversations it
    replaced — the history as it stood just before each ``compacted`` line that introduced an item so
    known, oldest first (a relay may seal every compaction alike: the newest one's history then holds
    an item that looks like itself and stands for the one before).

    Read-only: ``RolloutReader`` hands the same rollout (and the same items) to every request that
    asks until the file changes.
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    summarised: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    # The session this one was forked from (``codex exec fork``): its history starts from the parent's
    # as it stood, so what the parent's compactions summarised is only in the parent's file.
    forked_from: str | None = None


@dataclass(frozen=True, slots=True)
class ForkBase:
    """Where a forked session's history starts when its file does not copy it (Codex 0.169 writes forks
    ``"history_mode": "paginated"`` with a ``history_base``): the parent's file up to its line
    ``end_ordinal`` (excluded), which ends at byte ``end_offset``."""

    thread_id: str
    end_ordinal: int | None
    end_offset: int | None


# Forks of forks are followed back this far (a loop of forks written by hand ends here too).
MAX_FORK_DEPTH = 16


class _Replay:
    """One file replayed up to ``offset``, the end of its last whole line: ``response_item`` lines
    extend the history, ``compacted`` lines replace it (lines with and without ``ordinal`` alike),
    and a torn last line, which Codex may be in the middle of writing, waits for the rest. Codex only
    appends, so what it wrote since is replayed on top. A file that was replaced, cut short or rewritten (its
    last line read is no longer where it was) is replayed from the start.

    Each step makes a new ``Rollout`` rather than growing the old one, which a request may still be
    reading on another thread (items themselves are never changed, so they are shared)."""

    __slots__ = ("bases", "mark", "offset", "path", "rollout", "seen", "unfinished", "until")

    def __init__(self, path: Path, bases: Callable[[ForkBase], Rollout | None] | None = None,
                 until: ForkBase | None = None) -> None:
        self.path = path
        self.bases = bases  # the history a fork's file starts from, when it does not copy it
        self.until = until  # replayed only as far as a fork of it saw it
        self._start_over()

    def _start_over(self) -> None:
        self.seen: tuple[int, ...] | None = None  # (device, inode, size, mtime) when it was last read
        self.offset = 0
        self.mark: tuple[int, int] | None = None  # (length, hash) of the last whole line read
        self.rollout = Rollout()
        self.unfinished: Rollout | None = None  # rollout plus a last line with no newline yet

    @property
    def current(self) -> Rollout:
        return self.unfinished or self.rollout

    def advance(self) -> _Replay:
        """Replay what was appended since ``offset``. A last line without its newline is not taken
        as read: if it parses it is shown in ``unfinished``, and read again next time."""
        # Opened without waiting: a FIFO put in the file's place would otherwise block until a writer
        # came (the whole session's requests with it); anything but a regular file is no session file.
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):  # as good as gone: the caller looks for the file again
                raise FileNotFoundError(errno.ENOENT, "no longer a regular file", str(self.path))
            seen = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if seen == self.seen:
                return self
            other_file = self.seen is None or self.seen[:2] != seen[:2]  # (device, inode)
            if other_file or st.st_size < self.offset or not self._continues(fh):
                self._start_over()
            self.seen = seen  # before reading: what is appended meanwhile is read next time
            self._read_on(fh)
        return self

    def _continues(self, fh: BinaryIO) -> bool:
        if self.mark is None:
            return True
        length, digest = self.mark
        fh.seek(self.offset - length)
        return hash(fh.read(length)) == digest

    def _read_on(self, fh: BinaryIO) -> None:
        grown: Rollout | None = None  # the copy this step writes into, made at its first replayed line
        self.unfinished = None
        fh.seek(self.offset)
        last = tail = b""
        for raw in fh:
            if not raw.endswith(b"\n"):  # only ever the last line
                tail = raw
                break
            if self.until is not None and self._past_fork(fh.tell(), raw):
                break  # the parent's lines after the fork are not the fork's history
            last = raw
            if _REPLAYED.search(raw) and (line := _replayed_line(raw)):  # most lines are events: not parsed
                grown = _step(grown or _copy(self.rollout), line)
            elif _FORKED.search(raw) and (fork := _fork_of(raw)):
                grown = grown or _copy(self.rollout)
                grown.forked_from, base = fork
                if base is not None and not grown.history and self.bases is not None:
                    _start_from(grown, self.bases(base))
        if last:
            self.offset = fh.tell() - len(tail)
            self.mark = (len(last), hash(last))
        if grown is not None:
            self.rollout = grown
        if tail and _REPLAYED.search(tail) and (line := _replayed_line(tail)):
            self.unfinished = _step(_copy(self.rollout), line)

    def _past_fork(self, end: int, raw: bytes) -> bool:
        """Whether the line ``raw`` (ending at byte ``end``) comes after the fork replayed to."""
        until = self.until
        assert until is not None
        if until.end_offset is not None:
            return end > until.end_offset
        if until.end_ordinal is None:
            return False
        line = _json_line(raw)
        ordinal = line.get("ordinal") if isinstance(line, dict) else None
        return isinstance(ordinal, int) and ordinal >= until.end_ordinal


def _start_from(rollout: Rollout, base: Rollout | None) -> None:
    """A fork's rollout starting from its parent's history at the fork (and what its compactions summarised)."""
    if base is not None:
        rollout.history = list(base.history)
        rollout.summarised = {**base.summarised, **rollout.summarised}


def _replayed_line(raw: bytes) -> tuple[str, dict[str, Any]] | None:
    """(type, payload) of a line ``_REPLAYED`` found; None when it is not one after all."""
    line = _json_line(raw)
    if not isinstance(line, dict) or not isinstance(line.get("payload"), dict):
        return None
    kind = line.get("type")
    return (kind, line["payload"]) if kind in ("response_item", "compacted") else None


def _fork_of(raw: bytes) -> tuple[str, ForkBase | None] | None:
    """The session a session_meta line says this one was forked from, and where its history starts when
    the file does not copy it."""
    line = _json_line(raw)
    payload = line.get("payload") if isinstance(line, dict) and line.get("type") == "session_meta" else None
    if not isinstance(payload, dict):
        return None
    parent = payload.get("forked_from_id")
    if not isinstance(parent, str) or not parent:
        return None
    base = payload.get("history_base") if payload.get("history_mode") == "paginated" else None
    if not isinstance(base, dict):
        return parent, None
    thread = base.get("thread_id")
    ordinal, offset = base.get("end_ordinal_exclusive"), base.get("end_byte_offset")
    return parent, ForkBase(thread if isinstance(thread, str) and thread else parent,
                            ordinal if isinstance(ordinal, int) else None, offset if isinstance(offset, int) else None)


def _history_at(codex_home: Path, base: ForkBase, depth: int = 0) -> Rollout | None:
    """The parent's rollout as the fork saw it: its file replayed up to the fork (its own fork's first).
    None when it cannot be found or read: the fork's own file is all there is to go on."""
    if depth >= MAX_FORK_DEPTH:
        return None
    path = find_rollout(codex_home, base.thread_id)
    if path is None:
        return None
    try:
        return _Replay(path, functools.partial(_history_at, codex_home, depth=depth + 1), until=base).advance().rollout
    except OSError:
        return None


def _copy(rollout: Rollout) -> Rollout:
    return Rollout(list(rollout.history), dict(rollout.summarised), rollout.forked_from)


def _step(rollout: Rollout, line: tuple[str, dict[str, Any]]) -> Rollout:
    """``rollout`` after one more line (its lists are changed in place; a compaction starts a new
    history list)."""
    kind, payload = line
    if kind == "response_item":
        rollout.history.append(payload)
    elif isinstance(payload.get("replacement_history"), list):
        replacement = [i for i in payload["replacement_history"] if isinstance(i, dict)]
        for item in replacement:
            # Nothing before it: the first line of a forked session, which carries its parent's compacted
            # history; what those items summarised is in the parent's file, not nothing.
            if item.get("type") in COMPACTION_TYPES and rollout.history:
                # Found by its id and by its sealed content: Codex gives an id-less one an id of its own.
                before = list(rollout.history)
                for key in (item.get("id"), sealed_key(item)):
                    if isinstance(key, str) and key:
                        # A new list: copies of the rollout share the old one (``_copy``).
                        rollout.summarised[key] = [*rollout.summarised.get(key, ()), before]
        rollout.history = replacement
    elif isinstance(payload.get("message"), str) and payload["message"]:
        rollout.history = _local_compaction(rollout.history, payload["message"])
    return rollout


# What Codex keeps of the user's own words when it compacts locally (about its 20,000 tokens).
KEPT_USER_CHARS = 80_000
# User messages Codex writes itself: the environment, the instructions (AGENTS.md), shell commands, an
# interrupted turn's note, a skill's text, a subagent's report.
_CONTEXT_NOT_WORDS = ("<environment_context", "<user_instructions", "<user_shell_command", "# AGENTS.md instructions",
                      "<turn_aborted>", "<skill>", "<subagent_notification>")
# How Codex opens the summary of a local compaction (its compact.rs SUMMARY_PREFIX, then a line end): an
# earlier compaction's summary, which Codex leaves out of the user's words when it rebuilds a history.
CODEX_SUMMARY_LEAD = ("Another language model started to solve this problem and produced a summary of its thinking "
                      "process. You also have access to the state of the tools that were used by that language model. "
                      "Use this to build on the work that has already been done and avoid duplicating work. Here is "
                      "the summary produced by the other language model, use the information in this summary to "
                      "assist with your own analysis:\n")


def _local_compaction(history: list[dict[str, Any]], summary: str) -> list[dict[str, Any]]:
    """The history after a ``compacted`` line that carries only the summary (as older Codex versions
    write it): the user's newest messages, then the summary as a user message — the history Codex
    itself rebuilds from such a line (an earlier compaction's summary is not the user's words)."""
    kept: list[dict[str, Any]] = []
    room = KEPT_USER_CHARS
    for item in reversed(history):
        text = _user_text(item)
        if text is None or text.startswith(_CONTEXT_NOT_WORDS) or text.startswith(CODEX_SUMMARY_LEAD):
            continue  # what Codex adds, not what the user said
        if len(text) > room:  # the message the room ends in is kept cut to fit, its middle left out
            if room > 0:
                kept.append(_said_by_user(_middle_cut(text, room)))
            break
        room -= len(text)
        kept.append(item)
    kept.reverse()
    return [*kept, _said_by_user(summary)]


def _said_by_user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _middle_cut(text: str, room: int) -> str:
    """``text`` in ``room`` characters: its start and its end, and between them how much was left out,
    as Codex says it (in tokens, about four characters each)."""
    head = room // 2
    return f"{text[:head]}…{(len(text) - room) // 4} tokens truncated…{text[len(text) - (room - head):]}"


def _user_text(item: dict[str, Any]) -> str | None:
    if item.get("type") != "message" or item.get("role") != "user" or not isinstance(item.get("content"), list):
        return None
    return "".join(c.get("text", "") for c in item["content"] if isinstance(c, dict) and isinstance(c.get("text"), str))


# A session's file is looked for again after this long: another, newer file of the same session
# (a copy, a restore) takes over as a fresh search would have it.
SEARCH_AGAIN_SECONDS = 30.0


class RolloutReader:
    """The rollouts of the sessions asked for lately, kept between requests.

    A session that moved to another provider after a compaction needs its file on every turn, and
    the file of a long session is megabytes (an 8.5 MB one takes ~20 ms to parse, all of it holding
    the GIL the event loop needs). Here a session's file is searched for now and then and parsed
    once; later reads replay only what Codex appended. Safe to call from several threads: reads of
    one session wait for each other, other sessions do not wait for them."""

    def __init__(self, keep: int = 4) -> None:
        self._keep = keep  # parsed rollouts of long sessions are tens of MB each
        self._sessions: OrderedDict[tuple[Path, str], _Session] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, codex_home: Path, session_id: str) -> Rollout | None:
        """The session's rollout as its file stands now; None when there is no file for it. Raises
        OSError when the file is there but cannot be read."""
        key = (codex_home, session_id)
        with self._lock:
            session = self._sessions.pop(key, None) or _Session()
            self._sessions[key] = session
            while len(self._sessions) > self._keep:
                self._sessions.popitem(last=False)
        with session.lock:
            return session.read(codex_home, session_id)

    @property
    def kept(self) -> int:
        """How many sessions' rollouts are kept."""
        return len(self._sessions)

    def expire(self, idle_seconds: float) -> int:
        """Let go of the sessions not read for ``idle_seconds``: a finished session's history should
        not stay in memory for as long as the app runs in the tray. How many were let go."""
        cutoff = time.monotonic() - idle_seconds
        with self._lock:
            idle = [key for key, session in self._sessions.items() if session.used_at <= cutoff]
            for key in idle:
                del self._sessions[key]
        return len(idle)


class _Session:
    __slots__ = ("lock", "replay", "searched_at", "used_at")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.replay: _Replay | None = None
        self.searched_at = 0.0
        self.used_at = time.monotonic()

    def read(self, codex_home: Path, session_id: str) -> Rollout | None:
        self.used_at = time.monotonic()
        if self.replay is not None and time.monotonic() - self.searched_at < SEARCH_AGAIN_SECONDS:
            try:
                return self.replay.advance().current
            except FileNotFoundError:  # moved or removed: look for it
                pass
        self.searched_at = time.monotonic()
        path = find_rollout(codex_home, session_id)
        if path is None:
            self.replay = None
            return None
        if self.replay is None or self.replay.path != path:
            self.replay = _Replay(path, functools.partial(_history_at, codex_home))
        try:
            return self.replay.advance().current
        except FileNotFoundError:  # removed since the search found it
            self.replay = None
            return None


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
