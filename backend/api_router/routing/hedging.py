"""How long to wait for a stream's first event before asking the next provider too.

Each provider is judged by its own recent past: the delay is three times the 95th percentile of
its time to first event over its last successful streams, never below ``hedge_min_seconds`` and
never above ``hedge_max_seconds``; until a provider has a few streams behind it the delay is
``hedge_max_seconds``.
"""

from __future__ import annotations

import threading
from collections import deque

from api_router.config import RoutingConfig

HISTORY = 50  # successful streams remembered per provider
MIN_HISTORY = 5  # fewer than this: too little to judge
FACTOR = 3.0


class FirstEventTimes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {}

    def record(self, provider: str, seconds: float) -> None:
        with self._lock:
            times = self._times.get(provider)
            if times is None:
                times = self._times[provider] = deque(maxlen=HISTORY)
            times.append(seconds)

    def delay(self, routing: RoutingConfig, provider: str) -> float:
        """Seconds to wait for ``provider``'s first event before hedging."""
        low, high = routing.hedge_min_seconds, max(routing.hedge_min_seconds, routing.hedge_max_seconds)
        with self._lock:
            times = sorted(self._times.get(provider, ()))
        if len(times) < MIN_HISTORY:
            return high
        p95 = times[-(-95 * len(times) // 100) - 1]  # nearest rank: the ceil(0.95 n)-th, as analytics takes it
        return min(high, max(low, FACTOR * p95))

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            if old in self._times:
                self._times[new] = self._times.pop(old)

    def forget(self, provider: str) -> None:
        with self._lock:
            self._times.pop(provider, None)
