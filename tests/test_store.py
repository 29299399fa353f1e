"""SQLite store: events, request log, metrics, retention, corruption recovery, renames."""

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from api_router.continuity.index import ContinuityIndex
from api_router.records import Attempt, Outcome, RequestRecord, now_ms
from api_router.store import Retention, Store, schema
from api_router.store import database as store_mod
from tests.support.pipes import finishes_despite_pipe
from tests.support.records import record


def open_store(tmp_path, **kw):
    s = Store(tmp_path / "data" / "s.sqlite3", **kw)
    s.open()
    return s


def test_wal_mode_and_request_log_fields(tmp_path):
    s = open_store(tmp_path)
    s.log_request(record())
    s.flush()
    conn = sqlite3.connect(s.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    row = s.request_log()[0]
    assert row["session_id"] == "s1" and row["providers_tried"] == ["p0", "p1"] and row["status"] == 200
    assert (row["latency_ms"], row["ttfb_ms"], row["input_tokens"], row["output_tokens"], row["cached_tokens"],
            row["reasoning_tokens"], row["total_tokens"]) == (12.5, 3.0, 7, 3, 2, 1, 10)
    assert [a["outcome"] for a in row["attempts"]] == ["provider_failure", "ok"]
    m = s.metrics()
    assert (m["p1"].ok_requests, m["p1"].total_tokens, m["p0"].error_requests) == (1, 10, 1)
    s.close()


def test_metrics_and_events_survive_restart(tmp_path):
    s = open_store(tmp_path)
    s.log_request(record())
    s.add_event("warning", "cooldown", "p1 cooling", "p1")
    s.mark_events_seen()
    s.add_event("info", "route", "back", "p1")
    s.close()
    again = open_store(tmp_path)
    assert again.metrics()["p1"].ok_requests == 1
    assert [e.message for e in again.recent_events()] == ["back", "p1 cooling"]
    assert again.unseen_count() == 1
    again.close()


def test_event_retention_keeps_the_newest(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "EVENT_RETENTION", 100)
    s = open_store(tmp_path)
    for i in range(300):
        s.add_event("info", "x", f"event {i}")
    s.prune()
    events = s.list_events(limit=5000)
    assert len(events) == 100 and events[0].message == "event 299" and events[-1].message == "event 200"
    s.close()


def test_request_log_older_than_30_days_is_pruned(tmp_path):
    s = open_store(tmp_path)
    old = now_ms() - 31 * 86_400_000
    s.log_request(record(ts=old, session="old"))
    s.log_request(record(session="new"))
    s.prune()
    sessions = [r["session_id"] for r in s.request_log()]
    assert sessions == ["new"]
    s.close()


def _logged(s) -> int:
    s.flush()
    return len(s.request_log(limit=1_000_000))


def test_the_row_bound_holds_while_requests_come_in_without_waiting_for_the_timer(tmp_path):
    s = open_store(tmp_path)
    s.set_retention(Retention(rows=200))
    for i in range(500):
        s.log_request(record(session=f"s{i}"))
        if i % 50 == 49:
            s.flush()  # batches, as under steady traffic
    assert _logged(s) <= 210  # the bound, plus at most a 20th of it logged since the last prune
    s.close()


def test_a_lower_bound_applies_as_soon_as_it_is_set(tmp_path):
    s = open_store(tmp_path)
    for i in range(300):
        s.log_request(record(session=f"s{i}"))
    s.flush()
    s.set_retention(Retention(rows=100))
    assert _logged(s) == 100
    assert s.request_log(limit=1)[0]["session_id"] == "s299"
    s.close()


def test_corrupt_store_is_moved_aside_and_recreated_with_event(tmp_path):
    path = tmp_path / "data" / "s.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    s = Store(path)
    moved = s.open()
    assert moved is not None and moved.read_bytes().startswith(b"this is not a database")
    assert s.recent_events()[0].kind == "store" and s.recent_events()[0].level == "error"
    s.log_request(record())
    assert s.request_log()[0]["status"] == 200
    s.close()


@pytest.mark.parametrize("made", [1, 3, 9])
def test_a_first_start_cut_short_while_making_the_tables_is_ours_to_finish(tmp_path, made):
    """A first start killed (or out of disk) after some of the tables were made, before the meta table:
    the next start finishes the file, rather than refusing it as another program's."""
    path = tmp_path / "data" / "s.sqlite3"
    path.parent.mkdir(parents=True)
    statements = [part + ";" for part in schema.TABLES.split(";") if "CREATE TABLE" in part]
    with sqlite3.connect(path) as partial:
        partial.executescript("".join(statements[:made]))
    s = Store(path)
    assert s.open() is None  # nothing moved aside
    s.log_request(record())
    s.flush()
    assert s.request_log()[0]["session_id"] == "s1"
    s.close()


def test_making_the_tables_is_one_transaction(tmp_path):
    """Killed while making them, a first start leaves no half-made file behind."""
    conn = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    statements = []
    conn.set_trace_callback(statements.append)
    schema.create_or_upgrade(conn, 0, lambda _conn: None)
    creates = [i for i, sql in enumerate(statements) if sql.lstrip().startswith("CREATE TABLE")]
    begin = max(i for i, sql in enumerate(statements[:creates[0]]) if sql.strip().upper().startswith("BEGIN"))
    commit = min(i for i, sql in enumerate(statements) if i > creates[-1] and sql.strip().upper().startswith("COMMIT"))
    assert begin < creates[0] and creates[-1] < commit


def test_a_store_written_by_a_newer_version_is_refused_and_left_as_it_is(tmp_path):
    s = open_store(tmp_path)
    path = s.path
    s.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(schema.NewerDatabase, match=f"schema {schema.SCHEMA_VERSION + 1}"):
        Store(path).open()
    assert path.read_bytes() == before and list(path.parent.glob("*broken*")) == []


def test_columns_a_newer_version_added_break_no_write(tmp_path):
    """Every insert names its columns: a newer version's extra column (with its default) is no reason
    for this one to drop what it records."""
    s = open_store(tmp_path)
    path = s.path
    s.close()
    with sqlite3.connect(path) as conn:
        for table in ("events", "provider_metrics", "response_owner", "sealed_owner", "session_affinity",
                      "provider_tests", "meta", "request_log", "attempts"):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN added_later TEXT DEFAULT 'x'")
    s = Store(path)
    s.open()
    s.add_event("info", "x", "still recorded", "p1")
    s.log_request(record())
    index = ContinuityIndex(s)
    index.record_response("resp_1", "p1")
    index.record_sealed("s1", [("rs_1", "reasoning")], "p1")
    s.mark_events_seen()
    s.flush()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE message = 'still recorded'").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM request_log").fetchone() == (1,)
        assert conn.execute("SELECT ok_requests FROM provider_metrics WHERE provider = 'p1'").fetchone() == (1,)
        assert conn.execute("SELECT provider FROM response_owner").fetchone() == ("p1",)
        assert conn.execute("SELECT provider FROM sealed_owner").fetchone() == ("p1",)
    s.close()


def test_damage_found_while_writing_is_told_and_the_next_start_moves_the_file_aside(tmp_path):
    """A damaged index passes the start-up check (it reads the tables only) and fails the first write
    that touches it: an error event at once, and a whole-file check at the next start."""
    s = open_store(tmp_path)
    path = s.path
    for i in range(300):
        s.log_request(record(session=f"s{i}"))
    s.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'request_log_session'").fetchone()
    with path.open("r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)
    s = Store(path)
    assert s.open() is None  # the quick start-up check does not see it
    s.log_request(record(session="after"))
    s.flush()
    damaged = [e for e in s.recent_events() if e.kind == "store" and e.level == "error"]
    assert damaged and "The database is damaged" in damaged[0].message
    s.close()
    s = Store(path)
    moved = s.open()
    assert moved is not None and moved.exists()
    assert not path.with_name(path.name + ".damaged").exists()
    s.log_request(record(session="fresh"))
    assert [r["session_id"] for r in s.request_log()] == ["fresh"]
    s.close()


def test_rename_carries_metrics_history_and_ownership(tmp_path):
    s = open_store(tmp_path)
    index = ContinuityIndex(s)
    s.log_request(record())
    s.add_event("info", "x", "about p1", "p1")
    index.record_response("resp_1", "p1")
    index.record_sealed("s1", [("rs_1", "reasoning"), ("cmp_1", "compaction")], "p1")
    for member in (s, index):
        member.rename("p1", "main")
    s.flush()
    assert "p1" not in s.metrics() and s.metrics()["main"].ok_requests == 1
    assert s.request_log()[0]["provider"] == "main" and s.request_log()[0]["providers_tried"] == ["p0", "main"]
    assert s.list_events(provider="main")[0].message == "about p1"
    assert index.response_owner("resp_1") == "main" and index.sealed_owners("s1") == {"rs_1": "main", "cmp_1": "main"}
    s.close()
    again = open_store(tmp_path)
    index = ContinuityIndex(again)
    assert index.response_owner("resp_1") == "main" and index.sealed_owners("s1") == {"rs_1": "main", "cmp_1": "main"}
    again.close()


def test_secrets_are_redacted_before_storage(tmp_path):
    s = open_store(tmp_path, redact=lambda t: t.replace("sk-secret", "sk-…"))
    s.add_event("error", "x", "upstream said sk-secret is bad")
    r = record()
    r.error = "echo sk-secret"
    r.attempts[0].error = "HTTP 401: sk-secret"
    # A client that pastes a key where its session id or model goes: shown masked like the rest.
    r.session_id, r.model, r.sent_model = "sk-secret", "sk-secret", "sk-secret"
    r.attempts[1].sent_model = "sk-secret"
    s.log_request(r)
    s.flush()
    dump = "\n".join(str(row) for row in sqlite3.connect(s.path).iterdump())
    assert "sk-secret" not in dump
    s.close()


def test_a_request_and_its_attempts_are_written_in_one_transaction():
    """Rows added together never straddle two batches, however the writer thread interleaves."""
    from api_router.store.writer import BatchWriter

    batches: list[dict[str, int]] = []

    def writer_of(kind):
        def write(conn, rows):
            batches[-1][kind] = batches[-1].get(kind, 0) + len(rows)
        return write

    writer = BatchWriter({"requests": writer_of("requests"), "attempts": writer_of("attempts")},
                         after_batch=lambda conn: batches.append({}))
    batches.append({})
    writer.start(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))
    try:
        for i in range(200):
            writer.add_together({"requests": [i], "attempts": [i, i]})
        writer.flush()
    finally:
        writer.close()
    written = [b for b in batches if b]
    assert sum(b["requests"] for b in written) == 200
    assert all(b.get("attempts", 0) == 2 * b.get("requests", 0) for b in written)


def test_a_failed_prune_leaves_the_writer_running(tmp_path, monkeypatch):
    """Another program holding the database past the busy timeout makes a background prune fail with
    "database is locked": the writes after it must still reach the disk."""
    calls = []
    real_prune = store_mod._prune

    def locked_once(conn, retention, today):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        real_prune(conn, retention, today)

    monkeypatch.setattr(store_mod, "_prune", locked_once)
    s = open_store(tmp_path)
    s.add_event("info", "x", "first")  # the first batch is followed by a full prune: it fails
    s.flush()  # returns once the batch is committed; the prune after it may still be running
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls == [1]
    s.add_event("info", "x", "second")
    s.log_request(record())
    s.prune()
    s.flush(timeout=5)
    conn = sqlite3.connect(s.path)
    assert [m for (m,) in conn.execute("SELECT message FROM events ORDER BY id")] == ["first", "second"]
    assert conn.execute("SELECT count(*) FROM request_log").fetchone()[0] == 1
    assert len(calls) == 2
    s.close()


def test_a_request_begun_before_midnight_does_not_reset_requests_today(tmp_path):
    s = open_store(tmp_path)
    for _ in range(3):
        s.log_request(record())
    t = time.localtime()
    midnight_ms = int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)) * 1000)
    s.log_request(record(ts=midnight_ms - 5_000))  # a long stream that began yesterday ends now
    assert s.requests_today() == 3
    s.log_request(record())
    assert s.requests_today() == 4
    s.close()


def test_requests_today_holds_after_a_wall_clock_that_ran_ahead_is_set_back(tmp_path):
    """A request logged while the clock ran a day ahead, then NTP sets it right: today's count is read from
    the log again, not 0 until the day the clock had reached."""
    s = open_store(tmp_path)
    for _ in range(2):
        s.log_request(record())
    s.log_request(record(ts=now_ms() + 86_400_000))
    for _ in range(3):  # the clock is right again
        s.log_request(record())
    assert s.requests_today() == 6  # the row dated tomorrow is the day's too: it was served today
    s.log_request(record())
    assert s.requests_today() == 7
    s.close()


def test_a_request_logged_while_requests_today_is_read_again_is_counted(tmp_path):
    """The control thread reads the log again while the gateway's loop logs a request: that request, in
    neither the read nor the count of the later day, is not lost from today's."""
    s = open_store(tmp_path)
    s.log_request(record(ts=now_ms() + 86_400_000))  # the clock ran a day ahead
    s.log_request(record())  # set right again
    real_query, logged = s.query, []

    def query(sql, args=()):
        rows = real_query(sql, args)
        if not logged:  # logged once, just after the log was read
            logged.append(1)
            s.log_request(record())
        return rows

    s.query = query
    assert s.requests_today() == 3
    s.query = real_query
    s.log_request(record())
    assert s.requests_today() == 4
    s.close()


def test_requests_today_counts_the_rows_the_row_limit_cut_after_a_restart(tmp_path):
    """The count is of requests, not of the rows still kept: a start on the same day reads it whole."""
    s = open_store(tmp_path)
    s.set_retention(Retention(rows=20))
    for _ in range(50):
        s.log_request(record())
    s.prune()
    s.flush()
    assert len(s.request_log(limit=1000)) <= 22 and s.requests_today() == 50
    s.close()
    again = open_store(tmp_path)
    assert again.requests_today() == 50
    again.log_request(record())
    again.set_retention(Retention(rows=10))
    again.flush()
    again.close()
    assert open_store(tmp_path).requests_today() == 51


def test_the_wal_file_shrinks_back_after_a_big_transaction(tmp_path):
    """A big transaction (here another connection's 20 MB; in the app a rename over the whole request
    log) leaves a WAL of its size; the store's next writes cut it back to the limit."""
    import os

    s = open_store(tmp_path)
    big = sqlite3.connect(s.path, isolation_level=None)
    big.execute("BEGIN")
    big.execute("CREATE TABLE scratch(x)")
    big.executemany("INSERT INTO scratch VALUES (?)", [(os.urandom(1000),) for _ in range(20_000)])
    big.execute("COMMIT")
    big.execute("DROP TABLE scratch")
    big.close()
    wal = s.path.with_name(s.path.name + "-wal")
    assert wal.stat().st_size > 2 * store_mod.WAL_SIZE_LIMIT
    for i in range(3):
        s.add_event("info", "x", f"event {i}")
        s.flush()
    assert wal.stat().st_size <= store_mod.WAL_SIZE_LIMIT
    s.close()


def test_a_row_the_database_cannot_take_costs_only_itself(tmp_path):
    """The rest of its window's writes still reach the disk."""
    from api_router.store.writer import BatchWriter, insert_rows

    conn = sqlite3.connect(tmp_path / "rows.sqlite3", check_same_thread=False, isolation_level=None)
    conn.execute("CREATE TABLE t (n INTEGER)")
    writer = BatchWriter({"t": lambda c, rows: insert_rows(c, "INSERT INTO t VALUES ", rows)})
    writer.start(conn)
    try:
        writer.add("t", (1,), (2**70,), (3,))
        writer.add("t", (4,))
        writer.flush()
        # More rows than one statement takes, the bad one in the second: the first statement's rows are
        # written once, not twice.
        writer.add("t", *[(n,) for n in range(10, 1210)])
        writer.add("t", (2**70,))
        writer.add("t", *[(n,) for n in range(1210, 1300)])
        writer.flush()
    finally:
        writer.close()
    check = sqlite3.connect(tmp_path / "rows.sqlite3")
    assert [n for (n,) in check.execute("SELECT n FROM t ORDER BY n")] == [1, 3, 4, *range(10, 1300)]


def test_writes_another_program_blocks_are_kept_and_written_once_it_lets_go(tmp_path):
    """A database tool holding the file past the busy timeout (or a full disk): the records wait in memory,
    the user is told, and they are all there once the file can be written again — none dropped."""
    s = open_store(tmp_path)
    try:
        s._writer.submit(lambda c: c.execute("PRAGMA busy_timeout = 100"))  # not 5 s: the test waits less
        s.flush()
        other = sqlite3.connect(s.path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        for n in range(5):
            s.log_request(record(session=f"held-{n}"))
        deadline = time.monotonic() + 5
        while not any(e.kind == "store" and e.level == "error" for e in s.recent_events()):
            assert time.monotonic() < deadline, "no event about the writes held back"
            time.sleep(0.05)
        # The Events page lists it while the outage lasts, not once it is over (it waits with the rest).
        assert [e.level for e in s.list_events(level="error")] == ["error"]
        assert s.list_events()[0].message.startswith("The database cannot be written")
        assert not s.list_events(level="info") or s.list_events(level="info")[0].level == "info"
        other.execute("ROLLBACK")
        other.close()
        deadline = time.monotonic() + 5
        while not any("written again" in e.message for e in s.recent_events()):
            assert time.monotonic() < deadline, "the held writes were not written"
            time.sleep(0.05)
        sessions = {r["session_id"] for r in s.request_log(limit=50)}
        assert {f"held-{n}" for n in range(5)} <= sessions
        messages = [e.message for e in s.list_events()]
        assert any(m.startswith("The database cannot be written (database is locked)") for m in messages), messages
    finally:
        s.close()


def test_renames_and_deletes_the_app_quit_before_it_could_write_are_made_at_the_next_start(tmp_path):
    """Another program holds the file when the app quits: config.toml has the rename and the delete
    already, so the database must get them too — else the renamed provider's history stays under an id
    no provider has, and a provider added again under the deleted id inherits its counters."""
    s = open_store(tmp_path)
    s._writer.submit(lambda c: c.execute("PRAGMA busy_timeout = 100"))  # not 5 s: the test waits less
    s.log_request(record(provider="p1"))
    s.log_request(record(provider="p2"))
    s.flush()
    other = sqlite3.connect(s.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        s.rename("p1", "main")
        s.forget("p2")
        s.rename("main", "primary")
        s.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    again = open_store(tmp_path)
    try:
        metrics = again.metrics()
        assert set(metrics) == {"primary", "p0"} and metrics["primary"].ok_requests == 1, metrics
        assert {r["provider"] for r in again.request_log()} == {"primary", "p2"}  # a delete keeps the history
        assert not list(tmp_path.joinpath("data").glob("*.moves*")), "the list of moves is gone once made"
    finally:
        again.close()
    third = open_store(tmp_path)  # made once: a later start finds nothing left to make
    try:
        assert set(third.metrics()) == {"primary", "p0"}
    finally:
        third.close()


@contextlib.contextmanager
def another_program_holds(s: Store, busy_ms: int) -> Iterator[None]:
    """Another program holds the database for the block, which begins once the store's writes are held (a
    request logged meanwhile waits); ``busy_ms``: each try's wait (not 5 s: the tests wait less)."""
    s._writer.submit(lambda c: c.execute(f"PRAGMA busy_timeout = {busy_ms}"))
    s.log_request(record(provider="p1"))
    s.flush()
    other = sqlite3.connect(s.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        s.log_request(record(provider="p1"))  # the writes are held from here on
        deadline = time.monotonic() + 5
        while not s.writes_held:
            assert time.monotonic() < deadline, "the writes were never held"
            time.sleep(0.02)
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_folder_that_refuses_to_remove_the_list_of_moves_ends_neither_writer_nor_quit(tmp_path):
    """Writes held, then written: the list of moves kept meanwhile is removed — on a read-only mount that
    removal fails even when there is no such file (EROFS; here: a folder in its place, which unlink refuses
    too). That failure ended the writer thread — every later record lost without a word — and made quit raise."""
    s = open_store(tmp_path)
    s._moves_left_path.mkdir()
    with another_program_holds(s, 100):
        s.log_request(record(session="while-held"))
    s.log_request(record(session="after"))
    s.flush()
    sessions = [r["session_id"] for r in s.request_log(limit=10)]
    assert sessions[:2] == ["after", "while-held"]
    assert any("written again" in e.message for e in s.recent_events())
    s.close()  # it removes the list of moves too: no exception


def test_a_listener_that_fails_does_not_end_the_writer(tmp_path):
    """Whatever the store's listeners raise when told of held writes, the thread goes on writing."""
    from api_router.store.writer import BatchWriter, insert_rows

    path = tmp_path / "rows.sqlite3"
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("CREATE TABLE t (n INTEGER)")
    conn.execute("PRAGMA busy_timeout = 100")
    told = []

    def failing_listener(exc):
        told.append(exc)
        raise RuntimeError("listener broke")

    writer = BatchWriter({"t": lambda c, rows: insert_rows(c, "INSERT INTO t VALUES ", rows)}, on_held=failing_listener)
    writer.start(conn)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        writer.add("t", (1,))
        deadline = time.monotonic() + 5
        while not told:
            assert time.monotonic() < deadline, "the writes were never held"
            time.sleep(0.02)
        other.execute("ROLLBACK")
        writer.flush()
        writer.add("t", (2,))
        writer.flush()
    finally:
        writer.close()
        other.close()
    assert [n for (n,) in sqlite3.connect(path).execute("SELECT n FROM t ORDER BY n")] == [1, 2]
    assert len(told) == 2 and told[-1] is None  # told of the hold, and that it ended


def test_writes_stay_held_while_they_are_tried_again(tmp_path):
    """From the first failed commit to the next one that succeeds, writes are held — also while a retry
    waits the busy timeout out (what a rename made then decides by)."""
    s = open_store(tmp_path)
    with another_program_holds(s, 400):
        seen = set()
        until = time.monotonic() + 2.5  # two retries or more
        while time.monotonic() < until:
            seen.add(s.writes_held)
            time.sleep(0.01)
        assert seen == {True}
    deadline = time.monotonic() + 5
    while s.writes_held:
        assert time.monotonic() < deadline, "still held once the file could be written"
        time.sleep(0.05)
    s.close()


def test_writes_dropped_by_an_error_that_does_not_pass_are_no_longer_held(tmp_path):
    """The retry of the held writes fails for good (a bad write among them): they are dropped, and
    nothing is held any more — not "held" for the rest of the run."""
    s = open_store(tmp_path)
    with another_program_holds(s, 100):
        pass
    s._writer.submit(lambda c: c.execute("INSERT INTO no_such_table VALUES (1)"))  # fails, and not for a while
    s.flush()
    assert not s.writes_held
    s.close()


@pytest.mark.parametrize("into_the_hold", [0.0, 1.2])
def test_a_rename_made_while_writes_are_held_survives_a_kill(tmp_path, into_the_hold):
    """The rename was acknowledged (config.toml has it) while another program held the database — at
    once, or while the held writes are being tried again (each try waits the busy timeout out) —; the
    app is then killed, not quit: the list of moves is beside the file already, and the next start
    makes it. Once the writes go through, the list goes."""
    import shutil

    s = open_store(tmp_path)
    left = s.path.with_name(s.path.name + ".moves.json")
    with another_program_holds(s, 500):
        time.sleep(into_the_hold)
        assert s.writes_held
        s.rename("p1", "main")
        assert left.exists()
        killed = tmp_path / "killed"  # what a kill -9 leaves on disk now
        shutil.copytree(tmp_path / "data", killed / "data")
    deadline = time.monotonic() + 5
    while left.exists():
        assert time.monotonic() < deadline, "the list of moves outlived the held writes"
        time.sleep(0.05)
    s.close()
    again = open_store(killed)
    try:
        assert set(again.metrics()) == {"main", "p0"}, again.metrics()
        assert {r["provider"] for r in again.request_log()} == {"main"}
    finally:
        again.close()


@pytest.mark.parametrize("content", [b"{not json", b'[["1", "p1", "main"]]', b'{"p1": "main"}'])
def test_a_list_of_moves_left_that_cannot_be_read_is_moved_aside_and_the_store_opens(tmp_path, content):
    s = open_store(tmp_path)
    s.log_request(record(provider="p1"))
    s.close()
    left = tmp_path / "data" / "s.sqlite3.moves.json"
    left.write_bytes(content)
    again = open_store(tmp_path)
    try:
        assert "p1" in again.metrics() and not left.exists()
        assert [p.read_bytes() for p in left.parent.glob("s.sqlite3.moves.json.broken*")] == [content]
    finally:
        again.close()


def test_a_list_of_moves_left_that_could_not_be_opened_for_now_is_kept_for_the_next_start(tmp_path, monkeypatch):
    """Too many open files (a start under ``ulimit -n 16``) says nothing of the file: it is not moved aside
    with the renames in it lost — the start fails, and the next one makes them."""
    import errno

    s = open_store(tmp_path)
    s.log_request(record(provider="p1"))
    s.close()
    left = tmp_path / "data" / "s.sqlite3.moves.json"
    left.write_bytes(b'[[1, "p1", "main"]]')
    real_read = store_mod.read_file

    def no_descriptor_left(path):
        if path == left:
            raise OSError(errno.EMFILE, "Too many open files", str(path))
        return real_read(path)

    monkeypatch.setattr(store_mod, "read_file", no_descriptor_left)
    with pytest.raises(OSError):
        open_store(tmp_path)
    assert left.exists() and not list(left.parent.glob("s.sqlite3.moves.json.broken*"))
    monkeypatch.undo()
    again = open_store(tmp_path)
    try:
        assert "main" in again.metrics() and not left.exists()
    finally:
        again.close()


def test_a_list_of_moves_left_that_can_never_be_opened_is_moved_aside(tmp_path):
    """A link that loops (or a file with no read permission) is no file to read, now or at the next start."""
    s = open_store(tmp_path)
    s.close()
    left = tmp_path / "data" / "s.sqlite3.moves.json"
    left.symlink_to(left.name)
    again = open_store(tmp_path)
    try:
        assert not left.is_symlink() and list(left.parent.glob("s.sqlite3.moves.json.broken*"))
    finally:
        again.close()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_in_place_of_the_list_of_moves_left_is_moved_aside_not_waited_on(tmp_path):
    """Reading a FIFO waits for a writer: the start would hang there, silent, for ever."""
    s = open_store(tmp_path)
    s.close()
    left = tmp_path / "data" / "s.sqlite3.moves.json"
    os.mkfifo(left)
    again = finishes_despite_pipe(lambda: open_store(tmp_path), left, "the store's start")
    try:
        assert not left.exists() and len(list(left.parent.glob("s.sqlite3.moves.json.broken*"))) == 1
    finally:
        again.close()


def test_damage_found_by_a_read_is_told_once_and_mended_at_the_next_start(tmp_path):
    """Pages garbled in the middle of the file: opening works (nothing read touches them), the Requests
    page's read does not. The user is told (an event, and an answer that says what to do), and the next
    start checks the file and moves it aside."""
    import random

    from api_router.store import DamagedDatabase

    s = open_store(tmp_path)
    for n in range(1500):
        s.log_request(record(session=f"s{n}"))
    s.flush()
    s.close()
    size = s.path.stat().st_size
    garbage = random.Random(7)
    with open(s.path, "r+b") as fh:
        fh.seek(size // 2 // 4096 * 4096)
        fh.write(bytes(garbage.getrandbits(8) for _ in range(8192)))
    s = open_store(tmp_path)
    try:
        for _ in range(2):
            with pytest.raises(DamagedDatabase, match=r"the database is damaged .* Restart API Router"):
                s.request_log(limit=2000)
        damaged = [e.message for e in s.recent_events() if e.kind == "store" and e.level == "error"]
        assert len(damaged) == 1 and damaged[0].startswith("The database is damaged"), damaged
    finally:
        s.close()
    s = open_store(tmp_path)
    try:
        assert s.request_log() == [] and list(s.path.parent.glob("s.sqlite3.broken-*"))
    finally:
        s.close()


def test_the_row_bound_holds_when_one_write_brings_more_than_a_20th_of_it(tmp_path):
    """A busy gateway writes more than max_rows/20 requests in one 0.1 s batch; rows logged while a
    batch was written were lost from the count, and the log stayed up to a batch past its bound."""
    s = open_store(tmp_path)
    s.set_retention(Retention(rows=1000))
    for i in range(1300):
        s.log_request(record(session=f"s{i}"))
    s.flush()
    assert _logged(s) <= 1000  # the batch that brought 1,300 rows is followed at once by the prune
    for burst in range(3):
        for i in range(90):  # each a batch of its own, over the 50 a prune waits for
            s.log_request(record(session=f"b{burst}-{i}"))
        s.flush()
        assert _logged(s) <= 1000
    s.close()


def test_an_older_file_gains_the_solo_attempts_own_times_and_its_rows_keep_the_requests(tmp_path):
    """A request served by one attempt keeps that attempt's times in its row (the attempt has none of
    its own); a file from before they were kept gets the columns at start, its rows read as they did."""
    path = tmp_path / "data" / "s.sqlite3"
    path.parent.mkdir()
    older = sqlite3.connect(path)
    older.executescript(schema.TABLES)
    for table, column, declaration in schema.ADDED_COLUMNS:
        if column not in ("attempt_latency_ms", "attempt_ttfb_ms"):
            older.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    older.execute("INSERT INTO request_log (unix_ms, path, stream, provider, providers_tried, status, latency_ms, "
                  "ttfb_ms, solo) VALUES (?, '/v1/responses', 0, 'p1', 'p1', 200, 40.0, 30.0, 1)", (now_ms(),))
    older.commit()
    older.close()
    s = open_store(tmp_path)
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(request_log)")}
    assert {"attempt_latency_ms", "attempt_ttfb_ms"} <= columns
    s.log_request(RequestRecord(unix_ms=now_ms(), path="/v1/responses", stream=False, provider="p1", status=200,
                                latency_ms=1617.0, ttfb_ms=1616.0, attempts=[Attempt("p1", Outcome.OK, 200, 2.0,
                                                                                     ttfb_ms=1.0)]))
    new, old = s.request_log()
    assert [(a["latency_ms"], a["ttfb_ms"]) for a in (old["attempts"][0], new["attempts"][0])] == [(40.0, 30.0),
                                                                                                 (2.0, 1.0)]
    assert (new["latency_ms"], new["ttfb_ms"]) == (1617.0, 1616.0)
    s.close()


def _first_release_file(path):
    """A database as the first release made it: the tables without any column added since."""
    path.parent.mkdir(parents=True)
    older = sqlite3.connect(path)
    older.executescript(schema.TABLES)
    return older


def test_the_first_releases_rows_gain_their_outcome_attempt_count_and_failover_mark(tmp_path):
    """The Requests page filters by outcome and failover: rows the first release wrote (every attempt kept,
    none of these columns) are filled in at the upgrade as a new row would be — not left NULL, 0 and 0,
    which no filter finds."""
    path = tmp_path / "data" / "s.sqlite3"
    older = _first_release_file(path)
    rows = [  # (status, provider, error, attempts as (provider, outcome, status)) -> outcome, attempts, failover
        (200, "p1", None, [("p1", "ok", 200)]),
        (200, "p3", None, [("p4", "provider_failure", 500), ("p3", "ok", 200)]),
        (502, None, "every provider failed", [("p4", "provider_failure", 500)]),
        (400, "p1", None, [("p1", "client_error", 400)]),
        (499, "p1", None, [("p1", "client_closed", None)]),
        (200, "p2", None, [("p2", "retry", 400), ("p2", "ok", 200)]),
        (401, None, "no gateway token", []),
    ]
    for request_id, (status, provider, error, attempts) in enumerate(rows, start=1):
        older.execute("INSERT INTO request_log (id, unix_ms, path, stream, provider, providers_tried, status, "
                      "latency_ms, error) VALUES (?, ?, '/v1/responses', 0, ?, ?, ?, 10.0, ?)",
                      (request_id, now_ms(), provider, ",".join(a[0] for a in attempts), status, error))
        older.executemany("INSERT INTO attempts VALUES (?, ?, ?, ?, ?, 5.0, NULL)",
                          [(request_id, i, *a) for i, a in enumerate(attempts)])
    older.commit()
    older.close()
    s = open_store(tmp_path)
    assert s.query("SELECT outcome, attempt_count, failover FROM request_log ORDER BY id") == [
        ("ok", 1, 0), ("ok", 2, 1), ("error", 1, 0), ("client_error", 1, 0), ("client_closed", 1, 0),
        ("ok", 2, 0), ("client_error", 0, 0)]
    s.close()
    again = open_store(tmp_path)  # worked out once: a later start finds nothing to add
    assert again.query("SELECT count(*) FROM request_log WHERE outcome IS NULL") == [(0,)]
    again.close()


def test_the_first_releases_rows_gain_a_request_id_that_finds_them(tmp_path):
    """The Requests page shows, copies and finds each row by its request id: the first release kept none,
    so its rows gain one of the same form at the upgrade (not a null the page shows as blank), once."""
    path = tmp_path / "data" / "s.sqlite3"
    older = _first_release_file(path)
    older.executemany("INSERT INTO request_log (id, unix_ms, path, stream, provider, providers_tried, status, "
                      "latency_ms) VALUES (?, ?, '/v1/responses', 0, 'p1', 'p1', 200, 5.0)",
                      [(i, now_ms()) for i in (1, 2, 300)])
    older.commit()
    older.close()
    s = open_store(tmp_path)
    ids = [row["request_id"] for row in s.request_log()]
    assert ids == ["req_000000000000012c", "req_0000000000000002", "req_0000000000000001"]
    assert all(re.fullmatch(r"req_[0-9a-f]{16}", i) for i in ids)
    found = s.query("SELECT id FROM request_log WHERE request_id = ?", ("req_000000000000012c",))
    assert found == [(300,)] and s.get_meta("request_ids_filled") == "1"
    s.log_request(replace(record(ts=now_ms()), request_id="req_test"))
    s.flush()
    s.close()
    again = open_store(tmp_path)  # a row logged since keeps its own id
    assert again.request_log()[0]["request_id"] == "req_test"
    again.close()


@pytest.mark.parametrize("sqlite_ended_it", [False, True])
def test_columns_are_added_and_filled_in_together_or_not_at_all(tmp_path, sqlite_ended_it):
    """Killed (or failing) while filling in the rows, an upgrade leaves the file as it was: the next start
    adds the columns again and fills them in then. A full disk makes SQLite end the transaction itself:
    the error told is the disk's, not "cannot rollback - no transaction is active"."""
    older = _first_release_file(tmp_path / "data" / "s.sqlite3")
    older.close()
    conn = sqlite3.connect(tmp_path / "data" / "s.sqlite3", isolation_level=None)

    def cut_short(conn):
        assert "outcome" in {row[1] for row in conn.execute("PRAGMA table_info(request_log)")}
        if sqlite_ended_it:
            conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        schema.create_or_upgrade(conn, 0, cut_short)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(request_log)")}
    assert "outcome" not in columns and "attempt_count" not in columns
    conn.close()


def test_rows_an_earlier_upgrade_left_without_an_outcome_are_filled_in_once(tmp_path):
    """A version that added the columns without filling them left the first release's rows NULL, 0, 0: the
    next start fills them in (a batch at a time), and marks it done."""
    path = tmp_path / "data" / "s.sqlite3"
    older = _first_release_file(path)
    for table, column, declaration in schema.ADDED_COLUMNS:
        older.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    older.executemany("INSERT INTO request_log (id, unix_ms, path, stream, provider, providers_tried, status, "
                      "latency_ms) VALUES (?, ?, '/v1/responses', 0, 'p1', 'p1', 200, 5.0)",
                      [(i, now_ms()) for i in range(1, 12_002)])
    older.executemany("INSERT INTO attempts (request_id, idx, provider, outcome, status, latency_ms) "
                      "VALUES (?, 0, 'p1', 'ok', 200, 5.0)", [(i,) for i in range(1, 12_002)])
    older.execute("UPDATE request_log SET outcome = 'ok', attempt_count = 1 WHERE id = 5")  # a newer row
    older.commit()
    older.close()
    s = open_store(tmp_path)
    assert s.query("SELECT outcome, attempt_count, count(*) FROM request_log GROUP BY 1, 2") == [("ok", 1, 12_001)]
    assert s.get_meta("request_outcomes_filled") == "1"
    s.close()


@pytest.fixture
def havana(monkeypatch):
    """The local clock of Havana, where clocks go back from 01:00 to 00:00 (2 Nov 2025): the day has two
    midnights, at 04:00 and 05:00 UTC."""
    monkeypatch.setenv("TZ", "America/Havana")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_requests_today_count_from_the_first_of_two_midnights_after_a_restart(tmp_path, havana, monkeypatch):
    first_midnight = 1_762_056_000_000  # 2025-11-02 00:00 CDT = 04:00 UTC
    now = first_midnight + 13 * 3_600_000  # 12:00 CST that day
    monkeypatch.setattr(time, "time", lambda: now / 1000)
    # C's mktime resolves an ambiguous local time by the offset of the last time it was asked about:
    # here standard time, as for most of the year.
    time.mktime((2026, 1, 3, 0, 0, 0, 0, 0, -1))
    assert store_mod._LocalDays().day_and_start(now / 1000) == ("2025-11-02", first_midnight)
    s = open_store(tmp_path)
    s.log_request(record(ts=first_midnight + 30 * 60_000))  # 00:30, before the clocks went back
    s.log_request(record(ts=now - 60_000))
    assert s.requests_today() == 2
    s.close()
    again = open_store(tmp_path)
    assert again.requests_today() == 2
    again.close()


def test_two_moves_from_two_threads_reach_the_file_in_the_order_of_their_numbers(tmp_path):
    """A rename and a delete at once (control calls run on a pool): the one numbered first but queued
    second left the file's move number behind, and every read then applied the other move again — a
    provider added later under the deleted id had its own items read back as the deleted one's."""
    import threading

    store = open_store(tmp_path)
    real_submit = store._writer.submit
    numbered_first = threading.Event()

    def slow_for_the_first(op):
        if threading.current_thread().name == "first":
            numbered_first.set()
            time.sleep(0.3)  # between taking its number and queueing its write
        real_submit(op)

    store._writer.submit = slow_for_the_first
    first = threading.Thread(target=store.rename, args=("a", "b"), name="first")
    first.start()
    assert numbered_first.wait(5)
    second = threading.Thread(target=store.forget, args=("c",), name="second")
    second.start()
    first.join(5)
    second.join(5)
    store._writer.submit = real_submit
    store.flush()
    ContinuityIndex(store).record_sealed("s", [("rs_new", "reasoning")], "c")  # a new provider "c"
    store.flush()
    assert ContinuityIndex(store).sealed_owners("s").get("rs_new") == "c"
    store.close()


def test_the_day_after_clocks_go_back_across_midnight_starts_at_its_first_midnight(monkeypatch):
    """Dec 7 begins at 00:00 summer time (23:00 UTC); at 00:30 the clocks go back to 23:30 of Dec 6. In
    that repeated hour the wall clock says Dec 6, yet Dec 7 has begun: requests today, counted from the
    day's first midnight, must not start over (nor count Dec 6 again) — also after a restart then."""
    import datetime as dt

    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset: Unix only")
    monkeypatch.setenv("TZ", "BBB0AAA-1,J1/0,J340/24:30")  # J340 = Dec 6 in 2026
    time.tzset()
    try:
        utc = dt.UTC
        first_midnight = dt.datetime(2026, 12, 6, 23, 0, tzinfo=utc).timestamp()
        repeated = dt.datetime(2026, 12, 6, 23, 45, tzinfo=utc).timestamp()  # wall clock: Dec 6, 23:45
        assert dt.datetime.fromtimestamp(repeated).date() == dt.date(2026, 12, 6)
        days = store_mod._LocalDays()
        assert days.day_and_start(repeated) == ("2026-12-07", int(first_midnight * 1000))
        assert days.day_of(first_midnight - 1) == "2026-12-06"
        assert store_mod._LocalDays().day_of(repeated + 3600) == "2026-12-07"  # after the second midnight
        # The Usage page's last day bar is that day's, from the same midnight.
        from api_router.analytics import bucket_starts

        bars = bucket_starts(30, 86_400_000, int(repeated * 1000))
        assert bars[-1] == int(first_midnight * 1000) and bars[-2] == int((first_midnight - 86_400) * 1000)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_day_whose_clocks_go_back_at_midnight_itself_begins_as_the_clock_reaches_24(monkeypatch):
    """Chile, 5 Apr 2026: at 24:00 (03:00 UTC) the clocks go back to 23:00 of Saturday. That hour is
    Sunday's — the day began as the clock reached 24:00 — though midnight is shown only an hour later."""
    import datetime as dt

    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset: Unix only")
    monkeypatch.setenv("TZ", "America/Santiago")
    time.tzset()
    try:
        reached = dt.datetime(2026, 4, 5, 3, 0, tzinfo=dt.UTC).timestamp()
        days = store_mod._LocalDays()
        assert days.day_and_start(reached + 1800) == ("2026-04-05", int(reached * 1000))
        assert days.day_of(reached - 1) == "2026-04-04"
        # a day without a change, and the day clocks go forward at 24:00 (23:59:59 is followed by 01:00)
        assert days.day_and_start(reached + 86_400 + 3600)[1] == int((reached + 86_400 + 3600) * 1000)
        spring = dt.datetime(2026, 9, 6, 4, 0, tzinfo=dt.UTC).timestamp()
        assert days.day_and_start(spring + 60) == ("2026-09-06", int(spring * 1000))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_events_list_does_not_wait_the_busy_timeout_out_while_writes_are_held(tmp_path):
    """The Events card asks every few seconds: while another program holds the file (SQLite's 5 s busy
    wait), it is answered from the file as it is plus what waits, not after yet another failed write."""
    s = open_store(tmp_path)
    other = sqlite3.connect(s.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        s.add_event("info", "config", "made while the file is held")
        deadline = time.monotonic() + 15
        while not s.writes_held:
            assert time.monotonic() < deadline, "the writes were not held back"
            time.sleep(0.05)
        started = time.monotonic()
        messages = [e.message for e in s.list_events()]
        assert time.monotonic() - started < 1.0
        assert "made while the file is held" in messages
    finally:
        other.execute("ROLLBACK")
        other.close()
        s.close()


@pytest.mark.parametrize("table", ["request_log", "provider_metrics", "session_affinity", "usage_state",
                                   "provider_tests", "events", "sealed_owner"])
def test_a_table_damaged_while_the_app_was_stopped_is_moved_aside_at_the_next_start(tmp_path, table):
    """A bad sector in a table's first page (its b-tree's root): a count can pass without reading it, but
    the start reads it (the memory kept, the tables loaded whole) — and must then move the file aside
    as it does an unreadable one, not end in a traceback at every start."""
    from api_router.composition import open_services
    from api_router.paths import Paths

    ud = tmp_path / "user-data"
    ud.mkdir()
    open_services(Paths(ud)).close()
    db = Paths(ud).store
    with sqlite3.connect(db) as conn:
        root, page_size = (conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0],
                           conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xa5" * page_size)
    services = open_services(Paths(ud))
    try:
        told = [e.message for e in services.store.recent_events() if e.kind == "store"]
        assert any("was unreadable and was moved to" in m for m in told), told
        assert len(list(db.parent.glob(db.name + ".broken-*"))) == 1
        services.store.log_request(record())
        services.store.flush()
        assert services.store.request_log()[0]["session_id"] == "s1"
    finally:
        services.close()


def test_the_age_limit_holds_while_nothing_is_written(tmp_path, monkeypatch):
    """Rows that pass retention_days while the app sits idle are pruned on the usual schedule, not
    only once the next request is written (or read: a read waits for the writes before it)."""
    from api_router.store import writer

    monkeypatch.setattr(writer, "IDLE_LOOK_SECONDS", 0.1)
    monkeypatch.setattr(store_mod, "PRUNE_EVERY_SECONDS", 0.3)
    s = open_store(tmp_path)
    try:
        s.set_retention(Retention(days=1))
        s.log_request(record(session="fresh"))
        s.flush()  # the first batch's prune has run
        s.log_request(record(ts=now_ms() - 2 * 86_400_000, session="old"))
        s.flush()
        looked = sqlite3.connect(s.path)  # not the store's reads, which wait for its writer
        deadline = time.monotonic() + 5
        while looked.execute("SELECT count(*) FROM request_log").fetchone()[0] > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [row[0] for row in looked.execute("SELECT session_id FROM request_log")] == ["fresh"]
        looked.close()
    finally:
        s.close()


@pytest.mark.parametrize(("status", "outcomes", "error", "expected"), [
    (200, ["ok"], "", "ok"),
    (200, ["provider_failure", "ok"], "", "ok"),  # a failover that served
    (200, ["client_error"], "refused in-band", "client_error"),  # an error inside a 200 stream
    (200, ["provider_failure"], "stream broke", "error"),  # committed, then the provider failed
    (400, ["client_error"], "bad request", "client_error"),
    (408, [], "the request body stalled", "client_error"),  # the gateway's own 408: no provider asked
    (429, ["provider_failure"], "rate limited", "error"),
    (502, ["provider_failure"], "all failed", "error"),
    (499, ["ok"], "", "client_closed"),
])
def test_request_outcome_as_the_log_files_it(tmp_path, status, outcomes, error, expected):
    r = RequestRecord(unix_ms=now_ms(), path="/v1/responses", stream=True, provider="p1", status=status, error=error,
                      attempts=[Attempt("p1", outcome=Outcome(o)) for o in outcomes])
    assert r.outcome() == expected
    s = open_store(tmp_path)
    s.log_request(r)
    s.flush()
    assert s.request_log()[0]["outcome"] == expected
    s.close()


def test_outcome_filter_takes_every_request_outcome_and_failover():
    """The control API's filter arguments are Literals (JSON strings), held here to the enums they name."""
    import typing

    from api_router.control.api import EventLevel
    from api_router.records import Level, RequestOutcome
    from api_router.request_log import OUTCOMES

    assert set(OUTCOMES) == {o.value for o in RequestOutcome} | {"failover"}
    assert set(typing.get_args(EventLevel)) == {level.value for level in Level}  # list_events' level argument


def test_an_upgrade_is_pending_only_for_an_older_versions_file(tmp_path):
    """(The start then says so in the log, before the port opens: see test_cli.)"""
    path = tmp_path / "data" / "s.sqlite3"
    assert not Store(path).upgrade_pending()  # none yet
    _first_release_file(path).close()
    assert Store(path).upgrade_pending()
    open_store(tmp_path).close()  # upgraded
    assert not Store(path).upgrade_pending()
    other = tmp_path / "other.sqlite3"
    with contextlib.closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE request_log (x)")  # another program's: opening it says so
    assert not Store(other).upgrade_pending()



def test_the_read_only_uri_of_an_export_opens_any_path_and_names_no_server(tmp_path):
    """The export's read-only connection: a file named with URI characters opens (and only for reading);
    a Windows network path keeps an empty authority, which SQLite takes (it refuses a server named there)."""
    from pathlib import PureWindowsPath

    from api_router.store.database import _read_only_uri

    path = tmp_path / "a b#?%&mode=rw;é.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    reader = sqlite3.connect(_read_only_uri(path), uri=True)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("INSERT INTO t VALUES (1)")
    reader.close()

    class OnWindows(PureWindowsPath):
        def absolute(self):
            return self

    assert _read_only_uri(OnWindows(r"\\server\share\ud\h.db")) == "file:////server/share/ud/h.db?mode=ro"
    assert _read_only_uri(OnWindows(r"C:\Users\me\h db.db")) == "file:///C:/Users/me/h%20db.db?mode=ro"


def test_every_table_with_a_provider_column_says_what_a_rename_and_a_delete_do_to_it(tmp_path):
    """A table added with a provider column and left out of these lists would keep a renamed provider's
    rows under its old id, or a deleted one's for ever."""
    conn = sqlite3.connect(tmp_path / "s.sqlite3")
    conn.executescript(schema.TABLES)
    with_provider = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                     if any(c[1] == "provider" for c in conn.execute(f"PRAGMA table_info({t})"))}
    conn.close()
    listed = [*schema.PER_PROVIDER_TABLES, *schema.HISTORY_TABLES, *schema.OWNER_TABLES, schema.AFFINITY_TABLE]
    assert sorted(listed) == sorted(with_provider) == sorted(schema.PROVIDER_TABLES)


def test_an_error_naming_a_path_that_is_not_utf8_is_logged_with_the_byte_escaped(tmp_path):
    """A Codex session file under a Latin-1-named folder, named in the error: the row was dropped (SQLite
    refuses the lone surrogate Python reads such a byte as)."""
    s = open_store(tmp_path)
    rec = record()
    where = os.fsdecode(b"/home/jos\xe9/.codex")
    rec.error = f"no Codex session file under {where}"
    rec.attempts[0].error = f"HTTP 503 ({where})"
    s.log_request(rec)
    s.flush()
    row = s.request_log()[0]
    assert row["error"] == "no Codex session file under /home/jos\\xe9/.codex"
    assert row["attempts"][0]["error"] == "HTTP 503 (/home/jos\\xe9/.codex)"
    s.close()


def test_a_rename_whose_write_was_not_committed_yet_survives_a_kill(tmp_path):
    """Acknowledged (config.toml and secrets.json have it) while the writer had not committed it yet, then
    kill -9: the list of moves is beside the file before the rename returns, and the next start makes it
    (it was written only while another program held the database: the history stayed under the old id).
    A temp file a kill left mid-write of that list is removed at the start."""
    import shutil

    s = open_store(tmp_path)
    s.log_request(record())
    s.flush()
    killed = tmp_path / "killed"  # the file as a kill leaves it: the move not in it yet
    shutil.copytree(tmp_path / "data", killed / "data")
    s.rename("p1", "main")
    left = s.path.with_name(s.path.name + ".moves.json")
    shutil.copy(left, killed / "data" / left.name)
    stale = killed / "data" / f".{left.name}.123.456.tmp"
    stale.write_bytes(b"[[1, ")
    s.close()
    assert not left.exists(), "a quit finds the move in the file and drops the list"
    again = open_store(killed)
    try:
        assert set(again.metrics()) == {"main", "p0"}, again.metrics()
        assert {r["provider"] for r in again.request_log()} == {"main"}
        assert not stale.exists() and not (killed / "data" / left.name).exists()
    finally:
        again.close()


def test_a_move_finished_at_start_is_made_in_the_history_once(tmp_path):
    """secrets.json settled a rename the last run was killed in before it was queued: the history follows;
    made again (it had reached the file), nothing is lost."""
    s = open_store(tmp_path)
    s.log_request(record())
    s.finish_move("p1", "main")
    s.flush()
    assert {r["provider"] for r in s.request_log()} == {"main"} and set(s.metrics()) == {"main", "p0"}
    s.finish_move("p1", "main")
    s.finish_move("p0", None)
    s.flush()
    assert set(s.metrics()) == {"main"} and s.metrics()["main"].ok_requests == 1
    s.close()


def test_a_delete_made_from_the_list_of_moves_leaves_no_model_to_a_provider_added_later(tmp_path):
    """A provider added again under a deleted id starts clean: its checks and tests do not ask for the
    model the deleted one was last sent (the delete made from the list skipped that mark)."""
    import shutil

    s = open_store(tmp_path)
    rec = record()
    rec.model = rec.sent_model = "the-deleted-ones-model"
    s.log_request(rec)
    s.flush()
    assert s.last_asked_models().get("p1") == "the-deleted-ones-model"
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "data", killed / "data")
    s.forget("p1")
    left = s.path.with_name(s.path.name + ".moves.json")
    shutil.copy(left, killed / "data" / left.name)
    s.close()
    again = open_store(killed)
    try:
        assert "p1" not in again.last_asked_models()
    finally:
        again.close()


def test_the_event_log_keeps_the_newest_5000_events(tmp_path):
    """README: the event log keeps the newest 5,000 events (the number itself: the test above sets it smaller)."""
    s = Store(tmp_path / "data" / "s.sqlite3")
    s.open()
    try:
        for i in range(5_050):
            s.add_event("info", "x", f"event {i}")
        s.prune()
        events = s.list_events(limit=10_000)
        assert len(events) == 5_000 and events[0].message == "event 5049" and events[-1].message == "event 50"
    finally:
        s.close()


def test_a_start_keeps_the_rows_that_retention_days_keeps(tmp_path, monkeypatch):
    """The store prunes with its first write batch, and a start writes (events) before it serves: the user's
    retention_days is in force from the start — rows older than the default 30 days went at a start whose
    steps after the first event took longer than the store's batch window (a slow disk, a busy machine)."""
    from api_router import composition
    from api_router.composition import open_services
    from api_router.paths import Paths

    warn = composition._warn_of_unusable_lock

    def slowly(*args, **kwargs):  # the start's steps after its first events, on a busy machine
        time.sleep(1.0)
        return warn(*args, **kwargs)

    monkeypatch.setattr(composition, "_warn_of_unusable_lock", slowly)

    paths = Paths(tmp_path / "ud")
    paths.user_data.mkdir()
    paths.config.write_text('[request_log]\nretention_days = 365\n\n[routing]\ncooldown_seconds = "soon"\n\n'
                            '[providers.p1]\nbase_url = "http://127.0.0.1:9/v1"\n')
    seeded = Store(paths.store)
    seeded.open()
    for i in range(20):
        seeded.log_request(record(ts=now_ms() - 60 * 86_400_000 + i))
    seeded.close()
    services = open_services(paths)
    try:
        services.store.flush()
        assert any("cooldown_seconds" in e.message for e in services.store.recent_events())  # it wrote
        assert _logged(services.store) == 20
    finally:
        services.close()


def test_a_value_that_becomes_a_key_is_masked_in_the_stored_events_too(tmp_path):
    secret = "sk-became-a-key-0123456789"
    s = open_store(tmp_path)  # no secret yet: the event keeps the word as written
    s.add_event("warning", "config", f"no provider has the model '{secret}'")
    s.close()
    s = open_store(tmp_path, redact=lambda text: text.replace(secret, "[redacted]"))
    try:
        s.mask_in_history([secret])
        s.flush()
        stored = [m for (m,) in sqlite3.connect(s.path).execute("SELECT message FROM events")]
        assert stored and not [m for m in stored if secret in m], stored
    finally:
        s.close()


def test_unseen_events_count_no_more_than_the_log_keeps(tmp_path):
    s = open_store(tmp_path)
    try:
        for i in range(store_mod.EVENT_RETENTION + 10):
            s.add_event("info", "config", f"e{i}")
        assert s.unseen_count() == store_mod.EVENT_RETENTION
    finally:
        s.close()
