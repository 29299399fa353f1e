"""Persistence in one SQLite file: ``database`` (what is stored and read back), ``schema`` (the tables
and upgrades of older files), ``writer`` (the batched writer thread)."""

from api_router.store.database import (
    EVENT_RETENTION,
    DamagedDatabase,
    Metrics,
    Retention,
    Store,
)
from api_router.store.writer import BATCH_WINDOW_SECONDS

__all__ = ["BATCH_WINDOW_SECONDS", "EVENT_RETENTION", "DamagedDatabase", "Metrics", "Retention", "Store"]
