"""Usage readings at their edges: a missing figure worked out, a period in another currency, G for billion, no panel guess when a base is set."""
from __future__ import annotations

import httpx
from usage_fakes import KEY, TOKEN, FakePanel

from api_router.usage import ErrorKind, UsageError, UsageTarget, fetch_usage
from api_router.usage.numbers import parse_number


def target(panel: FakePanel, adapter: str, base: str | None = None, **kw: str) -> UsageTarget:
    fields = {"provider_key": KEY, "usage_token": "", **kw}
    return UsageTarget("p1", base or panel.url + "/v1", usage_adapter=adapter, **fields)


async def test_new_api_without_available_reads_granted_minus_used(panel: FakePanel, client: httpx.AsyncClient):
    panel.json("/api/usage/token", {"data": {"total_granted": 1000, "total_used": 1000}}, bearer=KEY)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert snap.available == 0 and snap.remaining == 0 and snap.exhausted


async def test_a_period_in_another_currency_than_the_others_is_left_out(panel: FakePanel, client: httpx.AsyncClient):
    doc = {"data": {"daily_spent": "¥10", "daily_budget": "¥100", "monthly_spent": "€5", "monthly_budget": "€50"}}
    panel.json("/api/backend/users/info", doc, bearer=TOKEN)
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert snap.budget_unit == "CNY"
    assert snap.monthly_budget_usd is None and any("monthly" in n for n in snap.notes), snap


def test_g_is_a_billion():
    assert parse_number("1.5G").value == 1.5e9


async def test_no_panel_guess_when_a_usage_base_is_set(panel: FakePanel, client: httpx.AsyncClient):
    t = target(panel, "", base="http://relay-api.invalid.test/v1", usage_base_url=panel.url)
    try:
        await fetch_usage(t, client)
    except UsageError as exc:
        assert exc.kind is ErrorKind.NOT_FOUND and "relay.invalid.test" not in exc.message, exc.message
    else:
        raise AssertionError("no endpoint there")
