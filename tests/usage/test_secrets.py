"""No error message and no log record ever holds the provider key, the usage token or a
key-in-query URL — including httpx's own "HTTP Request: GET <url>" line."""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest
from aiohttp import web
from usage_fakes import KEY, TOKEN, FakePanel

from api_router.usage import UsageError, UsageRefresher, UsageTarget, fetch_usage, redact

SECRETS = (KEY, TOKEN, KEY.removeprefix("sk-"), "token_key")


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {text!r}"


def echo_everything(panel: FakePanel) -> None:
    """A careless panel: every endpoint refuses the credentials and echoes them back."""
    for path in (
        "/api/token-stats",
        "/api/token-logs",
        "/api/usage/token",
        "/dashboard/billing/subscription",
        "/api/backend/users/info",
    ):
        panel.json(path, {}, bearer="nobody", token_key="nobody")


@pytest.mark.parametrize("adapter", ["", "token_stats", "new_api", "openai_billing", "budget_info"])
async def test_refused_credentials_echoed_by_upstream(
    panel: FakePanel, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, adapter: str
) -> None:
    caplog.set_level(logging.DEBUG)
    echo_everything(panel)
    target = UsageTarget("p1", panel.url + "/v1", usage_adapter=adapter, provider_key=KEY, usage_token=TOKEN)
    with pytest.raises(UsageError) as info:
        await fetch_usage(target, client)
    assert "invalid token" in info.value.message  # the panel's message is kept…
    assert_clean(info.value.message)  # …without the secret it echoed
    assert_clean(repr(info.value))
    assert caplog.records, "httpx request lines should have been captured"
    for record in caplog.records:
        assert_clean(record.getMessage())


@pytest.mark.parametrize("status", [401, 500, 200])
async def test_a_secret_where_the_message_is_shortened_is_masked_whole(
    panel: FakePanel, client: httpx.AsyncClient, status: int
) -> None:
    """The panel's message is shortened to 160 characters: masked after the cut, a key the cut fell
    in would show all of it but its last character."""
    message = "x" * (160 - len(KEY)) + KEY + " is not valid"
    panel.json("/api/usage/token", {"success": False, "message": message}, status=status)
    target = UsageTarget("p1", panel.url + "/v1", usage_adapter="new_api", provider_key=KEY)
    with pytest.raises(UsageError) as info:
        await fetch_usage(target, client)
    assert "[redacted]" in info.value.message
    assert KEY.removeprefix("sk-")[:12] not in info.value.message


async def test_key_in_query_never_logged_on_success(
    panel: FakePanel, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    panel.json("/api/token-stats", {"data": {"token_info": {"remain_quota": 3}}}, token_key=KEY)
    snap = await fetch_usage(
        UsageTarget("p1", panel.url, usage_adapter="token_stats", provider_key=KEY), client
    )
    assert snap.remaining == 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("HTTP Request: GET" in m and "/api/token-stats" in m for m in messages)
    for message in messages:
        assert_clean(message)
    assert_clean(repr(snap.to_json()))


@pytest.mark.parametrize("failure", ["html", "timeout", "missing", "server-error"])
async def test_token_stats_failures_name_the_endpoint_without_query(
    panel: FakePanel, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    caplog.set_level(logging.DEBUG)
    if failure == "html":
        panel.text("/api/token-stats", f"<html>{KEY}</html>")
        panel.text("/api/token-logs", f"<html>{KEY}</html>")
    elif failure == "timeout":
        panel.slow("/api/token-stats", {})
    elif failure == "server-error":
        panel.json("/api/token-stats", {"message": f"boom for {KEY}"}, status=500)
    with pytest.raises(UsageError) as info:
        await fetch_usage(UsageTarget("p1", panel.url, usage_adapter="token_stats", provider_key=KEY), client)
    assert panel.url in info.value.message
    assert_clean(info.value.message)
    for record in caplog.records:
        assert_clean(record.getMessage())


async def test_refresher_error_text_and_logs_are_clean(
    panel: FakePanel, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo_everything(panel)
    seen: list[str | None] = []
    target = UsageTarget("p1", panel.url, usage_adapter="token_stats", provider_key=KEY)

    async def boom(t: UsageTarget, c: httpx.AsyncClient, hint: str | None) -> None:
        raise RuntimeError(f"bug while holding {t.provider_key}")

    for fetch in (fetch_usage, boom):
        refresher = UsageRefresher(
            client, lambda: [target], lambda pid, s, e: seen.append(e), last_activity=lambda: 0, fetch=fetch
        )
        await refresher.refresh_all()
    assert len(seen) == 2 and all(seen)
    for text in seen:
        assert_clean(text or "")
    for record in caplog.records:
        assert_clean(record.getMessage())


PLUS_KEY = "sk-AAAA+secret/key=1234567890"


async def test_a_key_echoed_url_encoded_is_masked(
    panel: FakePanel, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A panel echoing the request's path and query sends the key back percent-encoded
    (``%2B``, ``%2F``, ``%3D``): that form is the key as much as the literal one."""
    caplog.set_level(logging.DEBUG)

    async def echo_path(request: web.Request) -> web.StreamResponse:
        return web.json_response({"success": False, "message": f"bad request {request.path_qs}"}, status=401)

    panel.routes["/api/token-stats"] = echo_path
    target = UsageTarget("p1", panel.url, usage_adapter="token_stats", provider_key=PLUS_KEY)
    with pytest.raises(UsageError) as info:
        await fetch_usage(target, client)
    assert "bad request" in info.value.message
    for form in (quote(PLUS_KEY, safe=""), quote_plus(PLUS_KEY, safe=""), "AAAA", "1234567890"):
        assert form not in info.value.message, info.value.message
        for record in caplog.records:
            assert form not in record.getMessage()


def test_redact_hides_encoded_forms_and_key_carrying_query_values() -> None:
    text = (f"a {quote(PLUS_KEY, safe='')} b {quote_plus(PLUS_KEY, safe='')} "
            f"c /api/token-logs?token_key=sk-someone-else&x=1 d")
    out = redact(text, [PLUS_KEY])
    assert "AAAA" not in out and "someone-else" not in out
    assert "token_key=[redacted]&x=1" in out


@pytest.mark.parametrize("echoed", [quote(PLUS_KEY), PLUS_KEY.replace("/", "%2F"), PLUS_KEY.replace("+", "%2b"),
                                    quote(PLUS_KEY.removeprefix("sk-"))])
def test_redact_hides_a_key_percent_encoded_in_part(echoed: str) -> None:
    """Encoders differ in what they escape (Python's quote() keeps "/", Go's PathEscape escapes only "/")."""
    assert redact(f"invalid token {echoed}, 50% used", [PLUS_KEY]) == "invalid token [redacted], 50% used"
