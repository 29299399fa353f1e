"""SQLite persistence: events, the request log and its metrics, and the tables other owners keep.

Writes never run on the caller's thread (see ``writer``), so the gateway's event loop never waits
for the disk. What the hot path reads (recent events, metrics, today's count) is answered from
memory. The continuity maps, session affinity, usage readings and provider tests are owned by
their own modules; this class only loads and saves their rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import orjson

from api_router import days
from api_router.fsutil import (
    aside_path,
    atomic_write,
    create_private_file,
    private_dir,
    read_file,
    remove_stale_temp_files,
    replace_file,
    tighten,
)
from api_router.records import Attempt, Event, Kind, Level, Outcome, RequestRecord, now_ms
from api_router.store import schema
from api_router.store.writer import BatchWriter, Op, insert_rows, is_damage
from api_router.texts import utf8_writable

log = logging.getLogger(__name__)
UNREADABLE_LOG_SECONDS = 60.0
_LOG_LEVELS = {Level.INFO: logging.INFO, Level.WARNING: logging.WARNING, Level.ERROR: logging.ERROR}

EVENT_RETENTION = 5000
RECENT_EVENTS = 50
DEFAULT_RETENTION_DAYS = 30
DEFAULT_RETENTION_ROWS = 200_000
PRUNE_EVERY_SECONDS = 600.0
PRUNE_EVERY_EVENTS = 500
WAL_SIZE_LIMIT = 8 * 1024 * 1024  # bytes left on disk after a checkpoint
# Request rows logged since the last prune that start the next one: a 20th of the bound (at most
# 10,000), so the log never holds more than 5 % over what the user allows.
MAX_ROWS_BETWEEN_PRUNES = 10_000
DAY_MS = 86_400_000


@dataclass(slots=True)
class Metrics:
    ok_requests: int = 0
    error_requests: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class Retention:
    days: float = DEFAULT_RETENTION_DAYS
    rows: int = DEFAULT_RETENTION_ROWS


def _read_only_uri(path: Path) -> str:
    """``path`` as an SQLite URI that opens it read-only. The authority is left empty (``file:///…``, and
    ``file:////server/share/…`` for a Windows network path): SQLite refuses any other, and ``as_uri`` names
    the server there."""
    posix = path.absolute().as_posix()
    return "file://" + ("" if posix.startswith("/") else "/") + quote_from_bytes(os.fsencode(posix), safe="/:") \
        + "?mode=ro"


class DamagedDatabase(RuntimeError):
    """A read found the database file damaged; the message says what the user can do."""



def _remove_empty_or_shm(paths: list[Path]) -> None:
    """Remove SQLite's -shm files (an index it rebuilds) and empty -wal files among ``paths`` (a -wal with
    content holds writes)."""
    for path in paths:
        with contextlib.suppress(OSError):
            if path.name.endswith("-shm") or path.stat().st_size == 0:
                path.unlink()

class Store:
    def __init__(self, path: Path, redact: Callable[[str], str] = lambda s: s,
                 retention: Retention | None = None) -> None:
        self.path = path
        self._redact = redact
        self._writer = BatchWriter({
            "requests": self._write_requests,
            "attempts": lambda c, rows: insert_rows(c, _ATTEMPT_INSERT, rows),
            "metrics": lambda c, rows: insert_rows(c, _METRICS_INSERT, rows),
            "response_owner": lambda c, rows: insert_rows(c, _RESPONSE_OWNER_INSERT, rows),
            "sealed_owner": _write_sealed_owners,
            "affinity": lambda c, rows: insert_rows(c, _AFFINITY_INSERT, rows),
            "ledgers": lambda c, rows: insert_rows(
                c, "INSERT INTO usage_state (provider, ledger_tokens, ledger_since_ms) VALUES ", rows,
                tail=" ON CONFLICT(provider) DO UPDATE SET ledger_tokens = excluded.ledger_tokens, "
                     "ledger_since_ms = excluded.ledger_since_ms"),
        }, after_batch=self._maybe_prune, on_damage=self._damaged, on_held=self._held)
        self._next_request_id = 1
        self._read_lock = threading.Lock()
        self._hot_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self._metrics: dict[str, Metrics] = {}
        self._next_event_id = 1
        self._seen_up_to = 0
        self._days = _LocalDays()
        self._today = (self._days.day_of(time.time()), 0)  # (local day, client requests logged that day)
        self._recovered_from: Path | None = None
        self._damage_told = False  # the user heard that the file is damaged (once per run)
        self._unreadable_logged_at = -UNREADABLE_LOG_SECONDS  # the last log line of a lookup that could not read
        self._reader: sqlite3.Connection | None = None  # control/analytics reads
        self._hot: sqlite3.Connection | None = None  # point lookups from the gateway's loop
        # The user's from the start: the first write batch prunes, and a start writes events before it serves.
        self._retention = retention if retention is not None else Retention()
        self._last_prune: float | None = None  # None: prune with the first write batch
        self._events_since_prune = 0
        self._rows_since_prune = 0
        # Renames and deletes, numbered; the number of the last one committed is kept in the database
        # with it (MOVES_META), so a read of the owner tables says which it reflects (see ``_now_known_as``).
        self._moves: deque[tuple[int, str, str]] = deque(maxlen=MOVES_KEPT)
        self._moves_file_lock = threading.Lock()  # the list of moves kept beside the file (see _keep_moves_left)
        self._moves_made = 0
        # Whether the file holds sealed owners recorded under the keys of earlier versions (an item's
        # content's length and end; before that its id), which lookups then try too; they go with the
        # retention rules (see ``_load_memory``).
        self.earlier_sealed_keys = False

    # --- lifecycle -----------------------------------------------------------------------------

    def upgrade_pending(self) -> bool:
        """Whether opening the file upgrades it (an older version's), looked at read only. The -wal and -shm
        this look made go again (a read-only file's are read-only, and would refuse the next start). False
        when there is no file, or it cannot be read (opening it says why)."""
        if not self.path.is_file():
            return False
        made = [path for path in self._companions() if not path.exists()]
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=1.0)) as conn:
                conn.execute("PRAGMA query_only = ON")
                return schema.upgrade_pending(conn)
        except sqlite3.Error:
            return False
        finally:
            _remove_empty_or_shm(made)

    def _companions(self) -> list[Path]:
        return [self.path.with_name(self.path.name + suffix) for suffix in ("-wal", "-shm")]

    def open(self) -> Path | None:
        """Open (or create) the database; returns where a corrupt one was moved, if it was."""
        private_dir(self.path.parent)
        create_private_file(self.path)  # SQLite gives its -wal and -shm files the same mode
        made = [path for path in self._companions() if not path.exists()]
        try:
            writer = self._take_in(self._connect_and_check(thorough=self._damage_mark.exists()))
        except (sqlite3.OperationalError, schema.NewerDatabase, schema.ForeignDatabase):
            # Cannot open or write (permissions, a read-only file), or not ours: not a corrupt file, left as
            # it was. The -wal and -shm this attempt made go too: a read-only file's are read-only, and would
            # refuse the next start once the user made the database writable as told.
            _remove_empty_or_shm(made)
            raise
        except sqlite3.DatabaseError as exc:
            log.error("the database %s is unreadable (%s); moving it aside", self.path, exc)
            self._recovered_from = self._move_corrupt_aside()
            create_private_file(self.path)
            writer = self._take_in(self._connect_and_check())
        self._damage_mark.unlink(missing_ok=True)
        for companion in self._companions():
            tighten(companion)
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # SQLite's LIKE and lower() fold ASCII only: searches for other letters compare casefolded text.
        self._reader.create_function("casefold", 1, _casefold, deterministic=True)
        self._hot = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._writer.start(writer)
        if self._recovered_from is not None:
            self.add_event(Level.ERROR, Kind.STORE,
                           f"The database was unreadable and was moved to "
                           f"{self._recovered_from.name}; a new one was created.")
        return self._recovered_from

    @property
    def _damage_mark(self) -> Path:
        return self.path.with_name(self.path.name + ".damaged")

    def _damaged(self, exc: sqlite3.DatabaseError) -> None:
        """SQLite found the file damaged, writing (the writer thread) or reading: the user hears it once,
        at once, and the next start checks the whole file (a check it does not pay for at every start)."""
        with self._state_lock:
            if self._damage_told:
                return
            self._damage_told = True
        with contextlib.suppress(OSError):
            self._damage_mark.touch()
        self.add_event(Level.ERROR, Kind.STORE,
                       f"The database is damaged ({exc}): requests are served, but the history may not be recorded "
                       "or readable. Restart API Router: the damaged file is then moved aside and a new one created.")

    def _held(self, exc: sqlite3.Error | None) -> None:
        """Writes fail for a reason that may pass (the writer thread): they are kept and tried again — and
        the renames and deletes among them kept beside the file meanwhile, which a kill would otherwise
        lose (a quit keeps them too: ``close``)."""
        if exc is None:
            with self._moves_file_lock:
                self._drop_moves_left()  # every held write is in the file now
            self.add_event(Level.INFO, Kind.STORE, "The database can be written again; the records kept meanwhile "
                                                   "are in it.")
            return
        self._keep_moves_left(committed=0)
        self.add_event(Level.ERROR, Kind.STORE,
                       f"The database cannot be written ({exc}): requests are served, and their records are kept "
                       "and written once it can be — another program may be holding it, or the disk is full.")

    def _connect_and_check(self, *, thorough: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            found = schema.check_version(conn)
            if thorough and conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise sqlite3.DatabaseError("the file failed SQLite's check after damage was found in it")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # The WAL keeps the size of the largest transaction so far (a rename over the whole request
            # log, a big prune) until the app exits, unless this caps it once a checkpoint resets it.
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            schema.create_or_upgrade(conn, found, _fill_in_old_rows)
            conn.execute("SELECT count(*) FROM events").fetchone()
            conn.execute("SELECT count(*) FROM request_log").fetchone()
            # A write now: a file that can be read but not written (read-only) is a start-up error, not
            # a history that silently stops being recorded.
            conn.execute(_META_SET, ("opened_unix_ms", str(int(time.time() * 1000))))
        except (sqlite3.DatabaseError, schema.NewerDatabase, schema.ForeignDatabase):
            conn.close()
            raise
        return conn

    def _take_in(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """What the start reads from the file, read while damage found in it can still move it aside (a
        traceback later in the start would find it again at every start): the renames left by the last
        run, the memory kept here, the tables other parts load whole, and the first page of every other
        table. Damage deeper in a large table shows when it is read, and is moved aside at the next start."""
        remove_stale_temp_files(self._moves_left_path)  # a kill mid-write left it; the file was not replaced
        try:
            self._make_moves_left(conn)
            self._load_memory(conn)
            for table in schema.TABLE_NAMES:
                whole = table in schema.READ_WHOLE_AT_START
                conn.execute(f"SELECT * FROM {table}" + ("" if whole else " LIMIT 1")).fetchall()
        except sqlite3.DatabaseError:
            conn.close()
            self._recent.clear()
            self._metrics.clear()
            raise
        return conn

    def _move_corrupt_aside(self) -> Path:
        target = aside_path(self.path)
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            if src.exists():
                replace_file(src, target.with_name(target.name + suffix))
        return target

    def _load_memory(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute("SELECT id, unix_ms, level, provider, kind, message FROM events ORDER BY id DESC LIMIT ?",
                            (RECENT_EVENTS,)).fetchall()
        self._recent.extend(Event(*row) for row in rows)  # newest first, as the deque keeps them
        self._next_event_id = (conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
        self._next_request_id = (conn.execute("SELECT max(id) FROM request_log").fetchone()[0] or 0) + 1
        for provider, ok, err, tokens in conn.execute(
                "SELECT provider, ok_requests, error_requests, total_tokens FROM provider_metrics"):
            self._metrics[provider] = Metrics(ok, err, tokens)
        seen = conn.execute("SELECT value FROM meta WHERE key = 'events_seen_up_to'").fetchone()
        self._seen_up_to = int(seen[0]) if seen else 0
        self._moves_made = _moves_in(conn.execute(_MOVES_READ).fetchone())
        row = conn.execute(f"SELECT value FROM meta WHERE key = '{_KEYED_BY_CONTENT}'").fetchone()
        since = int(row[0]) if row else now_ms()  # None: the first start of a version keying items so
        if row is not None and _written_since_by_another(conn):  # an older version ran on the folder
            since, row = now_ms(), None
        # "0": none are left (the table has no index by time: every start would scan it otherwise).
        self.earlier_sealed_keys = since > 0 and conn.execute(
            "SELECT 1 FROM sealed_owner WHERE unix_ms < ? LIMIT 1", (since,)).fetchone() is not None
        if row is None or (since > 0 and not self.earlier_sealed_keys):
            conn.execute(_META_SET, (_KEYED_BY_CONTENT, str(since if self.earlier_sealed_keys else 0)))
        _note_sealed_written(conn)
        day, midnight_ms = self._days.day_and_start(time.time())
        self._today = (day, _logged_since(conn.execute(_LOGGED_SINCE, (midnight_ms,)).fetchone(), day))

    def close(self) -> None:
        self._writer.close()
        self._keep_moves_left()
        for conn in (self._reader, self._hot):
            if conn is not None:
                conn.close()
        self._reader = self._hot = None

    @property
    def _moves_left_path(self) -> Path:
        return self.path.with_name(self.path.name + ".moves.json")

    def _keep_moves_left(self, *, committed: int | None = None, told: bool = True) -> None:
        """Renames or deletes the writer could not commit (another program holds the file, to the end when
        closing): the user's files have them already, so they are kept beside the database for the next
        start to make — else the history stays under an id no provider has. ``committed``: the number of
        the last one known to be in the file (None: read from it; 0: keep them all — the next start skips
        those the file has). ``told``: whether the log says they are kept (not while writes go through)."""
        if committed is None:
            try:
                committed = _moves_in(self._reader.execute(_MOVES_READ).fetchone()) if self._reader else 0
            except sqlite3.Error:
                committed = 0
        # One writer at a time, each writing the list as it is then: the writer thread's copy and a move's
        # cannot land in the wrong order (an older list last).
        with self._moves_file_lock:
            with self._state_lock:
                left = [list(move) for move in self._moves if move[0] > committed]
            if not left:
                self._drop_moves_left()  # one kept while writes were held is made now
                return
            try:
                atomic_write(self._moves_left_path, orjson.dumps(left), mode=0o600)
            except OSError as exc:
                log.error("store: %d provider renames or deletes could not be kept for the next start (%s)",
                          len(left), exc)
                return
        if told:
            log.warning("store: %d provider renames or deletes are kept in %s for the next start",
                        len(left), self._moves_left_path.name)

    def _drop_moves_left(self) -> None:
        """No list of moves is left to keep. A folder that refuses even the removal of a file that is not
        there (a read-only mount) keeps an old list at worst: the next start skips the moves the database has."""
        try:
            self._moves_left_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("store: %s could not be removed (%s)", self._moves_left_path.name, exc)

    def _make_moves_left(self, conn: sqlite3.Connection) -> None:
        """The renames and deletes the last run could not write (``_keep_moves_left``), made in order."""
        path = self._moves_left_path
        try:
            left = _moves_read(read_file(path))  # refuses a FIFO there, which would hold the start forever
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno in _FOR_NOW:  # says nothing of the file: the start fails,
                raise  # and the next one reads it
            log.error("store: %s cannot be read (%s); it is moved aside and the renames in it are not made",
                      path.name, exc)
            replace_file(path, aside_path(path))
            return
        done = _moves_in(conn.execute(_MOVES_READ).fetchone())
        conn.execute("BEGIN")
        for number, old, new in left:
            if number > done:
                if new == tombstone(old):
                    _forget(conn, old)
                else:
                    _rename(conn, old, new)
                conn.execute(_META_SET, (MOVES_META, str(number)))
        conn.execute("COMMIT")
        path.unlink()

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything queued so far is committed (tests and shutdown use it)."""
        self._writer.flush(timeout)

    def set_retention(self, retention: Retention) -> None:
        """How long (and how many) request-log rows are kept; a change is applied at once."""
        changed = retention != self._retention
        self._retention = retention
        if changed and self._writer.running:
            self.prune()

    def _write_requests(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        insert_rows(conn, _REQUEST_INSERT, rows)
        # Counted as written (not as logged): a prune after this batch counts exactly what it added, and
        # rows logged while it ran are not lost from the count when it restarts.
        with self._state_lock:
            self._rows_since_prune += len(rows)

    def _maybe_prune(self, conn: sqlite3.Connection) -> None:
        now = time.monotonic()
        rows_between = max(1, min(MAX_ROWS_BETWEEN_PRUNES, self._retention.rows // 20))
        with self._state_lock:
            full = (self._last_prune is None or now - self._last_prune >= PRUNE_EVERY_SECONDS
                    or self._events_since_prune >= PRUNE_EVERY_EVENTS)
            rows_only = not full and self._rows_since_prune >= rows_between
            if full:
                self._events_since_prune = 0
            if full or rows_only:
                self._rows_since_prune = 0
        if full:
            self._last_prune = now
        if full or rows_only:
            # Between full prunes only the request log is cut back to its bound: the ownership tables
            # are scanned by date, which is worth doing every few minutes, not every few requests.
            conn.execute("BEGIN")
            (_prune if full else _prune_requests)(conn, self._retention, self._days.day_and_start(time.time()))
            conn.execute("COMMIT")

    def prune(self) -> None:
        """Apply the retention rules now (they also run in the background every few minutes)."""
        retention = self._retention
        self._writer.submit(lambda c: _prune(c, retention, self._days.day_and_start(time.time())))

    # --- events ---------------------------------------------------------------------------------

    def add_event(self, level: Level, kind: Kind, message: str, provider: str | None = None) -> Event:
        message = utf8_writable(self._redact(message))  # a path it names may not be UTF-8
        with self._state_lock:
            event = Event(self._next_event_id, now_ms(), level, provider, kind, message)
            self._next_event_id += 1
            self._recent.appendleft(event)
            self._events_since_prune += 1
        log.log(_LOG_LEVELS[level],
                "%s%s: %s", f"[{provider}] " if provider else "", kind, message)
        self._writer.submit(lambda c: c.execute(_EVENT_INSERT, (
            event.id, event.unix_ms, event.level, event.provider, event.kind, event.message)))
        return event

    @property
    def writes_held(self) -> bool:
        """Whether what was queued may not be in the file yet for longer than a batch takes: another
        program holds the database, or the disk is full (see ``_held``)."""
        return self._writer.holding

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
        self._writer.submit(lambda c: c.execute(_META_SET, ("events_seen_up_to", value)))
        return self._seen_up_to

    def list_events(self, *, level: str | None = None, provider: str | None = None,
                    limit: int = 200, before_id: int | None = None) -> list[Event]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("level", level), ("provider", provider)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if before_id is not None:
            clauses.append("id < ?")
            args.append(before_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT id, unix_ms, level, provider, kind, message FROM events {where} ORDER BY id DESC LIMIT ?"
        # While writes are held back the file is read as it is, not after them (a flush would wait the busy
        # timeout out on every call): what waits is merged in below.
        rows = self._read(sql, (*args, limit)) if self.writes_held else self.query(sql, (*args, limit))
        written = [Event(*row) for row in rows]
        # Events not in the file yet (its writes held back: the database locked, the disk full — which an
        # event says) are listed as well: the Events page must show the outage while it lasts.
        ids = {e.id for e in written}
        above = written[-1].id if len(written) == limit else 0  # a full page: only newer ones can enter it
        waiting = [e for e in self.recent_events() if e.id > above and e.id not in ids
                   and (before_id is None or e.id < before_id)
                   and (level is None or e.level == level) and (provider is None or e.provider == provider)]
        if not waiting:
            return written
        return sorted(written + waiting, key=lambda e: e.id, reverse=True)[:limit]

    # --- request log and metrics ------------------------------------------------------------------

    def log_request(self, record: RequestRecord, providers: Container[str] | None = None) -> None:
        """Account one client request: its attempts feed the per-provider metrics (of ``providers``
        only, when given: the providers it asked that still exist)."""
        redact = self._redact
        # The client's own words too: a key pasted as a session id or a model name is shown masked.
        record.error = utf8_writable(redact(record.error))
        if record.session_id:
            record.session_id = redact(record.session_id)
        if record.model:
            record.model = redact(record.model)
        if record.sent_model:
            record.sent_model = redact(record.sent_model)
        for attempt in record.attempts:
            attempt.error = utf8_writable(redact(attempt.error))
            if attempt.sent_model:
                attempt.sent_model = redact(attempt.sent_model)
        tokens = record.usage.total_tokens
        touched: list[tuple[str, int, int, int]] = []
        with self._state_lock:
            for attempt in record.attempts:
                if attempt.summary:
                    continue  # not a request of its own; its tokens are in the record's usage
                if providers is not None and attempt.provider not in providers:
                    continue  # renamed or deleted while the request ran: its metrics went with the old id
                if attempt.outcome is Outcome.OK:
                    m = self._metrics.setdefault(attempt.provider, Metrics())
                    m.ok_requests += 1
                    m.total_tokens += tokens
                elif attempt.outcome is Outcome.PROVIDER_FAILURE:
                    m = self._metrics.setdefault(attempt.provider, Metrics())
                    m.error_requests += 1
                else:
                    continue
                touched.append((attempt.provider, m.ok_requests, m.error_requests, m.total_tokens))
            request_id = self._next_request_id
            self._next_request_id += 1
            day = self._days.day_of(record.unix_ms / 1000)
            counted_day, count = self._today
            if day == counted_day:
                self._today = (day, count + 1)
            elif day > counted_day:  # ISO dates: text order is date order
                self._today = (day, 1)
            # else: a stream begun before midnight and logged after it counts for the day it began
        # Rows like every other kind the writer batches: the record itself never crosses threads.
        request_row, attempt_rows = _rows(request_id, record)
        self._writer.add_together({"requests": [request_row], "attempts": attempt_rows})
        for counters in touched:
            self._writer.put("metrics", counters[0], counters)

    def last_asked_models(self, rows: int = 5_000) -> dict[str, str]:
        """The model a client last had each provider serve, of the newest ``rows`` requests: what its checks
        and tests ask for (through its model_map), known again after a restart (bounded: a start reads no
        more)."""
        try:
            found = self._read("SELECT id, provider, model FROM request_log WHERE id > "
                               "(SELECT COALESCE(MAX(id), 0) FROM request_log) - ? "
                               "AND provider IS NOT NULL AND model IS NOT NULL ORDER BY id", (rows,))
            since = {key.removeprefix(_MODELS_FROM): int(value) for key, value in
                     self._read("SELECT key, value FROM meta WHERE key LIKE ?", (_MODELS_FROM + "%",))}
        except (DamagedDatabase, sqlite3.Error, ValueError) as exc:  # the checks then ask as for one never used
            log.warning("store: the models last sent could not be read (%s)", exc)
            return {}
        # Rows before a provider was deleted or given a new address are another provider's, as far as its
        # models go.
        return {provider: model for rid, provider, model in found if rid > since.get(provider, 0)}

    def requests_today(self) -> int:
        """Client requests logged since local midnight."""
        today, midnight_ms = self._days.day_and_start(time.time())
        with self._state_lock:
            day, count = self._today
        if day <= today:  # earlier: no request yet since midnight
            return count if day == today else 0
        # Counted for a later day: the wall clock ran ahead and has been set back since. The log knows —
        # unless a request was logged between its read and now (not in it, nor counted for the later day):
        # then it is read again.
        logged = 0
        for _ in range(3):
            with self._state_lock:
                before = self._next_request_id
            try:
                logged = _logged_since(self.query(_LOGGED_SINCE, (midnight_ms,))[0], today)
            except DamagedDatabase:
                return 0
            with self._state_lock:
                if self._next_request_id == before:
                    self._today = (today, logged)
                    return logged
        return logged  # under a stream of requests: the next look counts again

    def metrics(self) -> dict[str, Metrics]:
        with self._state_lock:
            return {k: Metrics(v.ok_requests, v.error_requests, v.total_tokens) for k, v in self._metrics.items()}

    def request_log(self, limit: int = 100, session_id: str | None = None) -> list[dict[str, Any]]:
        """The newest rows (of one session) by the time each request began, as the Requests page lists
        them, each with its attempts in order."""
        where, args = ("WHERE session_id = ?", (session_id,)) if session_id else ("", ())
        rows = self.query(f"SELECT {', '.join(schema.REQUEST_COLUMNS)} FROM request_log {where} "
                          "ORDER BY unix_ms DESC, id DESC LIMIT ?", (*args, limit))
        out = [dict(zip(schema.REQUEST_COLUMNS, row, strict=True)) for row in rows]
        attempts = self.attempts_of(out)
        for item in out:
            item["providers_tried"] = schema.providers_tried(item["providers_tried"])
            item["stream"] = bool(item["stream"])
            item["attempts"] = attempts.get(item["id"], [])
        return out

    def attempts_of(self, requests: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        """The attempts of these request-log rows, in order (a row's ``solo`` attempt is rebuilt from it)."""
        out: dict[int, list[dict[str, Any]]] = {}
        names = schema.ATTEMPT_COLUMNS[2:]
        for row in requests:
            if row.get("solo"):
                latency, ttfb = _solo_times(row)
                out[row["id"]] = [{"provider": row["provider"], "outcome": Outcome.OK.value, "status": row["status"],
                                   "latency_ms": latency, "error": None, "ttfb_ms": ttfb,
                                   "hedge": False, "retry": None, "sent_model": row["sent_model"],
                                   "summary": False}]
        request_ids = [row["id"] for row in requests if not row.get("solo")]
        for start in range(0, len(request_ids), 500):
            part = request_ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for rid, *values in self._read(
                    f"SELECT request_id, {', '.join(names)} FROM attempts WHERE request_id IN ({marks}) "
                    "ORDER BY request_id, idx", tuple(part)):
                attempt = dict(zip(names, values, strict=True))
                attempt["hedge"] = bool(attempt["hedge"])
                attempt["summary"] = bool(attempt["summary"])
                out.setdefault(rid, []).append(attempt)
        return out

    # --- rows owned elsewhere -------------------------------------------------------------------

    def save_response_owner(self, response_id: str, provider: str) -> None:
        self._writer.add("response_owner", (response_id, provider, now_ms()), soon=True)

    def load_response_owner(self, response_id: str) -> str | None:
        row = self._hot_read(f"SELECT provider, ({_MOVES_READ}) FROM response_owner WHERE response_id = ?",
                             (response_id,))
        return self._now_known_as(*row[0]) if row else None

    def save_sealed_owners(self, session_id: str, items: Iterable[tuple[str, str]], provider: str) -> None:
        """``items``: (item id, kind) pairs sealed by ``provider`` in ``session_id``."""
        ts = now_ms()
        rows = ((item, session_id, provider, kind, ts) for item, kind in items)
        self._writer.add("sealed_owner", *rows, soon=True)

    def load_sealed_owners(self, session_id: str, newest: int) -> dict[str, str]:
        """The ``newest`` items sealed in ``session_id`` (item id → provider, oldest first).
        ``INSERT OR REPLACE`` gives a rewritten row a new rowid: rowid order is the order of recording."""
        rows = self._hot_read(f"SELECT item_id, provider, ({_MOVES_READ}) FROM sealed_owner WHERE session_id = ? "
                              "ORDER BY rowid DESC LIMIT ?", (session_id, newest))
        return {item: self._now_known_as(provider, moves) for item, provider, moves in reversed(rows)}

    def load_sealed_owner(self, item_id: str) -> str | None:
        """Who sealed ``item_id``, in whichever session it was recorded: a session forked from another
        (``codex exec fork``) carries its parent's items under a new session id."""
        row = self._hot_read(f"SELECT provider, ({_MOVES_READ}) FROM sealed_owner WHERE item_id = ?", (item_id,))
        return self._now_known_as(*row[0]) if row else None

    def _now_known_as(self, provider: str, moves: str | None) -> str:
        """An owner as a read found it — in the state the numbered move ``moves`` left (one statement: one
        snapshot) — under the id it has after the moves queued since. A rename or delete reaches the
        database through the writer, a moment (or, while another program holds the file, a while) after it
        is made; a lookup must not take the provider's old id for its own meanwhile, nor wait for it."""
        done = _moves_in((moves,))
        if done >= self._moves_made:
            return provider
        with self._state_lock:
            later = [(old, new) for number, old, new in self._moves if number > done]
        for old, new in later:  # in order: a swap (a → t, b → a, t → b) comes out right
            if provider == old:
                provider = new
        return provider

    def save_affinity(self, session_id: str, provider: str, unix_ms: int) -> None:
        self._writer.put("affinity", session_id, (session_id, provider, unix_ms))

    def load_affinities(self, since_ms: int) -> list[tuple[str, str, int]]:
        return self.query("SELECT session_id, provider, unix_ms FROM session_affinity WHERE unix_ms >= ?", (since_ms,))

    def forget_affinities(self, session_ids: list[str]) -> None:
        self._writer.submit(lambda c: c.executemany("DELETE FROM session_affinity WHERE session_id = ?",
                                                    [(s,) for s in session_ids]))

    def forget_all_affinities(self) -> None:
        """Every saved binding (the user made a new choice): one statement, where one per session of 50,000
        had kept the writer busy for a while."""
        self._writer.submit(lambda c: c.execute("DELETE FROM session_affinity"))

    def save_provider_test(self, provider: str, result_json: str) -> None:
        self._writer.submit(lambda c: c.execute(_TEST_INSERT,
                                                (provider, result_json)))

    def delete_provider_test(self, provider: str) -> None:
        self._writer.submit(lambda c: c.execute("DELETE FROM provider_tests WHERE provider = ?", (provider,)))

    def load_provider_tests(self) -> list[tuple[str, str]]:
        return self.query("SELECT provider, result FROM provider_tests")

    def mask_in_history(self, secrets: Iterable[str]) -> None:
        """``secrets`` (keys, tokens) masked in what the history kept from before they were secrets — a key
        made of a value a client had sent as its session id or model name. Each one once: a digest of each
        done is kept, so a start does not search the whole log again."""
        done = set(orjson.loads(self.get_meta(_MASKED_SECRETS) or b"[]"))
        todo = {hashlib.sha256(secret.encode()).hexdigest(): secret for secret in secrets if len(secret) >= 6}
        todo = {digest: secret for digest, secret in todo.items() if digest not in done}
        if not todo:
            return
        pairs = [(secret, self._redact(secret)) for secret in todo.values()]
        self._mask_recent(pairs)
        self._writer.submit(lambda c: _mask_rows(c, pairs))
        self.set_meta(_MASKED_SECRETS, orjson.dumps(sorted(done | todo.keys())).decode())

    def _mask_recent(self, pairs: list[tuple[str, str]]) -> None:
        """The same in the recent events kept in memory (the status shows them), as in the file."""
        with self._state_lock:
            for i, event in enumerate(self._recent):
                message = event.message
                for secret, masked in pairs:
                    message = message.replace(secret, masked)
                if message != event.message:
                    self._recent[i] = replace(event, message=message)

    def get_meta(self, key: str) -> str | None:
        row = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0][0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._writer.submit(lambda c: c.execute(_META_SET, (key, value)))

    # --- usage (quota snapshots and ledgers) -------------------------------------------------------

    def save_usage_entry(self, provider: str, entry: str, hint: str | None) -> None:
        self._writer.submit(lambda c: c.execute(
            "INSERT INTO usage_state (provider, entry, hint) VALUES (?, ?, ?) "
            "ON CONFLICT(provider) DO UPDATE SET entry = excluded.entry, hint = excluded.hint",
            (provider, entry, hint)))

    def save_ledger(self, provider: str, tokens: int, since_ms: int | None) -> None:
        # Written for busy gateways every few seconds, so it joins the batched per-request rows.
        self._writer.put("ledgers", provider, (provider, tokens, since_ms))

    def load_usage(self) -> list[tuple[str, str | None, str | None, int, int | None]]:
        """(provider, entry json, adapter hint, ledger tokens, ledger since) for every provider."""
        return self.query("SELECT provider, entry, hint, ledger_tokens, ledger_since_ms FROM usage_state")

    def forget_reading(self, provider: str) -> None:
        """The reading no longer applies; the tokens counted since its check stay (as in memory)."""
        self._writer.submit(lambda c: c.execute(
            "UPDATE usage_state SET entry = NULL, hint = NULL WHERE provider = ?", (provider,)))

    # --- renames and deletes ------------------------------------------------------------------------

    def rename(self, old: str, new: str) -> None:
        with self._state_lock:
            if old in self._metrics:
                self._metrics[new] = self._metrics.pop(old)
            for i, event in enumerate(self._recent):
                if event.provider == old:
                    self._recent[i] = Event(event.id, event.unix_ms, event.level, new, event.kind, event.message)
        self._move(old, new, lambda c: _rename(c, old, new))

    def _move(self, old: str, new: str, write: Op) -> None:
        """Queue a rename (or a delete: ``new`` its tombstone) numbered, the number written with it. Numbered
        and queued under one lock: two moves from two threads reach the file in the order of their numbers
        (the later one queued first would leave the file's number behind, and every read would then apply
        the other move again)."""
        with self._state_lock:
            self._moves_made += 1
            number = self._moves_made
            self._moves.append((number, old, new))

            def numbered(conn: sqlite3.Connection) -> None:
                write(conn)
                conn.execute(_META_SET, (MOVES_META, str(number)))

            self._writer.submit(numbered)
        # Kept beside the file before the move is done in secrets.json (whose pending note then goes), until
        # the next start or a quit finds it in the database: a kill before the writer commits would lose it
        # — the files would have the new id and the history the old one, for good.
        self._keep_moves_left(committed=0, told=self._writer.holding)

    def readdressed(self, provider: str) -> None:
        """Its counters and request log are history that happened (the usage reading and the last test
        are their owners' to drop); the model last sent there is not what the new address has."""
        self._writer.submit(lambda c: _models_from_now_on(c, provider))

    def forget(self, provider: str) -> None:
        """A deleted provider's counters, quota state and routing memory go; its history stays under its
        old name."""
        with self._state_lock:
            self._metrics.pop(provider, None)
        self._move(provider, tombstone(provider), lambda c: _forget(c, provider))

    def finish_move(self, old: str, new: str | None) -> None:
        """A rename to ``new`` (None: a delete) the last run was killed in before it reached this file —
        its files were settled at this start (``Secrets.settle``) — is made here too; one that reached it
        left no row under ``old`` to move (a delete is made again: nothing more goes)."""
        if new is None:
            self.forget(old)
            return
        if any(self.query(f"SELECT 1 FROM {table} WHERE provider = ? LIMIT 1", (old,))
               for table in schema.PROVIDER_TABLES):
            self.rename(old, new)

    # --- reads ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Callable[[str, tuple[Any, ...]], list[Any]]]:
        """Reads that all see the file as the first of them found it (one read transaction, on a connection of
        their own): an export made a page at a time holds the rows there were when it began, whatever the
        writer prunes meanwhile. Everything queued before the call is in it."""
        self.flush()
        try:  # read-only: a file deleted under the app is not made again, empty, by this read
            conn = sqlite3.connect(_read_only_uri(self.path), uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.OperationalError as exc:
            if self.path.exists():
                raise
            raise DamagedDatabase(f"the history cannot be read: its database file {self.path} was deleted while "
                                  "API Router ran. Restart API Router: it then starts a new, empty history") from exc
        conn.create_function("casefold", 1, _casefold, deterministic=True)
        lock = threading.Lock()
        try:
            conn.execute("BEGIN")

            def read(sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
                return self._found(self._fetch(conn, lock, sql, args))

            yield read
        finally:
            conn.close()  # the transaction ends with it: the file's log can be checkpointed past it again

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return self._found(self._fetch(self._reader, self._read_lock, sql, args))

    @staticmethod
    def _found(rows: list[Any] | sqlite3.DatabaseError) -> list[Any]:
        if isinstance(rows, sqlite3.DatabaseError):
            raise DamagedDatabase(f"the history cannot be read: the database is damaged ({rows}). Restart API Router: "
                                  "the damaged file is then moved aside and a new one created")
        return rows

    def _hot_read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        """A point lookup on a request's way: a damaged file, or one that cannot be read for now (deleted
        under the app, an I/O error), finds nothing — the request is still served."""
        try:
            rows = self._fetch(self._hot, self._hot_lock, sql, args)
        except sqlite3.OperationalError as exc:  # not a wrong query: those stay errors
            now = time.monotonic()
            if now - self._unreadable_logged_at >= UNREADABLE_LOG_SECONDS:  # not a line per request
                self._unreadable_logged_at = now
                log.warning("store: a lookup for a request could not read the database (%s); served without it", exc)
            return []
        return [] if isinstance(rows, sqlite3.DatabaseError) else rows

    def _fetch(self, conn: sqlite3.Connection | None, lock: threading.Lock, sql: str,
               args: tuple[Any, ...]) -> list[Any] | sqlite3.DatabaseError:
        """The rows, or the damage SQLite found in the file (the user is told, once)."""
        if conn is None:
            raise RuntimeError("store is closed")
        try:
            with lock:
                return conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self._damaged(exc)
            return exc

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Read-only SQL; sees everything written before the call."""
        self.flush()
        return self._read(sql, args)


# Every insert names its columns: a column added by a later version (with its default) breaks none of them.
_METRICS_INSERT = ("INSERT OR REPLACE INTO provider_metrics (provider, ok_requests, error_requests, total_tokens) "
                   "VALUES ")
_RESPONSE_OWNER_INSERT = "INSERT OR REPLACE INTO response_owner (response_id, provider, unix_ms) VALUES "
_SEALED_OWNER_INSERT = "INSERT OR REPLACE INTO sealed_owner (item_id, session_id, provider, kind, unix_ms) VALUES "
_AFFINITY_INSERT = "INSERT OR REPLACE INTO session_affinity (session_id, provider, unix_ms) VALUES "
_EVENT_INSERT = "INSERT INTO events (id, unix_ms, level, provider, kind, message) VALUES (?, ?, ?, ?, ?, ?)"
_META_SET = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
_TEST_INSERT = "INSERT OR REPLACE INTO provider_tests (provider, result) VALUES (?, ?)"
_REQUEST_INSERT = f"INSERT INTO request_log ({', '.join(schema.REQUEST_COLUMNS)}) VALUES "
_ATTEMPT_INSERT = f"INSERT INTO attempts ({', '.join(schema.ATTEMPT_COLUMNS)}) VALUES "


def _rows(request_id: int, r: RequestRecord) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The request_log row of a request, and its attempts rows (none for a solo request)."""
    u = r.usage
    attempts = r.attempts
    solo = _solo(r)
    if len(attempts) == 1:
        tried, hedged = attempts[0].provider, attempts[0].hedge
    else:
        tried = ",".join(dict.fromkeys(a.provider for a in attempts))
        hedged = any(a.hedge for a in attempts)
    own = attempts[0] if solo else None  # its times are kept in the row, since it has none of its own
    row = (request_id, r.unix_ms, r.session_id, r.path, r.model, int(r.stream), r.provider, tried, r.status,
           r.latency_ms, r.ttfb_ms, u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens,
           u.total_tokens, r.error or None, r.request_id or None, r.sent_model, r.outcome().value, len(attempts),
           int(hedged), int(r.failed_over()), r.request_bytes, r.response_bytes, int(solo),
           own.latency_ms if own else None, own.ttfb_ms if own else None)
    if solo:
        return row, []
    return row, [(request_id, i, a.provider, a.outcome.value, a.status, a.latency_ms, a.error or None, a.ttfb_ms,
                  int(a.hedge), a.retry.value if a.retry else None, a.sent_model, int(a.summary))
                 for i, a in enumerate(attempts)]


# meta: the request rows without an outcome (the first release's) have had theirs worked out.
_OUTCOMES_FILLED = "request_outcomes_filled"
# meta: the first release's request rows have a request id.
_IDS_FILLED = "request_ids_filled"
_FILL_BATCH = 5000


def _fill_in_old_rows(conn: sqlite3.Connection) -> None:
    _fill_in_outcomes(conn)
    _fill_in_request_ids(conn)


def _fill_in_request_ids(conn: sqlite3.Connection) -> None:
    """The first release's request rows gain a request id of the form new rows have (``req_`` and 16 hex
    digits, here those of the row's number): the Requests page shows, copies and finds every row by one.
    Looked for once, then marked in ``meta``."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (_IDS_FILLED,)).fetchone():
        return
    conn.execute("UPDATE request_log SET request_id = printf('req_%016x', id) WHERE request_id IS NULL")
    conn.execute(_META_SET, (_IDS_FILLED, "1"))


def _fill_in_outcomes(conn: sqlite3.Connection) -> None:
    """The first release's request rows gain what the columns added since hold (the Requests page filters
    on them): their outcome, attempt count and failover mark, worked out from each row and its attempts
    (that release kept every attempt) as a new row's are — also where a version that added the columns left
    them empty. Looked for once (then marked in ``meta``), a batch of rows at a time."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (_OUTCOMES_FILLED,)).fetchone():
        return
    last = 0
    while rows := conn.execute("SELECT id, provider, status, error FROM request_log WHERE id > ? AND outcome IS NULL "
                               "ORDER BY id LIMIT ?", (last, _FILL_BATCH)).fetchall():
        first, last = rows[0][0], rows[-1][0]
        attempts: dict[int, list[Attempt]] = {}
        for request_id, provider, outcome, status in conn.execute(
                "SELECT request_id, provider, outcome, status FROM attempts WHERE request_id BETWEEN ? AND ? "
                "ORDER BY request_id, idx", (first, last)):
            attempts.setdefault(request_id, []).append(Attempt(provider, _stored_outcome(outcome), status))
        filled = []
        for request_id, provider, status, error in rows:
            record = RequestRecord(0, "", False, provider=provider, status=status, error=error or "",
                                   attempts=attempts.get(request_id, []))
            filled.append((record.outcome().value, len(record.attempts), int(record.failed_over()), request_id))
        conn.executemany("UPDATE request_log SET outcome = ?, attempt_count = ?, failover = ? WHERE id = ?", filled)
    conn.execute(_META_SET, (_OUTCOMES_FILLED, "1"))


def _stored_outcome(value: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:  # none such was ever written; a hand-edited file is not worth a failed start
        return Outcome.PROVIDER_FAILURE


def _solo_times(row: dict[str, Any]) -> tuple[float, float | None]:
    """The latency and TTFB of a solo row's attempt: its own, or, on a row logged before they were kept,
    the request's (which also hold the time the client took to send its body)."""
    if row.get("attempt_latency_ms") is None:
        return row["latency_ms"], row["ttfb_ms"]
    return row["attempt_latency_ms"], row["attempt_ttfb_ms"]


def _solo(record: RequestRecord) -> bool:
    """One attempt that simply succeeded: everything about it is in the request's own row, so the
    attempts table (half the rows the writer would write) does without it. (Not when the row's status
    is not the provider's: a client that left during a complete answer makes the row's 499.)"""
    if len(record.attempts) != 1:
        return False
    a = record.attempts[0]
    return a.outcome is Outcome.OK and not a.hedge and a.retry is None and not a.error and \
        a.provider == record.provider and a.status == record.status


class _LocalDays:
    """The local calendar day of a time; worked out once per day, not once per logged request."""

    def __init__(self) -> None:
        # [start, end) of the day last asked about, and its name: one tuple, replaced whole, so any
        # thread reads a consistent one.
        self._span = (0.0, 0.0, "")

    def day_of(self, unix_s: float) -> str:
        return self.day_and_start(unix_s)[0]

    def day_and_start(self, unix_s: float) -> tuple[str, int]:
        """The day's name and its local midnight (unix ms)."""
        start, end, name = self._span
        if not start <= unix_s < end:
            day = days.day_of(unix_s)
            name = day.isoformat()
            start, end = days.midnight(day), days.midnight(day + dt.timedelta(days=1))
            self._span = (start, end, name)
        return name, int(start * 1000)


_MASKED_SECRETS = "masked_secrets"  # digests of the secrets masked in the history (mask_in_history)
# Where a client's own words or a provider's are kept in the history, by table.
_WORDS = {"request_log": ("session_id", "model", "sent_model", "error"), "attempts": ("error", "sent_model"),
          "events": ("message",)}


def _mask_rows(conn: sqlite3.Connection, pairs: list[tuple[str, str]]) -> None:
    for table, columns in _WORDS.items():
        sets = ", ".join(f"{c} = replace({c}, ?1, ?2)" for c in columns)
        where = " OR ".join(f"instr({c}, ?1) > 0" for c in columns)
        conn.executemany(f"UPDATE {table} SET {sets} WHERE {where}", pairs)


def _prune(conn: sqlite3.Connection, retention: Retention, today: tuple[str, int]) -> None:
    conn.execute("DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                 (EVENT_RETENTION,))
    cutoff = _prune_requests(conn, retention, today)
    for table in schema.AGED_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE unix_ms < ?", (cutoff,))
    _note_sealed_written(conn)  # emptied, the table hands out its row numbers again from 1


def _prune_requests(conn: sqlite3.Connection, retention: Retention, today: tuple[str, int]) -> int:
    """Cut the request log (and its attempts) back to the retention rules; returns the cutoff (ms).
    ``today``: the local day and its midnight (ms), whose rows cut are counted (requests today)."""
    cutoff = now_ms() - int(retention.days * DAY_MS)
    # By count: every row after the newest ``rows`` in the Requests page's order (by the time each began:
    # a page whose last row was cut finds nothing older left to list); by age (below): every row older
    # than the cutoff, wherever it stands (a clock set back, rows put in by hand). Both by the time index.
    last_kept = conn.execute("SELECT unix_ms, id FROM request_log ORDER BY unix_ms DESC, id DESC LIMIT 1 OFFSET ?",
                             (retention.rows - 1,)).fetchone()
    if last_kept is not None:
        day, midnight_ms = today
        cut_today = conn.execute("SELECT count(*) FROM request_log WHERE (unix_ms, id) < (?, ?) AND unix_ms >= ?",
                                 (*last_kept, midnight_ms)).fetchone()[0]
        if cut_today:
            conn.execute(_META_SET, ("pruned_today", f"{day} {_pruned_on(conn, day) + cut_today}"))
        conn.execute("DELETE FROM attempts WHERE request_id IN "
                     "(SELECT id FROM request_log WHERE (unix_ms, id) < (?, ?))", last_kept)
        conn.execute("DELETE FROM request_log WHERE (unix_ms, id) < (?, ?)", last_kept)
    conn.execute("DELETE FROM attempts WHERE request_id IN (SELECT id FROM request_log WHERE unix_ms < ?)",
                 (cutoff,))
    conn.execute("DELETE FROM request_log WHERE unix_ms < ?", (cutoff,))
    return cutoff


# Why a file could not be read that says nothing of the file: the process is short of something for now.
_FOR_NOW = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.EINTR})


def _pruned_on(conn: sqlite3.Connection, day: str) -> int:
    """How many of ``day``'s request-log rows the retention rules have cut (kept for one day only)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'pruned_today'").fetchone()
    return _pruned_count(row[0] if row else None, day)


def _pruned_count(value: str | None, day: str) -> int:
    pruned_day, _, count = str(value).partition(" ") if value else ("", "", "")
    return int(count) if pruned_day == day and count.isdigit() else 0


# The request-log rows since a time, and the meta row that says how many of the day's the row limit cut.
_LOGGED_SINCE = ("SELECT (SELECT count(*) FROM request_log WHERE unix_ms >= ?), "
                 "(SELECT value FROM meta WHERE key = 'pruned_today')")


def _logged_since(row: tuple[int, str | None], day: str) -> int:
    """Client requests of ``day`` from a ``_LOGGED_SINCE`` row taken at its midnight (cut ones too)."""
    return row[0] + _pruned_count(row[1], day)


def _rename(conn: sqlite3.Connection, old: str, new: str) -> None:
    for table in schema.PER_PROVIDER_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE provider = ?", (new,))
        conn.execute(f"UPDATE {table} SET provider = ? WHERE provider = ?", (new, old))
    for table in schema.RENAMED_WHOLE_TABLES:
        conn.execute(f"UPDATE {table} SET provider = ? WHERE provider = ?", (new, old))
    # The rows it brings are read for its models as they were under the old id (a mark a deleted provider
    # left under the new id is not this one's).
    conn.execute("DELETE FROM meta WHERE key = ?", (_MODELS_FROM + new,))
    conn.execute("UPDATE meta SET key = ? WHERE key = ?", (_MODELS_FROM + new, _MODELS_FROM + old))
    rows = conn.execute("SELECT id, providers_tried FROM request_log WHERE ',' || providers_tried || ',' LIKE ?",
                        (f"%,{old},%",)).fetchall()
    for rid, tried in rows:
        conn.execute("UPDATE request_log SET providers_tried = ? WHERE id = ?",
                     (",".join(new if p == old else p for p in tried.split(",")), rid))


_MODELS_FROM = "models_sent_from:"  # + provider id: the request-log id its models are read after


def _models_from_now_on(conn: sqlite3.Connection, provider: str) -> None:
    conn.execute(_META_SET, (_MODELS_FROM + provider,
                             str(conn.execute("SELECT COALESCE(MAX(id), 0) FROM request_log").fetchone()[0])))


def _forget(conn: sqlite3.Connection, provider: str) -> None:
    _models_from_now_on(conn, provider)  # a provider added later under the id starts clean
    for table in (*schema.PER_PROVIDER_TABLES, schema.AFFINITY_TABLE):
        conn.execute(f"DELETE FROM {table} WHERE provider = ?", (provider,))
    for table in schema.OWNER_TABLES:
        conn.execute(f"UPDATE {table} SET provider = ? WHERE provider = ?", (tombstone(provider), provider))


def tombstone(provider: str) -> str:
    """The owner recorded for what a deleted provider produced; ``~`` never occurs in a provider id, so a
    provider added later under the same id never takes it for its own."""
    return f"~deleted~{provider}"


MOVES_META = "provider_moves"
# Since when sealed items are recorded under the key they have now (``continuity.index.sealed_key``).
_KEYED_BY_CONTENT = "sealed_keyed_by_head_and_end_since"
_MOVES_READ = f"SELECT value FROM meta WHERE key = '{MOVES_META}'"
MOVES_KEPT = 1000  # moves queued and not yet known to be committed: renames are made by hand
# The newest sealed_owner row (its rowid) as this version left the table, noted with each of its writes and
# prunes: another newest one at a start means another version wrote there meanwhile — an older one run on the
# folder, under its own keys (row numbers are handed out again once the newest rows are gone: a lower one too).
_SEALED_WRITTEN = "sealed_owner_written_up_to"
_SEALED_TOP = "SELECT coalesce(max(rowid), 0) FROM sealed_owner"


def _write_sealed_owners(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    insert_rows(conn, _SEALED_OWNER_INSERT, rows)
    _note_sealed_written(conn)  # in the same transaction: a crash cannot leave the two apart


def _note_sealed_written(conn: sqlite3.Connection) -> None:
    conn.execute(f"INSERT OR REPLACE INTO meta (key, value) SELECT '{_SEALED_WRITTEN}', ({_SEALED_TOP})")


def _written_since_by_another(conn: sqlite3.Connection) -> bool:
    """Whether sealed_owner has rows this version did not write (none noted yet: a first start, which the
    keying's own date covers)."""
    noted = conn.execute(f"SELECT value FROM meta WHERE key = '{_SEALED_WRITTEN}'").fetchone()
    return noted is not None and conn.execute(_SEALED_TOP).fetchone()[0] != int(noted[0])


def _moves_in(row: tuple[Any, ...] | None) -> int:
    value = row[0] if row else None
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):  # edited by another program: read as "before any move"
        return 0


def _moves_read(data: bytes) -> list[tuple[int, str, str]]:
    """The moves ``_keep_moves_left`` wrote: ``[[number, old, new], …]``; ValueError for anything else."""
    found = orjson.loads(data)
    if not isinstance(found, list) or not all(
            isinstance(m, list) and len(m) == 3 and type(m[0]) is int and isinstance(m[1], str)
            and isinstance(m[2], str) for m in found):
        raise ValueError("not a list of [number, old id, new id]")
    return [(m[0], m[1], m[2]) for m in found]


def _casefold(value: str | bytes | float | None) -> str | bytes | float | None:
    return value.casefold() if isinstance(value, str) else value
