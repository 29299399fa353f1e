"""Security: DNS rebinding, cross-origin control calls, constant-time tokens, no secret anywhere it
should not be, 0600 secrets, explicit opt-in for non-loopback binds, bodies never logged."""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
import stat

import pytest
from aiohttp import web
from multidict import CIMultiDict

from api_router.logfile import setup_logging
from api_router.status import build_status
from tests.support import fake_provider as fp
from tests.support.harness import simple_body
from tests.support.processes import TOKEN, setup_user_data, spawn, wait_health

PROVIDER_KEY = "sk-live-LEAKCHECK-0123456789abcdef"
USAGE_TOKEN = "ut-LEAKCHECK-usage-fedcba987654"
BODY_MARKER = "private-prompt-text-7f3a9c"


def echoing_401() -> fp.Behaviour:
    """A careless relay that echoes the key it was sent, in full, in its error message."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        sent = request.headers.get("Authorization", "")
        return web.json_response({"error": {"message": f"Incorrect API key provided: {sent}"}}, status=401)
    return run


async def test_dns_rebinding_host_is_refused_everywhere(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for method, path in (("GET", "/"), ("GET", "/health"), ("GET", "/status"), ("POST", "/v1/responses"),
                         ("POST", "/api/get_gateway_token")):
        reply = await gw.request(method, path, body={}, headers={"Host": "attacker.example:4000"})
        assert reply.status == 403, path
        assert gw.token not in reply.body.decode()


def test_a_gateway_open_on_every_address_is_reached_by_any_of_them_but_never_by_a_name():
    """allow_remote with host 0.0.0.0 (or ::): a client on the network addresses the machine by an IP
    address of its own (refused before, which left the setting unusable); a name is still refused — that
    is what a DNS-rebinding page sends."""
    from api_router.gateway.middleware import host_allowed

    for listen in ("0.0.0.0", "::"):
        for host in ("192.168.1.5:4000", "10.0.0.7", "[fe80::1]:4000", "[2001:db8::5]", "127.0.0.1:4000"):
            assert host_allowed(host, listen), (host, listen)
        for host in ("attacker.example:4000", "my-laptop.local:4000", "192.168.1.5:99999", "192.168.1.5.evil.example"):
            assert not host_allowed(host, listen), (host, listen)
    assert not host_allowed("192.168.1.5:4000", "127.0.0.1")  # loopback only: no other address is us
    assert host_allowed("192.168.1.5:4000", "192.168.1.5") and not host_allowed("10.0.0.7", "192.168.1.5")


async def test_foreign_origin_cannot_use_the_control_api(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for origin in ("https://evil.example", "http://localhost:9999", "null"):
        reply = await gw.request("POST", "/api/get_gateway_token", body={}, headers={"Origin": origin})
        assert reply.status == 403 and gw.token not in reply.body.decode(), origin
    own = gw.base
    for origins in ([own, "https://evil.example"], ["https://evil.example", own]):  # two: no browser sends it
        headers = CIMultiDict([*gw.auth(None).items(), *(("Origin", o) for o in origins)])
        async with gw.client.post(gw.base + "/api/get_gateway_token", json={}, headers=headers) as resp:
            assert resp.status == 403 and gw.token not in await resp.text(), origins


async def test_a_wrong_token_is_told_where_the_right_one_is(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for method, path in (("POST", "/v1/responses"), ("POST", "/api/get_status"), ("GET", "/status")):
        reply = await gw.request(method, path, body={} if method == "POST" else None, token="ao_" + "e" * 32)
        assert "error" in reply.json, (path, reply.status, reply.body)
        error = reply.json["error"]
        message = error["message"] if isinstance(error, dict) else error  # the control API's error is a string
        assert reply.status == 401 and message.startswith("missing or wrong gateway token"), (path, reply.body)
        assert "dashboard" in message and "Connect Codex" in message and "auth.json" in message, message


async def test_tokens_are_compared_in_constant_time(fakes, gateway, monkeypatch):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    await gw.request("GET", "/status", token="ao_" + "1" * 32)
    assert calls and calls[-1][1] == gw.token.encode()


async def test_secrets_file_is_private(tmp_path):
    from api_router.secrets import SecretsFile

    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    sf.edit(lambda s: s.with_changes(provider_keys={"p": PROVIDER_KEY}))
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.json").st_mode) == 0o600


async def test_no_secret_leaks_into_logs_events_status_request_log_errors_or_crashes(fakes, gateway, monkeypatch):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": PROVIDER_KEY, "p2": PROVIDER_KEY + "-2"})
    listener = setup_logging(gw.services, console=False)
    try:
        await gw.api("set_usage_token", provider="p1", token=USAGE_TOKEN)
        p1.always(echoing_401())
        p2.always(echoing_401())
        p1.usage, p1.usage_status = {"message": f"bad token {USAGE_TOKEN} {PROVIDER_KEY}"}, 401
        replies = [await gw.responses({**simple_body(BODY_MARKER)}, stream=s) for s in (False, True)]
        replies.append(await gw.request("GET", "/v1/models"))
        await gw.api("refresh_usage", provider="p1")
        probe = await gw.api("probe_provider", provider="p1")

        def crash(rt):
            raise RuntimeError(f"boom with {PROVIDER_KEY} and {gw.token}")

        monkeypatch.setattr("api_router.gateway.routes.build_status", crash)
        replies.append(await gw.request("GET", "/status"))
        monkeypatch.undo()
        gw.services.store.flush()
    finally:
        listener.stop()

    assert replies[0].status == 502 and replies[-1].status == 500
    everything = {
        "client replies": "\n".join(r.body.decode("utf-8", "replace") for r in replies),
        "probe": json.dumps(probe),
        "log file": (gw.services.paths.data / "api-router.log").read_text(),
        "events": json.dumps((await gw.api("list_events", limit=5000))["events"]),
        "status": json.dumps(build_status(gw.services)),
        "config": json.dumps(await gw.api("get_config")),
        "store": "\n".join(sqlite3.connect(gw.services.store.path).iterdump()),
        "request log": json.dumps([await gw.api("get_request", id=r["id"])
                                   for r in (await gw.api("list_requests"))["requests"]]),
    }
    assert "boom with" in everything["log file"]  # the crash was logged, with a traceback...
    assert "Traceback" in everything["log file"]
    for where, text in everything.items():
        for secret in (PROVIDER_KEY, USAGE_TOKEN, gw.token):
            assert secret not in text, f"a secret leaked into the {where}"
    for where in ("log file", "events", "status", "store", "request log"):
        assert BODY_MARKER not in everything[where], f"request body text was written to the {where}"
    assert any("sk-l…cdef" in e["message"] for e in json.loads(everything["events"]))  # shown masked instead


def test_process_output_has_no_secrets(tmp_path):
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    (ud / "secrets.json").write_text(json.dumps({"gateway_token": TOKEN, "providers": {"p1": PROVIDER_KEY}}))
    port = fp.free_port()
    proc = spawn(ud, "--port", str(port))
    try:
        wait_health(port, proc)
        import urllib.request

        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/responses", data=json.dumps(simple_body(BODY_MARKER)).encode(),
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 502
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert PROVIDER_KEY not in out + err and BODY_MARKER not in out + err
    # the banner shows the gateway token on purpose (the user needs it); stderr never does
    assert TOKEN in out and TOKEN not in err


def test_non_loopback_bind_needs_opt_in_and_warns(tmp_path):
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    port = fp.free_port()
    refused = spawn(ud, "--host", "0.0.0.0", "--port", str(port))
    _, err = refused.communicate(timeout=15)
    assert refused.returncode == 1 and "allow_remote" in err
    text = (ud / "config.toml").read_text().replace("[listen]\n", "[listen]\nallow_remote = true\n")
    (ud / "config.toml").write_text(text)
    allowed = spawn(ud, "--host", "0.0.0.0", "--port", str(port))
    try:
        wait_health(port, allowed)
    finally:
        allowed.terminate()
        _, err = allowed.communicate(timeout=15)
    assert "non-loopback" in err
    assert allowed.returncode == 0


def test_any_loopback_address_needs_no_opt_in(tmp_path):
    """127.0.0.0/8 is loopback, not only 127.0.0.1: no other machine reaches 127.0.0.2, so neither
    allow_remote nor a warning that other machines can reach the gateway."""
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    port = fp.free_port()
    proc = spawn(ud, "--host", "127.0.0.2", "--port", str(port))
    try:
        wait_health(port, proc, host="127.0.0.2")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "non-loopback" not in err and "allow_remote" not in err
    assert f"http://127.0.0.2:{port}/v1" in out


async def test_gateway_token_never_reaches_any_upstream(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.status(503))
    await gw.responses(stream=True)
    await gw.request("GET", "/v1/models")
    await gw.api("probe_provider", provider="p2")
    p1.usage = {"success": True, "data": {"total_available": 1}}
    await gw.api("refresh_usage")
    recorded = [*p1.requests, *p2.requests, *p1.model_requests, *p2.model_requests, *p1.usage_requests]
    assert recorded
    for r in recorded:
        assert gw.token not in json.dumps(r.headers) and gw.token.encode() not in r.raw


# --- keys of every printable shape, echoed every way a relay echoes them ------------------------------

def echoing(status: int, *, prefix: str = "", sep: str = "") -> fp.Behaviour:
    """A relay whose error message repeats the key it was sent (after ``prefix``), JSON-encoded the usual
    way — or, with ``sep="go"``, as Go's encoder writes "&", "<" and ">"."""
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        text = json.dumps({"error": {"message": f"{prefix}bad key {key}", "type": "invalid_request_error"}})
        if sep == "go":
            text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
        return web.Response(status=status, text=text, content_type="application/json")
    return run


def everything_shown(gw, *replies) -> str:
    gw.services.store.flush()
    return json.dumps([[r.body.decode() for r in replies], gw.services.store.request_log(),
                       [e.message for e in gw.services.store.recent_events()],
                       gw.services.router.health_json(gw.services.config.current)], default=str)


@pytest.mark.parametrize("pad", [126, 140, 150])
async def test_a_usage_panel_quoting_the_gateway_token_or_another_key_where_its_message_is_cut_shows_none_of_it(
        fakes, gateway, pad):
    """The panel's message is cut at 160 characters: masked before the cut, not after it, or the part of
    a secret before the cut would no longer be recognised and would show in clear."""
    other_key, password = "sk-other-PROVIDERkey-0123456789abcd", "UrlPassw0rd-of-p2-0123456789"
    p1, p2 = await fakes("p1", "p2")
    p2_url = p2.base_url.replace("http://", f"http://relay:{password}@")
    gw = await gateway({"p1": p1, "p2": p2_url}, keys={"p1": PROVIDER_KEY, "p2": other_key})
    await gw.api("upsert_provider", provider="p1", usage_adapter="new_api", usage_base_url=p1.base_url[:-3])
    for secrets in ((gw.token, other_key), (password, other_key)):
        p1.usage = {"success": False, "message": f"{'x' * pad} {' '.join(secrets)} tail"}
        error = (await gw.api("refresh_usage", provider="p1"))["quota"]["p1"]["error"]
        assert error and "xxxx" in error
    shown = json.dumps([error, everything_shown(gw), await gw.api("get_usage"), await gw.api("get_status")])
    for secret in (gw.token, other_key, password):
        assert secret[:12] not in shown and secret[-12:] not in shown


async def test_a_key_pasted_into_a_display_name_or_model_map_is_not_said_back(fakes, gateway):
    """Every control answer, /status and the export mask it; the calls that hand out the gateway token
    by design still do."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": PROVIDER_KEY})
    await gw.api("upsert_provider", provider="p1", display_name=f"Mine {PROVIDER_KEY}",
                 model_map={"gpt-5": PROVIDER_KEY})
    assert (await gw.responses()).status == 200
    gw.services.store.flush()
    answers = [await gw.request("GET", "/status"), await gw.request("GET", "/api/export_requests?format=csv")]
    shown = [r.body.decode() for r in answers] + [json.dumps(await gw.api(m), ensure_ascii=False) for m in (
        "get_status", "get_config", "list_requests", "list_events", "export_requests")]
    assert all(r.status == 200 for r in answers)
    assert all(PROVIDER_KEY not in text for text in shown)
    assert all("Mine sk-l…cdef" in shown[i] for i in (0, 1, 2, 3))  # the name, masked, in place of the key
    assert (await gw.api("get_gateway_token"))["token"] == gw.token  # handed out on purpose, as before
    assert gw.token in json.dumps(await gw.api("get_codex_setup"))


async def test_a_key_with_a_colon_cut_by_the_300_character_limit_is_left_out_whole(fakes, gateway):
    """iFlytek-style "APIKey:APISecret": where the cut falls inside it, all of it goes, not the part
    before the colon."""
    key = "AKID7f3a9c2e41b0d5:SECRETb7e19c0f2d4a6e8"
    (p1,) = await fakes("p1")
    p1.always(echoing(401, prefix="x " * 136))  # the key runs from the 281st character: the cut is after its colon
    gw = await gateway({"p1": p1}, keys={"p1": key})
    reply = await gw.responses()
    assert reply.status == 502 and "x x" in reply.body.decode()
    shown = everything_shown(gw, reply)
    assert "AKID" not in shown and "SECRET" not in shown


@pytest.mark.parametrize(("key", "sep"), [('sk-live-abc"def\\ghi0123456789abcdef', ""),
                                          ('sk"A0123456789abcdefghi\\', ""),  # in what the mask shows: escaped too
                                          ("sk-live-abc&def<ghi>0123456789abcdef", "go"),
                                          ("sk-live-abc/def0123456789abcdef", "")])
async def test_a_key_an_error_body_writes_json_escaped_is_masked(fakes, gateway, key, sep):
    """A quote or backslash escaped by JSON (our own errors are JSON-encoded before masking), "&<>"
    as Go writes them, "/" as PHP does: a client's JSON parser would turn each back into the key."""
    p1, p2 = await fakes("p1", "p2")
    p1.always(echoing(400, sep=sep))  # passed through as it came
    p2.always(echoing(401, sep=sep))  # quoted in the gateway's own 502
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": key, "p2": key})
    passed = await gw.responses()
    await gw.api("set_manual_override", provider="p2")
    own = await gw.responses()
    assert (passed.status, own.status) == (400, 502)
    assert {r.headers.get("Authorization") for r in (*p1.requests, *p2.requests)} == {f"Bearer {key}"}
    for reply in (passed, own):
        assert key not in json.dumps(reply.json), reply.body
    # Refused in-band, in a stream answering a JSON request: the gateway writes that refusal as JSON itself.
    await gw.api("set_manual_override", provider="p1")
    p1.always(fp.in_band_failure("context_length_exceeded", f"too long for key {key}"))
    refused = await gw.responses()
    assert refused.status == 400 and key not in json.dumps(refused.json), refused.body
    assert key[:12] not in everything_shown(gw, passed, own, refused)


async def test_a_probe_masks_a_key_a_relay_echoes_in_its_model_list(fakes, gateway):
    (p1,) = await fakes("p1")

    async def listing(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [{"id": "gpt-x"}, {"id": f"your-key-is-{PROVIDER_KEY}"}]})

    p1.models_behaviour = listing
    gw = await gateway({"p1": p1}, keys={"p1": PROVIDER_KEY})
    probe = await gw.api("probe_provider", provider="p1")
    assert probe["ok"] and probe["models"][0] == "gpt-x" and PROVIDER_KEY not in json.dumps(probe)


@pytest.mark.parametrize("status", ["completed", "in_progress", None])
@pytest.mark.parametrize("as_events", [False, True])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_response_that_carries_an_error_whatever_its_status_is_a_failure_and_masked(
        fakes, gateway, status, as_events, stream):
    """A relay answers 200 with a response object that says "completed" (or anything else) yet carries
    an error echoing the key, as JSON or in a ``response.completed`` event: no answer — the next provider
    serves, and the key shows nowhere."""
    p1, p2 = await fakes("p1", "p2")
    lying = {"id": "resp_x", "object": "response", "model": "gpt-test", "output": [],
             "error": {"code": "invalid_api_key", "message": f"Incorrect API key provided: {PROVIDER_KEY}"}}
    if status is not None:
        lying["status"] = status

    async def json_answer(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response(lying)

    p1.always(fp.raw_stream([fp.sse_event({"type": "response.completed", "response": lying})]) if as_events
              else json_answer)
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": PROVIDER_KEY})
    reply = await gw.responses(stream=stream)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.body[:300]
    assert PROVIDER_KEY not in everything_shown(gw, reply)
    row = gw.services.store.request_log()[0]
    assert [(a["provider"], a["outcome"]) for a in row["attempts"]] == [("p1", "provider_failure"), ("p2", "ok")]


async def test_a_completed_response_carrying_the_requests_own_error_reaches_a_stream_as_response_failed(
        fakes, gateway):
    """A 200 JSON answer that says "completed" but carries context_length_exceeded (the request's own
    fault: no failover): a stream client is told response.failed — not response.completed, which Codex
    would take for a finished answer."""
    p1, p2 = await fakes("p1", "p2")

    async def completed_with_error(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response({**fp.response_object("", provider=fake.name), "status": "completed", "output": [],
                                  "error": {"code": "context_length_exceeded", "type": "invalid_request_error",
                                            "message": "Your input exceeds the context window of this model."}})

    p1.always(completed_with_error)
    gw = await gateway({"p1": p1, "p2": p2})
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.failed", reply.event_types
    assert reply.events[-1]["response"]["error"]["code"] == "context_length_exceeded"
    assert p2.calls == 0


@pytest.mark.parametrize("as_events", [False, True])
async def test_checks_and_tests_take_a_completed_response_carrying_an_error_for_no_answer(
        fakes, gateway, as_events):
    """A relay answers every request 200 "completed" with a server error inside: a provider test fails
    saying so, and a background check does not bring the provider back into rotation."""
    (p1,) = await fakes("p1")
    lying = {**fp.response_object("", provider="p1"), "status": "completed", "output": [],
             "error": {"code": "server_error", "message": "upstream is down"}}

    async def json_answer(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response(lying)

    p1.always(fp.raw_stream([fp.sse_event({"type": "response.completed", "response": lying})]) if as_events
              else json_answer)
    gw = await gateway({"p1": p1}, routing={"check_interval_seconds": 60})
    result = await gw.api("test_provider", provider="p1")
    stream_step = next(s for s in result["steps"] if s["name"] == "stream")
    assert not result["ok"] and "upstream is down" in stream_step["error"], result
    from api_router.gateway.checks import check_body, probe_responses
    serving = gw.services.require_serving()
    probe = await probe_responses(serving.upstream, gw.services.config.current.providers["p1"], "k", check_body(None), 5)
    assert not probe.ok and "upstream is down" in probe.error, probe


# sorted: "type" is not the first key; typed twice: {"type": <delta>, "type": "response.failed", …}, which JSON
# readers take by the last (Codex's refuses it: not a delta either way).
@pytest.mark.parametrize("spelling", ["compact", "spaced", "sorted", "typed twice", "cut short"])
async def test_a_failure_event_under_another_events_name_is_read_by_its_data_and_masked(fakes, gateway, spelling):
    """Codex acts on an event's data ("type"), not on its "event:" line: a relay that sends a failure
    under a delta's name after output must have it masked (and taken for a failure), not passed on
    unread as the delta its name says."""
    (p1,) = await fakes("p1")
    dumps = {"compact": lambda o: json.dumps(o, separators=(",", ":")), "spaced": json.dumps,
             "sorted": lambda o: json.dumps(o, sort_keys=True), "typed twice": json.dumps,
             "cut short": json.dumps}[spelling]
    response = fp.response_object("partial answer", provider="p1")
    head = [e for e in fp.stream_events(response) if e["type"] not in ("response.completed", "response.output_text.done",
                                                                         "response.content_part.done",
                                                                         "response.output_item.done")]
    failed = {"type": "response.failed", "response": {"id": response["id"], "status": "failed", "output": [],
                                                      "error": {"code": "server_error",
                                                                "message": f"bad key {PROVIDER_KEY}"}}}
    chunks = [f"event: {e['type']}\ndata: {dumps(e)}\n\n".encode() for e in head]
    chunks.append(f"event: response.output_text.delta\ndata: {dumps(failed)}\n\n".encode())
    if spelling == "typed twice":  # named a failure, its data typed a delta first and the failure last
        chunks[-1] = ('event: response.failed\ndata: {"type":"response.output_text.delta",'
                      + json.dumps(failed, separators=(",", ":"))[1:] + "\n\n").encode()
    elif spelling == "cut short":  # no JSON at all (its last brace missing): its leading type says what it is
        chunks[-1] = ("event: response.output_text.delta\ndata: " + json.dumps(failed)[:-1] + "\n\n").encode()
    p1.always(fp.raw_stream(chunks, delay=0.01))
    gw = await gateway({"p1": p1}, keys={"p1": PROVIDER_KEY})
    reply = await gw.responses(stream=True)
    assert PROVIDER_KEY not in everything_shown(gw, reply)
    assert "sk-l" in reply.body.decode()  # the failure reaches the client, masked
    assert gw.services.store.request_log()[0]["outcome"] != "ok"


async def test_a_stream_whose_completed_event_says_failed_is_a_failure_and_masked(fakes, gateway):
    """``response.completed`` carrying ``"status": "failed"`` is a failure under an answer's name, as a
    failed JSON answer is: the next provider answers, and the key in it shows nowhere."""
    p1, p2 = await fakes("p1", "p2")
    failed = {"type": "response.completed", "response": {"id": "resp_x", "status": "failed", "output": [],
                                                         "error": {"message": f"upstream said {PROVIDER_KEY}"}}}
    p1.always(fp.raw_stream([fp.sse_event(failed)]))
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": PROVIDER_KEY})
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert reply.event_types[-1] == "response.completed"
    assert PROVIDER_KEY not in everything_shown(gw, reply)


async def test_a_url_password_sent_as_basic_auth_and_echoed_back_is_masked(fakes, gateway):
    """A provider with no key and a password in its URL is sent ``Authorization: Basic base64(user:pw)``;
    a relay quoting that header in its error gives away the password as surely as quoting it plainly."""
    import base64

    (p1,) = await fakes("p1")

    async def echo(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.Response(status=401, text=f"Incorrect API key provided: {request.headers.get('Authorization')}")

    p1.always(echo)
    password = "Sup3rSecretPw-0123"
    gw = await gateway({"p1": p1.base_url.replace("http://", f"http://alice:{password}@")}, keys={})
    reply = await gw.responses()
    sent = base64.b64encode(f"alice:{password}".encode()).decode()
    assert reply.status == 502 and "Basic " in reply.body.decode(), reply.body
    assert sent not in everything_shown(gw, reply) and sent[:12] not in everything_shown(gw, reply)


async def test_a_key_written_as_the_urls_user_name_is_masked_as_sent_and_as_written(fakes, gateway):
    """``http://TOKEN@relay/v1`` (no password): the token is sent as ``Basic base64(TOKEN:)``; a relay
    quoting that header, or the token itself, gives away nothing — and the settings show the URL masked."""
    import base64

    from api_router.secrets import mask

    (p1,) = await fakes("p1")
    token = "sk-relay-in-the-url-0123456789"

    async def echo(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        basic = request.headers.get("Authorization", "")
        said = base64.b64decode(basic[6:]).decode() if basic.startswith("Basic ") else ""
        return web.Response(status=401, text=f"Incorrect API key provided: {basic} ({said})")

    p1.always(echo)
    gw = await gateway({"p1": p1.base_url.replace("http://", f"http://{token}@")}, keys={})
    reply = await gw.responses()
    sent = base64.b64encode(f"{token}:".encode()).decode()
    status = await gw.api("get_status")
    shown = everything_shown(gw, reply) + json.dumps(status)
    assert reply.status == 502 and "Basic " in reply.body.decode(), reply.body
    assert f"http://{mask(token)}@127.0.0.1" in json.dumps(status, ensure_ascii=False)
    assert token not in shown and sent not in shown and sent[:12] not in shown
