"""The last test of each provider (the Test button), kept across restarts and shown as badges."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from api_router.store import Store

log = logging.getLogger(__name__)


class ProviderTests:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._results: dict[str, dict[str, Any]] = {}
        for provider, raw in store.load_provider_tests():
            try:
                self._results[provider] = json.loads(raw)
            except ValueError:
                log.warning("ignoring an unreadable stored provider test for %s", provider)

    def record(self, provider: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._results[provider] = result
        self._store.save_provider_test(provider, json.dumps(result))

    def last(self, provider: str) -> dict[str, Any] | None:
        with self._lock:
            return self._results.get(provider)

    def readdressed(self, provider: str) -> None:
        """The last test no longer says anything (the provider's address or key changed): gone, also on disk."""
        with self._lock:
            self._results.pop(provider, None)
        self._store.delete_provider_test(provider)

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            if old not in self._results:
                return
            result = self._results[new] = {**self._results.pop(old), "provider": new}
        # The store moves the row to the new id; the result it holds names the provider too.
        self._store.save_provider_test(new, json.dumps(result))

    def forget(self, provider: str) -> None:
        with self._lock:
            self._results.pop(provider, None)
