"""The store's writer thread: every write is queued and committed in batches, off the caller's thread.

Two kinds of work reach it. An *op* is one function run against the connection. *Rows* are small
records (a logged request, a metric counter, an ownership entry) collected into the open batch and
written together by the batch's per-kind writer: SQLite then steps once per multi-row statement
instead of once per row, and every step hands the GIL back and forth, which stalls the event loop
under load. An op closes the open batch, so queue order stays write order.
"""

from __future__ import annotations

import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from itertools import chain
from typing import Any, TypeGuard, TypeVar

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Writes queued within this window share one transaction: at any request rate the writer commits at
# most ~10 times a second instead of once per request (a kill -9 loses at most the last window or so).
BATCH_WINDOW_SECONDS = 0.1
# Rows that cannot wait out the window (who sealed an item a client now holds: lost in a kill, the item
# would later go to a provider that cannot read it) are written within this long — still together with
# what else comes meanwhile, so that a stream of them costs ~200 commits a second at most, not one each.
SOON_SECONDS = 0.005
MAX_QUEUE_ITEMS_PER_BATCH = 1000
# Writes that failed for a passing reason (another program holding the database past the busy timeout,
# a full disk) are kept and tried again with the next batch, or after this long when nothing else comes.
RETRY_SECONDS = 1.0
MAX_HELD_OPS = 3000  # about five minutes of batches under steady traffic; beyond it the oldest are dropped
# With nothing to write, the writer still looks this often whether maintenance is due (the request log's
# age limit holds while the app sits idle, not only once the next request is written).
IDLE_LOOK_SECONDS = 60.0

Op = Callable[[sqlite3.Connection], object]  # what it returns (a cursor, say) is ignored
RowWriter = Callable[[sqlite3.Connection, list[Any]], None]


class _Batch:
    """Rows waiting for the writer, by kind; keyed rows keep only their latest value."""

    __slots__ = ("keyed", "lists")

    def __init__(self) -> None:
        self.lists: dict[str, list[Any]] = {}
        self.keyed: dict[str, dict[Hashable, Any]] = {}


class BatchWriter:
    def __init__(self, row_writers: dict[str, RowWriter], after_batch: Op | None = None,
                 on_damage: Callable[[sqlite3.DatabaseError], None] | None = None,
                 on_held: Callable[[sqlite3.Error | None], None] | None = None) -> None:
        self._row_writers = row_writers
        self._after_batch = after_batch
        self._on_damage = on_damage  # told once when SQLite finds the file damaged
        self._damage_told = False
        # Told when writes start being held back (with why) and when they reach the file again (None).
        self._on_held = on_held
        self._held: list[Op] = []  # ops whose commit failed for a passing reason, oldest first
        # From a commit failing for a passing reason to the next one that succeeds (``_held`` is empty while
        # a retry of it runs, which takes the busy timeout when another program holds the file).
        self._holding = False
        # Items: an op, a threading.Event to set once everything before it is committed, or None to stop.
        self._queue: queue.SimpleQueue[Op | threading.Event | None] = queue.SimpleQueue()
        self._wake = threading.Event()  # ends the batching wait early (flush, close, rows added ``soon``)
        self._soon = False  # the wake is for rows added ``soon``: the window is then SOON_SECONDS
        self._batch: _Batch | None = None
        self._batch_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, conn: sqlite3.Connection) -> None:
        self._thread = threading.Thread(target=self._loop, args=(conn,), name="store-writer", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def holding(self) -> bool:
        """Whether writes are held back (their commit failed for a passing reason) until one succeeds."""
        return self._holding

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._wake.set()
            self._thread.join(timeout=timeout)
            self._thread = None

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything queued so far is committed."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        self._wake.set()
        done.wait(timeout)

    # --- queueing (any thread) ---------------------------------------------------------------------

    def submit(self, op: Op) -> None:
        with self._batch_lock:
            self._batch = None  # rows added from now on are written after this op
            self._queue.put(op)

    def add(self, kind: str, *rows: Any, soon: bool = False) -> None:
        """``soon``: written within SOON_SECONDS, not at the end of the batching window."""
        with self._batch_lock:
            self._open_batch().lists.setdefault(kind, []).extend(rows)
        if soon:
            self._soon = True
            self._wake.set()

    def add_together(self, rows_by_kind: dict[str, list[Any]]) -> None:
        """Rows of several kinds that must land in the same transaction (a request and its attempts)."""
        with self._batch_lock:
            lists = self._open_batch().lists
            for kind, rows in rows_by_kind.items():
                if rows:
                    lists.setdefault(kind, []).extend(rows)

    def put(self, kind: str, key: Hashable, row: Any) -> None:
        """Queue ``row`` for ``key``, replacing any row for that key still waiting in the batch."""
        with self._batch_lock:
            self._open_batch().keyed.setdefault(kind, {})[key] = row

    def _open_batch(self) -> _Batch:
        """The batch new rows join, queued for writing when it starts; ``_batch_lock`` held."""
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            self._queue.put(lambda conn: self._write_batch(conn, batch))
        return batch

    # --- the thread -----------------------------------------------------------------------------------

    def _loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                try:
                    items = [self._queue.get(timeout=RETRY_SECONDS if self._held else IDLE_LOOK_SECONDS)]
                except queue.Empty:  # nothing new: try the held writes again on their own, or maintain
                    if self._held:
                        self._commit(conn, [])
                    elif self._after_batch is not None:
                        self._maintain(conn, self._after_batch)
                    continue
                # Let the window's writes pile up (flush and close cut the wait short; rows added
                # ``soon`` shorten it), then take them all: one wake-up and one transaction per window.
                if callable(items[0]) and self._wake.wait(BATCH_WINDOW_SECONDS) and self._soon:
                    time.sleep(SOON_SECONDS)
                self._soon = False
                self._wake.clear()
                while len(items) < MAX_QUEUE_ITEMS_PER_BATCH:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._commit(conn, [i for i in items if callable(i)])
                for marker in items:
                    if isinstance(marker, threading.Event):
                        marker.set()
                if None in items:
                    if self._held:
                        log.error("store closed with %d writes it could not make", len(self._held))
                    return
                if self._after_batch is not None:
                    self._maintain(conn, self._after_batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, ops: list[Op]) -> None:
        held, self._held = self._held, []
        ops = held + ops
        if not ops:
            return
        # Whatever goes wrong (the database locked by another program past the busy timeout, a full
        # disk, a bad row), the thread lives on: later writes must still reach the disk.
        try:
            conn.execute("BEGIN")
            for op in ops:
                op(conn)
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            if is_passing(exc):
                self._hold(ops, exc, first=not held)
                return
            log.exception("store write failed; %d queued writes dropped", len(ops))
            self._holding = False  # the held writes went with them: none is held any more
            if is_damage(exc):
                self._damaged(exc)
            return
        if held:
            self._holding = False
            _tell(self._on_held, None)

    def _damaged(self, exc: sqlite3.DatabaseError) -> None:
        if not self._damage_told:
            self._damage_told = True
            _tell(self._on_damage, exc)

    def _hold(self, ops: list[Op], exc: sqlite3.Error, *, first: bool) -> None:
        """Keep writes that failed for a passing reason, to be tried again (the oldest beyond the bound
        are dropped, and the log says so)."""
        if len(ops) > MAX_HELD_OPS:
            log.error("store writes held back too long (%s); %d of the oldest dropped", exc, len(ops) - MAX_HELD_OPS)
            ops = ops[-MAX_HELD_OPS:]
        self._held = ops
        self._holding = True
        if first:
            log.warning("store write failed (%s); %d writes held back to be tried again", exc, len(ops))
            _tell(self._on_held, exc)

    def _maintain(self, conn: sqlite3.Connection, after_batch: Op) -> None:
        try:
            after_batch(conn)
        except Exception as exc:
            _rollback(conn)
            if is_damage(exc):
                self._damaged(exc)
                return
            if is_passing(exc):  # another program holds the file, the disk is full: no traceback for that
                log.warning("store maintenance put off (%s); it is tried again later", exc)
                return
            log.exception("store maintenance failed; it is tried again later")

    def _write_batch(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        with self._batch_lock:
            if self._batch is batch:
                self._batch = None  # closed: later rows start a new batch
        for kind, rows in batch.lists.items():
            self._write_rows(conn, kind, rows)
        for kind, keyed in batch.keyed.items():
            self._write_rows(conn, kind, list(keyed.values()))

    def _write_rows(self, conn: sqlite3.Connection, kind: str, rows: list[Any]) -> None:
        """All ``rows`` together; when a row is refused (a value SQLite cannot take, a broken constraint),
        each on its own, so that one bad row costs only itself, not the window's other writes. Whatever
        else goes wrong (a locked database, a full disk) ends the window's transaction, as before."""
        conn.execute("SAVEPOINT rows")  # the rows written before a refused one are undone with it
        try:
            self._row_writers[kind](conn, rows)
        except _ROW_REFUSED:
            conn.execute("ROLLBACK TO rows")
            conn.execute("RELEASE rows")
            if len(rows) == 1:
                log.exception("store: a %s row could not be written; it is dropped", kind)
            else:
                for row in rows:
                    self._write_rows(conn, kind, [row])
            return
        conn.execute("RELEASE rows")


# What one row may cause: a value SQLite cannot store (too large an integer, a type it does not take)
# or a constraint it breaks.
_ROW_REFUSED = (OverflowError, ValueError, TypeError, sqlite3.IntegrityError, sqlite3.InterfaceError,
                sqlite3.ProgrammingError)


# SQLite's lowest default limit of "?" per statement.
MAX_VARIABLES = 999


def insert_rows(conn: sqlite3.Connection, head: str, rows: list[tuple[Any, ...]], tail: str = "") -> None:
    """``head`` + ``(?, …), (?, …)…`` + ``tail`` for all ``rows``, in as few statements as SQLite allows."""
    if not rows:
        return
    width = len(rows[0])
    per = MAX_VARIABLES // width
    for start in range(0, len(rows), per):
        part = rows[start:start + per]
        conn.execute(_statement(head, width, len(part), tail), list(chain.from_iterable(part)))


@functools.lru_cache(maxsize=256)
def _statement(head: str, width: int, count: int, tail: str) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return head + ", ".join([one] * count) + tail


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def is_passing(exc: BaseException) -> TypeGuard[sqlite3.Error]:
    """SQLite could not write for a reason that may pass: the file busy or locked by another program, the
    disk full, an I/O error."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and isinstance(code, int) and code & 0xFF in _PASSING


_PASSING = (5, 6, 10, 13)  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL


def is_damage(exc: BaseException) -> TypeGuard[sqlite3.DatabaseError]:
    """SQLite says the file is damaged (not busy, full or refused: those pass)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and isinstance(code, int) and code & 0xFF in _DAMAGED


_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def _tell(listener: Callable[[_T], None] | None, what: _T) -> None:
    """A listener's failure is no reason for the writer thread to end: later writes must still be made."""
    if listener is None:
        return
    try:
        listener(what)
    except Exception:
        log.exception("store: a listener of the writer failed")
