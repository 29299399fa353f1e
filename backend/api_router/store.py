"""SQLite store: events, the per-request log, provider metrics and continuity maps.

Writes never run on the caller's thread: they are queued to one writer thread that commits them in
batches, so the gateway's event loop never waits for the disk. What the hot path reads (recent
events, metrics, ownership of response/reasoning ids) is answered from memory first.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from api_router.fsutil import aside_path

log = logging.getLogger(__name__)

EVENT_RETENTION = 5000
REQUEST_RETENTION_DAYS = 30
RECENT_EVENTS = 50
# Writes queued within this window share one transaction: at any request rate the writer thread
# commits at most ~20 times a second instead of once per request.
BATCH_WINDOW_SECONDS = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    unix_ms INTEGER NOT NULL,
    level TEXT NOT NULL,
    provider TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY,
    unix_ms INTEGER NOT NULL,
    session_id TEXT,
    path TEXT NOT NULL,
    model TEXT,
    stream INTEGER NOT NULL,
    provider TEXT,
    providers_tried TEXT NOT NULL,
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    ttfb_ms REAL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS request_log_time ON request_log(unix_ms);
CREATE INDEX IF NOT EXISTS request_log_session ON request_log(session_id, unix_ms);
CREATE TABLE IF NOT EXISTS attempts (
    request_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    provider TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    latency_ms REAL NOT NULL,
    error TEXT,
    PRIMARY KEY (request_id, idx)
);
CREATE TABLE IF NOT EXISTS provider_metrics (
    provider TEXT PRIMARY KEY,
    ok_requests INTEGER NOT NULL DEFAULT 0,
    error_requests INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS response_owner (
    response_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    unix_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reasoning_owner (
    item_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    unix_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reasoning_owner_session ON reasoning_owner(session_id);
CREATE TABLE IF NOT EXISTS usage_state (
    provider TEXT PRIMARY KEY,
    entry TEXT,
    hint TEXT,
    ledger_tokens INTEGER NOT NULL DEFAULT 0,
    ledger_since_ms INTEGER
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Event:
    id: int
    unix_ms: int
    level: str
    provider: str | None
    kind: str
    message: str

    def to_json(self, seen_up_to: int = 0) -> dict[str, Any]:
        return {**asdict(self), "seen": self.id <= seen_up_to}


@dataclass(slots=True)
class Attempt:
    provider: str
    outcome: str  # ok | provider_failure | client_error | retry | client_closed
    status: int | None = None
    latency_ms: float = 0.0
    error: str = ""


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0


@dataclass(slots=True)
class RequestRecord:
    unix_ms: int
    path: str
    stream: bool
    session_id: str | None = None
    model: str | None = None
    provider: str | None = None
    status: int = 0
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    usage: Usage = field(default_factory=Usage)
    error: str = ""
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(slots=True)
class Metrics:
    ok_requests: int = 0
    error_requests: int = 0
    total_tokens: int = 0


_Op = Callable[[sqlite3.Connection], None]
# SQLite's lowest default limit of "?" per statement.
_MAX_VARIABLES = 999


@dataclass
class _Rows:
    """Rows of the per-request tables waiting for the writer thread.

    They are written as multi-row INSERTs: one SQLite step per statement instead of one per row.
    Every step releases the GIL and takes it back, and each of those hand-offs stalls the event
    loop's thread, so per-row statements slowed the whole gateway down under load.
    """

    requests: list[tuple[int, RequestRecord]] = field(default_factory=list)  # logged, not read again
    metrics: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # provider -> latest counters
    response_owners: list[tuple[Any, ...]] = field(default_factory=list)
    reasoning_owners: list[tuple[Any, ...]] = field(default_factory=list)
    ledgers: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # provider -> latest ledger


class Store:
    def __init__(self, path: Path, redact: Callable[[str], str] = lambda s: s) -> None:
        self.path = path
        self._redact = redact
        # Items: a write op, a threading.Event to set once everything before it is committed
        # (flush), or None to stop.
        self._queue: queue.SimpleQueue[_Op | threading.Event | None] = queue.SimpleQueue()
        self._wake = threading.Event()  # ends the writer's batching wait early (flush, close)
        # Rows for the per-request tables collect here; the op that writes them is queued with the
        # first row, and any other op closes the collection so that queue order stays write order.
        self._rows: _Rows | None = None
        self._rows_lock = threading.Lock()
        self._next_request_id = 1
        self._read_lock = threading.Lock()
        self._hot_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self._metrics: dict[str, Metrics] = {}
        self._responses: OrderedDict[str, str] = OrderedDict()
        self._reasoning: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._next_event_id = 1
        self._seen_up_to = 0
        self._recovered_from: Path | None = None
        self._reader: sqlite3.Connection | None = None  # control/analytics reads
        self._hot: sqlite3.Connection | None = None  # point lookups from the gateway's loop
        self._writer_thread: threading.Thread | None = None
        self._last_prune: float | None = None  # None: prune with the first write batch
        self._events_since_prune = 0
        self._today = (_local_day(time.time()), 0)  # (local day, client requests logged that day)

    # --- lifecycle -----------------------------------------------------------------------------

    def open(self) -> Path | None:
        """Open (or create) the database; returns where a corrupt one was moved, if it was."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = self._connect_and_check()
        except sqlite3.DatabaseError as exc:
            log.error("store %s is unreadable (%s); moving it aside", self.path, exc)
            self._recovered_from = self._move_corrupt_aside()
            writer = self._connect_and_check()
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._hot = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._load_memory(writer)
        self._writer_thread = threading.Thread(target=self._write_loop, args=(writer,), name="store-writer", daemon=True)
        self._writer_thread.start()
        if self._recovered_from is not None:
            self.add_event("error", "store", f"The database was unreadable and was moved to {self._recovered_from.name}; a new one was created.")
        return self._recovered_from

    def _connect_and_check(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            conn.execute("SELECT count(*) FROM events").fetchone()
            conn.execute("SELECT count(*) FROM request_log").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _move_corrupt_aside(self) -> Path:
        target = aside_path(self.path)
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            if src.exists():
                src.replace(target.with_name(target.name + suffix))
        return target

    def _load_memory(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT id, unix_ms, level, provider, kind, message FROM events ORDER BY id DESC LIMIT ?", (RECENT_EVENTS,)
        ).fetchall()
        self._recent.extend(Event(*row) for row in rows)  # newest first, as the deque keeps them
        top = conn.execute("SELECT max(id) FROM events").fetchone()[0]
        self._next_event_id = (top or 0) + 1
        top = conn.execute("SELECT max(id) FROM request_log").fetchone()[0]
        self._next_request_id = (top or 0) + 1
        for provider, ok, err, tokens in conn.execute("SELECT provider, ok_requests, error_requests, total_tokens FROM provider_metrics"):
            self._metrics[provider] = Metrics(ok, err, tokens)
        day = _local_day(time.time())
        midnight_ms = int(time.mktime(time.strptime(day, "%Y-%m-%d")) * 1000)
        today = conn.execute("SELECT count(*) FROM request_log WHERE unix_ms >= ?", (midnight_ms,)).fetchone()[0]
        self._today = (day, today)
        seen = conn.execute("SELECT value FROM meta WHERE key = 'events_seen_up_to'").fetchone()
        self._seen_up_to = int(seen[0]) if seen else 0

    def close(self) -> None:
        if self._writer_thread is not None:
            self._queue.put(None)
            self._wake.set()
            self._writer_thread.join(timeout=10)
            self._writer_thread = None
        for conn in (self._reader, self._hot):
            if conn is not None:
                conn.close()
        self._reader = self._hot = None

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything queued so far is committed (tests and shutdown use it)."""
        if self._writer_thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        self._wake.set()
        done.wait(timeout)

    # --- the writer thread ------------------------------------------------------------------------

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                batch = [self._queue.get()]
                if callable(batch[0]):
                    # Let the window's writes pile up (flush and close cut the wait short), then
                    # take them all: one wake-up and one transaction per window, not per write.
                    self._wake.wait(BATCH_WINDOW_SECONDS)
                self._wake.clear()
                while len(batch) < 1000:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._commit(conn, [b for b in batch if callable(b)])
                for marker in batch:
                    if isinstance(marker, threading.Event):
                        marker.set()
                if None in batch:
                    return
                self._maybe_prune(conn)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, ops: list[_Op]) -> None:
        if not ops:
            return
        try:
            conn.execute("BEGIN")
            for op in ops:
                op(conn)
            conn.execute("COMMIT")
        except sqlite3.Error:
            log.exception("store write failed; %d queued writes dropped", len(ops))
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _maybe_prune(self, conn: sqlite3.Connection) -> None:
        now = time.monotonic()
        due = self._last_prune is None or now - self._last_prune >= 3600 or self._events_since_prune >= 500
        if due:
            self._events_since_prune = 0
            self._last_prune = now
            with conn:
                _prune(conn)

    def prune(self) -> None:
        """Apply the retention rules now (they also run hourly and every 500 events)."""
        self._submit(_prune)

    def _submit(self, op: _Op) -> None:
        with self._rows_lock:
            self._rows = None  # rows added from now on are written after this op
            self._queue.put(op)

    def _open_rows(self) -> _Rows:
        """The collection that new per-request rows join (queued for writing when it is started);
        call with ``_rows_lock`` held."""
        rows = self._rows
        if rows is None:
            rows = self._rows = _Rows()
            self._queue.put(lambda c: self._write_rows(c, rows))
        return rows

    def _write_rows(self, conn: sqlite3.Connection, rows: _Rows) -> None:
        with self._rows_lock:
            if self._rows is rows:
                self._rows = None  # closed: later rows start a new collection
        requests, attempts = [], []
        for request_id, r in rows.requests:
            u = r.usage
            tried = ",".join(dict.fromkeys(a.provider for a in r.attempts))
            requests.append((request_id, r.unix_ms, r.session_id, r.path, r.model, int(r.stream), r.provider, tried,
                             r.status, r.latency_ms, r.ttfb_ms, u.input_tokens, u.output_tokens, u.cached_tokens,
                             u.reasoning_tokens, u.total_tokens, r.error or None))
            attempts.extend((request_id, i, a.provider, a.outcome, a.status, a.latency_ms, a.error or None)
                            for i, a in enumerate(r.attempts))
        _insert_rows(conn, "INSERT INTO request_log (id, unix_ms, session_id, path, model, stream, provider, "
                           "providers_tried, status, latency_ms, ttfb_ms, input_tokens, output_tokens, cached_tokens, "
                           "reasoning_tokens, total_tokens, error) VALUES ", requests)
        _insert_rows(conn, "INSERT INTO attempts VALUES ", attempts)
        _insert_rows(conn, "INSERT OR REPLACE INTO provider_metrics VALUES ", list(rows.metrics.values()))
        _insert_rows(conn, "INSERT OR REPLACE INTO response_owner VALUES ", rows.response_owners)
        _insert_rows(conn, "INSERT OR REPLACE INTO reasoning_owner VALUES ", rows.reasoning_owners)
        _insert_rows(conn, "INSERT INTO usage_state (provider, ledger_tokens, ledger_since_ms) VALUES ",
                     list(rows.ledgers.values()), tail=" ON CONFLICT(provider) DO UPDATE SET "
                     "ledger_tokens = excluded.ledger_tokens, ledger_since_ms = excluded.ledger_since_ms")

    # --- events ---------------------------------------------------------------------------------

    def add_event(self, level: str, kind: str, message: str, provider: str | None = None) -> Event:
        message = self._redact(message)
        with self._state_lock:
            event = Event(self._next_event_id, now_ms(), level, provider, kind, message)
            self._next_event_id += 1
            self._recent.appendleft(event)
            self._events_since_prune += 1
        log.log(logging.ERROR if level == "error" else logging.WARNING if level == "warning" else logging.INFO,
                "%s%s: %s", f"[{provider}] " if provider else "", kind, message)
        self._submit(lambda c: c.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", (
            event.id, event.unix_ms, event.level, event.provider, event.kind, event.message)))
        return event

    def recent_events(self) -> list[Event]:
        with self._state_lock:
            return list(self._recent)

    @property
    def seen_up_to(self) -> int:
        return self._seen_up_to

    def unseen_count(self) -> int:
        return max(0, min(self._next_event_id - 1 - self._seen_up_to, EVENT_RETENTION))

    def mark_events_seen(self) -> int:
        with self._state_lock:
            self._seen_up_to = self._next_event_id - 1
            value = str(self._seen_up_to)
        self._submit(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES ('events_seen_up_to', ?)", (value,)))
        return self._seen_up_to

    def list_events(self, *, level: str | None = None, provider: str | None = None,
                    limit: int = 200, before_id: int | None = None) -> list[Event]:
        self.flush()
        clauses, args = [], []
        for column, value in (("level", level), ("provider", provider)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if before_id is not None:
            clauses.append("id < ?")
            args.append(before_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(f"SELECT id, unix_ms, level, provider, kind, message FROM events {where} ORDER BY id DESC LIMIT ?",
                          (*args, limit))
        return [Event(*row) for row in rows]

    # --- request log and metrics ------------------------------------------------------------------

    def log_request(self, record: RequestRecord) -> None:
        """Account one client request: its attempts feed the per-provider metrics."""
        record.error = self._redact(record.error)
        for attempt in record.attempts:
            attempt.error = self._redact(attempt.error)
        tokens = record.usage.total_tokens
        touched: list[tuple[str, int, int, int]] = []
        with self._state_lock:
            for attempt in record.attempts:
                if attempt.outcome not in ("ok", "provider_failure"):
                    continue
                m = self._metrics.setdefault(attempt.provider, Metrics())
                if attempt.outcome == "ok":
                    m.ok_requests += 1
                    m.total_tokens += tokens
                else:
                    m.error_requests += 1
                touched.append((attempt.provider, m.ok_requests, m.error_requests, m.total_tokens))
            request_id = self._next_request_id
            self._next_request_id += 1
            day = _local_day(record.unix_ms / 1000)
            self._today = (day, self._today[1] + 1 if self._today[0] == day else 1)
        with self._rows_lock:
            rows = self._open_rows()
            rows.requests.append((request_id, record))  # its rows are built by the writer, in a batch
            for counters in touched:
                rows.metrics[counters[0]] = counters

    def requests_today(self) -> int:
        """Client requests logged since local midnight."""
        with self._state_lock:
            day, count = self._today
        return count if day == _local_day(time.time()) else 0

    def metrics(self) -> dict[str, Metrics]:
        with self._state_lock:
            return {k: Metrics(v.ok_requests, v.error_requests, v.total_tokens) for k, v in self._metrics.items()}

    def request_log(self, limit: int = 100, session_id: str | None = None) -> list[dict[str, Any]]:
        self.flush()
        where, args = ("WHERE session_id = ?", (session_id,)) if session_id else ("", ())
        cols = ("id", "unix_ms", "session_id", "path", "model", "stream", "provider", "providers_tried", "status",
                "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
                "total_tokens", "error")
        rows = self._read(f"SELECT {', '.join(cols)} FROM request_log {where} ORDER BY id DESC LIMIT ?", (*args, limit))
        out = [dict(zip(cols, row)) for row in rows]
        attempts: dict[int, list[dict[str, Any]]] = {item["id"]: [] for item in out}
        if attempts:
            marks = ",".join("?" * len(attempts))
            for rid, *values in self._read(
                    f"SELECT request_id, provider, outcome, status, latency_ms, error FROM attempts "
                    f"WHERE request_id IN ({marks}) ORDER BY request_id, idx", tuple(attempts)):
                attempts[rid].append(dict(zip(("provider", "outcome", "status", "latency_ms", "error"), values)))
        for item in out:
            item["providers_tried"] = item["providers_tried"].split(",") if item["providers_tried"] else []
            item["stream"] = bool(item["stream"])
            item["attempts"] = attempts[item["id"]]
        return out

    # --- continuity maps ---------------------------------------------------------------------------

    def record_response_owner(self, response_id: str, provider: str) -> None:
        with self._state_lock:
            self._responses[response_id] = provider
            self._responses.move_to_end(response_id)
            while len(self._responses) > 10_000:
                self._responses.popitem(last=False)
        ts = now_ms()
        with self._rows_lock:
            self._open_rows().response_owners.append((response_id, provider, ts))

    def response_owner(self, response_id: str) -> str | None:
        with self._state_lock:
            owner = self._responses.get(response_id)
        if owner is not None:
            return owner
        row = self._hot_read("SELECT provider FROM response_owner WHERE response_id = ?", (response_id,))
        return row[0][0] if row else None

    def record_reasoning_owner(self, session_id: str, item_ids: Iterable[str], provider: str) -> None:
        ids = list(item_ids)
        if not ids:
            return
        # Loading the session first keeps the in-memory map a superset of what is queued to disk,
        # so lookups never need to wait for the writer.
        self.reasoning_owners(session_id).update(dict.fromkeys(ids, provider))
        ts = now_ms()
        with self._rows_lock:
            self._open_rows().reasoning_owners.extend((i, session_id, provider, ts) for i in ids)

    def reasoning_owners(self, session_id: str) -> dict[str, str]:
        """item id -> provider for one session; loaded once per session, then kept in memory."""
        with self._state_lock:
            cached = self._reasoning.get(session_id)
            if cached is not None:
                self._reasoning.move_to_end(session_id)
                return cached
        owners = dict(self._hot_read("SELECT item_id, provider FROM reasoning_owner WHERE session_id = ?", (session_id,)))
        with self._state_lock:
            owners = self._reasoning.setdefault(session_id, owners)
            while len(self._reasoning) > 256:
                self._reasoning.popitem(last=False)
        return owners

    def get_meta(self, key: str) -> str | None:
        self.flush()
        row = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0][0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._submit(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value)))

    # --- usage (quota snapshots and ledgers) -------------------------------------------------------

    def save_usage_entry(self, provider: str, entry: str, hint: str | None) -> None:
        self._submit(lambda c: c.execute(
            "INSERT INTO usage_state (provider, entry, hint) VALUES (?, ?, ?) "
            "ON CONFLICT(provider) DO UPDATE SET entry = excluded.entry, hint = excluded.hint",
            (provider, entry, hint)))

    def save_ledger(self, provider: str, tokens: int, since_ms: int | None) -> None:
        # Written for busy gateways every few seconds, so it joins the batched per-request rows.
        with self._rows_lock:
            self._open_rows().ledgers[provider] = (provider, tokens, since_ms)

    def load_usage(self) -> list[tuple[str, str | None, str | None, int, int | None]]:
        """(provider, entry json, adapter hint, ledger tokens, ledger since) for every provider."""
        self.flush()
        return self._read("SELECT provider, entry, hint, ledger_tokens, ledger_since_ms FROM usage_state")

    def forget_usage(self, provider: str) -> None:
        self._submit(lambda c: c.execute("DELETE FROM usage_state WHERE provider = ?", (provider,)))

    # --- renames -------------------------------------------------------------------------------------

    def rename_provider(self, old: str, new: str) -> None:
        with self._state_lock:
            if old in self._metrics:
                self._metrics[new] = self._metrics.pop(old)
            for i, event in enumerate(self._recent):
                if event.provider == old:
                    self._recent[i] = Event(event.id, event.unix_ms, event.level, new, event.kind, event.message)
            for rid, owner in self._responses.items():
                if owner == old:
                    self._responses[rid] = new
            for owners in self._reasoning.values():
                for item, owner in owners.items():
                    if owner == old:
                        owners[item] = new
        self._submit(lambda c: _rename(c, old, new))

    def forget_provider(self, provider: str) -> None:
        """A deleted provider's counters and quota state go; its history stays under its old name."""
        with self._state_lock:
            self._metrics.pop(provider, None)
        self._submit(lambda c: c.execute("DELETE FROM provider_metrics WHERE provider = ?", (provider,)))
        self.forget_usage(provider)

    # --- reads ---------------------------------------------------------------------------------------

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._reader is None:
            raise RuntimeError("store is closed")
        with self._read_lock:
            return self._reader.execute(sql, args).fetchall()

    def _hot_read(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._hot is None:
            raise RuntimeError("store is closed")
        with self._hot_lock:
            return self._hot.execute(sql, args).fetchall()

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read-only SQL for analytics; sees everything written before the call."""
        self.flush()
        return self._read(sql, args)


def _local_day(unix_s: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(unix_s))


def _prune(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                 (EVENT_RETENTION,))
    cutoff = now_ms() - REQUEST_RETENTION_DAYS * 86_400_000
    conn.execute("DELETE FROM attempts WHERE request_id IN (SELECT id FROM request_log WHERE unix_ms < ?)", (cutoff,))
    for table in ("request_log", "response_owner", "reasoning_owner"):
        conn.execute(f"DELETE FROM {table} WHERE unix_ms < ?", (cutoff,))


def _insert_rows(conn: sqlite3.Connection, head: str, rows: list[tuple[Any, ...]], tail: str = "") -> None:
    """``head`` + ``(?, …), (?, …)…`` + ``tail`` for all ``rows``, in as few statements as SQLite allows."""
    if not rows:
        return
    width = len(rows[0])
    one = "(" + ", ".join("?" * width) + ")"
    per = _MAX_VARIABLES // width
    for start in range(0, len(rows), per):
        part = rows[start:start + per]
        conn.execute(head + ", ".join([one] * len(part)) + tail, [v for row in part for v in row])


def _rename(conn: sqlite3.Connection, old: str, new: str) -> None:
    conn.execute("DELETE FROM provider_metrics WHERE provider = ?", (new,))
    conn.execute("UPDATE provider_metrics SET provider = ? WHERE provider = ?", (new, old))
    conn.execute("UPDATE events SET provider = ? WHERE provider = ?", (new, old))
    conn.execute("UPDATE request_log SET provider = ? WHERE provider = ?", (new, old))
    conn.execute("UPDATE attempts SET provider = ? WHERE provider = ?", (new, old))
    conn.execute("UPDATE response_owner SET provider = ? WHERE provider = ?", (new, old))
    conn.execute("UPDATE reasoning_owner SET provider = ? WHERE provider = ?", (new, old))
    conn.execute("DELETE FROM usage_state WHERE provider = ?", (new,))
    conn.execute("UPDATE usage_state SET provider = ? WHERE provider = ?", (new, old))
    rows = conn.execute("SELECT id, providers_tried FROM request_log WHERE ',' || providers_tried || ',' LIKE ?",
                        (f"%,{old},%",)).fetchall()
    for rid, tried in rows:
        conn.execute("UPDATE request_log SET providers_tried = ? WHERE id = ?",
                     (",".join(new if p == old else p for p in tried.split(",")), rid))

