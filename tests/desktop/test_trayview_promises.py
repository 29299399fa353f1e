"""Tray view promises the existing tests leave open (README "The tray"): found by mutation testing."""

from __future__ import annotations

import pytest

from api_router.desktop.trayview import provider_label, tray_view
from tests.desktop.fakes import tray_status as status


@pytest.mark.parametrize("left, shown", [(1.0, "1"), (1.4, "1"), (0.99, "<1")])
def test_only_a_sliver_below_one_percent_reads_less_than_one(left, shown) -> None:
    """README: "the share is rounded down, and a sliver shows as `<1 %`" — 1 % is a whole percent, not a sliver."""
    label = provider_label("Relay A", {"status": "healthy", "quota_left_percent": left}, None)
    assert label == f"Relay A — {shown} % left ●"


@pytest.mark.parametrize("health, shown", [
    ("unresponsive", "Relay A ✕ not answering"),
    ("unhealthy", "Relay A ✕ failing"),
    ("unknown", "Relay A ○ not used yet"),
    ("cooldown", "Relay A ◐ cooling down"),
])
def test_every_health_mark_is_the_one_the_readme_lists(health, shown) -> None:
    """README: "a health mark (● healthy, ○ not used yet, ✕ failing or not answering, ◐ cooling down)"."""
    assert provider_label("Relay A", {"status": health}, None) == shown


def test_a_balance_below_nothing_reads_as_nothing_left() -> None:
    """A panel whose balance went negative (an overdraft): the amount left is nothing, never "$-3.20 left"."""
    quota = {"snapshot": {"remaining": -3.2, "unit": "USD"}}
    assert provider_label("Relay A", {"status": "healthy"}, quota) == "Relay A — $0.00 left ●"


def test_a_provider_without_a_base_url_is_greyed_like_a_disabled_one() -> None:
    """README (Routing): a lock on a provider that has no `base_url` is ignored, and it is never a candidate:
    its tray entry cannot be chosen (locked to, or made preferred)."""
    doc = status()
    doc["providers"]["b"]["base_url"] = ""
    choices = {c.provider: c for c in tray_view(doc).providers}
    assert not choices["b"].enabled and not choices["d"].enabled
    assert choices["a"].enabled and choices["c"].enabled
