"""Each adapter against a fake panel per known answer shape, with the adapter configured."""

from __future__ import annotations

import httpx
import orjson
import pytest
from usage_fakes import KEY, TOKEN, FakePanel

from api_router.usage import ErrorKind, UsageError, UsageTarget, fetch_usage
from api_router.usage.model import UsageSnapshot


def target(panel: FakePanel, adapter: str, **kw: str) -> UsageTarget:
    fields = {"provider_key": KEY, "usage_token": "", **kw}
    return UsageTarget("p1", panel.url + "/v1", usage_adapter=adapter, **fields)


def clock() -> int:
    return 1_764_000_000_000


# ------------------------------------------------------------------ token_stats

SHAPE_A = {
    "success": True,
    "data": {
        "info": {"remain_quota": "1,234.5", "remain_quota_display": "$12.34", "name": "k"},
        "stats": {"today_stats": {"used_quota": 100, "used_quota_display": "$1.00", "added_quota": "2,000"}},
    },
}


async def test_token_stats_shape_a_reads_one_unit_throughout(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    """``added_quota`` has no dollar twin, so the raw quota units are read for every field: dollars
    beside quota units would label 2,000 quota units "$2,000"."""
    panel.json("/api/token-stats", SHAPE_A, token_key=KEY)
    snap = await fetch_usage(target(panel, "token_stats"), client, clock_ms=clock)
    assert (snap.adapter, snap.base_url, snap.detected) == ("token_stats", panel.url, False)
    assert (snap.remaining, snap.today_used, snap.today_added) == (1234.5, 100, 2000)
    assert snap.unit == "" and snap.fetched_at_unix_ms == clock()
    assert panel.hits[0].query == {"token_key": KEY}
    assert panel.count("/api/token-logs") == 0


async def test_token_stats_prefers_display_fields_when_every_field_has_one(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    today = {"used_quota": 100, "used_quota_display": "$1.00", "added_quota": "2,000", "added_quota_display": "$4"}
    doc = {"data": {"info": SHAPE_A["data"]["info"], "stats": {"today_stats": today}}}
    panel.json("/api/token-stats", doc)
    snap = await fetch_usage(target(panel, "token_stats"), client)
    assert (snap.remaining, snap.today_used, snap.today_added) == (12.34, 1.0, 4.0)
    assert snap.unit == "USD"


@pytest.mark.parametrize(
    "doc",
    [
        {"data": {"token_info": {"remain_quota": "5,000", "today_used": 250, "today_added": "1,000"}}},
        {
            "data": {
                "data": {"token_info": {"remain_quota": "5,000", "today_used": 250, "today_added": "1,000"}}
            }
        },
        {"token_info": {"remaining": 5000, "used": "250", "added": 1000}},
    ],
    ids=["under-data", "under-data-data", "top-level"],
)
async def test_token_stats_shape_b_wherever_token_info_is(
    panel: FakePanel, client: httpx.AsyncClient, doc: dict
) -> None:
    panel.json("/api/token-stats", doc, token_key=KEY)
    snap = await fetch_usage(target(panel, "token_stats"), client)
    assert (snap.remaining, snap.today_used, snap.today_added) == (5000, 250, 1000)
    assert snap.unit == ""


async def test_token_stats_falls_back_to_token_logs_on_404(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    panel.json(
        "/api/token-logs",
        {"success": True, "data": {"token_info": {"remain_quota_display": "85%"}, "logs": []}},
        token_key=KEY,
    )
    snap = await fetch_usage(target(panel, "token_stats"), client)
    assert [h.path for h in panel.hits] == ["/api/token-stats", "/api/token-logs"]
    assert snap.remaining == 85 and snap.percent_fields == ("remaining",)
    assert all(h.query == {"token_key": KEY} for h in panel.hits)


@pytest.mark.parametrize("first", ["no-numbers", "html"])
async def test_token_stats_falls_back_when_first_has_no_numbers(
    panel: FakePanel, client: httpx.AsyncClient, first: str
) -> None:
    if first == "html":
        panel.text("/api/token-stats", "<!doctype html><html>panel</html>")
    else:
        panel.json("/api/token-stats", {"success": True, "data": {"stats": {}}})
    panel.json("/api/token-logs", {"data": {"info": {"remain_quota": 0}}})
    snap = await fetch_usage(target(panel, "token_stats"), client)
    assert snap.remaining == 0 and snap.exhausted
    assert snap.to_json()["exhausted_reason"] == "quota exhausted: remaining 0"


async def test_token_stats_unlimited(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json(
        "/api/token-stats", {"data": {"info": {"remain_quota_display": "unlimited", "remain_quota": 0}}}
    )
    snap = await fetch_usage(target(panel, "token_stats"), client)
    assert snap.unlimited and snap.remaining is None and not snap.exhausted


async def test_token_stats_401_does_not_fall_back(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/token-stats", SHAPE_A, token_key="sk-other")
    panel.json("/api/token-logs", SHAPE_A)
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "token_stats"), client)
    assert info.value.kind == ErrorKind.UNAUTHORIZED
    assert info.value.message.startswith("usage endpoint refused the credentials (401)")
    assert info.value.message.endswith(f"{panel.url}/api/token-stats")
    assert panel.count("/api/token-logs") == 0


async def test_token_stats_both_missing(panel: FakePanel, client: httpx.AsyncClient) -> None:
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "token_stats"), client)
    assert info.value.message == f"no usage endpoint found at {panel.url}"
    assert info.value.kind == ErrorKind.NOT_FOUND


# ------------------------------------------------------------------ budget_info

BUDGET = {
    "success": True,
    "data": {
        "username": "u",
        "daily_spent": "$1.50",
        "daily_budget": "$10",
        "weekly_spent_usd": 20,
        "weekly_budget_usd": "50.00",
        "monthly": {"spent": "$50.00", "budget": "$50.00"},
        "remaining_quota_display": "$0.00",
        "remaining_quota": 12,
    },
}


async def test_budget_info_reads_periods_and_uses_the_usage_token(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    panel.json("/api/backend/users/info", BUDGET, bearer=TOKEN)
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert (snap.daily_spent_usd, snap.daily_budget_usd) == (1.5, 10)
    assert (snap.weekly_spent_usd, snap.weekly_budget_usd) == (20, 50)
    assert (snap.monthly_spent_usd, snap.monthly_budget_usd) == (50, 50)
    assert snap.remaining == 0 and snap.unit == "USD"
    assert snap.exhausted
    assert panel.hits[0].authorization == f"Bearer {TOKEN}"
    assert KEY not in repr(panel.hits)  # the provider key never goes to the budget panel


async def test_budget_info_monthly_budget_spent_reason(panel: FakePanel, client: httpx.AsyncClient) -> None:
    doc = {"monthly_used": "$50", "monthly_limit": "$50", "remaining": "$3.20"}
    panel.json("/api/backend/users/info", doc, bearer=TOKEN)
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert snap.to_json()["exhausted_reason"] == "monthly budget spent: $50.00 of $50.00"
    assert snap.remaining == pytest.approx(3.2)


async def test_budget_info_without_usage_token_is_a_config_error(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "budget_info"), client)
    assert info.value.kind == ErrorKind.CONFIG and "usage token" in info.value.message
    assert panel.hits == []


# ------------------------------------------------------------------ new_api

NEW_API = {
    "code": True,
    "message": "ok",
    "data": {
        "object": "token_usage",
        "total_granted": 1000000,
        "total_used": "12,345",
        "total_available": 987655,
        "unlimited_quota": False,
        "expires_at": 1900000000,
    },
}


async def test_new_api(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/usage/token", NEW_API, bearer=KEY)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert (snap.granted, snap.used, snap.available, snap.remaining) == (1000000, 12345, 987655, 987655)
    assert not snap.unlimited and snap.expires_at_unix_ms == 1_900_000_000_000
    assert snap.unit == "quota"


@pytest.mark.parametrize("flag", [True, 1, "1", "true", " Yes "])
async def test_new_api_unlimited_never_expiring(panel: FakePanel, client: httpx.AsyncClient, flag) -> None:
    """A panel backed by PHP or MySQL says ``1`` where new-api says ``true``; either way unlimited, so
    its ``total_available: 0`` is no exhaustion."""
    doc = {
        "success": True,
        "data": {
            "total_granted": 0,
            "total_used": 5,
            "total_available": 0,
            "unlimited_quota": flag,
            "expires_at": 0,
        },
    }
    panel.json("/api/usage/token", doc, bearer=KEY)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert snap.unlimited and snap.expires_at_unix_ms is None and not snap.exhausted


@pytest.mark.parametrize("flag", [False, 0, 2, "0", "no", None])
async def test_new_api_limited_flag_spellings(panel: FakePanel, client: httpx.AsyncClient, flag) -> None:
    doc = {"success": True, "data": {"total_granted": 10, "total_used": 10, "total_available": 0,
                                     "unlimited_quota": flag}}
    panel.json("/api/usage/token", doc, bearer=KEY)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert not snap.unlimited and snap.exhausted


@pytest.mark.parametrize("expiry", [1e300, 10**30, "99999999999999999999"])
async def test_an_expiry_no_date_can_have_is_no_expiry(panel: FakePanel, client: httpx.AsyncClient, expiry) -> None:
    """Past the year 9999: as a number of milliseconds it would not fit the status document's
    64-bit integers (orjson refuses it), which broke /status for good once such a reading was kept."""
    doc = {"success": True, "data": {"total_granted": 10, "total_used": 1, "total_available": 9, "expires_at": expiry}}
    panel.json("/api/usage/token", doc, bearer=KEY)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert snap.available == 9 and snap.expires_at_unix_ms is None
    orjson.dumps(snap.to_json())
    kept = snap.to_json() | {"expires_at_unix_ms": 10**30}  # a reading kept before the check
    assert UsageSnapshot.from_json(kept).expires_at_unix_ms is None


async def test_new_api_success_false_is_rejected_and_redacted(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    panel.json("/api/usage/token", {"success": False, "message": f"token {KEY} not found"})
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "new_api"), client)
    assert info.value.kind == ErrorKind.REJECTED
    assert "not found" in info.value.message and KEY not in info.value.message


@pytest.mark.parametrize(("data", "kept", "unit", "note"), [
    # Quota units granted and used, dollars left: half is left, not 0.0001 %.
    ({"total_granted": 500000, "total_used": 250000, "total_available": "$0.50"},
     {"available": 0.5, "granted": None, "used": None}, "USD", "granted and used written in quota units, available in USD"),
    # Dollars granted, quota units left: not 250,000 dollars.
    ({"total_granted": "$5.00", "total_used": "$2.50", "total_available": 250000},
     {"available": 250000, "granted": None, "used": None}, "quota", "granted and used written in USD, available in quota units"),
    # A percentage left beside an amount granted: the share is the percentage itself.
    ({"total_granted": 1000, "total_available": "40%"}, {"available": 40, "granted": None}, "quota",
     "granted written in quota units, available in %"),
    ({"total_granted": "80%", "total_available": 40}, {"available": 40, "granted": None}, "quota",
     "granted written in %, available in quota units"),
])
async def test_new_api_figures_in_two_units_are_not_set_against_each_other(
        panel: FakePanel, client: httpx.AsyncClient, data, kept, unit, note) -> None:
    panel.json("/api/usage/token", {"success": True, "data": data}, bearer=KEY)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert {name: getattr(snap, name) for name in kept} == kept
    assert snap.unit == unit and any(n.startswith(note) for n in snap.notes), snap.notes
    share = snap.to_json()["left_percent"]
    assert share is None or (share == 40 and "%" in note.split(", ")[1])


# ------------------------------------------------------------------ openai_billing


async def test_openai_billing_cents_to_usd(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json(
        "/dashboard/billing/subscription",
        {
            "object": "billing_subscription",
            "hard_limit_usd": 100,
            "system_hard_limit_usd": 120,
            "access_until": 1900000000,
        },
        bearer=KEY,
    )
    panel.json("/dashboard/billing/usage", {"object": "list", "total_usage": 2550}, bearer=KEY)
    snap = await fetch_usage(target(panel, "openai_billing"), client, clock_ms=clock)
    assert (snap.granted, snap.used, snap.available, snap.remaining) == (100, 25.5, 74.5, 74.5)
    assert snap.unit == "USD" and snap.expires_at_unix_ms == 1_900_000_000_000
    usage_hit = next(h for h in panel.hits if h.path == "/dashboard/billing/usage")
    assert set(usage_hit.query) == {"start_date", "end_date"}


async def test_openai_billing_system_limit_and_string_numbers(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    panel.json("/dashboard/billing/subscription", {"system_hard_limit_usd": "$1,000.00"})
    panel.json("/dashboard/billing/usage", {"total_usage": "100,000"})
    snap = await fetch_usage(target(panel, "openai_billing"), client)
    assert (snap.granted, snap.used, snap.remaining) == (1000, 1000, 0)
    assert snap.exhausted


@pytest.mark.parametrize(("limit", "usage", "expected", "unit"), [
    ("100%", 2550, {"granted": None, "used": 25.5, "available": None}, "USD"),  # a percentage is no limit
    ("¥100.00", 2550, {"granted": 100, "used": None, "available": None}, "CNY"),  # yuan: no dollar sign, no sum
    (100, "$25.50", {"granted": 100, "used": 25.5, "available": 74.5}, "USD"),  # dollars written out: no cents
])
async def test_openai_billing_reads_figures_as_they_are_written(
        panel: FakePanel, client: httpx.AsyncClient, limit, usage, expected, unit) -> None:
    panel.json("/dashboard/billing/subscription", {"hard_limit_usd": limit})
    panel.json("/dashboard/billing/usage", {"total_usage": usage})
    snap = await fetch_usage(target(panel, "openai_billing"), client)
    assert {name: getattr(snap, name) for name in expected} == expected and snap.unit == unit


async def test_openai_billing_without_usage_endpoint(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/dashboard/billing/subscription", {"hard_limit_usd": 5})
    snap = await fetch_usage(target(panel, "openai_billing"), client)
    assert snap.granted == 5 and snap.used is None and snap.remaining is None
    assert any("limit only" in n for n in snap.notes)


async def test_openai_billing_unlimited_sentinel(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/dashboard/billing/subscription", {"hard_limit_usd": 100000000})
    panel.json("/dashboard/billing/usage", {"total_usage": 123})
    snap = await fetch_usage(target(panel, "openai_billing"), client)
    assert snap.unlimited and snap.granted is None and snap.used == 1.23 and not snap.exhausted


# ------------------------------------------------------------------ transport-level failures


async def test_non_json_answer(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.text("/api/usage/token", "<html><body>Login</body></html>")
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "new_api"), client)
    assert info.value.kind == ErrorKind.NOT_JSON
    assert info.value.message == f"usage endpoint answered non-JSON (text/html): {panel.url}/api/usage/token"


async def test_timeout(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.slow("/api/token-stats", SHAPE_A)  # past the 1 s read timeout and the 2 s deadline
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "token_stats"), client)
    assert info.value.kind == ErrorKind.TIMEOUT
    assert info.value.message == f"usage endpoint timed out after 1 s: {panel.url}/api/token-stats"
    assert "token_key" not in info.value.message


async def test_trickling_answer_hits_the_overall_deadline(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    # A byte every 0.1 s, never a 1 s read timeout, for 5 s: well past the 2 s overall deadline.
    panel.trickle("/api/usage/token", chunks=50)
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "new_api"), client)
    assert info.value.kind == ErrorKind.TIMEOUT
    assert info.value.message == f"usage endpoint timed out after 2 s in total: {panel.url}/api/usage/token"


async def test_oversized_answer(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.text("/api/usage/token", "[" + "0," * 600_000 + "0]", content_type="application/json")
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "new_api"), client)
    assert info.value.kind == ErrorKind.TOO_LARGE


async def test_server_error_carries_the_panel_message(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/usage/token", {"error": {"message": "upstream busy"}}, status=503)
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "new_api"), client)
    assert info.value.kind == ErrorKind.HTTP
    assert (
        info.value.message == f"usage endpoint answered HTTP 503 — upstream busy: {panel.url}/api/usage/token"
    )


async def test_unreachable(client: httpx.AsyncClient) -> None:
    t = UsageTarget("p1", "http://127.0.0.1:9/v1", usage_adapter="new_api", provider_key=KEY)
    with pytest.raises(UsageError) as info:
        await fetch_usage(t, client)
    assert info.value.kind == ErrorKind.NETWORK
    assert info.value.message.startswith("could not reach usage endpoint http://127.0.0.1:9/api/usage/token")


async def test_redirect_to_another_host_is_not_followed(panel_factory, client: httpx.AsyncClient) -> None:
    home, elsewhere = await panel_factory(), await panel_factory()
    elsewhere.json("/api/usage/token", NEW_API)
    home.redirect("/api/usage/token", f"{elsewhere.url}/api/usage/token?stolen=1")
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(home, "new_api"), client)
    assert info.value.kind == ErrorKind.REDIRECT
    expected = f"usage endpoint redirected to another host ({elsewhere.url}), not followed: "
    assert info.value.message == expected + f"{home.url}/api/usage/token"
    assert elsewhere.hits == []


async def test_same_origin_redirect_is_followed(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.redirect("/api/usage/token", "/api/usage/token/")
    panel.json("/api/usage/token/", NEW_API, bearer=KEY)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert snap.remaining == 987655
    assert [h.path for h in panel.hits] == ["/api/usage/token", "/api/usage/token/"]


async def test_unknown_adapter(panel: FakePanel, client: httpx.AsyncClient) -> None:
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, "nope"), client)
    assert info.value.kind == ErrorKind.CONFIG and "nope" in info.value.message


# ------------------------------------------------------------------ rejections

ZEROS = {"total_granted": 0, "total_used": 0, "total_available": 0, "remain_quota": 0,
         "daily_spent": 0, "daily_budget": 0, "remaining_quota": 0}


@pytest.mark.parametrize("adapter", ["new_api", "token_stats", "budget_info", "openai_billing", ""])
@pytest.mark.parametrize("failure", [{"success": False}, {"code": False}, {"code": 401}, {"code": "403"}])
async def test_a_rejection_with_zeroed_numbers_is_a_failed_check(
    panel: FakePanel, client: httpx.AsyncClient, adapter: str, failure: dict
) -> None:
    """Panels fill ``data`` with zeros when they refuse a token: read as a reading, the provider looked
    out of quota and routing passed it by."""
    doc = {**failure, "message": "invalid token", "data": {**ZEROS, "hard_limit_usd": 0}}
    for path in ("/api/usage/token", "/api/token-stats", "/api/token-logs", "/api/backend/users/info",
                 "/dashboard/billing/subscription"):
        panel.json(path, doc)
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, adapter, usage_token=TOKEN), client)
    assert info.value.kind == ErrorKind.REJECTED
    assert "reported a failure: invalid token" in info.value.message


@pytest.mark.parametrize("adapter", ["new_api", ""])
@pytest.mark.parametrize("failure", [{"code": 401, "msg": "invalid token"},
                                     {"success": False, "message": "invalid token"}])
async def test_a_failure_code_without_data_is_a_rejection(
    panel: FakePanel, client: httpx.AsyncClient, adapter: str, failure: dict
) -> None:
    """HTTP 200 with ``code: 401`` is the panel refusing the token, not "no usage endpoint here"."""
    panel.json("/api/usage/token", {**failure, "data": None})
    with pytest.raises(UsageError) as info:
        await fetch_usage(target(panel, adapter), client)
    assert info.value.kind == ErrorKind.REJECTED
    assert info.value.message == f"usage endpoint reported a failure: invalid token: {panel.url}/api/usage/token"


@pytest.mark.parametrize("code", [0, 200, "0", True])
async def test_a_success_code_with_numbers_is_a_reading(
    panel: FakePanel, client: httpx.AsyncClient, code: object
) -> None:
    doc = {"code": code, "message": "ok", "data": {"total_granted": 10, "total_used": 4, "total_available": 6}}
    panel.json("/api/usage/token", doc)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert snap.available == 6


# ------------------------------------------------------------------ units


async def test_a_display_twin_of_one_field_does_not_mix_units(panel: FakePanel, client: httpx.AsyncClient) -> None:
    """Only ``total_available`` has a dollar twin: taking it beside raw quota units made 0.5 of 500,000 left."""
    doc = {"data": {"total_granted": 500000, "total_used": 250000, "total_available": 250000,
                    "total_available_display": "$0.50"}}
    panel.json("/api/usage/token", doc)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert (snap.granted, snap.used, snap.available, snap.unit) == (500000, 250000, 250000, "quota")
    assert snap.to_json()["left_percent"] == 50


async def test_display_twins_of_every_field_are_read_together(panel: FakePanel, client: httpx.AsyncClient) -> None:
    doc = {"data": {"total_granted": 500000, "total_granted_display": "$1.00", "total_used": 250000,
                    "total_used_display": "$0.50", "total_available": 250000, "total_available_display": "$0.50"}}
    panel.json("/api/usage/token", doc)
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert (snap.granted, snap.used, snap.available, snap.unit) == (1.0, 0.5, 0.5, "USD")
    assert snap.to_json()["left_percent"] == 50


async def test_no_subtraction_across_a_percentage(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/usage/token", {"data": {"total_granted": 1000, "total_used": "80%"}})
    snap = await fetch_usage(target(panel, "new_api"), client)
    assert snap.granted == 1000 and snap.available is None and snap.remaining is None
    assert snap.to_json()["left_percent"] is None


async def test_budgets_keep_their_currency(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/backend/users/info", {"data": {"daily_spent": "¥120", "daily_budget": "¥100"}})
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert (snap.daily_spent_usd, snap.daily_budget_usd, snap.budget_unit) == (120, 100, "CNY")
    assert snap.to_json()["exhausted_reason"] == "daily budget spent: ¥120.00 of ¥100.00"


@pytest.mark.parametrize(("doc", "unit"), [
    ({"daily_spent": "¥50", "daily_budget": "¥100", "monthly_spent": 300, "monthly_budget": 1000}, "CNY"),
    ({"daily_spent": 5, "daily_budget": "¥100", "monthly_spent": 300, "monthly_budget": 1000}, "CNY"),
    ({"daily_spent": 5, "daily_budget": 10, "monthly_spent": 300, "monthly_budget": 1000}, "USD"),
])
async def test_a_budget_figure_without_a_currency_is_in_the_panels_one(panel: FakePanel, client: httpx.AsyncClient,
                                                                      doc: dict, unit: str) -> None:
    """A bare figure is in its period's other figure's currency, else in the other periods' (a panel writes
    one currency), else in dollars: nothing is left out for want of a sign."""
    panel.json("/api/backend/users/info", {"data": doc})
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert snap.budget_unit == unit and not snap.notes
    assert (snap.monthly_spent_usd, snap.monthly_budget_usd) == (300, 1000)
    assert snap.daily_budget_usd is not None and snap.daily_spent_usd is not None


async def test_a_budget_spent_in_another_currency_is_not_compared(panel: FakePanel, client: httpx.AsyncClient) -> None:
    doc = {"data": {"daily_spent": "€5", "daily_budget": "¥100", "weekly_spent": "$1", "weekly_budget": "$4"}}
    panel.json("/api/backend/users/info", doc)
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert snap.daily_spent_usd is None and snap.daily_budget_usd is None
    assert (snap.weekly_spent_usd, snap.weekly_budget_usd, snap.budget_unit) == (1, 4, "USD")
    assert snap.to_json()["left_percent"] == 75 and not snap.exhausted
    assert any("daily" in n and "EUR" in n and "CNY" in n for n in snap.notes)


@pytest.mark.parametrize("doc", [{"data": {"daily_spent": "20%", "daily_budget": "$10"}},
                                 {"data": {"daily_spent": "$2", "daily_budget": "85%"}}])
async def test_a_budget_figure_written_as_a_percentage_is_no_amount(panel: FakePanel, client: httpx.AsyncClient,
                                                                    doc: dict) -> None:
    """"20%" spent of "$10" is not $20 of $10 (out of quota, skipped by routing): the period is left out."""
    panel.json("/api/backend/users/info", {"data": {**doc["data"], "weekly_spent": "$1", "weekly_budget": "$4"}})
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert snap.daily_spent_usd is None and snap.daily_budget_usd is None and not snap.exhausted
    assert snap.to_json()["left_percent"] == 75
    assert any(n.startswith("daily:") and "percentage" in n for n in snap.notes)


async def test_the_note_on_a_budget_in_two_currencies_names_each_figure(panel: FakePanel,
                                                                        client: httpx.AsyncClient) -> None:
    panel.json("/api/backend/users/info", {"data": {"daily_spent": "€5", "daily_budget": "¥100"}})
    snap = await fetch_usage(target(panel, "budget_info", usage_token=TOKEN), client)
    assert "daily: spent in EUR, budget in CNY — left out" in snap.notes
