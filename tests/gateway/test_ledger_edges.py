"""The token ledger and the refresher at their edges."""
import random

from api_router.quota import Ledger
from api_router.usage.schedule import RefreshPolicy, UsageRefresher


def test_tokens_served_in_the_ms_the_check_began_stay_counted():
    ledger = Ledger()
    ledger.add(5, 1_000)
    ledger.add(7, 999)
    assert ledger.checked(1_000).tokens == 5


async def test_nothing_served_makes_no_ledger(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    gw.services.quota.record_tokens("p1", 0)
    assert "p1" not in gw.services.quota.ledgers_json()


def test_the_refresher_never_spins_without_a_pause():
    now = [1_000_000]
    r = UsageRefresher(None, list, lambda *a: None, last_activity=lambda: now[0],
                       policy=RefreshPolicy(rng=random.Random(1)), steady_ms=lambda: now[0])
    r.policy.sync(["p1"])  # due at once: a pass that did not get to it must not make the loop spin
    assert r._next_sleep_s() >= 1.0
