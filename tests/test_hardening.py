"""Hardening: echoed keys masked everywhere, hand edits kept, slow clients cut off, start-up errors in
one line, control arguments type-checked, no proxy loops, private file modes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import urljoin

import aiohttp
import pytest
import tomlkit
from aiohttp import web

from api_router import fsutil
from api_router.composition import _describe_os_error
from api_router.control import Registry
from api_router.fsutil import NotAFile
from api_router.gateway.upstream import MAX_HOPS, is_loop
from api_router.paths import Paths
from api_router.store import Store
from tests.support import fake_provider as fp
from tests.support.harness import ApiError, simple_body, start_harness, write_config, write_keys
from tests.support.pipes import finishes_despite_pipe
from tests.support.processes import TOKEN, setup_user_data, start_and_stop, wait_health

KEY = "sk-echo-abcdef0123456789"


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


# --- 1. keys echoed by an upstream never reach a client --------------------------------------------------


def echo(kind: str) -> fp.Behaviour:
    """A relay that repeats the key it was given in what it sends back."""

    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if kind == "400":
            return web.json_response({"error": {"message": f"Invalid parameter for key {key}",
                                                "type": "invalid_request_error"}}, status=400)
        if kind == "failed-before-output":
            return await fp.in_band_failure("invalid_prompt", f"prompt refused for key {key}")(request, fake)
        if kind == "400 content type":  # a label naming the key: the body is masked, the label must be too
            return web.Response(body=json.dumps({"error": {"message": "bad input"}}), status=400,
                                headers={"Content-Type": f"application/json; relay-key={key}"})
        if kind == "header":
            return web.json_response(fp.response_object("fine", provider=fake.name),
                                     headers={"x-request-id": f"req-for-{key}", "x-ratelimit-remaining-tokens": key})
        if kind == "failed-json":
            failed = {**fp.response_object("", provider=fake.name), "status": "failed",
                      "error": {"code": "server_error", "message": f"crashed serving {key}"}}
            return web.json_response(failed)
        if kind.startswith("plain text"):  # a relay's own words, no Responses event: after output, or before any
            events = fp.stream_events(fp.response_object("partial", provider=fake.name))
            noise = [f"data: upstream error: invalid api key {key}\n\n".encode(), f": relay note {key}\n\n".encode()]
            chunks = [fp.sse_event(event) for event in events]
            at = 0 if kind.endswith("before") else 4
            if kind.startswith("plain text json"):  # JSON, but no Responses event: nothing says what it is
                noise = [f'data: {{"error":"upstream: invalid api key {key}"}}\n\n'.encode()]
            elif kind.startswith("plain text bare"):  # a line that is no field at all
                noise = [f"upstream error: invalid api key {key}\n\n".encode()]
            elif kind.startswith("plain text cr"):  # CR-only line ends, the comment read with an event
                chunks = [c.replace(b"\n", b"\r") for c in chunks]
                chunks[at] += f": upstream error {key}\r\r".encode()
                noise = []
            return await fp.raw_stream([*chunks[:at], *noise, *chunks[at:]])(request, fake)
        if kind.startswith("broken event"):  # data that starts as a Responses event and is none (Codex refuses it)
            chunks = [fp.sse_event(event) for event in fp.stream_events(fp.response_object("partial", provider=fake.name))]
            delta = '{"type":"response.output_text.delta","delta":"x","item_id":"m","output_index":0,"content_index":0'
            completed = json.dumps({"type": "response.completed", "response": fp.response_object("partial", provider=fake.name)})
            data = {"text after": f"{delta}}} upstream said: invalid api key {key}",
                    "two objects": f'{delta}}} {{"type":"response.failed","response":{{"error":{{"message":"{key}"}}}}}}',
                    "trailing comma": f'{{"type":"response.output_text.delta","delta":"invalid api key {key}",}}',
                    "type twice": f'{delta},"type":"response.failed","response":{{"error":{{"message":"bad key {key}"}}}}}}',
                    "completed then text": f"{completed} relay note: key {key}"}[kind.removeprefix("broken event ")]
            name = "response.completed" if kind.endswith("then text") else "response.output_text.delta"
            broken = f"event: {name}\ndata: {data}\n\n".encode()
            chunks = [*chunks[:-1], broken] if kind.endswith("then text") else [*chunks[:4], broken, *chunks[4:]]
            return await fp.raw_stream(chunks)(request, fake)
        if kind.startswith("incomplete"):
            events = fp.stream_events(fp.response_object("partial", provider=fake.name))
            # Under its own name, or under an answer's (its status says what it is).
            name = "response.completed" if kind.endswith("completed") else "response.incomplete"
            events[-1] = {"type": name, "response": {
                **events[-1]["response"], "status": "incomplete",
                "incomplete_details": {"reason": f"content_filter ({key})"}}}
        else:  # failed after output
            events = fp.stream_events(fp.response_object("partial", provider=fake.name))[:4]
            events.append({"type": "response.failed", "response": {"id": "r", "status": "failed", "output": [],
                                                                   "error": {"code": "server_error",
                                                                             "message": f"crashed serving {key}"}}})
        return await fp.raw_stream([fp.sse_event(event) for event in events])(request, fake)
    return run


@pytest.mark.parametrize("kind, stream", [("400", False), ("400 content type", False), ("400 content type", True),
                                          ("failed-before-output", True), ("failed-after-output", True),
                                          ("failed-json", False), ("failed-json", True), ("incomplete", True),
                                          ("incomplete-as-completed", True), ("header", False),
                                          ("plain text after", True), ("plain text before", True),
                                          ("plain text cr after", True), ("plain text cr before", True),
                                          ("plain text json after", True), ("plain text json before", True),
                                          ("plain text bare after", True), ("plain text bare before", True),
                                          ("broken event text after", True), ("broken event two objects", True),
                                          ("broken event trailing comma", True), ("broken event type twice", True),
                                          ("broken event completed then text", True)])
async def test_an_echoed_key_is_masked_in_every_byte_sent_to_the_client(fakes, gateway, kind, stream):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": KEY})
    p1.always(echo(kind))
    reply = await gw.responses(stream=stream)
    sent = reply.body + "".join(f"{k}: {v}\n" for k, v in reply.headers.items()).encode()
    assert KEY.encode() not in sent and "sk-e…6789".encode() in sent  # masked: sk-e…6789
    assert gw.token.encode() not in sent


@pytest.mark.parametrize("header", [b"x-request-id: req\x01abc", b"x-ratelimit-remaining-tokens: 9\x7f",
                                    b"Content-Type: application/json\x01"])
@pytest.mark.parametrize(("status", "stream"), [(200, False), (200, True), (400, False)])
async def test_a_relay_header_no_http_answer_may_carry_costs_only_that_header(gateway, header, status, stream):
    """A control character in a header the gateway passes back (aiohttp refuses to write one): the answer
    still reaches the client — a 200 as a 200, a 400 as that 400 — without that header, and no traceback."""
    answer = json.dumps(fp.response_object("fine", provider="p1") if status == 200 else
                        {"error": {"message": "bad input", "type": "invalid_request_error"}}).encode()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        await reader.readexactly(int(length[1]) if length else 0)
        labelled = b"" if header.startswith(b"Content-Type") else b"Content-Type: application/json\r\n"
        writer.write(b"HTTP/1.1 %d X\r\n%s%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (status, labelled, header, len(answer), answer))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        gw = await gateway({"p1": f"http://127.0.0.1:{port}/v1"}, routing={"hedge": False})
        reply = await gw.responses(stream=stream)
    finally:
        server.close()
    assert reply.status == status, reply.body
    assert (b"fine" if status == 200 else b"bad input") in reply.body
    assert all("\x01" not in v and "\x7f" not in v for v in reply.headers.values())
    assert reply.headers["X-API-Router-Provider"] == "p1"


async def test_events_whose_type_comes_last_pass_untouched_whatever_they_say(fakes, gateway):
    """A relay that writes keys in sorted order (Go maps) puts "type" last: its events are still events,
    and the model's words in them — a command with a URL password — reach Codex as they were."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": KEY})
    command = COMMAND
    response = fp.response_object(command, provider="p1")
    chunks = [f"event: {e['type']}\ndata: {json.dumps(e, sort_keys=True)}\n\n".encode()
              for e in fp.stream_events(response)]
    p1.always(fp.raw_stream(chunks))
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.text == command
    assert reply.events[-1]["response"]["output"][0]["content"][0]["text"] == command


COMMAND = "psql postgres://app:s3cretpw@db:5432/x"


@pytest.mark.parametrize("noise", [
    ": upstream error, invalid api key {key}\n\n",                      # a comment in the same read
    ": relay event: upstream rejected key {key}\n\n",                   # ... saying "event: " as well
    "upstream error: invalid api key {key}\n\n",                        # a line that is no field
    'data: {{"detail": [{{"type": "value_error", "msg": "invalid api key {key}"}}]}}\n\n',  # nested type
    'data: {{"type": "relay_error", "message": "invalid api key {key}"}}\n\n',  # no Responses type
    "event: upstream error invalid api key {key}\n\n",                  # an event line that names none
    "event: {key}\n\n",                                                 # ... or the key alone as its name
    "event: error_{key}\n\n",
    'data: {{"detail": [{{"type": "response.validation", "msg": "key {key}"}}]}}\n\n',  # nested Responses-like type
    'data: {{"type": "relay_error", "upstream": {{"type": "response.failed"}}, "message": "key {key}"}}\n\n',
    'data: {{"type": "response.error", "message": "invalid api key {key}"}}\n\n',  # Responses-like, no Responses type
    'data: {{"message": "invalid api key {key}", "type": "response.relay_error"}}\n\n',  # ... written last
    'event: response.relay_error\ndata: {{"type":"response.relay_error","message":"invalid api key {key}"}}\n\n',
    'event: response.error invalid api key {key}\ndata: {{"type":"response.in_progress","response":{{"id":"r"}}}}\n\n',
])
@pytest.mark.parametrize("where", ["before the delta", "after the delta", "in a read of its own"])
async def test_relay_words_in_the_read_of_an_event_are_masked_and_the_event_is_not(fakes, gateway, noise, where):
    """One read, a delta whose text is a command with a URL password and a relay's words with the key:
    the key is masked, the model's words reach Codex as they were."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": KEY})
    events = fp.stream_events(fp.response_object(COMMAND, provider="p1"), deltas=1)
    chunks = [fp.sse_event(event) for event in events]
    delta = next(i for i, e in enumerate(events) if e["type"] == "response.output_text.delta")
    words = noise.format(key=KEY).encode()
    if where == "in a read of its own":
        chunks.insert(delta + 1, words)
    else:
        chunks[delta] = words + chunks[delta] if where == "before the delta" else chunks[delta] + words
    p1.always(fp.raw_stream(chunks, delay=0.02 if where == "in a read of its own" else 0.0))
    reply = await gw.responses(stream=True)
    assert KEY.encode() not in reply.body and reply.status == 200
    assert reply.text == COMMAND and COMMAND.encode() in reply.body


async def test_a_failure_in_the_read_of_a_delta_is_masked_and_the_delta_is_not(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": KEY})
    events = fp.stream_events(fp.response_object(COMMAND, provider="p1"), deltas=1)
    delta = next(i for i, e in enumerate(events) if e["type"] == "response.output_text.delta")
    failed = {"type": "response.failed", "response": {"id": "r", "status": "failed", "output": [],
                                                       "error": {"code": "server_error", "message": f"crashed: {KEY}"}}}
    chunks = [fp.sse_event(e) for e in events[:delta]] + [fp.sse_event(events[delta]) + fp.sse_event(failed)]
    p1.always(fp.raw_stream(chunks))
    reply = await gw.responses(stream=True)
    assert KEY.encode() not in reply.body and COMMAND.encode() in reply.body
    assert reply.event_types[-1] == "response.failed"


async def test_a_key_echoed_with_its_slashes_json_escaped_is_masked(fakes, gateway):
    """PHP's json_encode writes "/" as "\\/": a client that decodes the body would read the whole key."""
    key = "sk-ab/cdEF+gh0123456789/xyz"
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": key})

    async def php_echo(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        key = request.headers["Authorization"].removeprefix("Bearer ")
        body = json.dumps({"error": {"message": f"Invalid API key {key}", "type": "invalid_request_error"}})
        return web.Response(status=400, body=body.replace("/", "\\/").encode(), content_type="application/json")

    p1.always(php_echo)
    reply = await gw.responses()
    # The mask is written as the key was (its "/" as "\\/"): the body stays the JSON it was.
    assert reply.status == 400 and "sk-a…\\/xyz" in reply.body.decode()
    assert key not in reply.json["error"]["message"] and "sk-a…/xyz" in reply.json["error"]["message"]


async def test_a_new_key_is_masked_in_the_first_answer_sent_with_it(fakes, gateway):
    """A key in use is one the masking knows: the new one was put in use first and the masking told after,
    among secrets.json's listeners — and while another change held them (concurrent control calls under
    load), requests were sent with the new key and its echo reached the client, the events and the log in
    full. (URL passwords go the same way: config.toml's ``before_use``.)"""
    import threading

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-old-key-0123456789"})

    async def echo(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        said = request.headers["Authorization"]
        return web.json_response({"error": {"message": f"rejected: {said}", "type": "x"}}, status=500)

    p1.always(echo)
    held, release = threading.Event(), threading.Event()

    def slow_listener(_value: object) -> None:  # a listener still at work: the ones after it wait
        held.set()
        release.wait(10)

    key = "sk-brand-new-key-ZZ0123456789"
    gw.services.secrets.listeners.insert(0, slow_listener)
    setting = asyncio.ensure_future(gw.api("set_provider_key", provider="p1", key=key))
    try:
        assert await asyncio.to_thread(held.wait, 10)
        reply = await gw.responses()
    finally:
        release.set()
        await setting
    assert p1.requests[-1].headers["Authorization"] == f"Bearer {key}"  # sent with the new key: echoed back
    assert reply.status == 502 and key not in reply.body.decode(), reply.body[:400]
    gw.services.store.flush()
    assert key not in json.dumps(await gw.api("list_events"))


async def test_a_new_url_password_is_masked_before_the_address_is_in_use(fakes, gateway):
    """The same for a password written into a provider's URL (config.toml's ``before_use``): while the
    listeners of the change are still at work, requests already go to the new address."""
    import threading

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    held, release = threading.Event(), threading.Event()

    def slow_listener(_value: object) -> None:
        held.set()
        release.wait(10)

    password = "pw-Brand-New-0123456789"
    gw.services.config.listeners.insert(0, slow_listener)
    setting = asyncio.ensure_future(gw.api("upsert_provider", provider="p1",
                                           base_url=p1.base_url.replace("http://", f"http://user:{password}@")))
    try:
        assert await asyncio.to_thread(held.wait, 10)
        assert password in gw.services.config.current.providers["p1"].base_url  # in use already
        assert password not in gw.services.redactor(f"upstream said: bad password {password}")
    finally:
        release.set()
        await setting


async def test_secrets_in_a_provider_url_are_masked_as_sent_and_without_being_set_as_keys(fakes, gateway):
    """A key written into a base URL's query (``?api-key=…``) was masked only once the same value was set as
    the key — the provider dialog saves the URL first, and a URL key never set as one stayed in the clear;
    a password written percent-encoded (``Secr%2Fet…``, as the README tells) was masked only as written,
    not as sent (``Secr/et…``)."""
    import base64

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})

    async def echo(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        basic = request.headers.get("Authorization", "")
        said = base64.b64decode(basic[6:]).decode() if basic.startswith("Basic ") else ""
        return web.json_response({"error": {"message": f"denied {request.url} {said}", "type": "x"}}, status=500)

    p1.always(echo)
    url_key = "AzureKey0123456789abcdef"
    await gw.api("upsert_provider", provider="p1", base_url=f"{p1.base_url}?api-version=1&api-key={url_key}")
    reply = await gw.responses()
    assert reply.status == 502 and url_key in str(p1.requests[-1].query) and url_key not in reply.body.decode()
    assert url_key not in json.dumps(await gw.api("get_config"))
    password = "Secr/et0123456789abc"
    await gw.api("upsert_provider", provider="p1",
                 base_url=p1.base_url.replace("http://", "http://user:Secr%2Fet0123456789abc@"))
    reply = await gw.responses()
    assert reply.status == 502 and password not in reply.body.decode(), reply.body[:300]
    gw.services.store.flush()
    shown = json.dumps([await gw.api("list_events"), await gw.api("list_requests")])
    assert url_key not in shown and password not in shown


async def test_an_echoed_key_is_masked_in_model_lists_and_their_errors(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": KEY, "p2": KEY + "-2"})
    p1.models_behaviour = fp.status(401, f"bad key {KEY}")
    p2.models_behaviour = fp.status(200, body=json.dumps({"data": [{"id": f"model-for-{KEY}-2"}]}).encode())
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 200 and KEY.encode() not in reply.body
    p2.models_behaviour = fp.status(500, f"broken for {KEY}-2")
    reply = await gw.request("GET", "/v1/models")
    assert reply.status == 502 and KEY.encode() not in reply.body


@pytest.mark.parametrize("encoding", ["x-gzip", "gzip, gzip"])
async def test_an_error_body_left_encoded_is_not_passed_on(fakes, gateway, encoding):
    """aiohttp decodes gzip, deflate, br and zstd; a body in any other Content-Encoding arrives as it was
    sent, and masking cannot see a key inside compressed bytes, which the client could decompress."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": KEY, "p2": KEY + "-2"})
    echoed = json.dumps({"error": {"message": f"bad request for key {KEY}"}}).encode()
    body = gzip.compress(echoed) if encoding == "x-gzip" else gzip.compress(gzip.compress(echoed))

    def answer(status: int) -> fp.Behaviour:
        async def run(request: web.Request, fake: fp.FakeProvider) -> web.Response:
            await request.read()
            return web.Response(status=status, body=body, headers={"Content-Encoding": encoding,
                                                                    "Content-Type": "text/plain"})
        return run

    p1.always(answer(400))  # passed through to the client
    reply = await gw.responses()
    assert reply.status == 400 and reply.headers["Content-Type"].startswith("application/json")
    assert "cannot decode" in reply.json["error"]["message"]
    assert body not in reply.body and KEY.encode() not in reply.body
    p1.always(answer(500))  # summed up in the failover's answer
    p2.always(answer(500))
    reply = await gw.responses()
    assert reply.status == 502 and reply.json["error"]["message"].count("cannot decode") == 2, reply.json


@pytest.mark.parametrize("cut", ["mid-data", "first block"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_json_error_cut_short_while_compressed_fails_over(fakes, gateway, encoding, cut):
    """aiohttp reads a gzip stream that ends early (its data, or the 8 bytes of checksum and length that end
    it, missing) as what arrived of it: a 400 labelled JSON that came compressed and is JSON ending before it
    closes was cut in transit — half an error, neither passed on nor judged by its words. The next provider
    answers."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    error = json.dumps({"error": {"message": "bad input é 漢字 " + " ".join(f"w{i}" for i in range(400)),
                                  "type": "invalid_request_error"}}, ensure_ascii=False).encode()
    packer = zlib.compressobj(wbits=31 if encoding == "gzip" else 15)
    whole = packer.compress(error) + packer.flush()
    # Cut in its data (inside "é" or "漢字" as often as not), or in its first block: nothing decoded at all.
    p1.always(compressed_error(whole[: len(whole) * 2 // 3] if cut == "mid-data" else whole[:10], encoding))
    reply = await gw.responses()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.body[:200]
    row = gw.services.store.request_log()[0]
    assert [a["outcome"] for a in row["attempts"]] == ["provider_failure", "ok"]
    said = row["attempts"][0]["error"]
    assert said == ("HTTP 400: the error body was cut off (its gzip data ends early)" if encoding == "gzip" else
                    "the provider's answer could not be read: deflate"), said


@pytest.mark.parametrize("body", [b"\xef\xbb\xbf" + b'{"error": {"message": "too long", "type": "invalid_request_error"}}',
                                  b"Bad Request: too long", b'{"error": "too long"} and then some',
                                  b'{"error": "trop long, caf\xe9"}'],
                         ids=["BOM", "plain text", "bytes after it", "Latin-1 at its end"])
async def test_a_whole_gzip_error_that_is_no_clean_json_is_still_the_clients(fakes, gateway, body):
    """Only JSON that ends before it closes is taken for a cut: a whole gzip body that is no clean JSON under
    its JSON label is the provider's answer to the request, passed on as it came."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(compressed_error(gzip.compress(body), "gzip"))
    reply = await gw.responses()
    assert reply.status == 400 and reply.headers["X-API-Router-Provider"] == "p1" and reply.body == body
    assert p2.calls == 0


def compressed_error(data: bytes, encoding: str) -> fp.Behaviour:
    async def run(request: web.Request, fake: fp.FakeProvider) -> web.Response:
        await request.read()
        return web.Response(status=400, body=data, headers={"Content-Encoding": encoding,
                                                            "Content-Type": "application/json"})
    return run


@pytest.mark.parametrize("encoding", ["br", "zstd"])
@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_in_an_encoding_never_asked_for_is_a_failure_said_plainly(fakes, gateway, encoding, stream):
    """The gateway asks for gzip or deflate; a relay that answers br or zstd all the same (their libraries
    are not installed) fails over, and the 502 says so in words — not aiohttp's "Please install" with the
    provider's URL and query."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": f"{p1.base_url}?api-version=secret-ish-query", "p2": p2})

    async def compressed(request: web.Request, fake: fp.FakeProvider) -> web.Response:
        await request.read()
        return web.Response(status=200, body=b"\x8b\x02\x80compressed", headers={
            "Content-Encoding": encoding, "Content-Type": "text/event-stream" if stream else "application/json"})

    p1.always(compressed)
    assert (await gw.responses(stream=stream)).headers["X-API-Router-Provider"] == "p2"
    p2.always(compressed)
    reply = await gw.responses(stream=stream)
    message = reply.json["error"]["message"]
    assert reply.status == 502 and f"Content-Encoding API Router cannot decode ({encoding})" in message, message
    assert "install" not in message and "api-version" not in message


# --- 2. hand edits while running ----------------------------------------------------------------------------


async def test_a_valid_hand_edit_is_picked_up_and_survives_a_ui_change(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.config
    text = path.read_text().replace("[routing]\n", "[routing]\n# tuned by hand\ncooldown_seconds = 42\n")
    path.write_text(text)
    await wait_until(lambda: gw.services.config.current.routing.cooldown_seconds == 42, 3.0, "the edit to apply")
    messages = [e.message for e in gw.services.store.list_events()]
    assert any("config.toml was edited; the new settings are in use" in m for m in messages)
    await gw.api("update_routing", failure_threshold=4)
    saved = path.read_text()
    assert "# tuned by hand" in saved and "cooldown_seconds = 42" in saved and "failure_threshold = 4" in saved


@pytest.mark.parametrize("name", ["config", "secrets"])
async def test_a_file_turned_into_a_symlink_loop_while_running_is_reported_once(fakes, gateway, name):
    """The app goes on with what it has, and says why the file cannot be read — once, not every poll."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = getattr(gw.services.paths, name)
    path.rename(path.with_name(path.name + ".real"))
    path.symlink_to(path.name)  # a link to itself
    label = path.name

    def told() -> list[str]:
        return [e.message for e in gw.services.store.list_events() if e.message.startswith(f"{label} cannot be read")]

    await wait_until(told, 3.0, "the error event")
    assert "symbolic links" in told()[0] and "keeps running on the last good" in told()[0], told()
    assert (await gw.responses()).status == 200
    await asyncio.sleep(1.2)  # a few more polls
    assert len(told()) == 1


async def test_an_invalid_hand_edit_keeps_the_last_good_config_and_is_moved_aside_on_the_next_write(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"cooldown_seconds": 7})
    path = gw.services.paths.config
    path.write_text("this is [not toml")
    await wait_until(lambda: any("keeps running on the last good" in e.message
                                 for e in gw.services.store.list_events()), 3.0, "the error event")
    assert gw.services.config.current.routing.cooldown_seconds == 7  # still the last good settings
    assert (await gw.responses()).status == 200
    await gw.api("update_routing", failure_threshold=3)
    broken = list(path.parent.glob("config.toml.broken-*"))
    assert broken and broken[0].read_text() == "this is [not toml"  # the user's text is kept
    doc = tomlkit.parse(path.read_text())
    assert doc["routing"]["cooldown_seconds"] == 7 and doc["routing"]["failure_threshold"] == 3
    assert any("kept as config.toml.broken-" in e.message and e.level == "error"
               for e in gw.services.store.list_events())


async def test_a_refused_change_leaves_an_invalid_hand_edit_where_it_is(fakes, gateway):
    """Moving the bad file aside is part of saving a change: a change the app refuses saves nothing, so
    the user's file stays — were it moved, the next start would find no config.toml and no providers."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    gw.services.watcher.stop()
    path = gw.services.paths.config
    broken = path.read_text() + "\nthis is [not toml\n"
    path.write_text(broken)
    with pytest.raises(ApiError, match="order must list every provider exactly once"):
        await gw.api("set_provider_order", order=["p1", "nope"])
    assert path.read_text() == broken and not list(path.parent.glob("config.toml.broken-*"))
    await gw.api("update_routing", failure_threshold=3)  # a change that is made: now it is moved aside
    assert [f.read_text() for f in path.parent.glob("config.toml.broken-*")] == [broken]


async def test_a_change_that_changes_nothing_leaves_an_invalid_hand_edit_where_it_is(fakes, gateway):
    """Unlocking while unlocked, the order as it is, the same routing value: nothing is saved, so the
    user's half-finished file is neither kept aside nor replaced; the next real change keeps it aside."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 2})
    gw.services.watcher.stop()
    path = gw.services.paths.config
    broken = path.read_text() + "\nthis is [not toml\n"
    path.write_text(broken)
    await gw.api("set_manual_override", provider=None)
    await gw.api("set_provider_order", order=["p1", "p2"])
    await gw.api("update_routing", failure_threshold=2)
    assert path.read_text() == broken and not list(path.parent.glob("config.toml.broken-*"))
    await gw.api("update_routing", failure_threshold=3)
    assert [f.read_text() for f in path.parent.glob("config.toml.broken-*")] == [broken]
    assert tomlkit.parse(path.read_text())["routing"]["failure_threshold"] == 3


@pytest.mark.parametrize("gone", ["config.toml", "secrets.json"])
async def test_a_change_that_changes_no_setting_writes_a_file_deleted_meanwhile_back(fakes, gateway, gone):
    """A user file deleted while the app runs is written again by the next change, even one that changes
    no setting: else the next start would begin without it (a new gateway token, no provider keys)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-p1-0123456789"})
    gw.services.watcher.stop()
    path = gw.services.paths.user_data / gone
    path.unlink()
    if gone == "config.toml":
        await gw.api("set_manual_override", provider=None)
    else:
        await gw.api("set_provider_key", provider="p1", key="sk-p1-0123456789")
    assert path.exists()
    assert ("p1" in tomlkit.parse(path.read_text())["providers"]) if gone == "config.toml" \
        else json.loads(path.read_text())["providers"]["p1"] == "sk-p1-0123456789"


@pytest.mark.parametrize("gone", ["config.toml", "secrets.json"])
async def test_a_file_deleted_while_the_app_runs_is_written_again_and_said(fakes, gateway, gone):
    """Deleted by hand (or by a clean-up tool) while API Router runs, with no change made in the app after:
    the watcher writes it again with what is in use, and an error event says so — the next start would
    otherwise begin without it (a new gateway token that Codex does not have, no keys, no providers)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-p1-0123456789"})
    path = gw.services.paths.user_data / gone
    path.unlink()
    await wait_until(path.exists, 10, f"{gone} written again")
    if gone == "config.toml":
        assert "p1" in tomlkit.parse(path.read_text())["providers"]
    else:
        written = json.loads(path.read_text())
        assert written["providers"]["p1"] == "sk-p1-0123456789" and written["gateway_token"] == gw.token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    await wait_until(lambda: any(e.message.startswith(f"{gone} was deleted while API Router was running")
                                 for e in gw.services.store.list_events()), 5, "the event")


async def test_a_touched_file_or_the_same_file_moved_back_is_no_edit(fakes, gateway):
    """``touch config.toml``, or the same bytes moved away and back: nothing changed, nothing is told — also
    when a change made in the app finds it first. A broken version put back as it was is a mend: said."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path, kept = gw.services.paths.config, gw.services.paths.config.with_name("kept.toml")
    events = lambda: [e.message for e in gw.services.store.list_events() if "config.toml was" in e.message]  # noqa: E731
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    path.rename(kept)
    kept.rename(path)
    await asyncio.sleep(1.5)  # three looks of the watcher
    assert events() == []
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 9_000_000_000))
    await gw.api("update_routing", cooldown_seconds=31)  # before the watcher's next look, most likely
    assert events() == []
    good = path.read_text()
    path.write_text("this is [not toml\n")
    await wait_until(lambda: any("was edited but" in m for m in events()), 10, "the broken version told")
    path.write_text(good)
    await wait_until(lambda: any(m.startswith("config.toml was edited;") for m in events()), 10, "the mend told")


async def test_a_file_removed_and_saved_anew_within_a_look_is_read_as_an_edit(fakes, gateway):
    """An editor that saves by removing the file and writing a new one: the new one is the user's edit
    (read and used), not a deletion to undo."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    edited = path.read_text().replace('display_name = "P2"', 'display_name = "Edited"')
    assert edited != path.read_text()
    path.unlink()
    path.write_text(edited)
    await wait_until(lambda: gw.services.config.current.providers["p2"].display_name == "Edited", 10,
                     "the edit in use")
    await asyncio.sleep(1.5)  # three more looks
    assert path.read_text() == edited
    assert not any("was deleted" in e.message for e in gw.services.store.list_events())


async def test_a_change_that_changes_no_setting_leaves_a_good_file_as_the_user_wrote_it(fakes, gateway):
    """The same holds for a good file: no line is added for a value already in effect (manual_override = ""
    while unlocked, a default written out, a whole [ui] table), and the file is not written at all."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.watcher.stop()
    path = gw.services.paths.config
    before, stamp = path.read_text(), path.stat().st_mtime_ns
    routing = gw.services.config.current.routing
    await gw.api("set_manual_override", provider=None)
    await gw.api("set_preferred_provider", provider=None)
    await gw.api("set_provider_order", order=["p1", "p2"])
    await gw.api("update_routing", cooldown_seconds=routing.cooldown_seconds, hedge=routing.hedge)
    await gw.api("update_ui", notify_quota=gw.services.config.current.ui.notify_quota)
    assert path.read_text() == before and path.stat().st_mtime_ns == stamp
    await gw.api("update_routing", cooldown_seconds=routing.cooldown_seconds + 1)  # a change is still saved
    assert tomlkit.parse(path.read_text())["routing"]["cooldown_seconds"] == routing.cooldown_seconds + 1
    await gw.api("set_provider_order", order=["p2", "p1"])  # the same providers in another order: a change
    assert gw.services.config.current.order == ("p2", "p1") and "p2" in path.read_text().split("\n")[0]


def test_a_hand_save_landing_while_a_change_is_saved_is_kept(tmp_path):
    """Saved by hand after the app read the file but before it renamed its version into place: the change
    is applied again, to the hand edit, instead of writing over it."""
    from api_router.config import ConfigFile, set_value

    path = tmp_path / "config.toml"
    cf, _ = ConfigFile.load(path)
    saves = []

    def change(doc):
        if not saves:  # the user saves while the app is working on its change
            time.sleep(0.01)  # a later modification time, whatever the clock's resolution
            path.write_text(path.read_text().replace("failure_threshold = 2", "failure_threshold = 5"))
            saves.append(1)
        set_value(doc["routing"], "cooldown_seconds", 42)

    config = cf.edit(change)
    assert (config.routing.failure_threshold, config.routing.cooldown_seconds) == (5, 42)
    doc = tomlkit.parse(path.read_text())
    assert (doc["routing"]["failure_threshold"], doc["routing"]["cooldown_seconds"]) == (5, 42)


def test_a_hand_save_landing_at_the_moment_the_app_renames_its_own_is_kept(tmp_path, monkeypatch):
    """The app looked at the file, found it was the version its change is based on, and renamed its new
    version into place: a save landing between the look and the rename was overwritten. The version the
    app displaces is the one judged now (swapped out in one step, and swapped back if it is not the one
    the change was based on); the change is then made again, on the hand save."""
    from api_router import fsutil
    from api_router.config import ConfigFile

    path = tmp_path / "config.toml"
    cf, _ = ConfigFile.load(path)
    exchange = fsutil._exchange
    landed = []

    def hand_save_first(a: Path, b: Path) -> bool:
        if not landed:  # the editor's rename, at the last moment
            landed.append(True)
            (tmp_path / "editor.tmp").write_text(path.read_text() + "# saved by hand at that moment\n")
            os.replace(tmp_path / "editor.tmp", path)
        return exchange(a, b)

    monkeypatch.setattr(fsutil, "_exchange", hand_save_first)

    def change(doc: tomlkit.TOMLDocument) -> None:
        doc["routing"]["cooldown_seconds"] = 42  # type: ignore[index]

    config = cf.edit(change)
    text = path.read_text()
    assert landed and "# saved by hand at that moment" in text and config.routing.cooldown_seconds == 42
    assert tomlkit.parse(text)["routing"]["cooldown_seconds"] == 42
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_a_file_made_meanwhile_where_the_app_expected_none_is_not_replaced(tmp_path):
    from api_router.fsutil import ChangedMeanwhile, atomic_write

    path = tmp_path / "secrets.json"
    path.write_text("{}")
    with pytest.raises(ChangedMeanwhile):
        atomic_write(path, b'{"x": 1}', unless_changed=(None,))
    assert path.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["secrets.json"]


def test_a_write_names_the_file_it_could_not_write_and_reports_what_it_wrote(tmp_path):
    """A full disk fails the write itself, which names no file; a file-size limit fails it the same way."""
    from api_router.fsutil import atomic_write, file_stamp

    path = tmp_path / "config.toml"
    assert atomic_write(path, b"x = 1\n") == file_stamp(path)
    script = ("import resource, signal, sys; from pathlib import Path; from api_router.fsutil import atomic_write\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))\n"
              "try:\n    atomic_write(Path(sys.argv[1]), b'y' * 4096)\n"
              "except OSError as exc:\n    print(exc.filename, exc.strerror)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.strip() == f"{path} File too large", done.stderr
    assert path.read_bytes() == b"x = 1\n" and sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_a_change_on_a_bad_hand_edit_that_cannot_be_saved_leaves_the_edit_in_place(tmp_path):
    """The bad version is copied aside before the change replaces it, not moved: with a full disk (here a
    file-size limit, which fails the same writes) the change fails and config.toml is still there."""
    script = """import resource, signal, sys
from pathlib import Path
from api_router.config import ConfigFile
path = Path(sys.argv[1])
cf, _ = ConfigFile.load(path)
path.write_text("this is [not toml " + "x" * 4096)
told = []
cf.on_problem = told.append
signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
try:
    cf.edit(lambda doc: doc.__setitem__("routing", {"cooldown_seconds": 77}))  # a change: it must be saved
except OSError as exc:
    print("refused:", exc.strerror, told)
"""
    path = tmp_path / "config.toml"
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.strip() == "refused: File too large []", done.stderr  # no event says it was saved
    assert path.read_text().startswith("this is [not toml ") and sorted(p.name for p in tmp_path.iterdir()) == [
        "config.toml"]


async def test_a_control_call_during_a_hand_save_never_takes_half_the_file_for_the_settings(fakes, gateway):
    """An editor writes config.toml in two parts; the first is valid TOML without the second provider. A
    control call (the UI polls every 1.5 s) between the two waits for the file to hold still: it never
    answers, nor routes, with the half file (p2 gone, then back)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    whole = path.read_text()
    half = whole[:whole.index("[providers.p2]")]
    assert "p1" in half and tomllib.loads(half)
    seen = {e.id for e in gw.services.store.recent_events()}
    path.write_text(half)
    call = asyncio.ensure_future(gw.api("get_config"))
    await asyncio.sleep(0.2)
    path.write_text(whole)
    config = await asyncio.wait_for(call, 10)
    assert config["provider_order"] == ["p1", "p2"], config["provider_order"]
    await asyncio.sleep(1.2)  # the watcher's looks, too
    edits = [e.message for e in gw.services.store.recent_events() if e.id not in seen]
    assert not any("Preferred provider" in m for m in edits) and len(edits) <= 1, edits


def test_a_read_only_secrets_file_without_a_token_starts_with_one_for_this_run(tmp_path):
    from api_router.composition import open_services

    ud = tmp_path / "user-data"
    ud.mkdir()
    (ud / "secrets.json").write_text("{}")
    (ud / "secrets.json").chmod(0o400)
    services = open_services(Paths(ud))
    try:
        assert services.secrets.current.gateway_token.startswith("ao_")
        for _ in range(2):  # the watcher's looks: the version found at start is no edit
            services.secrets.reload()
        errors = [e.message for e in services.store.list_events() if e.level == "error"]
        assert any("no gateway_token and is read-only" in e for e in errors), errors
        assert not any("was edited" in e for e in errors), errors
    finally:
        services.close()
    assert (ud / "secrets.json").read_text() == "{}"


async def test_a_value_in_the_history_that_later_becomes_a_key_is_masked_there_too(fakes, gateway):
    """A client sent it as its session id and model name; then it was made a provider's key: the request
    log, the sessions list, the exports and the events (the status's recent ones too, kept in memory) no
    longer show it — also after a restart."""
    from api_router.records import Kind, Level

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    later = "sk-later-ZZZZYYYYXXXXWWWW7777"
    reply = await gw.responses(simple_body("hi", model=later), headers={"session-id": later})
    assert reply.status == 200
    gw.services.emit(Level.WARNING, Kind.GATEWAY, f"no provider has the model {later!r}")
    gw.services.store.flush()
    assert later in json.dumps(await gw.api("list_requests"))  # not a secret yet: shown as sent
    await gw.api("set_provider_key", provider="p1", key=later)
    gw.services.store.flush()

    async def shown(harness) -> str:
        return json.dumps([await harness.api("list_requests"), await harness.api("list_sessions"),
                           await harness.api("export_requests", format="jsonl"), await harness.api("list_events"),
                           (await harness.api("get_status"))["recent_events"]], ensure_ascii=False)

    seen = await shown(gw)
    assert later not in seen and "sk-l…7777" in seen
    # Asked for by the key itself: found (it is kept masked), and the key is not said back.
    timeline = await gw.api("get_session_timeline", session_id=later)
    assert later not in json.dumps(timeline) and len(timeline["requests"]) == 1
    assert (await gw.api("list_requests", session_id=later))["total"] == 1
    assert (await gw.api("export_requests", format="jsonl", session_id=later))["rows"] == 1
    # The Requests page's search box too (it searches the session id and the model among the rest).
    searched = await gw.api("list_requests", text=later)
    assert searched["total"] == 1 and later not in json.dumps(searched)
    assert (await gw.api("export_requests", format="jsonl", text=later))["rows"] == 1
    assert (await gw.request("GET", f"/api/export_requests?format=jsonl&text={later}")).headers[
        "X-API-Router-Rows"] == "1"
    download = await gw.request("GET", f"/api/export_requests?format=jsonl&session_id={later}")  # the window's
    assert download.headers["X-API-Router-Rows"] == "1" and later not in download.body.decode()
    assert len(download.body.decode().splitlines()) == 1
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        assert later not in await shown(again)
    finally:
        await again.close()


async def test_a_delete_refused_because_secrets_json_is_read_only_deletes_nothing(fakes, gateway, monkeypatch):
    """The key goes with the provider or the provider stays: a delete that could not take the key out
    left it behind, for a provider added later under the same id — sent to that one's address."""
    p1, p2, other = await fakes("p1", "p2", "other")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": "sk-key-one-0123456789", "p2": "sk-key-two-0123456789"},
                       routing={"failure_threshold": 1, "cooldown_seconds": 600})
    await gw.api("set_manual_override", provider="p2")
    p2.queue(fp.status(503, "p2 down"))
    assert (await gw.responses()).status == 502  # p2 cools down: what is learnt of it stays with it too
    await gw.api("set_manual_override", provider=None)

    async def p2_cooling() -> bool:
        return (await gw.api("get_status"))["providers"]["p2"]["status"] == "cooldown"

    assert await p2_cooling()
    secrets, config = gw.services.paths.secrets, gw.services.paths.config
    before = config.read_text()
    secrets.chmod(0o400)
    try:
        with pytest.raises(ApiError) as refused:
            await gw.api("delete_provider", provider="p2")
    finally:
        secrets.chmod(0o600)
    assert "secrets.json" in refused.value.message, refused.value.message
    assert config.read_text() == before and "p2" in (await gw.api("get_config"))["provider_order"]
    assert "sk-key-two-0123456789" in secrets.read_text()
    config.chmod(0o400)  # the key could go, the config cannot: the key stays
    try:
        with pytest.raises(ApiError):
            await gw.api("delete_provider", provider="p2")
    finally:
        config.chmod(0o600)
    assert config.read_text() == before and "sk-key-two-0123456789" in secrets.read_text()

    def disk_full(*_args: object, **_kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:  # the key went, then the config could not be saved: the key comes back
        m.setattr(gw.services.config, "_write", disk_full)
        with pytest.raises(ApiError):
            await gw.api("delete_provider", provider="p2")
    assert config.read_text() == before and "sk-key-two-0123456789" in secrets.read_text()
    assert await p2_cooling()  # the key's going and coming back was no new key
    await gw.api("delete_provider", provider="p2")  # writable again: the delete goes through, key and all
    assert "sk-key-two-0123456789" not in secrets.read_text()
    await gw.api("upsert_provider", provider="p2", base_url=other.base_url)
    await gw.api("set_manual_override", provider="p2")
    await gw.responses()
    assert all("sk-key-two" not in r.headers.get("Authorization", "") for r in other.requests)


def test_a_change_keeps_aside_by_moving_what_it_cannot_read(tmp_path):
    """A pipe put in config.toml's place while the app runs: copying it would wait for a writer forever
    (with the file's lock held: every control call would hang); it is moved aside as it is."""
    from api_router.config import ConfigFile

    path = tmp_path / "config.toml"
    cf, _ = ConfigFile.load(path)
    problems: list[str] = []
    cf.on_problem = problems.append
    path.unlink()
    os.mkfifo(path)
    finishes_despite_pipe(lambda: cf.edit(lambda doc: doc.__setitem__("routing", {"cooldown_seconds": 77})), path,
                          "the change")
    assert path.is_file() and [p.name.startswith("config.toml.broken-") for p in tmp_path.iterdir()].count(True) == 1
    assert len(problems) == 1 and "it was moved to config.toml.broken-" in problems[0], problems


def test_symlinked_user_files_stay_links_and_their_targets_keep_their_modes(tmp_path):
    """config.toml and secrets.json kept in a dotfiles folder and linked into user-data: a change made in
    the app goes to the linked file, the link stays, and the start does not change the target's mode."""
    dotfiles, ud = tmp_path / "dotfiles", tmp_path / "user-data"
    dotfiles.mkdir()
    ud.mkdir()
    from api_router.composition import open_services
    from api_router.config import ConfigFile, set_value
    from api_router.secrets import SecretsFile

    ConfigFile.load(dotfiles / "config.toml")
    SecretsFile.load(dotfiles / "secrets.json")
    for name in ("config.toml", "secrets.json"):
        (dotfiles / name).chmod(0o644)
        (ud / name).symlink_to(dotfiles / name)
        (dotfiles / f".{name}.999.1.tmp").write_text("left by a crash mid-write")
    services = open_services(Paths(ud))
    assert sorted(f.name for f in dotfiles.iterdir()) == ["config.toml", "secrets.json"]  # the crash's temp gone
    try:
        services.config.edit(lambda doc: set_value(doc["routing"], "cooldown_seconds", 9))
        services.secrets.edit(lambda s: s.with_changes(provider_keys={"p1": "sk-linked-key-0123456789"}))
    finally:
        services.close()
    for name in ("config.toml", "secrets.json"):
        assert (ud / name).is_symlink() and stat.S_IMODE((dotfiles / name).stat().st_mode) == 0o644
    assert "cooldown_seconds = 9" in (dotfiles / "config.toml").read_text()
    assert json.loads((dotfiles / "secrets.json").read_text())["providers"] == {"p1": "sk-linked-key-0123456789"}


@pytest.mark.parametrize(("name", "content", "said"), [
    ("config.toml", "this is [not toml\n", "config.toml could not be read"),
    ("config.toml", "[routing]\nfailure_threshold = \"many\"\n", "config.toml has invalid values; it is read-only"),
    ("secrets.json", "{not json", "secrets.json could not be read"),
    ("secrets.json", '{"gateway_token": "ao_' + "1" * 32 + '", "providers": {"p1": 5}}', "the file is read-only"),
])
def test_a_read_only_file_that_needs_repair_at_start_is_left_as_it_is(tmp_path, name, content, said):
    """Made read-only by its owner (chmod 0400): the start repairs nothing on disk — what can be used is
    in use, and an error event says the file was left as it is; a change is refused while it stays so.
    Made writable again (a chmod changes none of what tells a file's versions apart), the next change
    keeps the original aside before it saves."""
    from api_router.composition import open_services
    from api_router.fsutil import ReadOnlyFile

    ud = tmp_path / "user-data"
    ud.mkdir()
    path = ud / name
    path.write_text(content)
    hour = time.time() + 3600  # copied from a machine whose clock is ahead: never "a save under way" to wait for
    os.utime(path, (hour, hour))
    path.chmod(0o400)
    services = open_services(Paths(ud))
    started = time.monotonic()
    services.config.catch_up(), services.secrets.catch_up()  # before every control call: no re-read, no wait
    assert time.monotonic() - started < 0.5
    if name == "config.toml":
        def change() -> None:
            services.config.edit(lambda doc: doc.__setitem__("routing", {"cooldown_seconds": 77}))
    else:
        def change() -> None:
            services.secrets.edit(lambda s: s.with_changes(usage_tokens={"p9": "ut-p9-token-0123456789"}))
    try:
        for _ in range(2):  # the watcher's looks: the version found at start is no edit
            services.config.reload(), services.secrets.reload()
        errors = [e.message for e in services.store.list_events() if e.level == "error"]
        assert not any("was edited" in e for e in errors), errors
        with pytest.raises(ReadOnlyFile):
            change()
        assert path.read_text() == content and stat.S_IMODE(path.stat().st_mode) == 0o400
        assert not [f for f in ud.iterdir() if f.name.startswith(name + ".")]  # nothing moved or copied aside
        assert any(said in e and "left as it is" in e for e in errors), errors
        path.chmod(0o600)
        change()
        kept = [f for f in ud.iterdir() if f.name.startswith(name + ".broken-")]
        assert [f.read_text() for f in kept] == [content] and path.read_text() != content
    finally:
        services.close()


@pytest.mark.parametrize(("spoil", "way_out"), [
    ("read-only", "Fix the file: it is read-only, so API Router leaves it as it is."),
    ("link", "Point the link at a file (or remove it)."),
    ("link-to-folder", "Point the link at a file (or remove it)."),
    ("fifo", "Fix the file, or the next change made in the app moves it aside."),
    ("plain", "Fix the file, or the next change made in the app moves it aside."),
])
def test_an_unusable_hand_edit_is_told_the_way_out_the_next_change_really_offers(tmp_path, spoil, way_out):
    """A read-only file or a link to something that is not a file is never moved aside by a change made
    in the app (it is refused): the event must not promise it."""
    from api_router.composition import open_services

    ud = tmp_path / "user-data"
    ud.mkdir()
    services = open_services(Paths(ud))
    path = ud / "config.toml"
    try:
        if spoil in ("link", "link-to-folder"):
            path.unlink()
            path.symlink_to(os.devnull if spoil == "link" else tmp_path)
        elif spoil == "fifo":
            path.unlink()
            os.mkfifo(path)
        else:
            path.write_text("[routing]\nfailure_threshold = \"many\"\n")
            if spoil == "read-only":
                path.chmod(0o400)
        for _ in range(2):  # seen once, then read when it held still
            services.config.reload()
        told = [e.message for e in services.store.list_events() if "config.toml was edited but" in e.message]
        assert len(told) == 1 and told[0].endswith(way_out), told
    finally:
        services.close()


async def test_an_invalid_value_edited_by_hand_is_reported_without_a_fallback_that_does_not_apply(fakes, gateway):
    """At start an invalid value falls back to its default; while running the whole edit is refused and
    the last good settings stay, so "using 30" would be false."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"cooldown_seconds": 7})
    path = gw.services.paths.config
    path.write_text(path.read_text().replace("cooldown_seconds = 7", "cooldown_seconds = -5"))

    def reported() -> str | None:
        return next((e.message for e in gw.services.store.list_events() if "keeps running on the last good" in e.message),
                    None)

    await wait_until(lambda: reported() is not None, 3.0, "the error event")
    message = reported()
    assert "[routing] cooldown_seconds must be" in message and "(found -5)" in message, message
    assert "using 30" not in message and gw.services.config.current.routing.cooldown_seconds == 7
    with pytest.raises(ApiError) as refused:  # an edit through the control API is refused the same way
        await gw.api("update_routing", cooldown_seconds=-1)
    assert "using" not in str(refused.value)


async def test_a_hand_edit_caught_while_it_is_being_written_is_not_used_half_done(fakes, gateway):
    """Editors that save in place empty the file, then write it, here in two parts: the watcher may look
    in between. An empty file, or half of one, is not the user's edit and must never become the settings.
    The watcher's looks are made by hand here, one per state, so that no timing decides what is seen."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.watcher.stop()
    config = gw.services.config
    path = gw.services.paths.config
    edited = path.read_text().replace("[routing]\n", "[routing]\ncooldown_seconds = 42\n")
    half = edited.index("[providers.p2]")
    providers_seen: set[tuple[str, ...]] = set()

    def look() -> None:
        config.reload()
        providers_seen.add(tuple(config.current.providers))

    for _ in range(3):
        with path.open("r+") as fh:
            fh.truncate(0)
            fh.flush()
            look()
            fh.write(edited[:half])
            fh.flush()
            look()
            fh.write(edited[half:])
        look()  # saved, and saved again before the next look
    look()
    assert config.current.routing.cooldown_seconds == 42  # held still between two looks: in use
    assert providers_seen == {("p1", "p2")}
    messages = [e.message for e in gw.services.store.list_events() if "config.toml" in e.message]
    assert messages == ["config.toml was edited; the new settings are in use"]


async def test_a_hand_edit_of_the_listening_port_says_it_takes_effect_at_the_next_start(fakes, gateway):
    """The gateway keeps serving where it started (Codex is pointed there): a hand edit of [listen] port is
    not announced as in use — the event says the new address waits for the next start — while the rest of
    the same edit is in use at once."""
    import socket

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.config
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        other = s.getsockname()[1]
    text, ports = re.subn(r"(?m)^port = \d+$", f"port = {other}", path.read_text())
    assert ports == 1
    path.write_text(text.replace("[routing]\n", "[routing]\ncooldown_seconds = 42\n", 1))
    await wait_until(lambda: gw.services.config.current.routing.cooldown_seconds == 42, 3.0, "the edit to apply")
    messages = [e.message for e in gw.services.store.list_events() if "config.toml" in e.message]
    assert messages == [f"config.toml was edited; the new settings are in use, except the gateway's address "
                        f"([listen] host and port: 127.0.0.1:{other}), which takes effect when API Router starts "
                        "again"], messages
    assert (await gw.responses()).status == 200  # still served where it started
    # Edited back to where it serves: in use, nothing left for the next start.
    served = gw.port
    path.write_text(re.sub(r"(?m)^port = \d+$", f"port = {served}", path.read_text())
                    .replace("cooldown_seconds = 42", "cooldown_seconds = 43"))
    await wait_until(lambda: gw.services.config.current.routing.cooldown_seconds == 43, 3.0, "the edit to apply")
    messages = [e.message for e in gw.services.store.list_events() if "config.toml" in e.message]
    assert messages[0] == "config.toml was edited; the new settings are in use", messages  # newest first


async def test_a_hand_edit_of_the_listening_host_leaves_the_host_check_on_the_address_served(fakes, gateway):
    """Until the next start the gateway serves where it started, and a Host header naming that address is
    still its own (a LAN client of an allow_remote gateway is not refused at once)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"host": "127.0.0.2"})  # an address no loopback name covers
    served = f"127.0.0.2:{gw.port}"

    async def status_of(host: str) -> int:
        async with gw.client.post(f"http://{served}/v1/responses", json=simple_body(),
                                  headers={**gw.auth(), "Host": host}) as resp:
            return resp.status

    assert await status_of(served) == 200
    path = gw.services.paths.config
    text, hosts = re.subn(r'(?m)^host = "127.0.0.2"$', 'host = "127.0.0.3"', path.read_text())
    assert hosts == 1
    path.write_text(text.replace("[routing]\n", "[routing]\ncooldown_seconds = 42\n", 1))
    await wait_until(lambda: gw.services.config.current.routing.cooldown_seconds == 42, 3.0, "the edit to apply")
    assert gw.services.config.current.listen.host == "127.0.0.3"
    assert await status_of(served) == 200
    assert await status_of(f"127.0.0.3:{gw.port}") == 403


async def test_a_change_in_the_app_during_an_editors_save_waits_for_the_save(fakes, gateway):
    """An editor saving in place has emptied config.toml when a change is made in the app: the change
    waits for the save and applies to it, instead of moving the empty file aside (the user's save would
    then land on top of the app's, which it knows nothing of)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.config
    edited = path.read_text().replace("[routing]\n", "[routing]\ncooldown_seconds = 42\n")
    with path.open("r+") as fh:
        fh.truncate(0)
        fh.flush()
        change = asyncio.create_task(gw.api("update_routing", failure_threshold=4))
        await asyncio.sleep(0.3)
        assert not change.done()  # waiting for the file to become usable
        fh.write(edited)
    await change
    assert not list(path.parent.glob("config.toml.broken-*"))
    doc = tomlkit.parse(path.read_text())
    assert doc["routing"]["cooldown_seconds"] == 42 and doc["routing"]["failure_threshold"] == 4
    assert gw.services.config.current.routing.failure_threshold == 4
    await wait_until(lambda: gw.services.config.current.routing.cooldown_seconds == 42, 3.0, "the hand edit")


@pytest.mark.parametrize("emptied", [b"\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])  # a byte order mark alone too
async def test_an_emptied_config_keeps_the_last_good_settings(fakes, gateway, emptied):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"cooldown_seconds": 7})
    gw.services.paths.config.write_bytes(emptied)
    await wait_until(lambda: any("config.toml was edited but is empty" in e.message
                                 for e in gw.services.store.list_events()), 3.0, "the error event")
    assert list(gw.services.config.current.providers) == ["p1"] and (await gw.responses()).status == 200


async def test_a_hand_edit_of_secrets_is_picked_up(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.secrets
    data = json.loads(path.read_text())
    data["providers"]["p1"] = "sk-edited-by-hand-0001"
    path.write_text(json.dumps(data))
    await wait_until(lambda: gw.services.secrets.current.provider_keys["p1"] == "sk-edited-by-hand-0001", 3.0,
                     "the new key")
    await gw.responses()
    assert p1.requests[-1].headers["Authorization"] == "Bearer sk-edited-by-hand-0001"
    path.write_text("{broken")
    await wait_until(lambda: any("secrets.json was edited but" in e.message and "keeps running on the last good" in
                                 e.message for e in gw.services.store.list_events()), 3.0, "the error event")
    assert gw.services.secrets.current.provider_keys["p1"] == "sk-edited-by-hand-0001"
    await gw.api("set_provider_key", provider="p1", key="sk-set-in-the-ui-0002")
    assert list(path.parent.glob("secrets.json.broken-*"))
    assert json.loads(path.read_text())["providers"]["p1"] == "sk-set-in-the-ui-0002"


def rewrite_in_place(path: Path, old: str, new: str) -> None:
    """Write a same-length edit into the file itself and put its modification time back: what a file system
    keeping whole seconds (FAT, HFS+) shows of a save made in the same second as the app's, or ``cp -p``.
    Only the change time tells the version apart."""
    from api_router.fsutil import file_stamp

    before, stamp = os.stat(path), file_stamp(path)
    text = path.read_text()
    assert len(old) == len(new) and old in text
    with open(path, "r+", encoding="utf-8") as fh:
        fh.write(text.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert file_stamp(path) == stamp  # size, modification time and inode as they were


async def test_a_hand_edit_that_keeps_the_size_and_time_is_picked_up_and_kept(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"cooldown_seconds": 45})
    await gw.api("update_routing", failure_threshold=2)  # the app's own save, just before the hand edit
    await asyncio.sleep(0.8)  # the watcher has looked at it
    path = gw.services.paths.config
    rewrite_in_place(path, "cooldown_seconds = 45", "cooldown_seconds = 90")
    await wait_until(lambda: gw.services.config.current.routing.cooldown_seconds == 90, 3.0, "the edit in use")
    assert any("config.toml was edited" in e.message for e in gw.services.store.recent_events())
    await gw.api("update_routing", failure_threshold=3)  # lands on the edit, not on the app's old copy
    saved = path.read_text()
    assert "cooldown_seconds = 90" in saved and "failure_threshold = 3" in saved


async def test_an_invalid_hand_edit_keeping_size_and_time_is_reported_and_kept_aside(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"cooldown_seconds": 45})
    await asyncio.sleep(0.8)  # the watcher has looked at the version in use
    path = gw.services.paths.config
    rewrite_in_place(path, "cooldown_seconds = 45", "cooldown_seconds = x5")
    await wait_until(lambda: any("config.toml was edited but" in e.message
                                 for e in gw.services.store.recent_events()), 3.0, "the error event")
    assert gw.services.config.current.routing.cooldown_seconds == 45  # the last good settings stay
    before = os.stat(path)
    path.chmod(0o644)  # a chmod, then a touch that keeps the time: the same version, not told again
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    await asyncio.sleep(1.2)
    told = [e for e in gw.services.store.recent_events() if "config.toml was edited but" in e.message]
    assert len(told) == 1, [e.message for e in told]
    edited = path.read_text()
    await gw.api("update_routing", failure_threshold=3)
    assert [f.read_text() for f in path.parent.glob("config.toml.broken-*")] == [edited]  # kept, not lost


async def test_a_key_edited_by_hand_keeping_size_and_time_is_not_written_over(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-first-AAAAAAAAAAAAAAAA"})
    path = gw.services.paths.secrets
    rewrite_in_place(path, "sk-first-AAAAAAAAAAAAAAAA", "sk-handed-BBBBBBBBBBBBBBB")
    # A change in the app at once, before the watcher looks: it still lands on the file as it is on disk.
    await gw.api("set_usage_token", provider="p1", token="ut-p1-token-0123456789")
    saved = json.loads(path.read_text())
    assert saved["providers"]["p1"] == "sk-handed-BBBBBBBBBBBBBBB" and saved["usage_tokens"]["p1"]
    assert gw.services.secrets.current.provider_keys["p1"] == "sk-handed-BBBBBBBBBBBBBBB"


# --- 3. slow clients ----------------------------------------------------------------------------------------


def closed_within(sock: socket.socket, seconds: float, received: bytearray | None = None) -> float:
    """Seconds until the peer closed ``sock`` (fails after ``seconds``); what it sent goes to ``received``."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while data := sock.recv(4096):
            if received is not None:
                received += data
    except TimeoutError as exc:
        raise AssertionError(f"the connection was still open after {seconds} s") from exc
    except ConnectionResetError:
        pass
    return time.monotonic() - started


async def test_half_sent_headers_and_silent_connections_are_closed(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"header_timeout_seconds": 1})
    half = socket.create_connection(("127.0.0.1", gw.port))
    half.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len")
    silent = socket.create_connection(("127.0.0.1", gw.port))
    try:
        took = await asyncio.to_thread(closed_within, half, 4)
        assert 0.9 <= took <= 3.5, took
        await asyncio.to_thread(closed_within, silent, 4)
        assert (await gw.responses()).status == 200  # real clients are unaffected
    finally:
        half.close()
        silent.close()


def _status_line(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        return conn.recv(4096).split(b"\r\n")[0]


async def test_odd_bytes_from_a_client_get_an_answer_not_a_500(fakes, gateway):
    """A NUL or CR in a path, a token that is not UTF-8: sent by anyone, answered like any wrong input."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    host = f"Host: 127.0.0.1:{gw.port}\r\nConnection: close\r\n".encode()
    for path in (b"/%00", b"/%0d2026-12-02%2004:00:00,000%20WARNING%20FORGED", b"/assets/%00.js"):
        line = await asyncio.to_thread(_status_line, gw.port, b"GET " + path + b" HTTP/1.1\r\n" + host + b"\r\n")
        # The app's page, as for any client-side route; under assets/ a file that is not there is a 404.
        assert line.endswith(b" 404 Not Found" if path.startswith(b"/assets/") else b" 200 OK"), (path, line)
    for method, path in ((b"POST", b"/api/get_status"), (b"GET", b"/v1/models")):
        request = method + b" " + path + b" HTTP/1.1\r\n" + host + b"Authorization: Bearer \xff\xfe\r\nContent-Length: 0\r\n\r\n"
        assert (await asyncio.to_thread(_status_line, gw.port, request)).endswith(b" 401 Unauthorized"), path


def _answer(port: int, request: bytes) -> tuple[bytes, bytes]:
    """The status line and body of the one answer to ``request`` (the connection then closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


async def test_a_request_that_cannot_be_parsed_gets_a_json_400_and_one_log_line(fakes, gateway, caplog):
    """Broken HTTP from any local program (no token needed): the gateway's own error, naming what is
    wrong without echoing the bytes (a header line may hold the token), and no traceback in the log."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    host = f"Host: 127.0.0.1:{gw.port}\r\n".encode()
    auth = b"Authorization: Bearer " + gw.token.encode()
    broken = {
        b"GET /v1/models HTTP/9.9\r\n" + host + b"\r\n": "Invalid HTTP version",
        # versions the parser reads but this server does not speak (no version at all reads as HTTP/0.9)
        b"GET /v1/models HTTP/2.0\r\n" + host + auth + b"\r\n\r\n": "HTTP/2.0 is not served here",
        b"GET /v1/models\r\n" + host + auth + b"\r\n\r\n": "HTTP/0.9 is not served here",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n": "HTTP/2 is not served here",  # an HTTP/2 client's preface
        b"POST /v1/responses HTTP/1.1\r\n" + host + b"Content-Length: abc\r\n\r\n": "Content-Length",
        b"GET /v1/models HTTP/1.1\r\n" + host + auth + b"\x00x\r\n\r\n": "Invalid header value char",
        # aiohttp's own words with an apostrophe, and with a header's name in quotes: said whole
        b"POST /v1/responses HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n":
            "Content-Length can't be present with Transfer-Encoding",
        b"GET /v1/models HTTP/1.1\r\n" + host + host + b"\r\n": "Duplicate 'Host' header",
        # a request target no URL can be made of: it is not said back (it may hold anything)
        f"GET http://127.0.0.1:{gw.token}/v1/models HTTP/1.1\r\n".encode() + host + b"\r\n":
            "the request target is not a valid URL",
        b"GET http://[" + gw.token.encode() + b"]/ HTTP/1.1\r\n" + host + b"\r\n": "not a valid URL",
    }
    with caplog.at_level("INFO"):
        for request, why in broken.items():
            line, body = await asyncio.to_thread(_answer, gw.port, request)
            assert line.endswith(b" 400 Bad Request"), (request, line)
            error = json.loads(body)["error"]
            assert error["type"] == "invalid_request_error" and why in error["message"], error
            assert error["message"].startswith("malformed HTTP request: ") and gw.token[-8:] not in error["message"]
    assert "Traceback" not in caplog.text and gw.token not in caplog.text
    lines = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING" and lines[0].exc_info is None  # at most every 10 s
    assert (await gw.responses()).status == 200


@pytest.mark.parametrize("path", ["/v1/responses", "/api/get_status"])
@pytest.mark.parametrize("before", [b"", b'5\r\n{"a":\r\n'], ids=["first chunk", "after a good chunk"])
async def test_a_chunk_that_breaks_the_body_after_its_headers_gets_the_400_at_once(fakes, gateway, caplog, path,
                                                                                   before):
    """Sent in one write with the headers, a chunk size that is no number got the 400 at once; sent a
    moment later, the request waited 30 s for a body that could never come and heard "stalled"."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer {gw.token}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + before)
        await writer.drain()
        await asyncio.sleep(0.3)  # the handler is reading the body by now
        writer.write(b"ZZ\r\n")
        await writer.drain()
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 5)
        took = time.monotonic() - started
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert "Invalid character in chunk size" in json.loads(body)["error"]["message"] and took < 2, (body, took)
    assert "Traceback" not in caplog.text
    lines = [r.getMessage() for r in caplog.records if "Invalid character in chunk size" in r.getMessage()]
    assert len(lines) == 1 and "the request body could not be read" in lines[0], lines
    assert (await gw.responses()).status == 200


async def test_a_request_in_an_http_version_not_spoken_here_is_logged_as_malformed(fakes, gateway, caplog):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    request = f"GET /v1/models HTTP/2.0\r\nHost: 127.0.0.1:{gw.port}\r\n\r\n".encode()
    with caplog.at_level("INFO"):
        line, body = await asyncio.to_thread(_answer, gw.port, request)
    assert line == b"HTTP/1.1 400 Bad Request"  # not "HTTP/2.0 400", which an HTTP/1 client cannot read
    assert json.loads(body)["error"]["message"].startswith("malformed HTTP request: HTTP/2.0 is not served here")
    lines = [r.getMessage() for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert len(lines) == 1 and "HTTP/2.0 is not served here" in lines[0], lines
    assert "Traceback" not in caplog.text


async def test_an_overlong_header_line_is_named_without_quoting_it(fakes, gateway, caplog):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    request = (f"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer {gw.token}"
               + "x" * 70_000 + "\r\n\r\n").encode()
    with caplog.at_level("INFO"):
        line, body = await asyncio.to_thread(_answer, gw.port, request)
    assert line.endswith(b" 400 Bad Request")
    assert json.loads(body)["error"]["message"] == "malformed HTTP request: a request or header line is too long"
    assert gw.token not in caplog.text and "Traceback" not in caplog.text


async def test_a_control_call_whose_compressed_body_is_cut_short_is_refused_not_run_without_arguments(fakes, gateway):
    """Only gzip's 10-byte header of {"provider": "p1"} arrives: read as no arguments, set_manual_override
    would unlock routing instead of locking it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    cut = gzip.compress(b'{"provider": "p1"}')[:10]
    reply = await gw.request("POST", "/api/set_manual_override", raw=cut, headers={"Content-Encoding": "gzip"})
    assert reply.status == 400 and reply.json["error"]["message"] == (
        "the request body could not be read: Can not decode content-encoding: gzip (the data ends early)")
    assert (await gw.api("get_status"))["manual_override"] == "p2"


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/no-such-route"])
async def test_an_undecodable_body_of_a_request_refused_unread_leaves_no_traceback(fakes, gateway, caplog, path):
    """Answered without reading its body (a wrong token, an unknown route), the body is still read by
    aiohttp after the answer: a broken gzip there is no "unhandled exception" (it is not even decoded)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer wrong\r\n"
               "Content-Encoding: gzip\r\nContent-Length: 8\r\nConnection: close\r\n\r\n").encode() + b"\x00garbage"
    with caplog.at_level("INFO"):
        line, _ = await asyncio.to_thread(_answer, gw.port, request)
        await asyncio.sleep(0.3)
    assert line.split(b" ")[1] in (b"401", b"404", b"405"), line
    assert "Traceback" not in caplog.text and "Unhandled exception" not in caplog.text


async def test_a_request_whose_body_completes_after_the_shutdown_cut_gets_the_503(fakes, gateway, caplog):
    """Its body still arriving when the grace ran out (the upstream connections are closed by then):
    the clean 503, not a 500 from a client session that is gone."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    body = json.dumps(simple_body()).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + gw.token.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                 + b"\r\n\r\n" + body[:10])
    await writer.drain()
    for _ in range(100):
        if gw.gateway.state.inflight:
            break
        await asyncio.sleep(0.02)
    stopping = asyncio.ensure_future(gw.close())  # the harness's grace is 1 s
    upstream = gw.services.require_serving().upstream
    for _ in range(200):
        if upstream.session.closed:
            break
        await asyncio.sleep(0.02)
    assert upstream.session.closed  # cut off: past the grace
    writer.write(body[10:])
    await writer.drain()
    head = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    await stopping
    assert head.split(b"\r\n")[0].endswith(b" 503 Service Unavailable"), head[:300]
    assert b"API Router is shutting down" in head and "Traceback" not in caplog.text


async def test_a_request_whose_body_is_still_arriving_when_the_grace_ends_gets_the_503(fakes, gateway):
    """A client sending slowly (or stuck) as the app quits is told why at the end of the grace period,
    and its row says 503 — not an EOF seconds later logged as the client's own 499."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    body = json.dumps(simple_body()).encode()
    reader, writer = await raw_request(gw.port, b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                                       + gw.token.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                                       + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
    for _ in range(100):
        if gw.gateway.state.receiving:
            break
        await asyncio.sleep(0.02)
    started = asyncio.get_running_loop().time()
    stopping = asyncio.ensure_future(gw.close())  # the harness's grace is 1 s
    head = await asyncio.wait_for(reader.read(65536), 10)
    waited = asyncio.get_running_loop().time() - started
    writer.close()
    await stopping
    assert head.split(b"\r\n")[0].endswith(b" 503 Service Unavailable"), head[:300]
    assert b"API Router is shutting down" in head and waited < 2.5, waited
    again = await start_harness(gw.services.paths.user_data)
    try:
        assert [(r["status"], r["error"]) for r in again.services.store.request_log()] == [
            (503, "API Router is shutting down; the request was not completed")]
    finally:
        await again.close()


@pytest.mark.parametrize("stream", [True, False])
async def test_an_attempt_cut_off_by_the_shutdown_says_so_not_that_the_provider_closed(fakes, gateway, stream):
    """The provider was still thinking when the app quit: the gateway closed that connection, so the
    attempt is aborted by the shutdown — its error must not blame the provider."""
    (p1,) = await fakes("p1")
    p1.always(fp.hang(30))
    gw = await gateway({"p1": p1})
    asking = asyncio.ensure_future(gw.responses(stream=stream))
    for _ in range(200):
        if p1.calls:
            break
        await asyncio.sleep(0.02)
    await gw.gateway.stop()  # the app quits (the harness's grace is 1 s); the client stays to hear it
    reply = await asking
    await gw.close()
    assert reply.status == 503, reply.text
    again = await start_harness(gw.services.paths.user_data)
    try:
        (row,) = again.services.store.request_log()
        assert [(a["outcome"], a["error"]) for a in row["attempts"]] == [("aborted", "API Router is shutting down")]
    finally:
        await again.close()


@pytest.mark.parametrize("stream", [True, False])
async def test_a_client_leaving_on_its_own_during_the_shutdown_grace_is_logged_as_it_left(fakes, gateway, stream):
    """Within the grace nothing is cut by the gateway yet: a client that gives up then has left on its own,
    as at any other time (the shutdown only owns what it cuts once the grace is over)."""
    (p1,) = await fakes("p1")
    p1.always(fp.hang(30))
    gw = await gateway({"p1": p1})
    session = aiohttp.ClientSession()
    asking = asyncio.ensure_future(session.post(gw.base + "/v1/responses", json={**simple_body(), "stream": stream},
                                                headers=gw.auth()))
    for _ in range(200):
        if p1.calls:
            break
        await asyncio.sleep(0.02)
    stopping = asyncio.ensure_future(gw.gateway.stop())  # the harness's grace is 1 s
    await asyncio.sleep(0.2)
    asking.cancel()
    await session.close()
    await stopping
    await gw.close()
    again = await start_harness(gw.services.paths.user_data)
    try:
        (row,) = again.services.store.request_log()
        assert (row["status"], row["error"]) == (499, "client disconnected"), row
        assert [a["outcome"] for a in row["attempts"]] == ["client_closed"], row["attempts"]
    finally:
        await again.close()


async def test_a_stream_its_provider_breaks_during_the_shutdown_grace_keeps_its_own_error(fakes, gateway):
    """The stream relay too: a provider cutting its stream within the grace is its failure (failed over),
    not the shutdown's."""
    p1, p2 = await fakes("p1", "p2")
    p1.always(fp.stream_ok(cut_after=2, first_delay=0.4))  # response.created, in_progress, then the cut
    gw = await gateway({"p1": p1, "p2": p2})
    gw.gateway.shutdown_grace = 4.0  # far more than the cut and p2's answer need (stop waits only that long)
    asking = asyncio.ensure_future(gw.responses(stream=True))
    for _ in range(200):
        if p1.calls:
            break
        await asyncio.sleep(0.02)
    await gw.gateway.stop()
    reply = await asking
    await gw.close()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.text
    again = await start_harness(gw.services.paths.user_data)
    try:
        (row,) = again.services.store.request_log()
        first = row["attempts"][0]
        assert first["outcome"] == "provider_failure" and "shutting down" not in first["error"], first
    finally:
        await again.close()


@pytest.mark.parametrize("fallback", [False, True])
async def test_an_attempt_that_fails_on_its_own_during_the_shutdown_grace_keeps_its_error(fakes, gateway, fallback):
    """Only what the gateway cut off once the grace ran out is "shutting down": a provider's own 500
    within the grace is that provider's failure, with what it said — and failed over as ever."""
    p1, p2 = await fakes("p1", "p2")

    async def slow_500(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        await asyncio.sleep(0.4)
        return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=500)

    p1.always(slow_500)
    gw = await gateway({"p1": p1, "p2": p2} if fallback else {"p1": p1})
    gw.gateway.shutdown_grace = 4.0  # far more than p1's 500 and p2's answer need (stop waits only that long)
    asking = asyncio.ensure_future(gw.responses())
    for _ in range(200):
        if p1.calls:
            break
        await asyncio.sleep(0.02)
    await gw.gateway.stop()  # the grace (4 s) outlasts the provider's answer
    reply = await asking
    await gw.close()
    assert reply.status == (200 if fallback else 502), reply.text
    again = await start_harness(gw.services.paths.user_data)
    try:
        (row,) = again.services.store.request_log()
        assert row["attempts"][0]["outcome"] == "provider_failure" and "boom" in row["attempts"][0]["error"]
        assert [a["provider"] for a in row["attempts"]] == (["p1", "p2"] if fallback else ["p1"])
    finally:
        await again.close()


@pytest.mark.parametrize("path", ["/v1/responses", "/api/get_status"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("broken", ["garbage", "cut short"])
async def test_a_body_its_content_encoding_cannot_decode_is_a_400(fakes, gateway, caplog, path, encoding, broken):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    compress = gzip.compress if encoding == "gzip" else zlib.compress
    body = b"\x00garbage" if broken == "garbage" else compress(b'{"model": "m", "input": "hi"}')[:6]
    with caplog.at_level("INFO"):
        reply = await gw.request("POST", path, raw=body, headers={"Content-Encoding": encoding})
    assert reply.status == 400, reply.text
    message = reply.json["error"]["message"]
    assert message.startswith(f"the request body could not be read: Can not decode content-encoding: {encoding}")
    assert reply.headers.get("Connection") == "close"  # what is left of the body cannot be the next request
    assert "Traceback" not in caplog.text and p1.calls == 0
    valid = await gw.request("POST", "/v1/responses", raw=gzip.compress(json.dumps({"model": "m", "input": "hi"}).encode()),
                             headers={"Content-Encoding": "gzip"})
    assert valid.status == 200


GZIPPED_CALL = gzip.compress(b'{"provider": "p1"}')


@pytest.mark.parametrize("cut", [
    pytest.param(GZIPPED_CALL[:-8], id="no checksum and length"),
    pytest.param(GZIPPED_CALL[:-4], id="no length"),
    pytest.param(GZIPPED_CALL[:len(GZIPPED_CALL) // 2], id="cut in the data"),
])
@pytest.mark.parametrize("chunked", [False, True])
async def test_a_gzip_body_cut_anywhere_is_refused_and_its_connection_closed(fakes, gateway, cut, chunked):
    """aiohttp decodes a gzip stream without checking its end: without its last 8 (or 4) bytes the call ran
    as sent; cut in its data, it was read as bad JSON, on a connection left open."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    framing = (b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(cut) + cut + b"\r\n0\r\n\r\n" if chunked
               else b"Content-Length: %d\r\n\r\n" % len(cut) + cut)
    request = (f"POST /api/set_manual_override HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer "
               f"{gw.token}\r\nContent-Encoding: gzip\r\n").encode() + framing
    reader, writer = await raw_request(gw.port, request)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        body = await asyncio.wait_for(reader.readexactly(length), 5)
        assert head.startswith(b"HTTP/1.1 400 "), head
        assert json.loads(body)["error"]["message"] == (
            "the request body could not be read: Can not decode content-encoding: gzip (the data ends early)")
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed: the rest cannot be the next request
    finally:
        writer.close()
    assert (await gw.api("get_status"))["manual_override"] == "p2"


async def test_compressed_bodies_whole_are_read_as_sent(fakes, gateway):
    """gzip members one after another, deflate with and without its zlib header; decoded beyond the body
    limit is a 413."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"max_body_mb": 1})
    body = json.dumps(simple_body("whole")).encode()
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for encoding, raw in [("gzip", gzip.compress(body[:20]) + gzip.compress(body[20:])),
                          ("deflate", zlib.compress(body)),
                          ("deflate", raw_deflate.compress(body) + raw_deflate.flush())]:
        reply = await gw.request("POST", "/v1/responses", raw=raw, headers={"Content-Encoding": encoding})
        assert reply.status == 200, (encoding, reply.text)
        assert p1.requests[-1].json == json.loads(body)
    bomb = gzip.compress(b'{"input": "' + b"a" * (2 << 20) + b'"}')
    reply = await gw.request("POST", "/v1/responses", raw=bomb, headers={"Content-Encoding": "gzip"})
    assert reply.status == 413 and "1 MB limit" in reply.json["error"]["message"]


def test_what_a_log_line_quotes_cannot_pass_for_another_line():
    import logging

    from api_router.logfile import RedactingFormatter

    formatter = RedactingFormatter(lambda text: text)
    record = logging.LogRecord("api_router", logging.ERROR, __file__, 1, "unhandled error in GET %s",
                               ("/\r2026-12-02 04:00:00,000 WARNING forged\nnext\x00",), None)
    try:
        raise ValueError("bad path /\rforged\x1b[2J")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    first, *traceback = text.split("\n")
    assert first.endswith("unhandled error in GET /\\r2026-12-02 04:00:00,000 WARNING forged\\nnext\\x00")
    assert traceback[0] == "Traceback (most recent call last):" and traceback[-1].startswith("ValueError: bad path")
    assert not any(c in text for c in "\r\x00\x1b")
    # C1 controls a terminal acts on (U+009B clears the screen, U+009D…U+009C writes the clipboard) and the
    # line breaks of Unicode (U+0085 NEL, U+2028, U+2029) that many readers split on: escaped too.
    record = logging.LogRecord("api_router", logging.WARNING, __file__, 1, "provider said: %s",
                               ("a\u009b2J b\u009d52;c;aGk=\u009c c\u0085d\u2028e\u2029f",), None)
    text = formatter.format(record)
    assert text.endswith("provider said: a\\x9b2J b\\x9d52;c;aGk=\\x9c c\\x85d\\u2028e\\u2029f"), text
    assert len(text.splitlines()) == 1


async def test_a_providers_in_band_failure_is_recorded_and_shown_as_one_short_line(fakes, gateway):
    """A failure told inside a 200 (a stream's response.failed) is a provider's words like an HTTP error's:
    one line, no control characters, 300 characters at most — in the status reason, the events and the
    request log (a 100 KB message made the dashboard's banner 26,000 px tall, and /status 1 MB a poll)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    said = "overloaded \x1b[2J\x07\r\u009b2J\u0085 " + "x" * 100_000
    for fake in (p1, p2):
        fake.always(fp.in_band_failure("server_error", said, error_type="server_error"))
    reply = await gw.responses(stream=True)
    assert reply.status == 502
    status = await gw.api("get_status")
    gw.services.store.flush()
    row = gw.services.store.request_log()[0]
    shown = [status["summary"]["reason"], *(e["message"] for e in status["recent_events"]), row["error"],
             *(a["error"] for a in row["attempts"])]
    assert any("overloaded" in text for text in shown), shown
    for text in shown:
        assert len(text) < 700 and not re.search(r"[\x00-\x1f\x7f-\x9f]", text), text[:120]


async def test_a_stalled_request_body_is_answered_408_and_dropped(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"body_stall_timeout_seconds": 1})
    sock = socket.create_connection(("127.0.0.1", gw.port))
    received = bytearray()
    try:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + gw.token.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\": ")
        took = await asyncio.to_thread(closed_within, sock, 4, received)
        assert 0.9 <= took <= 3.5, took
    finally:
        sock.close()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in head
    assert json.loads(body)["error"] == {"message": "the request body stalled: no bytes for 1 s",
                                         "type": "request_timeout"}
    await wait_until(lambda: gw.services.store.requests_today() == 1, 2, "the request to be logged")
    row = gw.services.store.request_log()[0]
    assert row["status"] == 408 and f"X-API-Router-Request-Id: {row['request_id']}".encode() in head
    assert row["outcome"] == "client_error"  # the client's own stall: no provider failed
    assert p1.calls == 0


async def test_connections_beyond_the_bound_are_refused_and_logged(fakes, gateway, caplog):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"max_connections": 4})
    assert gw.services.config.current.listen.max_connections == 4  # any bound from 1 is the user's to choose
    socks = []
    try:
        with caplog.at_level("WARNING", logger="api_router.gateway.connections"):
            for _ in range(12):
                socks.append(socket.create_connection(("127.0.0.1", gw.port)))
            await asyncio.sleep(0.3)
        refused = 0
        for s in socks:
            s.settimeout(0.2)
            try:
                if s.recv(1) == b"":
                    refused += 1
            except TimeoutError:
                pass
            except ConnectionResetError:
                refused += 1
        assert refused >= 8
        assert "connection limit reached (4 open; [listen] max_connections = 4)" in caplog.text, caplog.text
    finally:
        for s in socks:
            s.close()
    await asyncio.sleep(0.3)
    assert (await gw.responses()).status == 200


async def test_connections_idling_between_requests_make_room_at_the_bound(fakes, gateway):
    """Anyone can open keep-alive connections and leave them idle for 75 s: at the bound they give way,
    so a client with the token is never locked out by them."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"max_connections": 4})
    idle = []
    try:
        for _ in range(6):
            conn = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            conn.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\n\r\n".encode())
            assert (await asyncio.to_thread(conn.recv, 4096)).startswith(b"HTTP/1.1 200")
            idle.append(conn)
        for _ in range(3):
            assert (await gw.responses()).status == 200
        await asyncio.sleep(0.1)
        open_still = 0
        for conn in idle:
            conn.settimeout(0.2)
            try:
                open_still += conn.recv(1) != b""
            except TimeoutError:
                open_still += 1
            except ConnectionResetError:
                pass
        assert open_still <= 3  # the others gave their places to newer connections
    finally:
        for conn in idle:
            conn.close()


# --- 4. start-up errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("breakage", ["config is a folder", "secrets is a folder", "data is a file",
                                      "log is a folder", "config is a pipe", "secrets is a pipe", "log is a pipe",
                                      "config links to itself", "secrets links to itself",
                                      "the folder links to itself"])
def test_an_unusable_file_at_start_up_is_one_line_and_exit_1(tmp_path, breakage):
    ud = tmp_path / "ud"
    ud.mkdir()
    target = {"config is a folder": ud / "config.toml", "secrets is a folder": ud / "secrets.json",
              "data is a file": ud / "data", "log is a folder": ud / "data" / "api-router.log",
              "config is a pipe": ud / "config.toml", "secrets is a pipe": ud / "secrets.json",
              "log is a pipe": ud / "data" / "api-router.log",  # opening it to write would wait for a reader
              "config links to itself": ud / "config.toml", "secrets links to itself": ud / "secrets.json",
              "the folder links to itself": ud}[breakage]
    if breakage.endswith("links to itself"):  # a symlink loop: Python before 3.13 raised RuntimeError, a traceback
        if target == ud:
            ud.rmdir()
        target.symlink_to(target.name)
    elif breakage == "data is a file":
        target.write_text("not a folder")
    elif breakage.endswith("pipe"):
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes here")
        target.parent.mkdir(exist_ok=True)
        os.mkfifo(target)  # reading it would wait for a writer forever
    else:
        target.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "api_router", "--headless", "--user-data", str(ud), "--port", "0"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("api-router: cannot use ") and str(target) in lines[0]


def test_a_folder_where_a_file_should_be_is_said_to_be_one_where_opening_it_is_refused(tmp_path, monkeypatch):
    """Windows refuses to open a folder as a file with "Permission denied", which read as a permissions
    problem to fix; it is a folder in the file's place, as POSIX systems tell."""
    real_open = os.open

    def windows_open(path, flags, *args):  # type: ignore[no-untyped-def]
        if os.path.isdir(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    folder = tmp_path / "config.toml"
    folder.mkdir()
    monkeypatch.setattr(fsutil.os, "open", windows_open)
    with pytest.raises(IsADirectoryError):
        fsutil.read_file(folder)
    denied = tmp_path / "secrets.json"
    denied.write_text("{}")
    monkeypatch.setattr(fsutil.os, "open", lambda *a: (_ for _ in ()).throw(PermissionError(errno.EACCES, "no")))
    with pytest.raises(PermissionError) as caught:
        fsutil.read_file(denied)
    assert not isinstance(caught.value, IsADirectoryError)


def test_a_save_waits_out_another_program_holding_the_file_on_windows(tmp_path, monkeypatch):
    """Windows refuses a rename while an antivirus scan, the search indexer or OneDrive has the file open: a
    save (and a move aside) tries again for a moment before it fails, instead of saying the folder is not
    writable. A hold that does not pass is still the error it is."""
    real, held = os.replace, {"times": 2}

    def refused_while_held(src, dst):
        if held["times"] > 0:
            held["times"] -= 1
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        real(src, dst)

    monkeypatch.setattr(fsutil, "SHARING_PAUSES", (0.01, 0.01, 0.01))
    monkeypatch.setattr(fsutil.os, "replace", refused_while_held)
    path = tmp_path / "config.toml"
    fsutil.atomic_write(path, b"x = 1\n")
    assert path.read_bytes() == b"x = 1\n"
    held["times"] = 1
    aside = fsutil.move_aside(path)
    assert aside.read_bytes() == b"x = 1\n" and not path.exists()
    held["times"] = 10
    with pytest.raises(PermissionError):
        fsutil.atomic_write(path, b"x = 2\n")
    assert not path.exists() and [p.name for p in tmp_path.iterdir()] == [aside.name]  # no temp file left
    # A first save links the file it wrote into place, then removes its temp name: held too, for a moment.
    real_unlink, unlink_held = os.unlink, {"times": 2}

    def unlink_refused_while_held(target, *args, **kwargs):
        if unlink_held["times"] > 0:
            unlink_held["times"] -= 1
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        real_unlink(target, *args, **kwargs)

    monkeypatch.setattr(fsutil.os, "unlink", unlink_refused_while_held)
    fsutil.atomic_write(path, b"x = 3\n", unless_changed=(None,))
    assert path.read_bytes() == b"x = 3\n" and unlink_held["times"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([aside.name, path.name])
    # Held for good: the save is in place all the same, and not reported as failed; the temp name stays.
    path.unlink()
    unlink_held["times"] = 100
    fsutil.atomic_write(path, b"x = 4\n", unless_changed=(None,))
    assert path.read_bytes() == b"x = 4\n" and len(list(tmp_path.iterdir())) == 3


def test_the_log_file_and_the_database_are_created_where_the_os_has_no_file_modes(tmp_path, monkeypatch):
    """On Windows there is no owner-only mode to give a new file, but the file is still made:
    the log handler looks at what is at its path before it opens it, and a first start found nothing there —
    every start failed with "cannot use …api-router.log (No such file or directory)", and so did the first
    rotation of a log that did exist."""
    import logging

    from api_router.logfile import PrivateRotatingFileHandler

    log_path = tmp_path / "api-router.log"
    monkeypatch.setattr(fsutil, "HAS_FILE_MODES", False)
    handler = PrivateRotatingFileHandler(log_path, maxBytes=200, backupCount=2, encoding="utf-8")
    try:
        for i in range(10):  # past maxBytes a few times: each rotation opens a new file
            handler.emit(logging.LogRecord("t", logging.WARNING, __file__, 1, "line %d " + "x" * 60, (i,), None))
    finally:
        handler.close()
    assert log_path.is_file() and (tmp_path / "api-router.log.1").is_file()
    store = Store(tmp_path / "data" / "s.sqlite3")
    store.open()
    store.close()


def test_a_log_file_that_cannot_be_renamed_keeps_its_records_and_is_rotated_later(tmp_path, monkeypatch, capsys):
    """Windows refuses to rename a file another program holds open (a log viewer, `Get-Content -Wait`): each
    record tried the rotation again and was lost with it, and each try moved the backups on, losing the
    oldest. The records go on into the file, the rotation waits ROTATE_AGAIN_SECONDS, and the backups keep
    their history."""
    import logging

    from api_router import logfile

    log_path = tmp_path / "api-router.log"
    (tmp_path / "api-router.log.1").write_text("history 1\n")
    (tmp_path / "api-router.log.2").write_text("history 2\n")
    handler = logfile.PrivateRotatingFileHandler(log_path, maxBytes=300, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    tries: list[str] = []

    def refused(source: str, dest: str) -> None:
        tries.append(dest)
        raise PermissionError(13, "The process cannot access the file because it is being used by another process")

    monkeypatch.setattr(logfile, "ROTATE_AGAIN_SECONDS", 0.3, raising=False)
    monkeypatch.setattr(handler, "rotate", refused)

    def emit(message: str) -> None:
        handler.emit(logging.LogRecord("t", logging.WARNING, __file__, 1, message, None, None))

    try:
        for n in range(40):  # ~2.4 KB: past maxBytes many times over, within one wait
            emit(f"line {n} " + "x" * 50)
        assert len(tries) == 1  # one try, then the wait (not a try per record)
        time.sleep(0.4)
        emit("line 40")
        assert len(tries) == 2  # tried again after the wait, and refused again
        assert [line.split()[1] for line in log_path.read_text().splitlines()] == [str(n) for n in range(41)]
        assert capsys.readouterr().err == ""
        monkeypatch.setattr(handler, "rotate", os.replace)  # let go
        time.sleep(0.4)
        emit("after")
    finally:
        handler.close()
    assert (tmp_path / "api-router.log.1").read_text().count("line") == 41
    assert (tmp_path / "api-router.log.2").read_text() == "history 1\n"
    assert (tmp_path / "api-router.log.3").read_text() == "history 2\n"
    assert log_path.read_text() == "after\n"


def test_a_log_file_that_cannot_be_written_costs_one_line_not_a_traceback_per_record(tmp_path, capsys):
    """A full disk (here the kernel's /dev/full, which refuses every write with ENOSPC): Python's logging
    printed "--- Logging error ---" and a traceback on stderr for every record. One line says so; once the
    file takes records again it says how many it lost."""
    import logging

    from api_router.logfile import PrivateRotatingFileHandler

    log_path = tmp_path / "api-router.log"
    log_path.symlink_to("/dev/full")
    handler = PrivateRotatingFileHandler(log_path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def line(n: int) -> logging.LogRecord:
        return logging.LogRecord("t", logging.WARNING, __file__, 1, "line %d", (n,), None)

    try:
        for n in range(5):
            handler.emit(line(n))
        err = capsys.readouterr().err
        assert "Logging error" not in err and "Traceback" not in err
        assert err.splitlines() == [f"api-router: the log file {log_path} cannot be written (No space left on device); "
                                    "log records are lost until it can be"]
        log_path.unlink()  # the disk has room again: the next open finds a file
        with contextlib.suppress(OSError):
            handler.stream.close()  # what was buffered for /dev/full
        handler.stream = None
        handler.emit(line(5))
        handler.emit(line(6))
    finally:
        handler.close()
    assert capsys.readouterr().err == ""
    assert log_path.read_text().splitlines() == [
        "WARNING: line 5", "WARNING: 5 earlier log records were lost: the log file could not be written for a while",
        "WARNING: line 6"]


async def test_a_log_file_linked_to_dev_null_is_a_way_to_keep_no_log(fakes, gateway):
    """A pipe there is refused (it would hold the start for ever); a device is a file to write to."""
    import logging

    from api_router.logfile import setup_logging

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    log_path = gw.services.paths.data / "api-router.log"
    log_path.unlink(missing_ok=True)
    log_path.symlink_to(os.devnull)
    root = logging.getLogger()
    kept = list(root.handlers), root.level
    listener = setup_logging(gw.services, console=False)
    try:
        logging.getLogger("api_router.test").warning("a line into nothing")
    finally:
        listener.stop()
        root.handlers[:], root.level = kept
    assert log_path.is_symlink() and stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert stat.S_IMODE(os.stat(os.devnull).st_mode) == 0o666  # the device is left as it is


async def test_a_change_saved_into_a_config_linked_to_itself_says_so(fakes, gateway, caplog):
    """It said to check that the folder is writable and has space."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.config
    path.unlink()
    path.symlink_to(path.name)
    with pytest.raises(ApiError, match="a symbolic link that leads back to itself: remove the link"):
        await gw.api("update_routing", cooldown_seconds=31)
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("linked", ["config.toml", "secrets.json"])
@pytest.mark.parametrize("what", ["folder", "pipe"])
async def test_a_file_linked_to_a_folder_or_device_is_not_moved_aside_by_a_change(fakes, gateway, tmp_path,
                                                                                  linked, what):
    """A link made while the app runs to the user's folder (or a device: /dev/null) is no file of ours gone
    bad: a change is refused saying so, and the link's target keeps its name, its mode and what it holds."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    target = tmp_path / f"elsewhere-{what}"
    if what == "folder":
        target.mkdir(mode=0o755)
        (target / "thesis.txt").write_text("mine")
    else:
        os.mkfifo(target, 0o644)
    mode = stat.S_IMODE(target.stat().st_mode)
    path = gw.services.paths.user_data / linked
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(ApiError, match=f"it links to {target}, which is not a file: point the link at a file"):
        if linked == "config.toml":
            await gw.api("update_routing", cooldown_seconds=31)
        else:
            await gw.api("set_provider_key", provider="p1", key="sk-new-key-0123456789")
    assert stat.S_IMODE(target.stat().st_mode) == mode and path.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("elsewhere")) == [target.name]
    if what == "folder":
        assert [p.name for p in target.iterdir()] == ["thesis.txt"]


@pytest.mark.parametrize("code, advice", [(errno.EACCES, "fix its permissions"), (errno.EROFS, "read-only"),
                                          (errno.EISDIR, "is a folder"), (None, "a pipe or a device"),
                                          (errno.EEXIST, "a file is where a folder should be"),
                                          (errno.ENOSPC, "the disk is full; free some space")])
def test_start_up_error_messages_say_what_to_do(tmp_path, code, advice):
    error = NotAFile(errno.EINVAL, "not a regular file", str(tmp_path / "secrets.json")) if code is None else \
        OSError(code, os.strerror(code), str(tmp_path / "secrets.json"))
    message = _describe_os_error(error, Paths(tmp_path))
    assert str(tmp_path / "secrets.json") in message and advice in message


def _start_fails(ud: Path, **popen: object) -> str:
    """The one stderr line of a start that must fail (exit 1, no traceback)."""
    proc = subprocess.run([sys.executable, "-m", "api_router", "--headless", "--user-data", str(ud), "--port", "0"],
                          capture_output=True, text=True, timeout=30, **popen)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("linked", ["config.toml", "secrets.json"])
def test_a_link_into_a_folder_that_is_not_there_stops_the_start_and_makes_nothing(tmp_path, linked):
    """A file linked from a dotfiles repository not cloned yet, or a drive not mounted: the app does not
    make that folder (anywhere on the disk) and write new settings or a new token there; it says why."""
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    away = tmp_path / "dotfiles" / "api-router" / linked
    (ud / linked).unlink()
    (ud / linked).symlink_to(away)
    line = _start_fails(ud)
    assert line.startswith(f"api-router: cannot use {ud / linked}") and f"links to {away}" in line, line
    assert not (tmp_path / "dotfiles").exists() and (ud / linked).is_symlink()


def test_a_disk_too_full_to_start_on_is_one_line(tmp_path):
    """The first write of a start fails (a full disk; here a file-size limit fails it the same way)."""
    import resource
    import signal

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    ud = tmp_path / "ud"
    line = _start_fails(ud, preexec_fn=limited)
    assert line.startswith(f"api-router: cannot use {Paths(ud).lock} (File too large): "), line


@pytest.mark.parametrize("problem", ["a folder", "held by another program", "another program's",
                                     "another program's, no name shared", "another program's, its own meta",
                                     "another program's, a meta like ours", "another program's, a meta alone"])
def test_a_database_that_cannot_be_opened_says_why(tmp_path, problem):
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    store = Paths(ud).store
    store.parent.mkdir(parents=True, exist_ok=True)
    holder = None
    if problem == "a folder":
        store.mkdir()
        advice = "it is a folder where the database file should be"
    elif problem.startswith("another program's"):  # readable and writable: not ours to write into, nor to move
        with contextlib.closing(sqlite3.connect(store)) as other:
            other.executescript({"another program's": "CREATE TABLE events (kind TEXT); CREATE TABLE request_log (x);",
                                 "another program's, no name shared": "CREATE TABLE moz_places (url TEXT); "
                                                                      "PRAGMA user_version = 1;",
                                 "another program's, its own meta": "CREATE TABLE meta (name TEXT, data BLOB); "
                                                                    "CREATE TABLE items (x);",
                                 # as Chrome's History file has it
                                 "another program's, a meta like ours": "CREATE TABLE meta (key LONGVARCHAR NOT NULL "
                                                                        "UNIQUE PRIMARY KEY, value LONGVARCHAR); "
                                                                        "CREATE TABLE urls (id INTEGER PRIMARY KEY);",
                                 # a key-value file with nothing else: our meta is made last, never alone
                                 "another program's, a meta alone": "CREATE TABLE meta (key TEXT PRIMARY KEY, "
                                                                    "value TEXT NOT NULL);",
                                 }[problem])
        advice = "it is an SQLite database of another program, not API Router's: move it away"
    else:
        holder = sqlite3.connect(store, isolation_level=None)
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        advice = "another program holds it"
    try:
        line = _start_fails(ud)
    finally:
        if holder is not None:
            holder.close()
    assert line.startswith(f"api-router: cannot open the database {store}") and advice in line, line
    if problem.startswith("another program's"):
        with contextlib.closing(sqlite3.connect(store)) as other:  # left as it was
            tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables in ({"moz_places"}, {"events", "request_log"}, {"meta", "items"}, {"meta", "urls"},
                          {"meta"}), tables


def as_bound_by_file_modes(tmp_path: Path) -> tuple[Path, list[str]]:
    """A user-data folder of an existing install, and the command prefix that runs the app bound by
    file modes: root writes anywhere, so it runs without the capabilities that allow that."""
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    (ud / "data").mkdir(mode=0o700)
    if os.geteuid() != 0:
        return ud, []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): file modes cannot be made to apply")
    return ud, ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_read_only_user_data_folder_stops_the_start_with_one_line(tmp_path):
    ud, prefix = as_bound_by_file_modes(tmp_path)
    ud.chmod(0o500)
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "api_router", "--headless", "--user-data", str(ud),
                               "--port", "0"], capture_output=True, text=True, timeout=30)
    finally:
        ud.chmod(0o700)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0] == f"api-router: cannot use {ud} (Permission denied): it must be readable and writable by you: " \
                       "fix its permissions, or start with --user-data pointing at another folder"


@pytest.mark.parametrize(("nearly_full", "advice"), [
    (False, "check that it and its folder are writable by you"),
    (True, "the disk is full or nearly; free some space, or start with --user-data pointing at another disk")])
def test_a_database_that_cannot_open_on_a_nearly_full_disk_says_the_disk_is_full(tmp_path, monkeypatch, nearly_full,
                                                                                  advice):
    """Short of room SQLite says "disk I/O error" (its journal could not grow): the advice was to check
    permissions. Where the disk has less room than the journal needs, it says the disk is full."""
    from api_router import composition

    def out_of_room(self):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "open", out_of_room)
    # The disk's real free room, measured against a threshold above or below any disk's.
    monkeypatch.setattr(composition, "NEARLY_FULL_BYTES", 1 << 62 if nearly_full else 0)
    paths = Paths(tmp_path / "ud")
    with pytest.raises(composition.StartupError) as raised:
        composition.open_services(paths)
    assert str(raised.value) == f"cannot open the database {paths.store} (disk I/O error); {advice}" + (
        "" if nearly_full else ", or start with --user-data pointing at another folder")

    def read_only(self):  # a read-only file system reports no free room: no full disk for all that
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Store, "open", read_only)
    with pytest.raises(composition.StartupError, match="check that it and its folder are writable by you"):
        composition.open_services(Paths(tmp_path / "ud2"))


@pytest.mark.skipif(os.name != "posix", reason="file modes")
@pytest.mark.parametrize("problem", ["read-only", "newer"])
def test_a_database_that_cannot_be_written_or_is_a_newer_versions_stops_the_start_with_one_line(tmp_path, problem):
    """Started anyway, the first would serve while recording nothing; the second is not this version's
    to change (nor is it unreadable: it is left as it is)."""
    ud, prefix = as_bound_by_file_modes(tmp_path)
    db = ud / "data" / "api-router.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")  # as the app leaves it
    from api_router.store.schema import TABLES

    conn.executescript(TABLES)  # a file of ours: its tables, meta among them
    conn.execute(f"PRAGMA user_version = {99 if problem == 'newer' else 0}")
    conn.close()
    if problem == "read-only":
        db.chmod(0o400)
    before, files = db.read_bytes(), sorted(db.parent.glob(db.name + "*"))
    proc = subprocess.run([*prefix, sys.executable, "-m", "api_router", "--headless", "--user-data", str(ud),
                           "--port", "0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    if problem == "newer":
        assert lines[0] == f"api-router: the database {db} was written by a newer version of API Router (schema 99; " \
                           "this version reads up to 1); run that version, or move the file away to start with an " \
                           "empty history"
    else:
        assert lines[0].startswith(f"api-router: cannot open the database {db} (attempt to write a readonly database)")
    assert db.read_bytes() == before and not list(db.parent.glob("*broken*"))
    # Nothing left behind: SQLite gives the -wal and -shm files it makes the database's mode, and a
    # read-only -shm would refuse the next start after the user made the database writable as told.
    assert sorted(db.parent.glob(db.name + "*")) == files
    if problem == "read-only":
        db.chmod(0o600)
        port = fp.free_port()
        again = subprocess.Popen([*prefix, sys.executable, "-m", "api_router", "--headless", "--user-data", str(ud),
                                  "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_health(port, again)
        finally:
            again.terminate()
            again.wait(timeout=30)


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_change_that_cannot_be_saved_is_a_clear_error_not_a_traceback(tmp_path):
    """The folder becomes read-only while the app runs: the change is refused with a message that names
    the file, and nothing is lost."""
    ud, prefix = as_bound_by_file_modes(tmp_path)
    port = fp.free_port()
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "api_router", "--headless", "--user-data", str(ud),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_health(port, proc)
        before = (ud / "config.toml").read_bytes()
        ud.chmod(0o500)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/update_routing", data=b'{"hedge": false}',
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        error = json.loads(refused.value.read())["error"]["message"]
        assert refused.value.code == 500
        assert f"cannot write {ud / 'config.toml'}: Permission denied;" in error and "writable" in error
        assert (ud / "config.toml").read_bytes() == before
    finally:
        ud.chmod(0o700)
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "Traceback" not in err


def test_the_window_hears_why_a_change_could_not_be_saved_too(tmp_path):
    """Over HTTP a failed save is a message naming the file; the desktop window's bridge says the same
    (it said "internal error")."""
    from api_router.control import exposed
    from api_router.desktop.bridge import BridgeError, make_desktop_api

    blocked = tmp_path / "a-file" / "config.toml"  # its folder is a file: no one can write there, root included
    (tmp_path / "a-file").write_text("")

    class Saving:
        @exposed
        def save(self) -> None:
            blocked.write_text("x")

        @exposed
        def broken(self) -> None:
            raise OSError("not a file at all")

    window = make_desktop_api(Registry(Saving()))
    with pytest.raises(BridgeError) as refused:
        window.save({})
    assert str(refused.value).startswith(f"API Router could not save the change: cannot write {blocked}: ")
    with pytest.raises(BridgeError, match="internal error in API Router; see its log"):
        window.broken({})


# --- 5. control arguments are type-checked, for every method --------------------------------------------


def wrong_value_for(words: str):
    """A JSON value that is not what ``words`` describes."""
    return {"a string": 5, "an integer": "5", "a number": "five", "true or false": "yes"}.get(
        words.split(" or ", maxsplit=1)[0], [1])


async def test_every_control_method_answers_400_naming_a_wrongly_typed_argument(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    registry = Registry(gw.control)
    checked = 0
    for name, method in sorted(registry.methods.items()):
        if not method.params:
            reply = await gw.request("POST", f"/api/{name}", body={"unexpected": 1})
            assert (reply.status, method.open_kwargs) in ((400, False), (400, True)), (name, reply.body)
            checked += 1
            continue
        for param in method.params:
            args = {p.name: "p1" if "string" in p.words else 1 for p in method.params if p.required}
            args[param.name] = wrong_value_for(param.words)
            reply = await gw.request("POST", f"/api/{name}", body=args)
            assert reply.status == 400, (name, param.name, reply.body)
            assert param.name in reply.json["error"]["message"], (name, param.name, reply.json)
            checked += 1
    assert checked > 50
    for name, args in [("list_events", {"before_id": [1]}), ("list_events", {"provider": {"x": 1}}),
                       ("get_analytics", {"window": [1]}),
                       # Integers SQLite cannot hold, and numbers that are no number.
                       ("get_request", {"id": 2 ** 63}), ("list_requests", {"before_id": -(2 ** 64)}),
                       ("list_events", {"before_id": 10 ** 30}), ("update_routing", {"cooldown_seconds": 1e308}),
                       ("update_routing", {"session_idle_return_seconds": 1e10})]:
        reply = await gw.request("POST", f"/api/{name}", body=args)
        assert reply.status == 400 and next(iter(args)) in reply.json["error"]["message"]
    # A whole number past 64 bits is refused for its size, not called "not an integer".
    for name, args, said in [("get_request", {"id": 2 ** 64}, "must be an integer that fits in 64 bits"),
                             ("get_request", {"id": 2 ** 63}, "must be an integer that fits in 64 bits"),
                             ("list_events", {"limit": 2 ** 70}, "fits in 64 bits"),
                             ("get_request", {"id": -(2 ** 63) - 1}, "fits in 64 bits"),
                             ("update_routing", {"failure_threshold": 2 ** 64}, "at most 1000000000")]:
        reply = await gw.request("POST", f"/api/{name}", body=args)
        assert reply.status == 400 and said in reply.json["error"]["message"], (args, reply.json)


# --- 6. the gateway as its own provider --------------------------------------------------------------------


async def test_the_gateways_own_address_is_refused_as_a_provider(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    with pytest.raises(ApiError, match="is API Router itself"):
        await gw.api("upsert_provider", provider="me", base_url=f"http://localhost:{gw.port}/v1")
    # Its secrets are not known to the masking yet (the address is refused): the message masks them itself.
    for secret, url in [("sk-key-as-user-name-0123", f"http://sk-key-as-user-name-0123@localhost:{gw.port}/v1"),
                        ("sk-key-in-the-query-0123", f"http://localhost:{gw.port}/v1?api-key=sk-key-in-the-query-0123")]:
        reply = await gw.request("POST", "/api/upsert_provider", body={"provider": "me", "base_url": url})
        said = reply.body.decode()
        assert reply.status == 400 and "is API Router itself" in said and secret not in said, said
    # Nor in the refusal of a URL no client can use, nor in the event of one written in config.toml.
    bad_port = "http://127.0.0.1:99999/v1?token=sk-key-in-a-refused-url-0123"
    reply = await gw.request("POST", "/api/upsert_provider", body={"provider": "me", "base_url": bad_port})
    assert reply.status == 400 and "port" in reply.body.decode() and b"in-a-refused-url" not in reply.body


def test_a_config_naming_the_gateway_as_a_provider_is_refused_with_an_error_event(tmp_path):
    paths = Paths(tmp_path / "ud")
    write_config(paths, {"self": "http://127.0.0.1:4100/v1"}, listen={"port": 4100})
    write_keys(paths, {"self": "sk-x-000000"})
    from api_router.composition import open_services

    services = open_services(paths)
    try:
        assert services.config.current.providers["self"].base_url == ""
        assert any("is API Router itself" in e.message for e in services.store.recent_events())
    finally:
        services.close()


def test_with_a_port_option_the_self_check_uses_the_port_in_use(tmp_path):
    """``--port 4200`` over a config that says 4100: a provider on 4100 is another server and is kept
    (and the app can still be changed); one on 4200 is this gateway and is refused."""
    paths = Paths(tmp_path / "ud")
    write_config(paths, {"other": "http://127.0.0.1:4100/v1", "self": "http://localhost:4200/v1"},
                 listen={"port": 4100})
    write_keys(paths, {"other": "sk-x-000000", "self": "sk-y-000000"})
    from api_router.composition import open_services

    services = open_services(paths, port=4200)
    try:
        providers = services.config.current.providers
        assert providers["other"].base_url == "http://127.0.0.1:4100/v1" and providers["self"].base_url == ""
        assert any("localhost:4200" in e.message and "is API Router itself" in e.message
                   for e in services.store.recent_events())
    finally:
        services.close()


async def test_started_on_any_free_port_a_hand_edit_naming_that_port_is_refused(gateway):
    """Port 0 (``--port 0``): the port the gateway got is its own, for a hand edit as for the UI."""
    gw = await gateway({})
    path = gw.services.paths.config
    path.write_text(path.read_text() + f'\n[providers.selfie]\nbase_url = "http://127.0.0.1:{gw.port}/v1"\n')
    refused = f"[providers.selfie] base_url http://127.0.0.1:{gw.port}/v1 is API Router itself"
    await wait_until(lambda: any(refused in e.message for e in gw.services.store.list_events()), 3.0,
                     "the edit to be refused")
    assert "selfie" not in gw.services.config.current.providers  # the last good settings stay in use


async def test_a_loop_under_another_name_is_cut_at_the_first_hop(gateway, tmp_path):
    gw = await gateway({})
    # The harness listens on an ephemeral port that config.toml does not know: the loop slips through
    # the static check and must be caught on the wire.
    await gw.api("upsert_provider", provider="loop", base_url=f"http://127.0.0.1:{gw.port}/v1".replace("127.0.0.1",
                                                                                                        "[::ffff:127.0.0.1]"))
    reply = await gw.responses()
    assert reply.status == 502 and "came from API Router itself" in reply.json["error"]["message"]
    # Only the client's request was served: the hop that came back was refused before the proxy.
    assert gw.services.store.requests_today() == 1


async def test_two_gateways_pointing_at_each_other_stop_at_the_first_round(gateway):
    """A's provider is B and B's is A: each adds its hop id, so A refuses the request when it comes back
    through B, instead of the two nesting requests until a timeout."""
    a = await gateway({})
    b = await gateway({})
    await a.api("upsert_provider", provider="b", base_url=f"{b.base}/v1")
    await a.api("set_provider_key", provider="b", key=b.token)
    await b.api("upsert_provider", provider="a", base_url=f"{a.base}/v1")
    await b.api("set_provider_key", provider="a", key=a.token)
    reply = await a.responses()
    assert reply.status == 502 and "came from API Router itself" in reply.json["error"]["message"]
    assert (a.services.store.requests_today(), b.services.store.requests_today()) == (1, 1)
    models = await a.request("GET", "/v1/models")  # the model list goes round the same way
    assert models.status == 502 and "came from API Router itself" in models.json["error"]["message"]


def test_a_request_through_too_many_gateways_is_a_loop():
    assert not is_loop(None, "a1") and not is_loop("b2,c3", "a1")
    assert is_loop("b2,a1,c3", "a1")
    assert is_loop(",".join(f"g{i}" for i in range(MAX_HOPS)), "a1")  # gateways that never see their own id


async def test_a_request_past_too_many_gateways_is_told_so_not_that_it_came_from_itself(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    hops = ",".join(f"g{i}" for i in range(MAX_HOPS))
    reply = await gw.responses(headers={"X-API-Router-Hop": hops})
    message = reply.json["error"]["message"]
    assert reply.status == 508 and f"has been through {MAX_HOPS} API Routers already" in message, message
    assert "came from API Router itself" not in message


async def test_a_body_that_is_no_utf8_is_said_to_be_so(fakes, gateway):
    """orjson calls any bad byte a surrogate; the client is told its body is not UTF-8, and where."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.request("POST", "/v1/responses", raw=b'{"model": "m", "input": "caf\xe9"}')
    assert reply.status == 400
    assert reply.json["error"]["message"] == ("request body is not valid JSON: it is not UTF-8 text (byte 0xe9 at "
                                              "offset 28); JSON must be UTF-8")


async def test_a_lone_surrogate_escape_is_refused_before_any_provider_is_asked(fakes, gateway):
    """Half of a UTF-16 pair spelled as an escape (a JavaScript string cut inside an emoji) names no character:
    a 400 that says so, as the README promises, and no provider asked."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.request("POST", "/v1/responses", raw=b'{"model": "m", "input": "cut \\ud83d"}')
    message = reply.json["error"]["message"]
    assert reply.status == 400 and message.startswith("request body is not valid JSON: no low surrogate"), message
    assert p1.calls == 0


# --- 7. file modes -----------------------------------------------------------------------------------------


def test_user_data_is_private(tmp_path):
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    start_and_stop(ud)
    modes = {p.relative_to(ud).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [ud, *ud.rglob("*")]}
    assert modes["."] == 0o700 and modes["data"] == 0o700
    files = {name: mode for name, mode in modes.items() if (ud / name).is_file()}
    assert {"config.toml", "secrets.json", "data/api-router.sqlite3", "data/api-router.log"} <= set(files)
    assert all(mode == 0o600 for mode in files.values()), files


def test_files_moved_aside_and_old_rotated_logs_are_private_too(tmp_path):
    """A secrets.json moved aside still holds the keys; a log rotated by an older version names
    providers and errors."""
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    (ud / "data").mkdir(mode=0o700)
    (ud / "secrets.json").write_text('{"provider_keys": {"p1": "sk-kept-aside-123456"}, ')  # cut off
    (ud / "config.toml").write_text("[routing\n")
    (ud / "data" / "api-router.log.1").write_text("an old log\n")
    # Set aside by an older version, or copied in by hand: readable by anyone until this start.
    (ud / "secrets.json.broken-20250101-000000").write_text('{"provider_keys": {"p1": "sk-older-aside-1234"}}')
    (ud / "notes").mkdir()
    (ud / "notes" / "keys.txt").write_text("sk-written-down-123456\n")
    (ud / "elsewhere.txt").symlink_to(tmp_path / "not-ours.txt")
    (tmp_path / "not-ours.txt").write_text("not in user-data\n")
    (tmp_path / "not-ours.txt").chmod(0o644)
    for name in ("secrets.json", "config.toml", "data/api-router.log.1", "secrets.json.broken-20250101-000000", "notes",
                 "notes/keys.txt"):
        (ud / name).chmod(0o755 if name == "notes" else 0o644)
    start_and_stop(ud)
    aside = [*ud.glob("secrets.json.broken-*"), *ud.glob("config.toml.broken-*")]
    assert len(aside) == 3 and "sk-kept-aside-123456" in "".join(p.read_text() for p in aside)
    for path in [*aside, ud / "data" / "api-router.log.1", ud / "notes" / "keys.txt"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((ud / "notes").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "not-ours.txt").stat().st_mode) == 0o644  # a link's target is not ours


async def test_a_folder_moved_aside_while_the_app_runs_stays_openable(fakes, gateway):
    """A folder put where config.toml was is moved aside by the next change: it was made 0600, which no one
    but root can open (folders are 0700)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.config
    text = path.read_text()
    path.unlink()
    path.mkdir(mode=0o755)
    (path / "inside.txt").write_text("kept")
    await gw.api("update_routing", cooldown_seconds=31)
    (aside,) = path.parent.glob("config.toml.broken-*")
    assert aside.is_dir() and stat.S_IMODE(aside.stat().st_mode) == 0o700
    assert (aside / "inside.txt").read_text() == "kept" and "[providers.p1]" in text


@pytest.mark.parametrize("password", ["hunter2-secret", "hun@ter2-secret",  # a raw "@" as pasted
                                      "hun:ter2-secret"])  # the user name ends at the first ":"
async def test_passwords_in_base_urls_are_masked_wherever_shown(fakes, gateway, password):
    (p1,) = await fakes("p1")
    url = p1.base_url.replace("http://", f"http://relayuser:{password}@")
    gw = await gateway({"p1": url})
    config = await gw.api("get_config")
    assert config["providers"]["p1"]["base_url"] == p1.base_url.replace("http://", "http://relayuser:••••@")
    status = await gw.api("get_status")
    assert "ter2-secret" not in json.dumps([config, status])
    # Saving the form with the masked URL keeps the real password.
    await gw.api("upsert_provider", provider="p1", base_url=config["providers"]["p1"]["base_url"],
                 display_name="Relay")
    assert password in gw.services.config.current.providers["p1"].base_url
    assert (await gw.responses()).status == 200
    events = json.dumps((await gw.api("list_events"))["events"])
    assert "ter2-secret" not in events


async def test_a_key_written_into_a_base_url_is_masked_wherever_shown_and_kept_by_an_edit(fakes, gateway):
    """An Azure-style ``?api-key=`` holding the provider's key, a usage URL holding its usage token: both
    are shown masked, and saving the form as shown (another field edited) keeps the URLs as they were."""
    (p1,) = await fakes("p1")
    url = f"{p1.base_url}?api-key={KEY}"
    gw = await gateway({"p1": {"base_url": url, "usage_adapter": "new_api",
                               "usage_base_url": f"{p1.base_url}/usage?token=ut-usage-token-0123456789"}},
                       keys={"p1": KEY})
    await gw.api("set_usage_token", provider="p1", token="ut-usage-token-0123456789")
    config = await gw.api("get_config")
    status = await gw.api("get_status")
    public = (await gw.request("GET", "/status")).body.decode()
    for shown in (json.dumps(config), json.dumps(status), public):
        assert KEY not in shown and "ut-usage-token-0123456789" not in shown
    form = config["providers"]["p1"]
    assert form["base_url"].startswith(f"{p1.base_url}?api-key=") and form["base_url"] != url
    await gw.api("upsert_provider", provider="p1", base_url=form["base_url"],
                 usage_base_url=form["usage_base_url"], display_name="Relay")
    saved = gw.services.config.current.providers["p1"]
    assert saved.base_url == url and saved.usage_base_url.endswith("token=ut-usage-token-0123456789")
    assert (await gw.responses()).status == 200
    # An edit of the shown URL (its path here) keeps the key the mask stands for; at another host it is
    # refused: the key must be typed again, never sent to a new host.
    await gw.api("upsert_provider", provider="p1", base_url=form["base_url"].replace("/v1?", "/v1/?"))
    assert gw.services.config.current.providers["p1"].base_url == url.replace("/v1?", "/v1/?")
    with pytest.raises(ApiError, match="type the key"):
        await gw.api("upsert_provider", provider="p1", base_url=form["base_url"].replace("127.0.0.1", "localhost"))


async def test_a_masked_password_is_kept_only_for_the_address_it_was_saved_with(fakes, gateway):
    """Editing the host (or port, or user) of a URL shown as user:••••@host must not send the saved
    password to the new address: the save is refused until the password is typed again."""
    p1, other = await fakes("p1", "other")
    saved = p1.base_url.replace("http://", "http://alice:Sup3rS3cret@")
    gw = await gateway({"p1": saved})
    shown = (await gw.api("get_config"))["providers"]["p1"]["base_url"]
    for moved in (shown.replace(p1.base_url.split("//")[1].split("/")[0], other.base_url.split("//")[1].split("/")[0]),
                  shown.replace("alice:", "mallory:")):
        with pytest.raises(ApiError) as refused:
            await gw.api("upsert_provider", provider="p1", base_url=moved)
        assert refused.value.status == 400 and refused.value.message.startswith("base_url: •••• stands for")
        assert "Sup3rS3cret" not in refused.value.message
    assert gw.services.config.current.providers["p1"].base_url == saved
    await gw.api("upsert_provider", provider="p1", base_url=shown.replace("/v1", "/openai/v1"))  # same address
    assert gw.services.config.current.providers["p1"].base_url == saved.replace("/v1", "/openai/v1")
    with pytest.raises(ApiError) as refused:  # nothing saved for it to stand for
        await gw.api("upsert_provider", provider="p2", base_url=other.base_url.replace("http://", "http://bob:••••@"))
    assert refused.value.status == 400
    assert other.calls == 0


@pytest.mark.parametrize("password", ["QZ/xSECRET", "QZ#xSECRET", "QZ@y:w/SECRET"])
async def test_a_password_with_a_raw_slash_or_hash_is_refused_without_showing_a_piece_of_it(fakes, gateway,
                                                                                             password):
    """user:qz/x@host reads as the host "user", the port "QZ" and a path: the refusal names neither,
    and the URL it quotes is masked up to its last "@"."""
    (p1,) = await fakes("p1")
    url = p1.base_url.replace("http://", f"http://carol:{password}@")
    gw = await gateway({"p1": p1, "p2": url})  # by hand in config.toml
    with pytest.raises(ApiError) as refused:  # and through the control API
        await gw.api("upsert_provider", provider="p3", base_url=url)
    assert refused.value.status == 400 and "as %2F" in refused.value.message
    events = json.dumps((await gw.api("list_events"))["events"])
    assert "as %2F" in events
    for shown in (refused.value.message, events, json.dumps(await gw.api("get_config"))):
        assert "SECRET" not in shown and "QZ" not in shown and "y:w" not in shown


async def test_a_refused_base_url_is_quoted_with_everything_before_its_last_at_masked(fakes, gateway):
    """A password in a shape no URL rule finds (a space in it, one slash after the scheme, a list of
    URLs) is still not shown by the refusal that quotes the value."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1, "p2": "http://carol:qz xSECRET@h.example/v1", "p3": "https:/carol:qzSECRET@h/v1",
                        "p4": {"base_url": ["http://carol:qzSECRET@h.example/v1"]}})
    for bad in ("http://carol:qz xSECRET@h.example/v1", "https:/carol:qzSECRET@h/v1"):
        with pytest.raises(ApiError) as refused:
            await gw.api("upsert_provider", provider="p5", base_url=bad)
        assert refused.value.status == 400 and "••••@h" in refused.value.message
        assert "SECRET" not in refused.value.message and "qz" not in refused.value.message
    events = json.dumps((await gw.api("list_events"))["events"], ensure_ascii=False)
    assert events.count("••••@h") == 3 and "SECRET" not in events and "qz" not in events


async def test_a_short_password_in_a_base_url_never_reaches_a_client(fakes, gateway):
    """A URL without a path that answers 404 gets a hint naming the base URL: with its password masked."""
    (p1,) = await fakes("p1")
    p1.always(fp.status(404, "Not Found"))
    url = p1.base_url.removesuffix("/v1").replace("http://", "http://u:pw12@")
    gw = await gateway({"p1": url})
    reply = await gw.responses()
    body = reply.body.decode()
    assert reply.status == 502 and "has no path" in body and "u:••••@" in body
    shown = json.dumps([body, await gw.api("list_requests"), await gw.api("list_events"),
                        await gw.api("get_status")])
    assert "pw12" not in shown


async def test_a_key_echoed_at_the_end_of_a_long_message_is_not_half_shown(fakes, gateway):
    """Upstream messages are shortened for display: a key the cut falls in is dropped whole, not shown
    in part (masking recognises whole keys only)."""
    (p1,) = await fakes("p1")
    key = "sk-test-p1-0123456789"

    async def long_echo(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response({"error": {"message": "word " * 56 + f"key {key} failed"}}, status=500)

    p1.always(long_echo)
    gw = await gateway({"p1": p1}, keys={"p1": key})
    reply = await gw.responses()
    body = reply.body.decode()
    assert reply.status == 502 and "word word" in body
    shown = json.dumps([body, await gw.api("list_requests"), await gw.api("list_events"),
                        await gw.api("get_status")])
    assert key[:6] not in shown, shown


async def test_a_key_the_error_body_limit_cuts_in_two_is_not_half_passed_through(fakes, gateway):
    """A 400 is passed through, up to 4 MB of it: a key echoed across that cut is left out whole."""
    from api_router.gateway.upstream import ERROR_BODY_LIMIT

    (p1,) = await fakes("p1")
    key = "sk-test-p1-0123456789"
    head = b'{"error": {"message": "' + b"x " * ((ERROR_BODY_LIMIT - 40) // 2)
    body = head + b" " * (ERROR_BODY_LIMIT - 10 - len(head)) + f"key {key} refused".encode() + b'"}}'
    p1.always(fp.status(400, body=body))
    gw = await gateway({"p1": p1}, keys={"p1": key})
    reply = await gw.responses()
    assert reply.status == 400 and len(reply.body) > ERROR_BODY_LIMIT - 100
    assert key[:6].encode() not in reply.body and reply.body.endswith(b" key ")



@pytest.mark.parametrize(("codec", "width"), [("utf-16-le", 2), ("utf-16-be", 2), ("utf-32-le", 4), ("utf-32-be", 4)])
async def test_a_key_the_error_body_limit_cuts_in_a_wide_body_is_not_half_passed_through(fakes, gateway, codec, width):
    """The same in a UTF-16 or UTF-32 body: its key characters each come with NUL bytes, and the cut
    stays at a character's end."""
    from api_router.gateway.upstream import ERROR_BODY_LIMIT

    (p1,) = await fakes("p1")
    key = "sk-test-p1-0123456789"
    chars = ERROR_BODY_LIMIT // width
    head = '{"error": {"message": "' + "x " * ((chars - 40) // 2)
    text = head + " " * (chars - 10 - len(head)) + f"key {key} refused" + '"}}'
    p1.always(fp.status(400, body=text.encode(codec)))
    gw = await gateway({"p1": p1}, keys={"p1": key})
    reply = await gw.responses()
    assert reply.status == 400 and len(reply.body) % width == 0
    shown = reply.body.decode(codec)
    assert key[:6] not in shown and shown.endswith(" key "), shown[-40:]

# --- rename and delete reach the continuity index ----------------------------------------------------------


async def test_rename_and_delete_carry_the_previous_response_id_refusal(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    index = gw.services.continuity.index
    index.mark_rejects_previous_id("p1")
    await gw.api("rename_provider", provider="p1", new_id="main")
    assert index.rejects_previous_id("main") and not index.rejects_previous_id("p1")
    user_data = gw.services.paths.user_data
    await gw.api("delete_provider", provider="main")
    assert not index.rejects_previous_id("main")
    await gw.close()
    again = await start_harness(user_data)
    try:
        assert not again.services.continuity.index.rejects_previous_id("main")
        await again.api("upsert_provider", provider="main", base_url=p1.base_url)
        assert not again.services.continuity.index.rejects_previous_id("main")
    finally:
        await again.close()


def test_modes_are_only_ever_tightened(tmp_path):
    """Group and other bits go; an owner's own read-only choice stays (start-up then says it cannot
    write there instead of quietly making the folder writable)."""
    from api_router.fsutil import tighten

    cases = [(tmp_path / "shared.txt", 0o644, 0o600, 0o600), (tmp_path / "readonly.txt", 0o400, 0o600, 0o400),
             (tmp_path / "open", 0o755, 0o700, 0o700), (tmp_path / "locked", 0o500, 0o700, 0o500)]
    for path, before, mode, after in cases:
        if path.suffix:
            path.write_text("x")
        else:
            path.mkdir()
        path.chmod(before)
        tighten(path, mode)
        assert path.stat().st_mode & 0o777 == after, path.name


async def test_token_counts_no_request_could_use_are_not_counted(fakes, gateway):
    """A relay reporting 10^20 tokens, or a negative count: taken at its word it broke /status (a
    number JSON cannot carry) and lost the store's writes of the same moment."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    absurd = {"input_tokens": 10**20, "output_tokens": -993, "total_tokens": 10**20,
              "input_tokens_details": {"cached_tokens": 2**64}, "output_tokens_details": {"reasoning_tokens": -1}}
    p1.queue(fp.json_ok(usage=absurd), fp.stream_ok(usage=absurd), fp.json_ok())
    assert (await gw.responses()).status == 200
    assert (await gw.responses(stream=True)).status == 200
    assert (await gw.responses()).status == 200
    status = await gw.request("GET", "/status")
    assert status.status == 200
    assert status.json["metrics"]["p1"]["total_tokens"] == 15  # the sane answer's only
    gw.services.store.flush()
    rows = gw.services.store.request_log()
    assert [r["total_tokens"] for r in rows] == [15, 0, 0]
    assert [r["input_tokens"] for r in rows][1:] == [0, 0] and [r["cached_tokens"] for r in rows][1:] == [0, 0]


# --- clients that pause, crowd in, or speak HTTP/1.0 ------------------------------------------------


async def raw_request(port: int, data: bytes, *, rcvbuf: int | None = None):
    """An open connection with ``data`` sent on it (a small ``rcvbuf`` makes a client that does not read
    hold the sender back soon)."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(data)
    return reader, writer


def http_post(gw, body: dict, *, version: str = "1.1", extra: str = "") -> bytes:
    raw = json.dumps(body).encode()
    return (f"POST /v1/responses HTTP/{version}\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {gw.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n{extra}\r\n").encode() + raw


async def test_a_client_that_stops_reading_for_a_while_is_not_the_providers_silence(fakes, gateway):
    """Codex suspended mid-answer: the gateway's writes wait for it, the upstream waits for the gateway.
    That wait is nobody's silence: the answer completes when the client reads again, nobody is blamed."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"stream_idle_timeout_seconds": 1})
    p1.always(fp.stream_ok("y" * 8_000_000, deltas=800))
    reader, writer = await raw_request(gw.port, http_post(gw, {**simple_body(), "stream": True},
                                                          extra="Connection: close\r\n"), rcvbuf=4096)
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(3)  # three idle limits without reading
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert b"response.completed" in answer and b"response.failed" not in answer
    gw.services.store.flush()
    assert [a["outcome"] for a in gw.services.store.request_log()[0]["attempts"]] == ["ok"]
    assert gw.services.router.health_json(gw.services.config.current)["p1"]["consecutive_failures"] == 0


async def test_more_requests_at_once_than_an_upstream_pool_would_hold_all_reach_the_provider(fakes, gateway):
    """Each client connection may have its upstream one: none waits for a pool slot until its request
    timeout and is then counted as its provider's failure without having been sent."""
    (p1,) = await fakes("p1")
    # Streams whose first event comes at once and which last 3 s: queued behind a pool slot, a request
    # would see no first event within the 2 s timeout.
    gw = await gateway({"p1": p1}, routing={"request_timeout_seconds": 2, "hedge": False})
    p1.always(fp.stream_ok("held", deltas=5, delay=0.35))
    count = 300

    async def one():
        reader, writer = await raw_request(gw.port, http_post(gw, {**simple_body(), "stream": True},
                                                              extra="Connection: close\r\n"))
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        return answer.split(b"\r\n", 1)[0], b"response.completed" in answer

    answers = await asyncio.gather(*(one() for _ in range(count)))
    assert answers == [(b"HTTP/1.1 200 OK", True)] * count
    assert len(p1.requests) == count


async def test_an_http_1_0_keep_alive_client_sees_its_stream_end(fakes, gateway):
    """HTTP/1.0 has no chunked encoding: the end of a stream is the end of the connection."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("over HTTP/1.0"))
    reader, writer = await raw_request(gw.port, http_post(gw, {**simple_body(), "stream": True}, version="1.0",
                                                          extra="Connection: keep-alive\r\n"))
    answer = await asyncio.wait_for(reader.read(), 5)  # EOF: the connection was closed
    writer.close()
    assert answer.split(b"\r\n", 1)[0].endswith(b" 200 OK") and b"response.completed" in answer, answer[:200]


# --- Expect: 100-continue, HEAD and 405 ------------------------------------------------------------


def expecting(gw, *, token: str | None = None, length: int = 0, host: str = "127.0.0.1",
              path: str = "/v1/responses") -> bytes:
    """A POST's headers announcing ``length`` bytes and waiting for "100 Continue" before sending them."""
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token or gw.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n").encode()


async def test_the_body_limit_holds_for_a_body_that_came_with_its_headers(fakes, gateway):
    """No Content-Length to judge by — a chunked body, or a gzip one far smaller on the wire — and all of it
    in the first read: still a 413, and the provider never sees it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"max_body_mb": 0.01})  # 10,485 bytes
    body = json.dumps(simple_body(filler="x" * 40_000)).encode()
    chunked = (f"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {gw.token}\r\n"
               f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               f"{len(body):x}\r\n").encode() + body + b"\r\n0\r\n\r\n"
    reader, writer = await raw_request(gw.port, chunked)  # one write: headers and the whole body
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head
    packed = gzip.compress(body)
    assert len(packed) < 1_000
    reply = await gw.request("POST", "/v1/responses", raw=packed, headers={"Content-Encoding": "gzip"})
    assert reply.status == 413 and "max_body_mb" in reply.json["error"]["message"], reply.body
    assert p1.calls == 0
    small = await gw.request("POST", "/v1/responses", raw=gzip.compress(json.dumps(simple_body()).encode()),
                             headers={"Content-Encoding": "gzip"})
    assert small.status == 200 and p1.calls == 1


async def test_100_continue_is_only_sent_once_the_body_is_wanted(fakes, gateway):
    """A client that waits for "100 Continue" before sending a large body hears the refusal instead when its
    token, Host or size is wrong — and its connection closes, as the body it held back may still come."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, listen={"max_body_mb": 1})
    refusals = {
        "wrong token": (expecting(gw, token="ao_" + "f" * 32, length=500), b"401"),
        "foreign host": (expecting(gw, host="evil.example", length=500), b"403"),
        "too large": (expecting(gw, length=5 * 1024 * 1024), b"413"),
    }
    for what, (head, status) in refusals.items():
        reader, writer = await raw_request(gw.port, head)
        answer = await asyncio.wait_for(reader.read(), 5)  # EOF: closed, no 100 first
        writer.close()
        assert answer.startswith(b"HTTP/1.1 " + status), (what, answer[:80])
        assert b"100 Continue" not in answer, what
    body = json.dumps(simple_body()).encode()
    reader, writer = await raw_request(gw.port, expecting(gw, length=len(body)))
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 200") and int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) > 0
    assert p1.calls == 1


async def test_a_path_or_method_not_served_is_refused_before_any_100_continue(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for path, method, allowed in (("/v1/responses", "PUT", {"GET", "HEAD", "POST"}),
                                  ("/v1/nothing", "POST", None),  # nothing serves it: 404
                                  ("/v1/responses", "PROPFIND", {"GET", "HEAD", "POST"})):
        head = expecting(gw, length=500, path=path).replace(b"POST ", method.encode() + b" ", 1)
        reader, writer = await raw_request(gw.port, head)
        answer = await asyncio.wait_for(reader.read(), 5)  # EOF: the body it held back is not waited for
        writer.close()
        assert answer.startswith(b"HTTP/1.1 405" if allowed else b"HTTP/1.1 404"), (method, path, answer[:80])
        assert b"100 Continue" not in answer
        head, _, body = answer.partition(b"\r\n\r\n")
        if allowed is None:
            assert json.loads(body)["error"]["type"] == "not_found" and b"allow:" not in head.lower()
            continue
        allow = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"allow:"))
        assert set(allow.split(b":", 1)[1].strip().decode().split(",")) == allowed
        assert json.loads(body)["error"]["type"] == "method_not_allowed"
    assert p1.calls == 0


async def test_an_expectation_other_than_100_continue_is_a_json_417(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.request("POST", "/v1/responses", body=simple_body(), headers={"Expect": "something-else"})
    assert reply.status == 417 and reply.json["error"]["type"] == "expectation_failed"
    assert "only 100-continue" in reply.json["error"]["message"]
    for path in ("/v1/responses", "/health"):  # a header is not quoted: it may hold anything, a key pasted there
        reply = await gw.request("POST" if path != "/health" else "GET", path, body=simple_body(),
                                 headers={"Expect": gw.token})
        assert reply.status == 417 and gw.token[-8:] not in reply.body.decode(), reply.body
    head = expecting(gw, length=500).replace(b"Expect: 100-continue", b"Expect: weird")
    reader, writer = await raw_request(gw.port, head)
    answer = await asyncio.wait_for(reader.read(), 5)  # EOF: the body it announced is not waited for
    writer.close()
    assert answer.startswith(b"HTTP/1.1 417")
    assert p1.calls == 0


async def test_head_is_answered_on_get_endpoints_and_405_says_what_is_allowed(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    health = await gw.request("HEAD", "/health", token=False)
    assert health.status == 200 and health.body == b""
    assert (await gw.request("HEAD", "/v1/models")).status == 200
    assert (await gw.request("HEAD", "/v1/models", token=False)).status == 401
    wrong = await gw.request("DELETE", "/v1/responses")
    assert wrong.status == 405 and wrong.json["error"]["type"] == "method_not_allowed"
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "HEAD", "POST"}
    assert wrong.json["error"]["message"] == "DELETE is not allowed here: use GET, HEAD or POST", wrong.json
    status = await gw.request("PUT", "/api/get_status", body={})
    assert status.status == 405 and status.json["error"]["message"] == "PUT is not allowed here: use POST", status.json
    assert p1.calls == 0


async def test_head_of_the_request_export_sends_its_headers_only(fakes, gateway):
    """HEAD of the export (a download written in pieces) says what a GET would send, without the rows: a
    keep-alive client's next answer on the same connection is read as that answer, not as export rows."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for _ in range(3):
        assert (await gw.responses()).status == 200
    host, port = gw.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    auth = f"Authorization: Bearer {gw.token}\r\n"
    writer.write(f"HEAD /api/export_requests?format=csv HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"
                 f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"X-API-Router-Rows: 3" in head, head
    assert rest.startswith(b"HTTP/1.1 200"), rest[:200]  # no rows in between


async def test_a_client_that_drops_the_export_mid_download_leaves_no_traceback(fakes, gateway, caplog, monkeypatch):
    """A download the client resets while its next page is read: the connection is closing when the handler
    writes again, before aiohttp has told it the connection is lost. That was aiohttp's "Error handling
    request" with a traceback (ClientConnectionResetError); it is no error — and the export's snapshot still
    ends in the thread that read it, so the next export is whole."""
    import socket
    import struct
    import threading

    from api_router import request_log
    from tests.support.records import record

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    store = gw.services.store
    for i in range(4500):  # three pages of rows
        store.log_request(record(session=f"s{i}"))
    store.flush()
    next_page, reading = threading.Event(), threading.Event()
    pieces = request_log.Export.pieces

    def held_pieces(self):
        made = pieces(self)
        yield next(made)  # the CSV header: the answer has begun
        reading.set()
        next_page.wait(10)  # the next page is read while the client resets
        yield from made

    monkeypatch.setattr(request_log.Export, "pieces", held_pieces)
    host, port = gw.base.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=10)  # closed at once when told: no loop
    client.sendall(f"GET /api/export_requests?format=csv HTTP/1.1\r\nHost: {host}\r\n"
                   f"Authorization: Bearer {gw.token}\r\n\r\n".encode())
    with caplog.at_level("INFO"):
        assert (await asyncio.to_thread(client.recv, 12)) == b"HTTP/1.1 200"
        assert await asyncio.to_thread(reading.wait, 10)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset reaches the gateway's socket now
        next_page.set()
        time.sleep(0.3)  # noqa: ASYNC251 -- the loop held on purpose: the page read and the reset wait together
        await asyncio.sleep(0.5)
        monkeypatch.undo()
        whole = await gw.request("GET", "/api/export_requests?format=jsonl")
    assert whole.status == 200 and len(whole.body.splitlines()) == int(whole.headers["X-API-Router-Rows"]) >= 4500
    assert "Error handling request" not in caplog.text and "Traceback" not in caplog.text, caplog.text


async def test_a_minified_json_error_body_cut_at_the_limit_keeps_its_content(fakes, gateway):
    """No space in megabytes of JSON: the cut drops the run of key characters it falls in, not the body."""
    from api_router.gateway.upstream import ERROR_BODY_LIMIT

    (p1,) = await fakes("p1")
    body = b'{"error":{"message":"Request_too_large","code":"request_too_large","data":"' + b"x" * ERROR_BODY_LIMIT
    p1.always(fp.status(400, body=body + b'"}}'))
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    assert reply.status == 400 and reply.body.startswith(b'{"error":{"message":"Request_too_large","code":')


@pytest.mark.parametrize("host", ["0.0.0.0", "not a host"])
async def test_a_hand_edited_remote_host_without_allow_remote_is_refused_while_running(fakes, gateway, host):
    """It was taken as "in use" (it was never listened on), and the next start refused to start."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.config
    text = path.read_text()
    assert 'host = "127.0.0.1"' in text
    path.write_text(text.replace('host = "127.0.0.1"', f'host = "{host}"', 1))
    await wait_until(lambda: any("is not a loopback address" in e.message for e in gw.services.store.list_events()),
                     3.0, "the error event")
    assert gw.services.config.current.listen.host == "127.0.0.1"


async def test_hand_edited_long_values_are_quoted_by_their_start(fakes, gateway):
    """A 100,000-character provider id or setting name and a 2,000,000-character lock in config.toml: each
    event names them in a sentence, and the status the UI polls stays small."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = gw.services.paths.config
    good = path.read_text()

    async def events_after(text: str, needle: str) -> list[str]:
        path.write_text(text)
        await wait_until(lambda: any(needle in e.message for e in gw.services.store.list_events()), 3.0, needle)
        return [e.message for e in gw.services.store.list_events()]

    bad = good.replace("[routing]", f'[routing]\nmanual_override = "{"A" * 2_000_000}"', 1)
    bad += f'\n[providers.p{"q" * 100_000}]\nbase_url = "{p1.base_url}"\n'
    events = await events_after(bad, "manual_override")
    assert any("qqqq" in m for m in events), [m[:150] for m in events]
    events = await events_after(f'{"k" * 100_000} = 1\n' + good, "kkkk")
    assert all(len(m) < 1000 for m in events), max(len(m) for m in events)
    status = await gw.request("POST", "/api/get_status", body={})
    assert status.status == 200 and len(status.body) < 100_000, len(status.body)


async def test_control_errors_quote_what_the_client_sent_by_its_start(fakes, gateway):
    """An id, a setting or an argument name of any length gets a sentence back, not itself."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    long = "x" * 100_000
    calls = [("delete_provider", {"provider": long}), ("set_manual_override", {"provider": long}),
             ("probe_provider", {"provider": long}), ("rename_provider", {"provider": "p1", "new_id": long}),
             ("upsert_provider", {"provider": long, "base_url": p1.base_url}),
             ("update_routing", {"preferred_provider": long}), ("update_routing", {long: 1}),
             ("get_status", {long: 1, "y" * 50_000: 2}), ("x" * 4000, {})]
    for method, args in calls:
        reply = await gw.request("POST", f"/api/{method}", body=args)
        message = reply.json["error"]["message"]
        assert reply.status in (400, 404) and "xxxxx" in message and len(message) < 400, (method[:20], message[:200])


async def test_an_argument_called_self_gets_a_400_from_every_method(fakes, gateway):
    """Methods that take open keyword arguments (update_routing, …) passed "self" on to Python, which
    refused it as a second value of the method's own self: a 500 and a traceback in the log."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    from api_router.control.api import Control
    names = sorted(name for name, fn in vars(Control).items() if getattr(fn, "__control_api__", False))
    assert {"update_routing", "update_ui", "update_request_log"} <= set(names)
    for method in names:
        reply = await gw.request("POST", f"/api/{method}", body={"self": 1})
        assert reply.status in (400, 404), (method, reply.status, reply.body[:200])
        assert "'self'" in reply.json["error"]["message"], (method, reply.json)


async def test_arguments_nested_too_deeply_to_write_get_a_400(fakes, gateway):
    """A value of the wrong type is quoted in its refusal; one nested a thousand levels cannot be written
    out (Python's repr gives up) and is named by its type instead of failing the call with a 500."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    deep = "[" * 1000 + "]" * 1000
    for method, args in (("delete_provider", f'{{"provider": {deep}}}'),
                         ("upsert_provider", f'{{"provider": "p1", "model_map": {{"a": {deep}}}}}')):
        reply = await gw.request("POST", f"/api/{method}", raw=args.encode())
        assert reply.status == 400, (method, reply.status)
        assert "nested too deeply to show" in reply.json["error"]["message"]


async def test_a_hand_edit_nested_too_deeply_to_write_out_is_reported_and_the_app_goes_on(fakes, gateway):
    """A dotted key a thousand levels deep reads as a table where a number belongs. It is reported like
    any value of the wrong type, and the control API keeps answering (it failed every call with a 500)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"cooldown_seconds": 7})
    services = gw.services
    text = services.paths.config.read_text()
    assert "cooldown_seconds = 7" in text
    services.paths.config.write_text(text.replace("cooldown_seconds = 7", "cooldown_seconds" + ".a" * 1500 + " = 1"))
    services.config.reload(), services.config.reload()
    status = await gw.api("get_status")
    assert status["routing"]["cooldown_seconds"] == 7  # the last good version stays in use
    events = json.dumps((await gw.api("list_events"))["events"])
    assert "config.toml" in events and "nested too deeply" in events, events[-600:]


def test_a_user_data_folder_deleted_while_running_comes_back_private(tmp_path):
    """The next save recreates the folder it writes to: owner-only, as at start (it was 0755, umask's)."""
    from api_router.config import ConfigFile, section

    ud = tmp_path / "ud"
    cf, _ = ConfigFile.load(ud / "config.toml")
    ud.rename(tmp_path / "moved")
    cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 40))
    assert stat.S_IMODE(ud.stat().st_mode) == 0o700
    assert stat.S_IMODE((ud / "config.toml").stat().st_mode) == 0o600


async def test_a_cut_short_compressed_control_body_sent_chunked_is_refused_too(fakes, gateway):
    """Chunked, the body has no Content-Length: it decoded to nothing all the same, and the lock was
    undone by a call read as having no arguments."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    cut = gzip.compress(b'{"provider": "p1"}')[:10]
    request = (f"POST /api/set_manual_override HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer "
               f"{gw.token}\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               ).encode() + b"%x\r\n" % len(cut) + cut + b"\r\n0\r\n\r\n"
    line, body = await asyncio.to_thread(_answer, gw.port, request)
    assert b" 400 " in line and "(the data ends early)" in json.loads(body)["error"]["message"]
    assert (await gw.api("get_status"))["manual_override"] == "p2"


@pytest.mark.parametrize("encoding", ["x-gzip", "gzip, gzip", "compress", "br", "zstd"])
async def test_a_body_in_a_content_encoding_it_does_not_decode_is_refused_by_name(fakes, gateway, encoding):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    raw = gzip.compress(json.dumps(simple_body()).encode())
    reply = await gw.request("POST", "/v1/responses", raw=raw, headers={"Content-Encoding": encoding})
    assert reply.status == 400 and "this Content-Encoding is not supported" in reply.json["error"]["message"]
    assert p1.calls == 0


async def test_two_content_encoding_headers_are_refused_by_name(fakes, gateway):
    """aiohttp decodes by the last of them; judged by the first, "identity" then "gzip" let a cut-short
    gzip control body through the "decodes to nothing" guard and ran the call without arguments."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    cut = gzip.compress(b'{"provider": "p1"}')[:10]
    for first in ("identity", "gzip"):
        request = (f"POST /api/set_manual_override HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer "
                   f"{gw.token}\r\nContent-Encoding: {first}\r\nContent-Encoding: gzip\r\nContent-Length: "
                   f"{len(cut)}\r\nConnection: close\r\n\r\n").encode() + cut
        line, body = await asyncio.to_thread(_answer, gw.port, request)
        assert b" 400 " in line and "Content-Encoding is not supported" in json.loads(body)["error"]["message"]
    assert (await gw.api("get_status"))["manual_override"] == "p2"


async def test_a_page_opened_at_a_deeper_path_gets_the_apps_files(gateway):
    """The app names its files relative to the page (./assets/…): /requests/ (a trailing slash) asks for
    them under /requests/assets/, which must be the files, not the app's page in their place."""
    gw = await gateway({})
    for path in ("/requests?provider=p1", "/requests/?provider=p1", "/usage/?session=s-1"):
        page = await gw.request("GET", path)
        assert page.status == 200 and "text/html" in page.headers["Content-Type"]
        src = re.search(r'<script[^>]+src="([^"]+)"', page.body.decode()).group(1)
        script_path = urljoin("http://x" + path, src)[len("http://x"):]
        script = await gw.request("GET", script_path)
        assert "javascript" in script.headers.get("Content-Type", ""), (path, script_path, script.headers)


async def test_paths_nothing_serves_are_404_and_405_names_only_what_serves(fakes, gateway):
    """The UI's pages answer GET anywhere but the gateway's own paths (under /v1/ and /api/, and /responses
    and /models without /v1): a chat-completions client or a stray slash was told 405 "Allow: GET, HEAD",
    and GET there is a 404 (GET /responses/compact was the UI's page)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for method, path in (("POST", "/v1/chat/completions"), ("POST", "/v1/responses/"), ("POST", "/V1/responses"),
                         ("GET", "/v1/chat/completions"), ("GET", "/responses/input_items"), ("GET", "/models/x"),
                         ("GET", "/status/x")):
        reply = await gw.request(method, path, body={})
        assert reply.status == 404 and "POST /v1/responses" in reply.json["error"]["message"], (method, path)
        assert "Allow" not in reply.headers
    # A path that is served, with a method it is not served with: GET included, which the UI's pages
    # answer elsewhere.
    for method, path in (("DELETE", "/api/get_status"), ("GET", "/api/get_status"),
                         ("GET", "/v1/responses/compact"), ("HEAD", "/v1/responses/compact"),
                         ("PUT", "/v1/responses/compact"), ("GET", "/responses/compact"),
                         ("PUT", "/responses/compact")):  # and the same without /v1, as the routes are served
        wrong = await gw.request(method, path)
        assert wrong.status == 405 and wrong.headers["Allow"] == "POST", (method, path)
    assert (await gw.request("GET", "/assets/index-gone.js", token=False)).status == 404  # not the page, as a script
    assert p1.calls == 0


async def test_a_control_call_running_or_arriving_when_the_grace_ends_gets_the_503(fakes, gateway):
    """Shutdown waited for proxy requests only: a provider test under way, or a control call whose body was
    still arriving, had its connection closed with no answer."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.hang())
    auth = b"Host: 127.0.0.1\r\nAuthorization: Bearer " + gw.token.encode() + b"\r\nContent-Type: application/json\r\n"
    test = b'{"provider": "p1"}'
    running = await raw_request(gw.port, b"POST /api/test_provider HTTP/1.1\r\n" + auth + b"Content-Length: "
                                + str(len(test)).encode() + b"\r\n\r\n" + test)
    arriving = await raw_request(gw.port, b"POST /api/get_status HTTP/1.1\r\n" + auth + b"Content-Length: 10\r\n\r\n{")
    for _ in range(200):
        if gw.gateway.state.other_inflight >= 2 and p1.calls:
            break
        await asyncio.sleep(0.02)
    assert gw.gateway.state.other_inflight >= 2
    stopping = asyncio.ensure_future(gw.close())  # the harness's grace is 1 s
    for reader, writer in (running, arriving):
        head = await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        assert head.split(b"\r\n")[0].endswith(b" 503 Service Unavailable"), head[:300]
        assert b"API Router is shutting down" in head
    await stopping


async def test_control_calls_are_no_use_of_the_providers_for_background_checks(fakes, gateway):
    """The UI polls get_status every 1.5 s: counted as requests in flight, every tick overlapping one took the
    gateway for in use and sent checks (which cost tokens) long after Codex had stopped."""
    from api_router.gateway.routes import _in_flight

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    state = gw.gateway.state
    with _in_flight(state):
        assert state.inflight == 0 and state.other_inflight == 1
    assert state.other_inflight == 0


async def test_a_control_call_after_shutdown_began_is_answered_503_at_once(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    gw.gateway.state.shutting_down = True
    try:
        reply = await gw.request("POST", "/api/get_status", body={})
        assert reply.status == 503 and "shutting down" in reply.json["error"]["message"]
    finally:
        gw.gateway.state.shutting_down = False


# orjson reads JSON nested up to 1,024 levels but writes at most 254: every body the gateway writes again
# (a mapped model, an answer told in another form) must still be written, or refused in words.
_DEEP = 300


def _deep_list(levels: int) -> str:
    return "[" * levels + "]" * levels


def _model_last(deep: str) -> bytes:
    return b'{"input": "hi", "x": ' + deep.encode() + b', "model": "gpt-5.5"}'


async def test_a_deeply_nested_request_is_rewritten_whole_for_a_mapped_model(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": {"base_url": p1.base_url, "model_map": {"gpt-5.5": "mapped-5.5"}}})
    # "model" after the deep field: the body is read and written again, not patched in place.
    raw = _model_last(_deep_list(_DEEP))
    reply = await gw.request("POST", "/v1/responses", raw=raw)
    assert reply.status == 200, reply.body[:300]
    sent = p1.requests[-1].json
    assert sent["model"] == "mapped-5.5" and sent["x"] == json.loads(_deep_list(_DEEP)) and sent["input"] == "hi"


async def test_a_request_nested_too_deeply_to_write_gets_a_400_that_says_so(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": {"base_url": p1.base_url, "model_map": {"gpt-5.5": "mapped-5.5"}}})
    raw = _model_last(_deep_list(1020))
    reply = await gw.request("POST", "/v1/responses", raw=raw)
    assert reply.status == 400, (reply.status, reply.body[:300])
    assert "nested too deeply" in reply.json["error"]["message"] and p1.calls == 0
    row = (await gw.api("list_requests"))["requests"][0]
    assert row["status"] == 400 and "nested too deeply" in row["error"]


def _deep_answer() -> dict:
    answer = fp.response_object("deep")
    answer["output"][0]["x"] = json.loads(_deep_list(_DEEP))
    return answer


async def test_a_deeply_nested_json_answer_reaches_a_stream_client_as_events(fakes, gateway):
    (p1,) = await fakes("p1")
    answer = _deep_answer()

    async def deep_json(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.Response(body=json.dumps(answer).encode(), content_type="application/json")

    p1.always(deep_json)
    gw = await gateway({"p1": p1})
    for _ in range(2):  # the connection is framed right: a second request on it is answered too
        reply = await gw.responses(stream=True)
        assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in reply.body.decode().splitlines() if line.startswith("data: ")]
        assert events[-1]["type"] == "response.completed"
        assert events[-1]["response"]["output"][0]["x"] == answer["output"][0]["x"]


async def test_a_deeply_nested_stream_answers_a_json_client_and_a_deep_failure_is_its_own_error(fakes, gateway):
    (p1,) = await fakes("p1")
    answer = _deep_answer()
    p1.queue(fp.raw_stream([fp.sse_event({"type": "response.completed", "response": answer})]))
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    assert reply.status == 200 and reply.json["output"][0]["x"] == answer["output"][0]["x"]
    failed = {**fp.response_object("no"), "status": "failed",
              "error": {"code": "invalid_prompt", "message": "no", "detail": json.loads(_deep_list(_DEEP))}}

    async def deep_failure(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.Response(body=json.dumps(failed).encode(), content_type="application/json")

    p1.queue(deep_failure)
    reply = await gw.responses()
    assert reply.status == 400 and reply.json["error"]["code"] == "invalid_prompt", (reply.status, reply.body[:300])


async def test_an_answer_too_deep_to_write_again_goes_to_the_next_provider(fakes, gateway):
    """A JSON answer a stream client must get as events (or a failure a JSON client must get as its own
    error) nested deeper than API Router can write: that provider's failure, and the next one answers."""
    p1, p2 = await fakes("p1", "p2")
    answer = fp.response_object("too deep")
    answer["output"][0]["x"] = None  # written as text below: the json module reads no 1,000 levels
    deep = "[" * 1000 + "]" * 1000
    body = json.dumps(answer).replace('"x": null', '"x": ' + deep).encode()
    failed = {**fp.response_object("no"), "status": "failed", "error": {"code": "invalid_prompt", "message": "no"}}
    failed_body = json.dumps(failed).replace('"message": "no"}', '"message": "no", "detail": ' + deep + "}").encode()

    def answering(raw: bytes) -> fp.Behaviour:
        async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
            return web.Response(body=raw, content_type="application/json")
        return run

    for raw, stream in ((body, True), (failed_body, False)):  # a gateway each: after a failover p2 serves
        gw = await gateway({"p1": p1, "p2": p2})
        p1.always(answering(raw))
        reply = await gw.responses(stream=stream)
        assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", (reply.status, reply.body[:200])
        log = gw.services.store.request_log()
        attempt = log[0]["attempts"][0]
        assert attempt["provider"] == "p1" and attempt["outcome"] == "provider_failure", [r["attempts"] for r in log[:2]]
        assert "nested too deeply" in attempt["error"], attempt


async def test_a_request_too_deep_to_rewrite_for_one_provider_goes_to_another_as_it_came(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": {"base_url": p1.base_url, "model_map": {"gpt-5.5": "mapped-5.5"}}, "p2": p2})
    raw = _model_last(_deep_list(1020))
    reply = await gw.request("POST", "/v1/responses", raw=raw)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p1.calls == 0 and p2.requests[-1].raw == raw  # the client's own bytes


async def test_a_database_that_cannot_be_read_for_now_still_serves_requests(fakes, gateway, caplog):
    """The request path's lookups (who sealed an item) meet a database that cannot be read — deleted under
    the app, an I/O error: the request is served as if nothing were known, and the log says so once, not
    once per request (it was a 500)."""
    import sqlite3

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    store = gw.services.store

    class Unreadable:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, *args, **kwargs):
            raise sqlite3.OperationalError("disk I/O error")

        def close(self):
            self.conn.close()

    store._hot = Unreadable(store._hot)
    body = simple_body(input=[{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "sealed"},
                              {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}])
    for _ in range(3):
        reply = await gw.responses(body, headers={"session_id": "s-unreadable"})
        assert reply.status == 200, reply.text
    assert caplog.text.count("could not read the database (disk I/O error)") == 1, caplog.text


async def test_a_body_arriving_before_its_handler_starts_is_not_taken_for_the_next_requests_headers():
    """Headers in one read, the body in the next loop turn, before the request's handler has started: the
    body is its request's, not the first bytes of another request, so the header sweep must not close
    the connection while the request is served (it did, after header_timeout_seconds)."""
    from aiohttp import web as aioweb

    from api_router.config import ListenConfig
    from api_router.gateway.connections import GuardedServer

    release = asyncio.Event()

    async def slow(request: aioweb.BaseRequest) -> aioweb.StreamResponse:
        await request.read()
        await release.wait()
        return aioweb.Response(text="done")

    class Transport(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.sent = bytearray()
            self.closed = False

        def get_extra_info(self, name: str, default: object = None) -> object:
            return ("127.0.0.1", 50000) if name == "peername" else default

        def write(self, data: bytes) -> None:
            self.sent += data

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

    server = GuardedServer(slow, listen=lambda: ListenConfig(header_timeout_seconds=0.01))
    handler = server()
    transport = Transport()
    handler.connection_made(transport)
    await asyncio.sleep(0)  # the connection's loop waits for a request
    handler.data_received(b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n")
    await asyncio.sleep(0)  # the request is taken from the queue; its handler is to start next turn
    handler.data_received(b"{}")
    assert handler.waiting_since is None, "the body was taken for the next request's headers"
    await asyncio.sleep(0.05)  # past the header timeout while the request is served
    assert server.sweep() == 0 and not transport.closed
    release.set()
    for _ in range(100):
        if b"done" in transport.sent:
            break
        await asyncio.sleep(0.01)
    assert transport.sent.startswith(b"HTTP/1.1 200") and not transport.closed
    handler.connection_lost(None)


KEY_P1 = "sk-test-SECRETOFP1aaaaaaaaaa"


@pytest.mark.parametrize(("configured", "pending", "keys_after", "said"), [
    # killed after config.toml had the rename: the copy under the old id goes
    (["p9"], {"kind": "rename", "provider": "p1", "to": "p9"}, {"p9"}, "its key is now under p9 only"),
    # killed before config.toml had it: the rename did not happen, and the copy under the new id goes
    (["p1"], {"kind": "rename", "provider": "p1", "to": "p9"}, {"p1"}, "p1 keeps its key"),
    # killed after config.toml lost the provider: its key goes too
    ([], {"kind": "delete", "provider": "p1"}, set(), "its key is removed as well"),
    # killed before: the provider stays, and so does its key
    (["p1"], {"kind": "delete", "provider": "p1"}, {"p1"}, None),
])
def test_a_rename_or_delete_cut_short_between_its_writes_is_settled_at_the_next_start(
        tmp_path, configured, pending, keys_after, said):
    """kill -9 between secrets.json and config.toml: no key is left under an id it does not belong to (a
    provider added later under that id, at another address, would be sent it), and none is lost."""
    from api_router.composition import open_services

    paths = Paths(tmp_path / "ud")
    write_config(paths, dict.fromkeys(configured, "http://127.0.0.1:9/v1"))
    keys = {"p1": KEY_P1, **({"p9": KEY_P1} if pending["kind"] == "rename" else {})}
    paths.secrets.write_text(json.dumps({"gateway_token": TOKEN, "providers": keys, "usage_tokens": {},
                                         "pending": pending}))
    services = open_services(paths)
    try:
        assert set(services.secrets.current.provider_keys) == keys_after
        assert services.secrets.current.pending is None
        on_disk = json.loads(paths.secrets.read_text())
        assert set(on_disk["providers"]) == keys_after and "pending" not in on_disk
        messages = [e.message for e in services.store.recent_events()]
        assert (said is None) == (not any("cut short" in m for m in messages)), messages
        if said is not None:
            assert any(said in m for m in messages), messages
    finally:
        services.close()


@pytest.mark.parametrize(("configured", "pending", "history_under"), [
    (["p9"], {"kind": "rename", "provider": "p1", "to": "p9"}, "p9"),
    ([], {"kind": "delete", "provider": "p1"}, "p1"),  # a deleted provider's rows stay under its id
])
def test_a_rename_or_delete_killed_before_it_reached_the_database_is_made_there_at_the_next_start(
        tmp_path, configured, pending, history_under):
    """kill -9 once config.toml had the move and before the database writer was told: the history moves
    with the key (it stayed under an id no provider has), and a deleted provider's counters go."""
    from api_router.composition import open_services
    from tests.support.records import record

    paths = Paths(tmp_path / "ud")
    write_config(paths, dict.fromkeys(configured, "http://127.0.0.1:9/v1"))
    keys = {"p1": KEY_P1, **({"p9": KEY_P1} if pending["kind"] == "rename" else {})}
    paths.secrets.write_text(json.dumps({"gateway_token": TOKEN, "providers": keys, "usage_tokens": {},
                                         "pending": pending}))
    store = Store(paths.store)
    store.open()
    store.log_request(record(provider="p1"))
    store.close()
    services = open_services(paths)
    try:
        assert {r["provider"] for r in services.store.request_log()} == {history_under}
        assert "p1" not in services.store.metrics() and ("p9" in services.store.metrics()) == bool(configured)
    finally:
        services.close()


@pytest.mark.parametrize("configured", [["a"], ["old", "a"], ["old"]])
def test_a_rename_noted_onto_an_id_with_a_key_of_its_own_leaves_both_keys(tmp_path, configured):
    """Not what a rename's first step leaves (it copies the key, and refuses an id that has one): the
    key under the new id is not the rename's to replace or remove."""
    from api_router.composition import open_services

    paths = Paths(tmp_path / "ud")
    write_config(paths, dict.fromkeys(configured, "http://127.0.0.1:9/v1"))
    keys = {"a": "sk-a-OWN-key-0000000000", "old": "sk-OLD-orphan-key-111111"}
    paths.secrets.write_text(json.dumps({"gateway_token": TOKEN, "providers": keys, "usage_tokens": {},
                                         "pending": {"kind": "rename", "provider": "old", "to": "a"}}))
    services = open_services(paths)
    try:
        assert dict(services.secrets.current.provider_keys) == keys and services.secrets.current.pending is None
        messages = [e.message for e in services.store.recent_events()]
        assert any("a has a key of its own there; both were left as they are" in m for m in messages), messages
    finally:
        services.close()


def test_a_move_cut_short_is_left_for_later_while_config_toml_cannot_be_read(tmp_path):
    """config.toml unreadable at the start: its providers are left out for now, which must not read as
    every provider deleted — the key stays, and so does the note, for a start that can read the file."""
    from api_router.composition import open_services

    paths = Paths(tmp_path / "ud")
    paths.user_data.mkdir(parents=True)
    paths.config.write_text("this is [not toml\n")
    paths.secrets.write_text(json.dumps({"gateway_token": TOKEN, "providers": {"p1": KEY_P1}, "usage_tokens": {},
                                         "pending": {"kind": "delete", "provider": "p1"}}))
    services = open_services(paths)
    try:
        assert services.secrets.current.provider_keys == {"p1": KEY_P1}
        assert services.secrets.current.pending is not None
    finally:
        services.close()


@pytest.mark.parametrize("written", [{"kind": "Delete", "provider": "p1"}, None, "p1"])
def test_a_pending_entry_the_app_did_not_write_is_kept_named_and_never_in_the_way(tmp_path, written):
    from api_router.composition import open_services

    paths = Paths(tmp_path / "ud")
    write_config(paths, {"p1": "http://127.0.0.1:9/v1", "p2": "http://127.0.0.1:9/v1"})
    paths.secrets.write_text(json.dumps({"gateway_token": TOKEN, "providers": {"p1": KEY_P1, "p2": KEY_P1 + "2"},
                                         "usage_tokens": {}, "pending": written}))
    services = open_services(paths)
    try:
        assert set(services.secrets.current.provider_keys) == {"p1", "p2"}  # nothing moved by it
        messages = [e.message for e in services.store.recent_events()]
        assert any("pending is not a rename or delete of a provider that API Router wrote" in m for m in messages)
        services.secrets.deleting("p2")  # the app's own note is what the file says
        assert json.loads(paths.secrets.read_text())["pending"] == {"kind": "delete", "provider": "p2"}
    finally:
        services.close()


async def test_a_delete_marks_secrets_json_first_and_keeps_the_key_when_the_config_cannot_be_saved(fakes, gateway):
    """The first write says the delete is on its way (the key stays with the provider until config.toml no
    longer has it); a delete config.toml refuses leaves both as they were, nothing on its way."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": KEY_P1})
    seen: list[dict] = []
    gw.services.secrets.listeners.append(lambda s: seen.append(dict(s.provider_keys) | {"pending": s.pending}))
    await gw.api("delete_provider", provider="p1")
    assert seen[0]["p1"] == KEY_P1 and seen[0]["pending"] is not None  # marked, key still there
    assert "p1" not in seen[-1] and seen[-1]["pending"] is None
    seen.clear()
    gw.services.paths.config.chmod(0o400)
    try:
        with pytest.raises(ApiError):
            await gw.api("delete_provider", provider="p2")
    finally:
        gw.services.paths.config.chmod(0o600)
    assert "p2" in gw.services.config.current.providers and gw.services.secrets.current.pending is None
    assert "pending" not in json.loads(gw.services.paths.secrets.read_text())


async def test_a_delete_asked_while_a_rename_moves_the_key_waits_for_it(fakes, gateway, monkeypatch):
    """Control calls run at once in threads: a delete of the new id, asked while the rename's last
    secrets.json write is still to come, must not run in between — else the rename would then put the
    key under an id no provider has, for a provider added later under it to be sent."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": KEY_P1})
    secrets = gw.services.secrets
    last_step = secrets.rename

    def slow_last_step(old: str, new: str) -> None:
        time.sleep(0.5)
        last_step(old, new)

    monkeypatch.setattr(secrets, "rename", slow_last_step)
    renaming = asyncio.ensure_future(gw.api("rename_provider", provider="p1", new_id="p9"))
    await asyncio.sleep(0.2)
    await asyncio.gather(renaming, gw.api("delete_provider", provider="p9"))
    assert "p9" not in gw.services.config.current.providers
    on_disk = json.loads(gw.services.paths.secrets.read_text())
    assert not {"p1", "p9"} & set(on_disk["providers"]) and "pending" not in on_disk, on_disk


async def test_a_checkout_whose_ui_is_not_built_says_so_on_its_pages_and_not_for_its_files(gateway, monkeypatch,
                                                                                          tmp_path):
    """A page asks the user to build the UI (503); a script or style the page would name is plainly not
    there (404), as it is when a build replaced it."""
    from api_router.gateway import routes

    monkeypatch.setattr(routes, "WEB_DIR", tmp_path / "web-not-built")
    gw = await gateway({})
    for path in ("/", "/requests", "/usage/?session=s-1"):
        page = await gw.request("GET", path)
        assert page.status == 503 and "text/html" in page.headers["Content-Type"], (path, page.status)
    for path in ("/assets/index-1234.js", "/requests/assets/index-1234.css"):
        assert (await gw.request("GET", path)).status == 404, path


async def test_what_aiohttp_refuses_to_send_keeps_its_own_words_and_the_rest_is_unusable():
    """aiohttp's own refusals (some are ValueErrors too) pass as they are; other ValueErrors from building
    the request (a port out of range) are the provider's unusable address."""
    import aiohttp

    from api_router.gateway.deadlines import Deadlines
    from api_router.gateway.upstream import PoolConnector, UnusableRequest, Upstream
    from api_router.proxyenv import ProxyRoutes

    async with aiohttp.ClientSession(connector=PoolConnector()) as session:
        upstream = Upstream(session, Deadlines(asyncio.get_running_loop()), "hop", ProxyRoutes())
        with pytest.raises(aiohttp.InvalidURL):
            await upstream.post("http:///v1/responses", b"{}", {}, 2)
        with pytest.raises(UnusableRequest, match="Port out of range"):
            await upstream.post("http://127.0.0.1:99999/v1/responses", b"{}", {}, 2)


async def test_a_key_the_cut_of_a_relays_own_failure_text_falls_in_is_left_out_whole(fakes, gateway):
    """A failure after output that is no JSON, told as the gateway's response.failed: its words are cut to
    1000 characters, and a key the cut falls in must not reach the client in part (masking finds whole
    keys only)."""
    key = "sk-live-" + "Q7xR2mK9pL4vN8wZ" * 3
    shell = {"id": "resp_x", "object": "response", "status": "in_progress", "output": []}
    text = "upstream broke: " + "x" * 954 + " " + key + " end"  # the key begins at character 971
    (p1,) = await fakes("p1")
    p1.always(fp.raw_stream([
        fp.sse_event({"type": "response.created", "response": shell}),
        fp.sse_event({"type": "response.output_text.delta", "item_id": "m", "output_index": 0, "content_index": 0,
                      "delta": "The answer beg"}),
        f"event: error\ndata: {text}\n\n".encode()]))
    gw = await gateway({"p1": p1}, keys={"p1": key})
    reply = await gw.responses(stream=True)
    failed = [e for e in reply.events if e.get("type") == "response.failed"]
    assert failed and failed[-1]["response"]["error"]["message"].startswith("upstream broke: xxx"), reply.events
    assert key[:12] not in reply.body.decode(), failed[-1]["response"]["error"]["message"][-80:]


@pytest.mark.parametrize("client", ["stops reading", "closes"])
async def test_an_export_download_nobody_reads_lets_go_of_the_database(fakes, gateway, caplog, monkeypatch, client):
    """A download left unread (``curl … | less``, a paused browser download) held its read of the database for
    as long as the connection lasted: the write-ahead log could not be folded back and grew ~36 MB a minute
    under traffic. It is ended after EXPORT_STALL_SECONDS without progress; one the client closes says so in
    the log (the handler was cancelled before: no line at all)."""
    import socket
    import threading

    from api_router import request_log
    from api_router.gateway import routes

    monkeypatch.setattr(routes, "EXPORT_STALL_SECONDS", 2.0 if client == "stops reading" else 60.0)
    held, let_go = threading.Event(), threading.Event()

    def endless_pieces(self):  # a log far larger than the sockets between them hold, read in one snapshot
        with self.store.snapshot() as read:
            read("SELECT count(*) FROM request_log", ())
            self.total = 1
            held.set()
            try:
                for _ in range(256):
                    yield b"x" * (1 << 20)
            finally:
                let_go.set()

    monkeypatch.setattr(request_log.Export, "pieces", endless_pieces)
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    host, port = gw.base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /api/export_requests?format=csv HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: Bearer {gw.token}\r\n\r\n".encode())
    with caplog.at_level("INFO"):
        assert (await asyncio.to_thread(sock.recv, 12)) == b"HTTP/1.1 200"
        assert await asyncio.to_thread(held.wait, 5)
        await asyncio.sleep(0.5)
        assert not let_go.is_set()  # the download waits on its client, its snapshot held
        if client == "closes":
            sock.close()
        assert await asyncio.to_thread(let_go.wait, 10)
        await asyncio.sleep(0.2)
    said = "the client took nothing for 2 s" if client == "stops reading" else "the client closed the connection"
    assert f"an export download ended early: {said}" in caplog.text, caplog.text
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text, caplog.text
    if client == "stops reading":
        with contextlib.suppress(ConnectionResetError):  # what was sent, then the end of the connection
            while await asyncio.to_thread(sock.recv, 1 << 16):
                pass
        sock.close()


async def test_an_export_download_is_written_and_timed_a_part_at_a_time(fakes, gateway, monkeypatch):
    """A page of 2,000 rows is ~0.5-1 MB: timed whole, a client reading steadily below ~9 KB/s was cut off as
    one that "took nothing"."""
    from aiohttp import web

    from api_router.gateway import routes
    from tests.support.records import record

    sizes: list[int] = []
    write = web.StreamResponse.write

    async def counted(self, data):
        sizes.append(len(data))
        return await write(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", counted)
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for i in range(2500):
        gw.services.store.log_request(record(session=f"session-{i:05d}-{'x' * 200}"))
    gw.services.store.flush()
    whole = await gw.request("GET", "/api/export_requests?format=jsonl")
    assert whole.status == 200 and len(whole.body.splitlines()) == 2500
    assert sum(sizes) >= len(whole.body) and max(sizes) <= routes.EXPORT_WRITE_BYTES and len(sizes) > 10, sizes[:5]
