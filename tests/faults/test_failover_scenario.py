"""The failover scenario of ``bench/failover.py``, shortened: a black-hole preferred provider under
Codex-like traffic (one streamed request every 2 s), default settings, real processes."""

from __future__ import annotations

import pytest

from bench import failover

pytestmark = pytest.mark.slow


def test_a_dead_preferred_provider_costs_one_hedge_delay_in_all() -> None:
    report = failover.run(minutes=0.75, interval=2.0)
    assert report.failed == 0 and report.requests >= 15
    assert report.first_answer_s <= failover.FIRST_ANSWER_MAX_S
    assert report.later_max_s <= report.healthy_latency_s + failover.LATER_EXTRA_MAX_S
    assert report.total_waiting_s <= failover.TOTAL_WAIT_MAX_S
