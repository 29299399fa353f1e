"""Auth, the Host check, body limits, JSON errors and the small endpoints (contract §4)."""

import asyncio
import json

import pytest
from aiohttp import web

from api_router import __version__
from tests.support import fake_provider as fp
from tests.support.harness import simple_body


async def test_health_needs_no_token(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.request("GET", "/health", token=False)
    assert reply.status == 200
    assert reply.json == {"ok": True, "version": __version__}


async def test_missing_and_wrong_token_are_refused_with_json(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for path, method in (("/v1/responses", "POST"), ("/responses", "POST"), ("/status", "GET"), ("/v1/models", "GET"),
                         ("/api/get_status", "POST")):
        missing = await gw.request(method, path, body=simple_body(), token=False)
        wrong = await gw.request(method, path, body=simple_body(), token="ao_" + "f" * 32)
        # The right token under another scheme: a Bearer token is asked for, and nothing else is read as one.
        other_scheme = await gw.request(method, path, body=simple_body(), token=False,
                                        headers={"Authorization": f"Basic {gw.token}"})
        for reply in (missing, wrong, other_scheme):
            assert reply.status == 401, (path, reply.body)
            assert reply.json["error"]["type"] == "unauthorized"
            assert reply.json["error"]["message"]
            assert reply.headers["WWW-Authenticate"] == 'Bearer realm="API Router"'  # RFC 9110: a 401 says how
    assert p1.calls == 0


async def test_right_token_is_not_forwarded_and_provider_key_is(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-provider-secret-1"})
    reply = await gw.responses()
    assert reply.status == 200
    sent = p1.requests[0].headers
    assert sent["Authorization"] == "Bearer sk-provider-secret-1"
    assert gw.token not in json.dumps(sent)
    assert gw.token.encode() not in p1.requests[0].raw


async def test_auth_is_checked_before_the_body_is_read(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    # Announce 100 MB and send none of it: an answer can only come before the body is read.
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 104857600\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 401")
    writer.close()


async def test_foreign_host_header_is_refused(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    # A loopback name followed by anything but a port is not a loopback name.
    for host in ("evil.example.com", "evil.example.com:4000", "192.168.1.20:4000", "127.0.0.1:abc",
                 "127.0.0.1:evil.com", "localhost:42301@evil.com", "127.0.0.1:99999", "[::1]evil.com", "[::1]:x",
                 "localhost:80/evil.com", "127.0.0.1.evil.com", "127.0.0.1,evil.com"):
        reply = await gw.request("POST", "/v1/responses", body=simple_body(), headers={"Host": host})
        assert reply.status == 403, host
        assert reply.json["error"]["type"] == "forbidden"
    for host in ("localhost:4000", "127.0.0.1", "[::1]:4000", "LOCALHOST", "::1", "[::1]", "127.0.0.1:65535"):
        reply = await gw.request("GET", "/health", headers={"Host": host})
        assert reply.status == 200, host
    assert p1.calls == 0


async def test_invalid_json_and_non_object_bodies_are_400(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    bad = await gw.request("POST", "/v1/responses", raw=b"{not json")
    assert bad.status == 400 and bad.json["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in bad.json["error"]["message"]
    arr = await gw.request("POST", "/v1/responses", raw=b"[1, 2]")
    assert arr.status == 400 and "JSON object" in arr.json["error"]["message"]
    assert p1.calls == 0
    log = gw.services.store.request_log()
    assert [r["status"] for r in log] == [400, 400]


async def test_body_limit_is_configurable_and_20_mb_passes(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"max_body_mb": 21})
    big = simple_body(filler="x" * (20 * 1024 * 1024 - 1000))
    ok = await gw.responses(big)
    assert ok.status == 200
    assert p1.requests[0].raw == json.dumps({**big, "stream": False}).encode()
    too_big = await gw.responses(simple_body(filler="x" * (22 * 1024 * 1024)))
    assert too_big.status == 413
    assert too_big.json["error"]["type"] == "request_too_large"
    assert "max_body_mb" in too_big.json["error"]["message"]
    assert p1.calls == 1


async def test_default_body_limit_is_256_mb(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    assert gw.services.config.current.listen.max_body_bytes == 256 * 1024 * 1024


async def test_unknown_paths_and_websocket_upgrades_get_json_errors(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    missing = await gw.request("GET", "/v1/nothing")
    assert missing.status == 404 and missing.json["error"]["type"] == "not_found"
    upgrade = await gw.request("GET", "/v1/responses", headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    assert upgrade.status == 426 and upgrade.json["error"]["message"]
    wrong_method = await gw.request("PUT", "/v1/responses", body={})
    assert wrong_method.status == 405 and "error" in wrong_method.json


async def test_status_reports_contract_fields(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p1"})
    await gw.responses()
    status = (await gw.request("GET", "/status")).json
    for key in ("listen", "preferred_provider", "manual_override", "active_provider", "active_reason", "providers",
                "metrics", "recent_events", "quota", "ledgers", "last_activity_unix_ms"):
        assert key in status, key
    assert status["active_provider"] == "p1"
    assert status["providers"]["p1"]["status"] == "healthy"
    assert status["providers"]["p2"]["status"] == "unknown"
    assert status["metrics"]["p1"] == {"ok_requests": 1, "error_requests": 0, "total_tokens": 15}
    for field in ("consecutive_failures", "cooldown_until_unix_ms", "last_error", "last_ok_at_unix_ms",
                  "last_fail_at_unix_ms"):
        assert field in status["providers"]["p1"]
    event = status["recent_events"][0]
    assert set(event) >= {"unix_ms", "level", "provider", "kind", "message"}
    assert "sk-test-p1" not in json.dumps(status)


async def test_models_follow_routing_with_failover(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    first = await gw.request("GET", "/v1/models")
    assert first.status == 200 and first.json["data"][0]["id"] == "p1-model-a"
    assert p1.model_requests[0].headers["Authorization"] == "Bearer sk-test-p1-0123456789"
    p1.models_behaviour = fp.status(503, "down")
    second = await gw.request("GET", "/v1/models")
    assert second.status == 200 and second.json["data"][0]["id"] == "p2-model-a"
    p2.models_behaviour = fp.status(500, "also down")
    both = await gw.request("GET", "/v1/models")
    assert both.status == 502
    assert both.json["error"]["type"] == "gateway_error"
    assert "P1" in both.json["error"]["message"] and "P2" in both.json["error"]["message"]  # display names
    assert [(p["provider"], p["name"], p["status"]) for p in both.json["error"]["providers"]] == \
        [("p1", "P1", 503), ("p2", "P2", 500)]
    # The same hints as the proxy's 502: the lock, and /v1 for a 404 from a base URL without a path.
    await gw.api("upsert_provider", provider="p1", base_url=p1.base_url.removesuffix("/v1"))
    await gw.api("set_manual_override", provider="p1")
    locked = (await gw.request("GET", "/v1/models")).json["error"]["message"]
    assert locked.startswith("routing is locked to P1, which returned no model list: HTTP 404")
    assert f"{p1.base_url.removesuffix('/v1')}/v1" in locked and "Unlock" in locked


async def test_a_models_502_names_the_providers_not_asked_as_a_requests_502_does(fakes, gateway):
    """p1 has no model list, p2 cools down after a 429, p3 is switched off: the 502 of GET /v1/models
    names p2 as skipped (and why) and p3 as disabled, in its message and in error.providers."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3})
    await gw.api("set_provider_disabled", provider="p3", disabled=True)
    gw.services.router.record_failure(gw.services.config.current, "p2", "HTTP 429: rate limited", retry_after=60)
    p1.models_behaviour = fp.status(503, "upstream overloaded")
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 502
    error = reply.json["error"]
    message = error["message"]
    assert message.startswith("no provider returned a model list — P1: HTTP 503"), message
    assert "Skipped: P2 (cooling down" in message and "HTTP 429: rate limited" in message, message
    assert message.endswith("Disabled (switched off): P3 — enable one in API Router to let it serve"), message
    assert [(p["provider"], "skipped" in p) for p in error["providers"]] == [("p1", False), ("p2", True), ("p3", True)]
    assert p2.model_requests == [] and p3.model_requests == []


@pytest.mark.parametrize("change", ["swap", "rename"])
async def test_models_asked_while_providers_are_swapped_or_renamed_send_each_key_to_its_own_address(
        fakes, gateway, change):
    """p1's model list fails slowly; meanwhile ids are swapped (or p2 renamed): p2's address is asked next
    with p2's own key — never the key now filed under the id p2 had — and the answer names it as it is
    called now."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": "sk-key-of-p1-0123456789", "p2": "sk-key-of-p2-0123456789"})
    asked = asyncio.Event()

    async def slow_failure(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        asked.set()
        await asyncio.sleep(0.5)
        return web.json_response({"error": {"message": "no list"}}, status=500)

    p1.models_behaviour = slow_failure
    pending = asyncio.ensure_future(gw.request("GET", "/v1/models"))
    await asyncio.wait_for(asked.wait(), 5)
    if change == "swap":
        for old, new in (("p1", "t"), ("p2", "p1"), ("t", "p2")):
            await gw.api("rename_provider", provider=old, new_id=new)
    else:
        await gw.api("rename_provider", provider="p2", new_id="relay")
    reply = await asyncio.wait_for(pending, 10)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == ("p1" if change == "swap" else "relay")
    assert [r.headers["Authorization"] for r in p2.model_requests] == ["Bearer sk-key-of-p2-0123456789"]


async def test_a_200_model_list_that_is_an_error_fails_over(fakes, gateway):
    """A relay answers /models 200 with an error object (or JSON without a list): no model list — the next
    provider's is the answer, and with every provider so, a 502 naming each one; a probe fails too."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})

    def answering(body: dict) -> fp.Behaviour:
        async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
            return web.json_response(body)
        return run

    p1.models_behaviour = answering({"error": {"message": "boom", "type": "server_error"}})
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2" and reply.json["data"]
    p2.models_behaviour = answering({"object": "list"})
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 502, reply.body[:300]
    message = reply.json["error"]["message"]
    assert "P1: answered with an error instead of a model list" in message and "boom" in message, message
    assert "P2: answered JSON that is not a model list" in message, message
    probe = await gw.api("probe_provider", provider="p1")
    assert not probe["ok"] and "boom" in probe["error"]
    # Codex's own shape of a model list is one too.
    p2.models_behaviour = answering({"models": [{"slug": "gpt-5.5"}]})
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 200 and reply.json == {"models": [{"slug": "gpt-5.5"}]}
    assert (await gw.api("probe_provider", provider="p2"))["models"] == ["gpt-5.5"]


async def test_no_provider_configured_is_a_clear_502(gateway):
    gw = await gateway({})
    for reply in (await gw.responses(), await gw.request("GET", "/v1/models")):
        assert reply.status == 502
        assert reply.json["error"]["message"].startswith("no provider is configured: add one")


async def test_every_provider_switched_off_is_a_502_naming_each_and_why(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("upsert_provider", provider="p1", display_name="Relay One", disabled=True)
    await gw.api("upsert_provider", provider="p2", display_name="Relay Two", disabled=True)
    for reply in (await gw.responses(), await gw.request("GET", "/v1/models")):
        assert reply.status == 502
        error = reply.json["error"]
        assert error["message"] == ("no provider can be asked: Relay One (disabled), Relay Two (disabled); "
                                    "enable one (with a base URL) in API Router")
        assert [(p["provider"], p["skipped"]) for p in error["providers"]] == [("p1", "disabled"), ("p2", "disabled")]
    assert p1.calls == p2.calls == 0


async def test_a_request_without_host_is_let_through(fakes, gateway):
    """README: a request without `Host` (HTTP/1.0) is let through."""
    from urllib.parse import urlsplit

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    url = urlsplit(gw.base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(b"GET /health HTTP/1.0\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")), answer[:200]
