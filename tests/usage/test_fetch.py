"""Detection across adapters and bases, and shared fetching of providers on one account."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from usage_fakes import KEY, TOKEN, FakePanel

from api_router.usage import (
    DETECTION_ORDER,
    ErrorKind,
    UsageError,
    UsageTarget,
    fetch_usage,
    group_shared,
    share_key,
)
from api_router.usage import fetch as fetch_module

NEW_API = {
    "code": True,
    "data": {"total_granted": 10, "total_used": 4, "total_available": 6, "unlimited_quota": False},
}
TOKEN_STATS = {"data": {"token_info": {"remain_quota": 7}}}


def detect_target(panel: FakePanel, pid: str = "p1", **kw: str) -> UsageTarget:
    fields = {"provider_key": KEY, **kw}
    return UsageTarget(pid, panel.url + "/v1", **fields)


def test_detection_order() -> None:
    assert DETECTION_ORDER == ("budget_info", "token_stats", "new_api", "openai_billing")


async def test_detects_and_reports_the_adapter(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/usage/token", NEW_API, bearer=KEY)
    snap = await fetch_usage(detect_target(panel), client)
    assert (snap.adapter, snap.base_url, snap.detected) == ("new_api", panel.url, True)
    # no usage token: budget_info was skipped, token_stats tried both endpoints first
    assert [h.path for h in panel.hits] == ["/api/token-stats", "/api/token-logs", "/api/usage/token"]


async def test_first_working_adapter_wins(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/token-stats", TOKEN_STATS)
    panel.json("/api/usage/token", NEW_API)
    snap = await fetch_usage(detect_target(panel), client)
    assert snap.adapter == "token_stats" and snap.remaining == 7
    assert panel.count("/api/usage/token") == 0


async def test_hint_is_tried_first(panel: FakePanel, client: httpx.AsyncClient) -> None:
    """The app passes the adapter a previous detection found: one request instead of three."""
    panel.json("/api/usage/token", NEW_API)
    first = await fetch_usage(detect_target(panel), client)
    panel.hits.clear()
    again = await fetch_usage(detect_target(panel), client, adapter_hint=first.adapter)
    assert again.adapter == "new_api" and again.detected
    assert [h.path for h in panel.hits] == ["/api/usage/token"]


async def test_stale_hint_falls_back_to_detection(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/token-stats", TOKEN_STATS)
    snap = await fetch_usage(detect_target(panel), client, adapter_hint="openai_billing")
    assert snap.adapter == "token_stats"
    assert panel.hits[0].path == "/dashboard/billing/subscription"


async def test_budget_info_first_when_a_usage_token_is_set(
    panel: FakePanel, client: httpx.AsyncClient
) -> None:
    panel.json("/api/backend/users/info", {"data": {"daily_spent": 1, "daily_budget": 2}}, bearer=TOKEN)
    panel.json("/api/token-stats", TOKEN_STATS)
    snap = await fetch_usage(detect_target(panel, usage_token=TOKEN), client)
    assert snap.adapter == "budget_info" and panel.count() == 1


async def test_detection_skips_html_pages(panel: FakePanel, client: httpx.AsyncClient) -> None:
    """Panels answer unknown paths with their single-page app: not a failure while detecting."""
    for path in ("/api/token-stats", "/api/token-logs", "/api/usage/token"):
        panel.text(path, "<!doctype html><div id=app></div>")
    panel.json("/dashboard/billing/subscription", {"hard_limit_usd": 20})
    panel.json("/dashboard/billing/usage", {"total_usage": 500})
    snap = await fetch_usage(detect_target(panel), client)
    assert (snap.adapter, snap.remaining) == ("openai_billing", 15)


async def test_nothing_found(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.text("/api/usage/token", "<html></html>")
    with pytest.raises(UsageError) as info:
        await fetch_usage(detect_target(panel), client)
    assert info.value.kind == ErrorKind.NOT_FOUND
    assert info.value.message == f"no usage endpoint found at {panel.url}"


async def test_a_panel_whose_figures_cannot_be_read_is_found_and_says_so(panel: FakePanel,
                                                                        client: httpx.AsyncClient) -> None:
    """A budget panel answering in a currency API Router does not know: the panel is there, and the error
    says what it wrote — not "no usage endpoint found", which sends the user looking for another address."""
    panel.json("/api/backend/users/info", {"daily_spent": "CHF 5", "daily_budget": "CHF 50", "remaining": "₿0.5"},
               bearer="usage-token-1234567")
    with pytest.raises(UsageError) as info:
        await fetch_usage(detect_target(panel, usage_token="usage-token-1234567"), client)
    assert info.value.kind == ErrorKind.UNREADABLE
    assert info.value.message.startswith(f"the usage panel at {panel.url}/api/backend/users/info answered, but its "
                                         "figures are in a form API Router cannot read ("), info.value.message
    assert "'CHF 5'" in info.value.message or "'₿0.5'" in info.value.message, info.value.message


async def test_a_key_in_a_figure_that_cannot_be_read_is_not_shown_in_part(panel: FakePanel,
                                                                          client: httpx.AsyncClient) -> None:
    """The figure is quoted cut short: masked whole first, so a cut inside the key shows none of it."""
    token = "ut-live-" + "0123456789abcdef" * 4
    panel.json("/api/backend/users/info", {"daily_spent": f"1 key {token}"}, bearer=token)
    with pytest.raises(UsageError) as info:
        await fetch_usage(detect_target(panel, usage_token=token), client)
    assert info.value.kind == ErrorKind.UNREADABLE
    assert token[:12] not in info.value.message and token[-12:] not in info.value.message, info.value.message


async def test_nothing_found_suggests_the_panel_host_it_did_not_ask(
    panel: FakePanel, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay's API on ``relay-api.…``: its panel may be on ``relay.…``, which is named to the user but
    never sent the key (it may be anybody's)."""
    monkeypatch.setattr(fetch_module, "candidate_bases", lambda base, override="": (panel.url,))
    with pytest.raises(UsageError) as info:
        await fetch_usage(UsageTarget("p1", "http://relay-api.invalid/v1", provider_key=KEY), client)
    assert info.value.message == (f"no usage endpoint found at {panel.url}; if the provider's panel is at "
                                  "http://relay.invalid, set that as the provider's Usage base URL (Usage settings)")


async def test_a_refused_credential_beats_not_found(panel: FakePanel, client: httpx.AsyncClient) -> None:
    panel.json("/api/usage/token", NEW_API, bearer="sk-someone-else")
    with pytest.raises(UsageError) as info:
        await fetch_usage(detect_target(panel), client)
    assert info.value.kind == ErrorKind.UNAUTHORIZED
    assert info.value.message.startswith("usage endpoint refused the credentials (401)")


async def test_second_candidate_base_is_reported(
    panel_factory, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``foo-api.host`` then ``foo.host``: stand-ins on two ports, since both must be 127.0.0.1."""
    api_host, panel_host = await panel_factory(), await panel_factory()
    panel_host.json("/api/usage/token", NEW_API, bearer=KEY)
    monkeypatch.setattr(
        fetch_module, "candidate_bases", lambda base, override="": (api_host.url, panel_host.url)
    )
    snap = await fetch_usage(
        UsageTarget("p1", api_host.url + "/v1", usage_adapter="new_api", provider_key=KEY), client
    )
    assert snap.base_url == panel_host.url
    assert api_host.count("/api/usage/token") == 1


async def test_all_bases_404(
    panel_factory, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await panel_factory(), await panel_factory()
    monkeypatch.setattr(fetch_module, "candidate_bases", lambda base, override="": (a.url, b.url))
    with pytest.raises(UsageError) as info:
        await fetch_usage(UsageTarget("p1", a.url, usage_adapter="new_api", provider_key=KEY), client)
    assert info.value.message == f"no usage endpoint found at {a.url}, {b.url}"


async def test_an_endpoint_that_hangs_does_not_end_detection(panel: FakePanel, client: httpx.AsyncClient) -> None:
    """token-stats hangs past the client's limit; the panel is new-api and answers its own endpoint: detection
    goes on to it (every refresh stopped at the first hang, and the provider never had a reading)."""
    panel.slow("/api/token-stats", TOKEN_STATS)
    panel.json("/api/usage/token", NEW_API, bearer=KEY)
    snap = await fetch_usage(detect_target(panel), client)
    assert snap.adapter == "new_api" and snap.detected and snap.available == 6
    assert panel.count("/api/token-stats") == 1


@pytest.fixture
def tried(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The panel paths asked, in order (whether or not anything answered)."""
    asked: list[str] = []
    real = fetch_module.UsageHttp.get_json

    async def counted(self, base, path, **kw):
        asked.append(path)
        return await real(self, base, path, **kw)

    monkeypatch.setattr(fetch_module.UsageHttp, "get_json", counted)
    return asked


async def test_an_address_that_takes_no_connection_is_not_asked_for_every_adapter(tried: list[str]) -> None:
    """A host that never completes the connection (its queue full here: a listener that never accepts) is
    unreachable, not an endpoint that hangs: the next adapters do not wait on it again."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        waiting = []
        for _ in range(4):  # fill the queue: later connections get no answer
            queued = socket.socket()
            queued.setblocking(False)
            queued.connect_ex(("127.0.0.1", port))
            waiting.append(queued)
        try:
            short = httpx.AsyncClient(timeout=httpx.Timeout(0.5))
            async with short:
                with pytest.raises(UsageError) as info:
                    await fetch_usage(UsageTarget("p1", f"http://127.0.0.1:{port}", provider_key=KEY), short)
        finally:
            for queued in waiting:
                queued.close()
    assert info.value.kind == ErrorKind.NETWORK and "no connection within" in info.value.message, info.value.message
    assert tried == ["/api/token-stats"], tried


async def test_a_base_that_cannot_be_reached_is_not_asked_for_every_adapter(
    client: httpx.AsyncClient, tried: list[str]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # nothing listens there
    with pytest.raises(UsageError) as info:
        await fetch_usage(UsageTarget("p1", url, provider_key=KEY), client)
    assert info.value.kind == ErrorKind.NETWORK and tried == ["/api/token-stats"], (info.value.message, tried)


async def test_no_credentials(panel: FakePanel, client: httpx.AsyncClient) -> None:
    with pytest.raises(UsageError) as info:
        await fetch_usage(UsageTarget("p1", panel.url, provider_key=""), client)
    assert info.value.kind == ErrorKind.CONFIG
    assert panel.hits == []


async def test_bad_base_url(client: httpx.AsyncClient) -> None:
    with pytest.raises(UsageError) as info:
        await fetch_usage(UsageTarget("p1", "not a url", provider_key=KEY), client)
    assert info.value.kind == ErrorKind.CONFIG


# ------------------------------------------------------------------ sharing


def test_share_key_rules() -> None:
    a = UsageTarget("a", "https://r-api.example.com/v1", provider_key="k1")
    b = UsageTarget("b", "https://r-api.example.com/openai", provider_key="k1")
    c = UsageTarget("c", "https://r-api.example.com/v1", provider_key="k2")
    d = UsageTarget("d", "https://r-api.example.com/v1", usage_adapter="new_api", provider_key="k1")
    e = UsageTarget(
        "e", "https://x.example.com/v1", usage_base_url="https://r.example.com", provider_key="k1"
    )
    assert share_key(a) == share_key(b)  # same origin, same key
    assert share_key(a) != share_key(c)  # other key
    assert share_key(a) != share_key(d)  # other adapter
    assert share_key(a) != share_key(e)  # other bases
    # budget_info only sends the usage token: different API keys still share
    f = UsageTarget(
        "f", "https://r.example.com/v1", usage_adapter="budget_info", provider_key="k1", usage_token="t"
    )
    g = UsageTarget(
        "g", "https://r.example.com/v2", usage_adapter="budget_info", provider_key="k2", usage_token="t"
    )
    assert share_key(f) == share_key(g)
    assert "k1" not in repr(share_key(a)) and share_key(f).credential_digest != "t"
    assert group_shared([a, c, b, d]) == [(a, b), (c,), (d,)]


async def test_a_check_whose_slow_answers_add_up_ends_at_its_total_limit(
    panel: FakePanel, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every address detection tries answers, slowly but within the client's limits: one check of one
    provider still ends at its total limit (30 s; 0.6 s here), with what the tries found so far."""
    monkeypatch.setattr(fetch_module, "TOTAL_SECONDS", 0.6)
    paths = ["/api/token-stats", "/api/token-logs", "/api/usage/token", "/dashboard/billing/subscription",
             "/dashboard/billing/usage", "/api/backend/users/info", "/v1/dashboard/billing/subscription",
             "/v1/dashboard/billing/usage"]
    for path in paths:
        panel.slow(path, {}, delay_s=0.25)
    started = asyncio.get_running_loop().time()
    with pytest.raises(UsageError) as info:
        await fetch_usage(detect_target(panel, usage_token=TOKEN), client)
    took = asyncio.get_running_loop().time() - started
    assert info.value.kind == ErrorKind.TIMEOUT, info.value.message
    assert info.value.message.startswith("the usage check took longer than 0.6 s in all (so far: ")
    assert 0.55 <= took < 1.5, took
    assert len(panel.hits) >= 2  # it got through some of the tries first
