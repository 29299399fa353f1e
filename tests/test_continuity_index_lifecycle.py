"""The continuity index across a provider's life: a delete, a rename, a new address, a restart."""
import pytest

from api_router.continuity.index import ContinuityIndex
from api_router.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data" / "s.sqlite3")
    s.open()
    yield s
    s.close()


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
