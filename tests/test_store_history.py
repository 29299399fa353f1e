"""The stored history: a value that becomes a key is masked in stored events; unseen events are counted as kept."""
import sqlite3

from api_router.records import Kind, Level
from api_router.store import Store
from api_router.store import database as store_mod

SECRET = "sk-became-a-key-0123456789"


def test_a_new_key_is_masked_in_the_stored_events_too(tmp_path):
    path = tmp_path / "data" / "s.sqlite3"
    s = Store(path)  # no secret yet: the event keeps the word as written
    s.open()
    s.add_event(Level.WARNING, Kind.CONFIG, f"no provider has the model '{SECRET}'")
    s.flush()
    s.close()
    s = Store(path, redact=lambda text: text.replace(SECRET, "[redacted]"))
    s.open()
    try:
        s.mask_in_history([SECRET])
        s.flush()
        assert not [m for (m,) in sqlite3.connect(path).execute("SELECT message FROM events") if SECRET in m]
    finally:
        s.close()


def test_unseen_events_count_no_more_than_the_log_keeps(tmp_path):
    s = Store(tmp_path / "data" / "s.sqlite3")
    s.open()
    try:
        for i in range(store_mod.EVENT_RETENTION + 10):
            s.add_event(Level.INFO, Kind.CONFIG, f"e{i}")
        assert s.unseen_count() == store_mod.EVENT_RETENTION
    finally:
        s.close()
