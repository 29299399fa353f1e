"""The database's tables, and the steps that bring an older file up to them.

An older database keeps its rows: tables are created when missing, columns added where missing,
and the one renamed table (``reasoning_owner`` became ``sealed_owner`` when compaction items
joined reasoning as sealed items) is copied over once.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from collections.abc import Callable

TABLES = """
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
CREATE TABLE IF NOT EXISTS sealed_owner (
    item_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    unix_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sealed_owner_session ON sealed_owner(session_id);
CREATE TABLE IF NOT EXISTS session_affinity (
    session_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    unix_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_state (
    provider TEXT PRIMARY KEY,
    entry TEXT,
    hint TEXT,
    ledger_tokens INTEGER NOT NULL DEFAULT 0,
    ledger_since_ms INTEGER
);
CREATE TABLE IF NOT EXISTS provider_tests (
    provider TEXT PRIMARY KEY,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Columns added after the first release: (table, column, declaration).
ADDED_COLUMNS = (
    ("request_log", "request_id", "TEXT"),
    ("request_log", "sent_model", "TEXT"),
    ("request_log", "outcome", "TEXT"),
    ("request_log", "attempt_count", "INTEGER NOT NULL DEFAULT 0"),
    ("request_log", "hedged", "INTEGER NOT NULL DEFAULT 0"),
    ("request_log", "failover", "INTEGER NOT NULL DEFAULT 0"),
    ("request_log", "request_bytes", "INTEGER NOT NULL DEFAULT 0"),
    ("request_log", "response_bytes", "INTEGER NOT NULL DEFAULT 0"),
    # 1: the request's one attempt succeeded at once and has no row in attempts (see database._rows).
    ("request_log", "solo", "INTEGER NOT NULL DEFAULT 0"),
    # A solo request's attempt's own times, from asking the provider (the request's also hold reading the
    # client's body); NULL on other rows, and on solo rows from before they were kept.
    ("request_log", "attempt_latency_ms", "REAL"),
    ("request_log", "attempt_ttfb_ms", "REAL"),
    ("attempts", "ttfb_ms", "REAL"),
    ("attempts", "hedge", "INTEGER NOT NULL DEFAULT 0"),
    ("attempts", "retry", "TEXT"),
    ("attempts", "sent_model", "TEXT"),
    ("attempts", "summary", "INTEGER NOT NULL DEFAULT 0"),
)

INDEXES = """
CREATE INDEX IF NOT EXISTS request_log_time ON request_log(unix_ms);
CREATE INDEX IF NOT EXISTS request_log_session ON request_log(session_id, unix_ms);
DROP INDEX IF EXISTS request_log_provider;
"""

# Every column a request_log row has, in insert order.
REQUEST_COLUMNS = (
    "id", "unix_ms", "session_id", "path", "model", "stream", "provider", "providers_tried", "status",
    "latency_ms", "ttfb_ms", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
    "total_tokens", "error", "request_id", "sent_model", "outcome", "attempt_count", "hedged", "failover",
    "request_bytes", "response_bytes", "solo", "attempt_latency_ms", "attempt_ttfb_ms",
)
ATTEMPT_COLUMNS = (
    "request_id", "idx", "provider", "outcome", "status", "latency_ms", "error", "ttfb_ms", "hedge", "retry",
    "sent_model", "summary",
)


# The tables with a provider column, by what a rename or a delete of the provider does to their rows.
PER_PROVIDER_TABLES = ("provider_metrics", "usage_state", "provider_tests")  # its one row: moved, deleted
HISTORY_TABLES = ("events", "request_log", "attempts")  # what happened: kept, under the new id after a rename
OWNER_TABLES = ("response_owner", "sealed_owner")  # what it produced: under a tombstone once it is deleted
AFFINITY_TABLE = "session_affinity"  # the sessions bound to it: moved, deleted
AGED_TABLES = (*OWNER_TABLES, AFFINITY_TABLE)  # cut back with the request log's retention
RENAMED_WHOLE_TABLES = (*HISTORY_TABLES, *OWNER_TABLES, AFFINITY_TABLE)  # every row follows a rename
PROVIDER_TABLES = (*PER_PROVIDER_TABLES, *RENAMED_WHOLE_TABLES)


def providers_tried(column: str | None) -> list[str]:
    """The ``providers_tried`` column (ids joined by commas) as a list."""
    return column.split(",") if column else []


# The file's generation (PRAGMA user_version), raised only by a change an older version cannot live
# with; added columns are not such a change (every insert names its columns).
SCHEMA_VERSION = 1


class NewerDatabase(Exception):
    """The file was written by a newer API Router: not this version's to change, nor unreadable."""

    def __init__(self, found: int) -> None:
        super().__init__(f"schema {found}; this version reads up to {SCHEMA_VERSION}")
        self.found = found


class ForeignDatabase(Exception):
    """A sound SQLite file with tables of another program's (none of API Router's): not ours to write
    our tables into, nor damaged to move aside."""


def check_version(conn: sqlite3.Connection) -> int:
    """The file's generation; raises NewerDatabase when it is newer than this version's, ForeignDatabase
    when it is another program's. Asked before anything is changed in the file (setting its journal mode
    included)."""
    found: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise NewerDatabase(found)
    # Every version of API Router has written its meta table, (key, value), after its other tables (whatever
    # user_version another program set); a file with tables and no such pair is not ours — nor one whose
    # meta (key, value) stands beside none of our tables (Chrome's History has such a meta).
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    ours = {"key", "value"} <= _columns(conn, "meta") and tables & _OURS_BESIDE_META
    if tables and not ours and not _cut_short(conn, tables):
        raise ForeignDatabase()
    return found


_TABLE_ORDER = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", TABLES)  # as TABLES makes them, meta last
TABLE_NAMES: tuple[str, ...] = tuple(_TABLE_ORDER)
# Read whole at every start (by the store and by the parts it hands them to): small, one row a provider
# or a session.
READ_WHOLE_AT_START = ("provider_metrics", "session_affinity", "usage_state", "provider_tests", "meta")
_OURS_BESIDE_META = frozenset(_TABLE_ORDER) - {"meta"}


def _cut_short(conn: sqlite3.Connection, tables: set[str]) -> bool:
    """The first of this version's tables in the order it makes them — not its meta table, made last —
    each with the columns it makes them with, and nothing else: a first start that was killed (or ran out
    of disk) while an older version made them one by one — ours to finish."""
    made = _tables_as_made()
    first = set(_TABLE_ORDER[:len(tables)])
    return tables == first and "meta" not in tables and all(_columns(conn, t) == made[t] for t in tables)



@functools.cache
def _tables_as_made() -> dict[str, set[str]]:
    """Each table's columns as ``TABLES`` makes them (read off an empty database in memory)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(TABLES)
        return {name: _columns(conn, name) for name in _TABLE_ORDER}


def create_or_upgrade(conn: sqlite3.Connection, found: int, fill_in: Callable[[sqlite3.Connection], None]) -> None:
    """Bring a file of generation ``found`` (``check_version``'s answer) up to this version's tables.
    ``fill_in`` brings the rows an older version wrote up to them, in the same transaction as the columns
    added: a start cut short (a kill, a full disk) leaves the file as it was, to be upgraded again."""
    conn.executescript(f"BEGIN;\n{TABLES}\nCOMMIT;")  # all of them or none: a start cut short leaves no half
    conn.execute("BEGIN")
    try:
        for table, column, declaration in ADDED_COLUMNS:
            if column not in _columns(conn, table):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        fill_in(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite ends it itself on some errors (a full disk): its error is the one to tell
            conn.execute("ROLLBACK")
        raise
    conn.executescript(INDEXES)
    if _has_table(conn, "reasoning_owner"):
        conn.execute("INSERT OR IGNORE INTO sealed_owner SELECT item_id, session_id, provider, 'reasoning', unix_ms "
                     "FROM reasoning_owner")
        conn.execute("DROP TABLE reasoning_owner")
    if found != SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def upgrade_pending(conn: sqlite3.Connection) -> bool:
    """Whether the file is an older version's that ``create_or_upgrade`` changes (columns added, a table
    replaced). One not yet ours, or another program's: False (opening it says which)."""
    if not _has_table(conn, "request_log") or not _has_table(conn, "meta"):
        return False
    missing = (column not in _columns(conn, table) for table, column, _ in ADDED_COLUMNS if _has_table(conn, table))
    return any(missing) or _has_table(conn, "reasoning_owner")


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
