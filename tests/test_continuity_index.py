"""The continuity index keeps a bounded number of sealed items in memory and still answers for all."""

import threading
import time

import pytest

from api_router.continuity import index as index_mod
from api_router.continuity.index import ContinuityIndex, sealed_key
from api_router.continuity.rewrite import drop_foreign_sealed
from api_router.store import Store
from api_router.store.database import _KEYED_BY_CONTENT as KEYED_SINCE
from api_router.store.database import tombstone


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data" / "s.sqlite3")
    s.open()
    yield s
    s.close()


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(index_mod, "SEALED_PER_SESSION_IN_MEMORY", 20)
    monkeypatch.setattr(index_mod, "SEALED_ITEMS_IN_MEMORY", 50)


def reasoning(item_id):
    return {"type": "reasoning", "id": item_id, "encrypted_content": "gAAAA" + item_id}


def test_a_long_session_keeps_its_newest_items_in_memory_and_finds_the_older_ones_in_the_store(store, small):
    index = ContinuityIndex(store)
    for turn in range(100):
        index.record_sealed("long", [(sealed_key(reasoning(f"rs_{turn}")), "reasoning")], "A" if turn < 50 else "B")
        if turn % 10 == 9:
            store.flush()  # as the writer's 0.1 s window does long before an item is 20 recordings old
    assert index.sealed_items_in_memory <= 22
    owners = index.sealed_owners("long")
    assert [owners.get(sealed_key(reasoning(f"rs_{turn}"))) for turn in (0, 49, 50, 99)] == ["A", "A", "B", "B"]
    assert owners.get("rs_unknown") is None and owners.get("rs_unknown", "B") == "B"
    # No provider is sent another's reasoning, however old.
    items = [reasoning("rs_0"), reasoning("rs_99"), {"type": "message", "role": "user", "content": "hi"}]
    assert [i.get("id") for i in drop_foreign_sealed(items, "B", owners, all_sealed=False)] == ["rs_99", None]


def test_many_sessions_share_one_bound_and_come_back_from_the_store(store, small):
    index = ContinuityIndex(store)
    for s in range(12):
        index.record_sealed(f"s{s}", [(f"rs_{s}_{i}", "reasoning") for i in range(10)], f"P{s % 3}")
    store.flush()
    assert index.sealed_items_in_memory <= 50
    for s in range(12):
        assert index.sealed_owners(f"s{s}").get(f"rs_{s}_3") == f"P{s % 3}"
        assert index.sealed_items_in_memory <= 50


def test_a_session_read_back_from_the_store_starts_with_its_newest_items(store, small):
    index = ContinuityIndex(store)
    for turn in range(30):
        index.record_sealed("long", [(f"rs_{turn}", "reasoning")], "A")
    store.flush()
    again = ContinuityIndex(store)
    owners = again.sealed_owners("long")
    assert list(owners) == [f"rs_{turn}" for turn in range(10, 30)]
    assert again.sealed_items_in_memory == 20
    assert owners.get("rs_0") == "A"  # from the store, and kept: a request still carries it
    assert list(owners)[-1] == "rs_0" and again.sealed_items_in_memory == 21


def test_a_rename_reaches_items_in_memory_and_in_the_store(store, small):
    index = ContinuityIndex(store)
    for turn in range(40):
        index.record_sealed("long", [(f"rs_{turn}", "reasoning")], "A")
    store.flush()
    for member in (store, index):
        member.rename("A", "main")
    store.flush()
    owners = index.sealed_owners("long")
    assert owners.get("rs_0") == "main" and owners.get("rs_39") == "main"


@pytest.mark.parametrize("move", ["rename", "delete"])
def test_what_is_read_back_while_a_rename_or_delete_waits_for_the_writer_follows_it(store, move):
    """Right after a start nothing of a session is in memory; a rename or delete reaches the store through
    its writer. A session's first request in between must not read the owners from before it (and keep
    them): the renamed provider would lose its own reasoning, a later provider under a deleted id would be
    sent the deleted one's."""
    before = ContinuityIndex(store)
    before.record_sealed("s", [("rs_1", "reasoning")], "p2")
    before.record_sealed("t", [("rs_2", "reasoning")], "p2")
    before.record_response("resp_1", "p2")
    store.flush()
    index = ContinuityIndex(store)  # as after a restart
    gate = threading.Event()
    store._writer.submit(lambda c: gate.wait(10))  # a writer busy with a long commit: what follows waits its turn
    try:
        new = "p2b" if move == "rename" else tombstone("p2")
        for member in (store, index):  # as ProviderStates tells them: the store first
            if move == "rename":
                member.rename("p2", "p2b")
            else:
                member.forget("p2")
        started = time.monotonic()
        assert index.sealed_owners("s").get("rs_1") == new
        assert index.sealed_owners("u").get("rs_2") == new  # an item of another session, found by its id
        assert index.response_owner("resp_1") == new
        assert time.monotonic() - started < 1  # answered at once: the event loop never waits for the writer
    finally:
        gate.set()
    store.flush()
    again = ContinuityIndex(store)  # once written, as the next start reads it
    assert again.sealed_owners("s").get("rs_1") == new and again.response_owner("resp_1") == new


def test_a_swap_of_two_ids_by_three_renames_still_queued_is_read_right(store):
    """a → t, b → a, t → b while the writer has not committed them: each owner ends under the other id."""
    before = ContinuityIndex(store)
    before.record_sealed("s", [("rs_a", "reasoning"), ("rs_b", "reasoning")], "a")
    before.record_sealed("s", [("rs_b", "reasoning")], "b")
    store.flush()
    index = ContinuityIndex(store)
    gate = threading.Event()
    store._writer.submit(lambda c: gate.wait(10))
    try:
        for old, new in (("a", "t"), ("b", "a"), ("t", "b")):
            for member in (store, index):
                member.rename(old, new)
        owners = index.sealed_owners("s")
        assert (owners.get("rs_a"), owners.get("rs_b")) == ("b", "a")
    finally:
        gate.set()


def test_a_session_read_back_before_its_writes_landed_still_finds_them(store, small):
    """Dropped from memory while its newest item still waits for the writer, then asked for again: that
    item is found in the store once it is written, not taken for unknown for good."""
    index = ContinuityIndex(store)
    index.record_sealed("s", [("rs_pending", "reasoning")], "A")
    for other in range(6):  # 6 x 10 items push "s" out of the 50 in memory
        index.record_sealed(f"o{other}", [(f"rs_{other}_{i}", "reasoning") for i in range(10)], "B")
    owners = index.sealed_owners("s")  # read back (the writer may or may not have written it yet)
    store.flush()
    assert owners.get("rs_pending") == "A"


def test_items_trimmed_from_memory_before_the_writer_stored_them_are_still_found(store, small):
    """One answer sealing more items than memory keeps per session, or a long history read back from the
    store (each item found there moves to memory's newest end), pushes out items still waiting for the
    writer: they are no unknown items — a provider taking them for its own would be sent another's."""
    index = ContinuityIndex(store)
    for turn in range(30):  # an old session, long written
        index.record_sealed("long", [(f"rs_old_{turn}", "reasoning")], "A")
    store.flush()
    gate = threading.Event()
    store._writer.submit(lambda c: gate.wait(10))  # what is recorded now waits for the writer
    try:
        index.record_sealed("long", [("rs_newest", "reasoning")], "A")
        index.record_sealed("many", [(f"rs_many_{i}", "reasoning") for i in range(30)], "A")
        owners = index.sealed_owners("long")
        assert [owners.get(f"rs_old_{turn}") for turn in range(30)] == ["A"] * 30  # read back, in memory now
        assert owners.get("rs_newest") == "A"
        many = index.sealed_owners("many")
        assert [many.get(f"rs_many_{i}") for i in range(30)] == ["A"] * 30
    finally:
        gate.set()


def test_items_waiting_while_another_program_holds_the_database_stay_known_however_long(store, small, monkeypatch):
    """The writer holds its writes back (the database locked by another program, a full disk): items
    recorded then are in no file for as long as that lasts, past the usual writer window."""
    monkeypatch.setattr(index_mod, "UNKNOWN_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(type(store), "writes_held", property(lambda self: True))
    index = ContinuityIndex(store)
    gate = threading.Event()
    store._writer.submit(lambda c: gate.wait(10))  # nothing reaches the file meanwhile
    try:
        index.record_sealed("s", [(f"rs_{i}", "reasoning") for i in range(30)], "A")  # 10 past memory's 20
        time.sleep(0.1)  # longer than the writer window
        index.record_sealed("t", [("rs_later", "reasoning")], "B")  # what would drop the old ones
        owners = index.sealed_owners("s")
        assert [owners.get(f"rs_{i}") for i in range(30)] == ["A"] * 30
    finally:
        gate.set()


def test_an_item_recorded_in_another_session_is_found_after_a_restart(store):
    """A forked session carries its parent's items under its own id: after a restart (nothing in memory)
    the store answers by item id, whatever session recorded it."""
    ContinuityIndex(store).record_sealed("parent", [("rs_parent_1", "reasoning")], "A")
    store.flush()
    assert ContinuityIndex(store).sealed_owners("fork").get("rs_parent_1") == "A"


@pytest.fixture
def reads(store, monkeypatch):
    """The store's point lookups of one sealed item, as they happen."""
    asked: list[str] = []
    real = store.load_sealed_owner
    monkeypatch.setattr(store, "load_sealed_owner", lambda item: asked.append(item) or real(item))
    return asked


def test_an_item_the_store_does_not_know_is_looked_up_once_not_on_every_request(store, reads, monkeypatch):
    """A history sealed before API Router saw it: its items are unknown turn after turn."""
    monkeypatch.setattr(index_mod, "UNKNOWN_AFTER_SECONDS", 0.0)
    index = ContinuityIndex(store)
    items = [reasoning(f"rs_old_{i}") for i in range(50)]
    keys = [sealed_key(item) for item in items]
    for _ in range(3):  # three requests carrying the same history
        kept = drop_foreign_sealed(items, "A", index.sealed_owners("s"), all_sealed=False)
        assert kept is items  # unknown items pass as the candidate's own, as before
    assert sorted(reads) == sorted(keys)  # by its key only: this file holds no earlier version's keys
    owners = index.sealed_owners("s")
    assert dict(owners) == {} and len(owners) == 0 and owners.get(keys[1]) is None
    with pytest.raises(KeyError):
        owners[keys[1]]
    # Recorded later (a provider sealed that item): known from then on.
    index.record_sealed("s", [(keys[1], "reasoning")], "B")
    assert owners.get(keys[1]) == "B" and dict(owners) == {keys[1]: "B"}


def test_unknown_items_share_the_memory_bound(store, small, reads, monkeypatch):
    monkeypatch.setattr(index_mod, "UNKNOWN_AFTER_SECONDS", 0.0)
    index = ContinuityIndex(store)
    index.record_sealed("s", [("rs_known", "reasoning")], "A")
    store.flush()
    owners = index.sealed_owners("s")
    for i in range(200):
        owners.get(f"rs_unknown_{i}")
    assert index.sealed_items_in_memory <= 50
    assert owners.get("rs_known") == "A"


def test_a_miss_right_after_a_session_is_read_back_is_asked_again(store, small, reads):
    """Read back while its newest item may still wait for the writer: a miss then is not final."""
    index = ContinuityIndex(store)
    owners = index.sealed_owners("s")
    assert owners.get("rs_pending") is None and owners.get("rs_pending") is None
    assert reads == ["rs_pending", "rs_pending"]
    store.save_sealed_owners("s", [("rs_pending", "reasoning")], "A")  # as an evicted session's write lands
    store.flush()
    assert owners.get("rs_pending") == "A"


@pytest.mark.parametrize("lookup", ["response", "session", "item"])
def test_a_rename_that_overtakes_a_read_of_the_store_is_read_again(store, monkeypatch, lookup):
    """The desktop window's calls come on a thread of their own: a rename may land while a lookup reads
    the store. The answer read before it names the old id and must not be returned (or kept in memory)."""
    before = ContinuityIndex(store)
    before.record_sealed("s", [("rs_1", "reasoning")], "p2")
    before.record_response("resp_1", "p2")
    store.flush()
    index = ContinuityIndex(store)
    if lookup == "item":
        index.sealed_owners("t")  # a session in memory that does not hold the item: it is recalled
    method = {"response": "load_response_owner", "session": "load_sealed_owners", "item": "load_sealed_owner"}[lookup]
    real = getattr(store, method)
    calls = []

    def read_then_renamed(*args):
        answer = real(*args)
        calls.append(args)
        if len(calls) == 1:
            for member in (store, index):
                member.rename("p2", "p2b")
        return answer

    monkeypatch.setattr(store, method, read_then_renamed)
    if lookup == "response":
        assert index.response_owner("resp_1") == "p2b"
    elif lookup == "session":
        assert index.sealed_owners("s").get("rs_1") == "p2b"
    else:
        assert index.sealed_owners("t").get("rs_1") == "p2b"
        assert index.sealed_owners("t").get("rs_1") == "p2b"  # and what memory kept
    assert len(calls) == 2


def relay_sealed(issuer, n):
    """A relay's own sealed format: base64 of an envelope that names its issuer first and ends with the same
    trailer for every relay of its make — tokens of one length end alike whoever sealed them."""
    import base64
    import json

    envelope = {"issuer": issuer, "item": f"rs-{n:04d}", "alg": "A256GCM",
                "note": "opaque reasoning state; only the issuing relay can open it"}
    return base64.b64encode(json.dumps(envelope).encode()).decode()


def test_sealed_items_of_one_length_and_end_are_told_apart_by_their_beginning(store):
    """Two relays whose sealed tokens have the same length and the same last characters: each keeps its own
    items, and neither is sent the other's (recorded last, one relay's item took the other's key)."""
    ours = {"type": "reasoning", "encrypted_content": relay_sealed("p1", 1)}
    theirs = {"type": "reasoning", "encrypted_content": relay_sealed("p2", 2)}
    a, b = ours["encrypted_content"], theirs["encrypted_content"]
    assert len(a) == len(b) > 64 and a[-48:] == b[-48:] and a != b
    index = ContinuityIndex(store)
    index.record_sealed("s", [(sealed_key(ours), "reasoning")], "p1")
    index.record_sealed("s", [(sealed_key(theirs), "reasoning")], "p2")
    user = {"type": "message", "role": "user", "content": "go on"}
    history = [ours, theirs, user]
    for owners in (index.sealed_owners("s"), ContinuityIndex(store).sealed_owners("s")):  # memory, then the store
        assert drop_foreign_sealed(history, "p2", owners, all_sealed=False) == [theirs, user]
        assert drop_foreign_sealed(history, "p1", owners, all_sealed=False) == [ours, user]


def assert_kept_for_p1(path, item):
    """The store at ``path``, opened as at an upgrade, knows ``item`` (recorded by an earlier version) as
    p1's: kept for p1, dropped for p2."""
    store = Store(path)
    store.open()
    try:
        assert store.earlier_sealed_keys
        user = {"type": "message", "role": "user", "content": "go on"}
        owners = ContinuityIndex(store).sealed_owners("s")
        assert drop_foreign_sealed([item, user], "p2", owners, all_sealed=False) == [user]
        assert drop_foreign_sealed([item, user], "p1", owners, all_sealed=False) == [item, user]
    finally:
        store.close()


def test_owners_the_previous_version_recorded_by_length_and_end_are_still_found(tmp_path):
    """The version before keyed a long sealed item by its length and last 48 characters: a file it left
    keeps each provider's items from the others after the upgrade, until those rows go."""
    import sqlite3

    path = tmp_path / "data" / "s.sqlite3"
    first = Store(path)
    first.open()
    first.close()
    content = "gAAAAABn" + "q" * 300 + "MAC-of-p1-0123456789abcdefghijklmnopqrstuvwxyz=="
    with sqlite3.connect(path) as conn:  # as that version left it, an hour before
        conn.execute(f"DELETE FROM meta WHERE key = '{KEYED_SINCE}'")
        conn.execute("INSERT INTO meta (key, value) VALUES ('sealed_keyed_by_content_since', '1')")
        conn.execute("INSERT INTO sealed_owner (item_id, session_id, provider, kind, unix_ms) VALUES "
                     "(?, 's', 'p1', 'reasoning', ?)", (f"{len(content)}:{content[-48:]}",
                                                        int(time.time() * 1000) - 3_600_000))
    assert_kept_for_p1(path, {"type": "reasoning", "encrypted_content": content})


def test_owners_an_earlier_version_recorded_under_item_ids_are_still_found(tmp_path):
    """Before sealed items were keyed by their content they were keyed by their id: a file from then
    still keeps each provider's items from the others, until those rows go with the retention rules."""
    import sqlite3

    path = tmp_path / "data" / "s.sqlite3"
    first = Store(path)
    first.open()
    first.close()
    with sqlite3.connect(path) as conn:  # as an earlier version left it: keyed by id, a day before
        conn.execute(f"DELETE FROM meta WHERE key = '{KEYED_SINCE}'")
        conn.execute("INSERT INTO sealed_owner (item_id, session_id, provider, kind, unix_ms) VALUES "
                     "('rs_kept', 's', 'p1', 'reasoning', ?)", (int(time.time() * 1000) - 86_400_000,))
    assert_kept_for_p1(path, {"type": "reasoning", "id": "rs_kept", "encrypted_content": "gAAAA-sealed-by-p1"})
    fresh = Store(tmp_path / "other" / "s.sqlite3")
    fresh.open()
    assert not fresh.earlier_sealed_keys
    fresh.close()
    with sqlite3.connect(path) as conn:  # the earlier rows gone with the retention rules
        conn.execute("DELETE FROM sealed_owner")
    for _ in range(2):  # found gone once, then known to be (no scan of the table at each start)
        store = Store(path)
        store.open()
        assert not store.earlier_sealed_keys
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute(f"SELECT value FROM meta WHERE key = '{KEYED_SINCE}'").fetchone() == ("0",)


def test_items_recorded_again_as_they_stand_are_not_written_again(store, monkeypatch):
    """An answer's sealed items are recorded as it leaves for the client and again when its attempt ends:
    one write. Recorded again by another provider, they are written (the newest owner stands)."""
    index = ContinuityIndex(store)
    writes = []
    save = store.save_sealed_owners
    monkeypatch.setattr(store, "save_sealed_owners", lambda *a: (writes.append(a), save(*a)))
    index.record_sealed("s", [("rs_1", "reasoning"), ("rs_2", "reasoning")], "A")
    index.record_sealed("s", [("rs_1", "reasoning"), ("rs_2", "reasoning")], "A")
    assert len(writes) == 1
    index.record_sealed("s", [("rs_2", "reasoning"), ("rs_3", "reasoning")], "B")
    assert writes[-1][1] == [("rs_2", "reasoning"), ("rs_3", "reasoning")]
    store.flush()
    assert dict(index.sealed_owners("s").recent) == {"rs_1": "A", "rs_2": "B", "rs_3": "B"}


# --- a provider's life: a delete, a rename, a new address, a restart ---------------------------------


def test_a_deleted_providers_items_are_not_the_new_same_id_providers(store):
    index = ContinuityIndex(store)
    index.record_sealed("s", [("item1", "reasoning")], "p1")
    index.record_response("resp_1", "p1")
    index.record_turn_state("ts1", "p1")
    index.forget("p1")  # deleted; a provider added later under id p1 must not take them
    assert index.sealed_owners("s").get("item1") != "p1"
    assert index.response_owner("resp_1") != "p1"
    assert index.turn_state_owner("ts1") != "p1"


def test_a_refusal_of_previous_response_id_survives_a_restart(tmp_path):
    s = Store(tmp_path / "data" / "s.sqlite3")
    s.open()
    ContinuityIndex(s).mark_rejects_previous_id("p1")
    s.close()
    s = Store(tmp_path / "data" / "s.sqlite3")
    s.open()
    try:
        assert ContinuityIndex(s).rejects_previous_id("p1")
    finally:
        s.close()


def test_a_rename_carries_the_refusal(store):
    index = ContinuityIndex(store)
    index.mark_rejects_previous_id("p1")
    index.rename("p1", "p2")
    assert index.rejects_previous_id("p2") and not index.rejects_previous_id("p1")


def test_a_new_address_starts_the_refusal_afresh(store):
    index = ContinuityIndex(store)
    index.mark_rejects_previous_id("p1")
    index.readdressed("p1")
    assert not index.rejects_previous_id("p1")


def test_a_rename_carries_turn_state_and_summaries(store):
    index = ContinuityIndex(store)
    index.record_turn_state("ts", "p1")
    index.record_summary("p1", "cmp_1", "summary text")
    index.rename("p1", "p2")
    assert index.turn_state_owner("ts") == "p2"
    assert index.summary("p2", "cmp_1") == "summary text"


def test_owners_an_older_version_recorded_after_this_one_ran_are_still_found(tmp_path):
    """Back to an older version for a while (it starts on the folder: the file's generation is the same),
    then forward again: the rows it wrote, under its own keys and newer than this version's keying, were not
    looked for — p2 was sent p1's sealed reasoning."""
    import sqlite3

    path = tmp_path / "data" / "s.sqlite3"
    store = Store(path)
    store.open()
    index = ContinuityIndex(store)
    index.record_sealed("s", [(sealed_key({"encrypted_content": "gAAAA-ours"}), "reasoning")], "p1")
    store.close()
    for _ in range(2):  # this version's own rows, and a start with nothing new: no earlier keys looked for
        again = Store(path)
        again.open()
        assert not again.earlier_sealed_keys
        again.close()
    with sqlite3.connect(path) as conn:  # the older version's turn, keyed by the item's id, just now
        conn.execute("INSERT INTO sealed_owner (item_id, session_id, provider, kind, unix_ms) VALUES "
                     "('rs_older', 's', 'p1', 'reasoning', ?)", (int(time.time() * 1000),))
    assert_kept_for_p1(path, {"type": "reasoning", "id": "rs_older", "encrypted_content": "gAAAA-sealed-by-p1"})


def test_owners_an_older_version_recorded_in_a_table_pruned_empty_are_still_found(tmp_path):
    """Row numbers start again at 1 once the table is empty: the older version's first row had the number
    this version had noted as its newest, and was taken for its own."""
    import sqlite3

    path = tmp_path / "data" / "s.sqlite3"
    store = Store(path)
    store.open()
    ContinuityIndex(store).record_sealed("s", [(sealed_key({"encrypted_content": "gAAAA-old"}), "reasoning")], "p1")
    store.flush()
    with sqlite3.connect(path) as conn:  # aged past retention
        conn.execute("UPDATE sealed_owner SET unix_ms = 1")
    store.prune()
    store.close()
    with sqlite3.connect(path) as conn:  # the older version's turn
        assert conn.execute("SELECT count(*) FROM sealed_owner").fetchone() == (0,)
        conn.execute("INSERT INTO sealed_owner (item_id, session_id, provider, kind, unix_ms) VALUES "
                     "('rs_older', 's', 'p1', 'reasoning', ?)", (int(time.time() * 1000),))
    assert_kept_for_p1(path, {"type": "reasoning", "id": "rs_older", "encrypted_content": "gAAAA-sealed-by-p1"})
