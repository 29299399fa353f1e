"""The Requests page's backend: every request, filters, paging, the attempt chain, exports, retention;
and the other round-2 control methods (provider tests, Codex token rotation, ui settings)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from api_router.gateway import provider_test
from api_router.records import Attempt, Outcome, RequestRecord, Usage, now_ms
from api_router.store import Retention
from tests.support import fake_provider as fp
from tests.support.harness import ApiError, simple_body


# A hedge delay of 1.5 s: p2 is asked at 1.5 s and is past its own delay at 3 s. p1 answers 0.75 s away
# from each of those moments, so that no stall of a busy machine shorter than that can change the outcome.
@pytest.mark.parametrize(("answer_at", "hedge"), [(2.25, "hedge_lost"), (3.75, "provider_failure")])
async def test_a_hedged_request_refused_by_the_original_is_the_clients_error(fakes, gateway, answer_at, hedge):
    """p1 is raced (its hedge delay passes) and then answers with the request's own refusal, in-band: the
    hedge is listed after it (lost, or failed when it was past its own delay too), but the request is a
    client error — not in the Failed filter nor the totals' errors, as the same refusal without a hedge."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"hedge_min_seconds": 1.5, "hedge_max_seconds": 1.5,
                                                      "request_timeout_seconds": 8})
    refusal = fp.in_band_failure("context_length_exceeded", "Your input exceeds the context window of this model")

    async def late_refusal(request, fake):  # after p2 is asked; before or after p2's own hedge delay passes
        await asyncio.sleep(answer_at)
        return await refusal(request, fake)

    p1.queue(late_refusal)
    p2.queue(fp.stream_ok(first_delay=6))  # its first event would come at 7.5 s, long after p1's answer
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.event_types[-1] == "response.failed"
    deadline = time.monotonic() + 5
    while True:  # the hedge's attempt is filed once it is cancelled
        rows = (await gw.api("list_requests"))["requests"]
        chain = (await gw.api("get_request", id=rows[0]["id"]))["attempt_chain"] if rows else []
        if len(chain) == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    (row,) = rows
    assert [(a["provider"], a["outcome"]) for a in chain] == [("p1", "client_error"), ("p2", hedge)], chain
    assert row["outcome"] == "client_error"
    assert (await gw.api("list_requests", outcome="error"))["requests"] == []
    assert (await gw.api("get_analytics", window="hour"))["overall"]["errors"] == 0


async def test_every_request_is_listed_newest_first_with_filters(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5, "preferred_stable_seconds": 0})
    await gw.responses()  # ok, p1, no session
    p1.queue(fp.status(503, "p1 blip"))
    await gw.responses(headers={"session-id": "sess-a"}, stream=True)  # failover to p2
    p1.queue(fp.status(400, "bad field"))
    await gw.responses(headers={"session-id": "sess-b"})  # client error
    page = await gw.api("list_requests")
    assert page["total"] == 3 and page["next_before_id"] is None
    newest = page["requests"][0]
    assert (newest["outcome"], newest["status"], newest["provider"], newest["session_id"]) == (
        "client_error", 400, "p1", "sess-b")
    assert newest["request_id"].startswith("req_") and newest["request_bytes"] > 0 and newest["response_bytes"] > 0
    assert [r["session_id"] for r in page["requests"]] == ["sess-b", "sess-a", None]  # sessionless ones too
    failover = page["requests"][1]
    assert failover["attempts"] == 2 and failover["provider"] == "p2" and failover["stream"] is True

    async def ids(**filters):
        return [r["session_id"] for r in (await gw.api("list_requests", **filters))["requests"]]

    assert await ids(outcome="failover") == ["sess-a"]
    assert await ids(outcome="client_error") == ["sess-b"]
    assert await ids(outcome="ok") == ["sess-a", None]
    assert await ids(provider="p2") == ["sess-a"]
    assert await ids(provider="p1") == ["sess-b", "sess-a", None]  # tried counts, not only served
    assert await ids(session_id="sess-a") == ["sess-a"]
    assert await ids(text="BAD FIELD") == ["sess-b"]
    assert await ids(text=newest["request_id"]) == ["sess-b"]
    assert await ids(text="%") == []  # LIKE wildcards are plain characters here
    # What the provider a request failed over from said is found too (it is in that attempt only).
    assert await ids(text="P1 BLIP") == ["sess-a"]
    assert (await gw.api("export_requests", format="jsonl", text="p1 blip"))["content"].count("\n") == 1
    assert await ids(session_id=" sess-a ") == ["sess-a"]  # as the session timeline reads it
    with pytest.raises(ApiError, match="outcome must be one of"):
        await gw.api("list_requests", outcome="weird")
    for method in ("list_requests", "export_requests"):  # too long for a search; never a 500
        for name in ("text", "provider", "session_id"):
            with pytest.raises(ApiError, match=f"{name} must be at most 1000 characters"):
                await gw.api(method, **{name: "x" * 60_000})
            # SQLite would read a search only up to a NUL: "\0qqqq" matched every row.
            with pytest.raises(ApiError, match=f"{name} must not contain a NUL character"):
                await gw.api(method, **{name: "\u0000qqqq"})


async def test_searching_the_request_log_ignores_case_beyond_ascii(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.queue(fp.status(400, "Modèle ÜNBEKANNT für café"))
    assert (await gw.responses()).status == 400
    gw.services.store.flush()
    for text in ("ünbekannt", "ÜNBEKANNT", "MODÈLE", "CAFÉ", "für"):
        assert (await gw.api("list_requests", text=text))["total"] == 1, text
    assert (await gw.api("list_requests", text="übrig"))["total"] == 0
    p1.queue(fp.status(503, "Überlastet"))  # a failover's first attempt: in that attempt's error only
    assert (await gw.responses()).status == 200
    gw.services.store.flush()
    assert (await gw.api("list_requests", text="überlastet"))["total"] == 1


async def test_the_attempt_chain_of_a_request(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.queue(fp.status(502, "bad gateway"))
    reply = await gw.responses({"model": "gpt-5.5", "input": "hi"})
    request_id = reply.headers["X-API-Router-Request-Id"]
    row = (await gw.api("list_requests", text=request_id))["requests"][0]
    detail = await gw.api("get_request", id=row["id"])
    assert detail["request_id"] == request_id and detail["model"] == "gpt-5.5"
    chain = [(a["provider"], a["name"], a["outcome"], a["status"]) for a in detail["attempt_chain"]]
    assert chain == [("p1", "P1", "provider_failure", 502), ("p2", "P2", "ok", 200)]
    assert "bad gateway" in detail["attempt_chain"][0]["error"]
    assert detail["attempt_chain"][1]["ttfb_ms"] is not None and detail["attempt_chain"][1]["hedge"] is False
    with pytest.raises(ApiError, match="no request 999999"):
        await gw.api("get_request", id=999999)


async def test_the_gateways_own_errors_name_their_request_log_row(fakes, gateway):
    """An answer nobody served — every provider failed, a body too large — still says which row tells
    what happened."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, listen={"max_body_mb": 1})
    p1.queue(fp.status(503, "p1 down"))
    p2.queue(fp.status(503, "p2 down"))
    failed = await gw.responses()
    too_large = await gw.responses({"model": "gpt-5.5", "input": "x" * (1024 * 1024 + 10)})
    assert (failed.status, too_large.status) == (502, 413)
    for reply, status in ((failed, 502), (too_large, 413)):
        request_id = reply.headers["X-API-Router-Request-Id"]
        assert "X-API-Router-Provider" not in reply.headers  # nobody served it
        (row,) = (await gw.api("list_requests", text=request_id))["requests"]
        assert (row["request_id"], row["status"]) == (request_id, status)
    # The list row itself names who was asked when nobody served (the page shows "none — tried …").
    rows = (await gw.api("list_requests"))["requests"]
    assert [(r["provider"], r["providers_tried"]) for r in rows] == [(None, []), (None, ["p1", "p2"])]
    jsonl = await gw.api("export_requests", format="jsonl", outcome="error")
    assert [json.loads(line)["providers_tried"] for line in jsonl["content"].splitlines()] == [["p1", "p2"]]
    (failed_row,) = csv.DictReader(io.StringIO((await gw.api("export_requests", format="csv", text="down"))["content"]))
    assert failed_row["providers_tried"] == "p1,p2"
    # Cells as a spreadsheet reads them: no Python spellings, times to 0.1 ms.
    assert failed_row["stream"] == "false" and failed_row["hedged"] == "false"
    assert failed_row["latency_ms"] == str(round(float(failed_row["latency_ms"]), 1))


async def test_paging_stays_quick_with_100000_rows(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    store = gw.services.store
    base = now_ms() - 3_600_000
    for i in range(100_000):
        outcome = Outcome.OK if i % 10 else Outcome.PROVIDER_FAILURE
        store.log_request(RequestRecord(base + i, "/v1/responses", True, f"req_{i:08d}", f"s{i % 50}", "gpt-5.5",
                                        provider="p1" if i % 10 else None, status=200 if i % 10 else 502,
                                        latency_ms=12.0, usage=Usage(1, 1, 0, 0, 2),
                                        attempts=[Attempt("p1", outcome, 200)]))
    store.flush(60)
    started = time.perf_counter()
    page = await gw.api("list_requests", limit=200)
    seen = len(page["requests"])
    for _ in range(5):
        page = await gw.api("list_requests", limit=200, before_id=page["next_before_id"])
        seen += len(page["requests"])
    filtered = await gw.api("list_requests", outcome="error", limit=100)
    took = time.perf_counter() - started
    assert page["total"] >= 100_000 and seen == 1200 and filtered["total"] == 10_000
    assert took < 3, took


async def test_export_csv_and_jsonl_of_the_filtered_rows(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for sid in ("a", "b", "a"):
        await gw.responses(headers={"session-id": sid})
    csv_export = await gw.api("export_requests", format="csv", session_id="a")
    rows = list(csv.DictReader(io.StringIO(csv_export["content"])))
    assert csv_export["rows"] == 2 and [r["session_id"] for r in rows] == ["a", "a"]
    assert csv_export["filename"].endswith(".csv") and csv_export["content_type"] == "text/csv"
    jsonl = await gw.api("export_requests", format="jsonl")
    lines = [json.loads(line) for line in jsonl["content"].splitlines()]
    assert len(lines) == 3 and {line["provider"] for line in lines} == {"p1"}
    assert {line["provider_name"] for line in lines} == {"P1"} and rows[0]["provider_name"] == "P1"
    empty = await gw.api("export_requests", format="csv", session_id="nobody")
    assert empty["rows"] == 0 and empty["content"].splitlines() == [",".join(f'"{c}"' for c in rows[0])]  # same columns


async def test_a_csv_export_never_hands_a_spreadsheet_a_formula(fakes, gateway):
    """Model names, session ids and errors come from clients and providers: "=cmd|…" must stay text."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.api("upsert_provider", provider="p1", display_name='=HYPERLINK("http://example.invalid")')
    for sid in ("=cmd|' /C calc'!A0", "+SUM(1+1)", "-2+3", "@SUM(1)", "plain"):
        await gw.responses(headers={"session-id": sid})
    rows = list(csv.DictReader(io.StringIO((await gw.api("export_requests", format="csv"))["content"])))
    assert sorted(r["session_id"] for r in rows) == sorted(
        ["'=cmd|' /C calc'!A0", "'+SUM(1+1)", "'-2+3", "'@SUM(1)", "plain"])
    assert {r["provider_name"] for r in rows} == {"'=HYPERLINK(\"http://example.invalid\")"}
    assert all(r["latency_ms"] and not r["latency_ms"].startswith("'") for r in rows)  # numbers stay numbers
    jsonl = await gw.api("export_requests", format="jsonl")
    assert {json.loads(line)["session_id"] for line in jsonl["content"].splitlines()} >= {"-2+3", "plain"}


async def test_a_formula_after_a_separator_stays_inside_its_quoted_cell(fakes, gateway):
    """Read with ";" or a tab as the separator (spreadsheets in many locales), an unquoted
    "s;=HYPERLINK(A1);" was split into a cell that is a formula."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.responses(headers={"session-id": "s;=HYPERLINK(A1);"})
    await gw.responses({**simple_body(), "model": "x\t=1+1\t"})
    for model in ("\t=2+2", "m;\t=4+4"):  # a tab both separates and starts a formula
        await gw.responses({**simple_body(), "model": model})
    content = (await gw.api("export_requests", format="csv"))["content"]
    for separator in (";", "\t"):
        cells = [cell for row in csv.reader(io.StringIO(content), delimiter=separator) for cell in row]
        assert not any(cell.lstrip().startswith("=") for cell in cells), (separator, cells)
    rows = list(csv.DictReader(io.StringIO(content)))
    assert {r["session_id"] for r in rows} >= {"s;'=HYPERLINK(A1);"}  # an apostrophe where a cell may start
    from api_router.request_log import _cell

    assert _cell("\r=3+3") == "'\r'=3+3" and _cell("a,\r@x") == "a,'\r'@x"  # so does a CR
    assert _cell("a\n=1") == "a\n'=1" and _cell(["p1", "=p2"]) == "p1,'=p2"  # a line break; a list's items
    assert _cell("gpt-5.5") == "gpt-5.5" and _cell(-2) == -2 and _cell(2.25) == 2.2  # numbers stay numbers


async def test_the_provider_filter_matches_ids_exactly(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"relay": p1, "Relay": p2})
    await gw.api("set_manual_override", provider="relay")
    await gw.responses()
    for wanted, found in (("relay", 1), ("Relay", 0), ("RELAY", 0)):
        assert len((await gw.api("list_requests", provider=wanted))["requests"]) == found, wanted


async def test_the_provider_filter_never_matches_the_list_of_providers_tried_itself(fakes, gateway):
    """A request that failed over from p1 to p2 tried "p1,p2": a filter of that value names no provider."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.queue(fp.status(503, "busy"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    for wanted, found in (("p1", 1), ("p2", 1), ("p1,p2", 0), (",p1", 0), ("p1,", 0)):
        assert (await gw.api("list_requests", provider=wanted))["total"] == found, wanted


async def test_a_body_that_is_no_json_is_logged_with_its_size_and_session(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.request("POST", "/v1/responses", raw=b'{"model": "m", "input": "hi"',
                             headers={"session-id": "broken-one"})
    assert reply.status == 400
    (row,) = (await gw.api("list_requests"))["requests"]
    assert row["request_bytes"] == 28 and row["session_id"] == "broken-one" and row["status"] == 400


@pytest.mark.parametrize("refused", ["too large", "undecodable", "too large, chunked"])
async def test_a_body_refused_before_it_is_read_is_logged_with_its_size_and_session(fakes, gateway, refused):
    """Too large (413), or in an encoding the gateway cannot read (400): the row still says the size the
    client declared and the session its headers name, so the session's timeline shows the refusal. A
    chunked body declares no size: its row says how much of it came before it was refused."""
    (p1,) = await fakes("p1")
    limit = 1024 * 1024
    gw = await gateway({"p1": p1}, listen={"max_body_mb": 1})
    raw = b"x" * (limit + 10) if refused.startswith("too large") else b"\x1b\x00\x00garbage"
    headers = {"session-id": "refused-one", **({"Content-Encoding": "br"} if refused == "undecodable" else {})}
    if refused.endswith("chunked"):
        async def pieces() -> AsyncIterator[bytes]:
            for at in range(0, len(raw), 64 * 1024):
                yield raw[at:at + 64 * 1024]

        async with gw.client.post(gw.base + "/v1/responses", data=pieces(),
                                  headers={**gw.auth(None), **headers}) as resp:
            status = resp.status
    else:
        status = (await gw.request("POST", "/v1/responses", raw=raw, headers=headers)).status
    assert status == (413 if refused.startswith("too large") else 400)
    (row,) = (await gw.api("list_requests", session_id="refused-one"))["requests"]
    assert row["status"] == status
    if refused.endswith("chunked"):
        assert limit < row["request_bytes"] <= len(raw)  # what came before the refusal, past the limit
    else:
        assert row["request_bytes"] == len(raw)
    assert p1.calls == 0


def test_request_log_retention_by_age_and_by_count(tmp_path):
    from api_router.store import Store

    store = Store(tmp_path / "s.sqlite3")
    store.open()
    try:
        old = now_ms() - 10 * 86_400_000
        for i in range(50):
            store.log_request(RequestRecord(old + i if i < 20 else now_ms(), "/v1/responses", False, status=200,
                                            attempts=[Attempt("p1", Outcome.OK)]))
        store.set_retention(Retention(days=5, rows=1000))
        store.prune()
        assert len(store.request_log(limit=1000)) == 30  # the 20 older than 5 days went
        store.set_retention(Retention(days=5, rows=10))
        store.prune()
        assert len(store.request_log(limit=1000)) == 10  # and then all but the newest 10
    finally:
        store.close()


def test_rows_older_than_the_retention_go_wherever_they_stand(tmp_path):
    """Rows are logged in time order, but a clock set back (or rows imported) can put an old row after
    newer ones: age decides, not the place in the log."""
    from api_router.store import Store

    store = Store(tmp_path / "s.sqlite3")
    store.open()
    try:
        old = now_ms() - 10 * 86_400_000
        for i in range(12):
            store.log_request(RequestRecord(old if i % 3 == 1 else now_ms(), "/v1/responses", False, status=200,
                                            attempts=[Attempt("p1", Outcome.OK)]))
        store.set_retention(Retention(days=5, rows=1000))
        store.prune()
        store.flush()
        rows = store.request_log(limit=1000)
        assert len(rows) == 8 and all(r["unix_ms"] > old for r in rows)
    finally:
        store.close()


async def test_request_log_settings_are_saved_and_applied(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    cfg = await gw.api("update_request_log", retention_days=7, max_rows=5000)
    assert cfg["request_log"] == {"retention_days": 7, "max_rows": 5000}
    assert gw.services.store._retention == Retention(7, 5000)
    with pytest.raises(ApiError, match="max_rows must be an integer from 1 to"):
        await gw.api("update_request_log", max_rows=0)


async def test_a_small_row_limit_keeps_the_log_that_short(fakes, gateway):
    """Any positive number of rows may be kept: with 10, the log holds the newest 10 shortly after."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    cfg = await gw.api("update_request_log", max_rows=10)
    assert cfg["request_log"]["max_rows"] == 10
    for i in range(25):
        assert (await gw.responses(simple_body(f"request {i}"))).status == 200
    deadline = time.monotonic() + 5
    while len((await gw.api("list_requests", limit=100))["requests"]) > 10:
        assert time.monotonic() < deadline, "the log was not cut back to 10 rows"
        await asyncio.sleep(0.1)
    assert (await gw.api("list_requests", limit=100))["total"] == 10


# --- provider tests --------------------------------------------------------------------------------------


def tool_aware(request_body: dict) -> dict:
    """What a capable provider answers: a function call when tools are offered, text otherwise."""
    if request_body.get("tools"):
        response = fp.response_object("", provider="p1")
        response["output"] = [{"type": "function_call", "id": "fc_1", "call_id": "call_1",
                               "name": "get_current_time", "arguments": "{}"}]
        return response
    return fp.response_object("pong", provider="p1")


async def test_provider_test_reports_streaming_tools_models_and_counts_as_health(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})

    async def capable(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = json.loads(await request.read())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in fp.stream_events(tool_aware(body)):
            await resp.write(fp.sse_event(event))
        await resp.write_eof()
        return resp

    p1.always(fp.status(500, "down"))
    await gw.responses()  # p1 fails once: unhealthy
    assert (await gw.api("get_status"))["providers"]["p1"]["status"] == "unhealthy"
    p1.always(capable)
    result = await gw.api("test_provider", provider="p1")
    assert result["ok"] and result["streaming"] is True and result["tool_calls"] is True
    assert result["models"] == ["p1-model-a", "p1-model-b"] and result["first_event_ms"] is not None
    assert [s["name"] for s in result["steps"]] == ["stream", "tool", "models"]  # as docs/control-api.md lists them
    status = await gw.api("get_status")
    assert status["providers"]["p1"]["status"] == "healthy" and status["providers"]["p1"]["last_error"] == ""
    assert status["providers"]["p1"]["last_test"]["ok"] is True
    p2.always(fp.json_ok("no tools here"))
    everything = await gw.api("test_all_providers")
    assert set(everything["results"]) == {"p1", "p2"}
    p2_result = everything["results"]["p2"]
    assert p2_result["ok"] is True and p2_result["tool_calls"] is False  # answered, but without a tool call
    # A test of the old address says nothing about a new one; a new name keeps it.
    await gw.api("upsert_provider", provider="p1", display_name="Relay One")
    assert (await gw.api("get_status"))["providers"]["p1"]["last_test"]["ok"] is True
    await gw.api("upsert_provider", provider="p1", base_url=p2.base_url)
    assert (await gw.api("get_status"))["providers"]["p1"]["last_test"] is None
    gw.services.store.flush(10)
    assert "p1" not in dict(gw.services.store.load_provider_tests())  # nor does it come back with a restart


async def test_provider_test_reads_items_where_codex_does_and_takes_an_answer_cut_by_its_budget(fakes, gateway):
    """Many relays end with an empty output list, the items only announced by response.output_item.done
    (what Codex reads): the tool call is there. A reasoning model may spend the test's small output budget:
    response.incomplete (max_output_tokens) is still a streamed answer; a tool step cut so is not known."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})

    def announced_only(request_body: dict) -> list[bytes]:
        events = fp.stream_events(tool_aware(request_body))
        events[-1]["response"] = {**events[-1]["response"], "output": []}
        return [fp.sse_event(e) for e in events]

    def out_of_budget(request_body: dict) -> list[bytes]:
        response = {**fp.response_object("", provider="p2"), "status": "incomplete", "output": [],
                    "incomplete_details": {"reason": "max_output_tokens"}}
        events = fp.stream_events(response)
        events[-1] = {"type": "response.incomplete", "response": response}
        return [fp.sse_event(e) for e in events]

    def serving(make):
        async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
            chunks = make(json.loads(await request.read()))
            return await fp.raw_stream(chunks)(request, fake)
        return run

    p1.always(serving(announced_only))
    p2.always(serving(out_of_budget))
    result = await gw.api("test_provider", provider="p1")
    assert result["ok"] and result["streaming"] is True and result["tool_calls"] is True, result
    result = await gw.api("test_provider", provider="p2")
    assert result["ok"] and result["streaming"] is True and result["tool_calls"] is None, result
    tool = next(s for s in result["steps"] if s["name"] == "tool")
    assert not tool["ok"] and "output-token budget ran out" in tool["error"]


@pytest.mark.parametrize(("status", "tools"), [(400, False), (422, False), (429, None), (503, None)])
async def test_a_relay_that_refuses_the_tool_request_cannot_call_tools(fakes, gateway, status, tools):
    """The plain streamed request answered, the same one with a tool refused (400 "tools are not
    supported"): the provider cannot call tools (Tools ✗), though the test passes. A rate limit or a
    server error on the tool step says nothing of tools (?)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})

    async def refuses_tools(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        if json.loads(await request.read()).get("tools"):
            return await fp.status(status, "tools are not supported by this relay")(request, fake)
        return await fp.stream_ok("fine")(request, fake)

    p1.always(refuses_tools)
    result = await gw.api("test_provider", provider="p1")
    assert result["ok"] is True and result["tool_calls"] is tools, result
    tool = next(s for s in result["steps"] if s["name"] == "tool")
    assert not tool["ok"] and tool["status"] == status and "tools are not supported" in tool["error"], tool


@pytest.mark.parametrize("model_map", [{"*": "openai/gpt-5.5"}, {"gpt-5.5": "openai/gpt-5.5"}])
@pytest.mark.parametrize("listed", [False, True])
async def test_a_provider_test_asks_for_the_model_its_map_names(fakes, gateway, model_map, listed):
    """A relay that knows only ``openai/gpt-5.5`` (with a model list, first an embedding model; or none),
    with nothing sent to it yet: the test asks for the name its model_map gives, as requests would."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": {"base_url": p1.base_url, "model_map": model_map}})

    async def knows_one(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = json.loads(await request.read())
        if body["model"] != "openai/gpt-5.5":
            return web.json_response({"error": {"message": f"The model `{body['model']}` does not exist"}}, status=404)
        return web.json_response(tool_aware(body))

    p1.always(knows_one)
    async def lists(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [{"id": "text-embedding-3"}, {"id": "openai/gpt-5.5"}]})

    p1.models_behaviour = lists if listed else fp.status(404, "no")
    result = await gw.api("test_provider", provider="p1")
    assert result["ok"] and result["model"] == "openai/gpt-5.5", result
    assert {r.json["model"] for r in p1.requests} == {"openai/gpt-5.5"}


async def test_a_provider_test_of_a_relay_that_hangs_fails_in_time_and_is_kept(fakes, gateway, monkeypatch):
    """The relay passed a test, then hangs on everything: the next test is a failed result (kept, so the
    old pass no longer shows), not a control call cut off at its 60 s. The tool step is not asked when
    the streamed request got no answer, and the whole test keeps within its own limit."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"request_timeout_seconds": 2})
    assert (await gw.api("test_provider", provider="p1"))["ok"]
    p1.always(fp.hang(60))
    p1.models_behaviour = fp.hang(60)
    started = time.monotonic()
    result = await gw.api("test_provider", provider="p1")
    assert time.monotonic() - started < 6  # the model list's 2 s and the stream's 2 s
    assert not result["ok"] and "2 s" in result["error"], result
    tool = next(s for s in result["steps"] if s["name"] == "tool")
    assert tool["ok"] is None and tool["latency_ms"] is None and tool["error"].startswith("not asked"), tool
    assert result["tool_calls"] is None  # not judged, as the step says
    assert (await gw.api("get_status"))["providers"]["p1"]["last_test"]["ok"] is False
    # However long each step may wait, the test as a whole ends within TEST_SECONDS.
    monkeypatch.setattr(provider_test, "TEST_SECONDS", 3.0)
    await gw.api("update_routing", request_timeout_seconds=30)
    started = time.monotonic()
    result = await gw.api("test_provider", provider="p1")
    assert not result["ok"] and time.monotonic() - started < 5


async def test_a_failing_provider_test_says_why(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-echoed-key-1234567890"})
    p1.always(fp.status(401, "Incorrect API key provided: sk-echoed-key-1234567890"))
    p1.models_behaviour = fp.status(401, "nope")
    result = await gw.api("test_provider", provider="p1")
    assert not result["ok"] and "HTTP 401" in result["error"]
    assert "sk-echoed-key-1234567890" not in json.dumps(result)


async def test_a_404_from_a_base_url_without_a_path_suggests_v1_in_test_and_probe(fakes, gateway):
    (p1,) = await fakes("p1")
    p1.always(fp.status(404, "Not Found"))
    p1.models_behaviour = fp.status(404, "Not Found")
    gw = await gateway({"p1": p1.base_url.removesuffix("/v1")})
    result = await gw.api("test_provider", provider="p1")
    assert not result["ok"] and "/v1" in result["error"] and "has no path" in result["error"]
    assert all("has no path" in s["error"] for s in result["steps"] if s["status"] == 404)
    probe = await gw.api("probe_provider", provider="p1")
    assert not probe["ok"] and "has no path" in probe["error"]


async def test_a_provider_test_answered_400_fails_with_that_answer(fakes, gateway):
    """A check counts a 400 as "up"; a test wants a whole answer and says what the provider said."""
    (p1,) = await fakes("p1")
    p1.always(fp.status(400, "Unsupported parameter: 'max_output_tokens'"))
    gw = await gateway({"p1": p1})
    result = await gw.api("test_provider", provider="p1")
    assert not result["ok"] and "HTTP 400: Unsupported parameter" in result["error"]


@pytest.mark.parametrize("event", ["response.failed", "error"])
async def test_a_provider_test_whose_stream_reports_a_failure_says_what_the_provider_said(fakes, gateway, event):
    """As a request's failure says it: not only that the stream did not reach response.completed."""
    (p1,) = await fakes("p1")
    p1.always(fp.in_band_failure("server_error", "The model is overloaded. Please retry.", error_type="server_error",
                                 event=event))
    gw = await gateway({"p1": p1})
    result = await gw.api("test_provider", provider="p1")
    stream = next(s for s in result["steps"] if s["name"] == "stream")
    assert not result["ok"] and "The model is overloaded. Please retry." in stream["error"], stream


async def test_a_successful_probe_clears_unhealthy(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.queue(fp.status(500, "broken"))
    await gw.responses()
    assert (await gw.api("get_status"))["providers"]["p1"]["status"] == "unhealthy"
    assert (await gw.api("probe_provider", provider="p1"))["ok"]
    provider = (await gw.api("get_status"))["providers"]["p1"]
    assert provider["status"] == "healthy" and provider["last_error"] == ""



async def test_a_probe_does_not_bring_back_a_provider_that_stopped_answering(fakes, gateway):
    """The models list of a relay that hangs on every request is no proof it answers: after a probe it
    stays out of rotation, and the next request goes straight to the other provider."""
    p1, p2 = await fakes("p1", "p2")
    # A timeout well above the bound on the last request, so that bound holds on a loaded machine.
    gw = await gateway({"p1": p1, "p2": p2}, routing={"request_timeout_seconds": 2,
                                                      "check_interval_seconds": 3600})
    p1.always(fp.hang())
    assert (await gw.responses()).status == 200
    assert (await gw.api("get_status"))["providers"]["p1"]["status"] == "unresponsive"
    assert (await gw.api("probe_provider", provider="p1"))["ok"]
    assert (await gw.api("get_status"))["providers"]["p1"]["status"] == "unresponsive"
    asked = p1.calls
    started = time.perf_counter()
    reply = await gw.responses()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert p1.calls == asked and time.perf_counter() - started < 1

# --- Codex connection and token rotation ----------------------------------------------------------------


async def test_rotating_the_token_updates_a_connected_codex(fakes, gateway, codex_home):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    assert (await gw.api("get_codex_setup"))["state"] == "not_connected"
    await gw.api("apply_codex_setup")
    assert (await gw.api("get_codex_setup"))["state"] == "connected"
    new = (await gw.api("rotate_gateway_token"))["token"]
    auth = json.loads((codex_home / "auth.json").read_text())
    assert auth == {"OPENAI_API_KEY": new}
    assert (await gw.request("GET", "/status", token=new)).status == 200
    assert (await gw.api_as(new, "get_codex_setup"))["state"] == "connected"
    # A hand-edited auth.json with some other token is left alone, and reported as out of date.
    (codex_home / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": "ao_" + "9" * 32}))
    newer = (await gw.api_as(new, "rotate_gateway_token"))["token"]
    assert json.loads((codex_home / "auth.json").read_text()) == {"OPENAI_API_KEY": "ao_" + "9" * 32}
    assert (await gw.api_as(newer, "get_codex_setup"))["state"] == "token_out_of_date"


# --- routing and ui settings ---------------------------------------------------------------------------


async def test_the_preferred_provider_is_explicit(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p2"})
    await gw.api("set_provider_order", order=["p2", "p1"])
    await gw.api("set_provider_order", order=["p1", "p2"])
    status = await gw.api("get_status")
    assert status["preferred_provider"] == "p2" and status["routing"]["preferred_provider"] == "p2"
    await gw.api("set_preferred_provider", provider="")  # first in list
    assert (await gw.api("get_status"))["preferred_provider"] == "p1"
    await gw.api("set_provider_order", order=["p2", "p1"])
    assert (await gw.api("get_status"))["preferred_provider"] == "p2"
    messages = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert "Preferred provider set to P2 (it is now first in the list)" in messages
    # Switching the first one off (or on again) moves "first in list" as much as reordering does.
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    assert (await gw.api("get_status"))["preferred_provider"] == "p1"
    messages = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert messages[:2] == ["Preferred provider set to P1 (it is now first in the list)", "Provider P2 disabled"]
    await gw.api("upsert_provider", provider="p2", disabled=False)
    assert (await gw.api("list_events"))["events"][0]["message"] == \
        "Preferred provider set to P2 (it is now first in the list)"
    cfg = await gw.api("update_routing", preferred_provider="p1", hedge=False, session_idle_return_seconds=120)
    assert cfg["routing"]["preferred_provider"] == "p1" and cfg["routing"]["hedge"] is False
    # The event says what was set as config.toml would (false, not Python's False), a provider by its name too.
    assert (await gw.api("list_events"))["events"][1]["message"] == \
        'Routing settings changed: preferred_provider = "p1" (P1), hedge = false, session_idle_return_seconds = 120'
    # Sent again with one value new: only that one is told; sent again as it is: nothing is.
    told = len((await gw.api("list_events", limit=500))["events"])
    await gw.api("update_routing", preferred_provider="p1", hedge=False, session_idle_return_seconds=90)
    await gw.api("update_routing", preferred_provider="p1", hedge=False, session_idle_return_seconds=90)
    events = (await gw.api("list_events", limit=500))["events"]
    assert [e["message"] for e in events[:len(events) - told]] == [
        "Routing settings changed: session_idle_return_seconds = 90"]
    # Told against the file the change lands on: another change landing first (a hand edit, another
    # window) does not hide this one's.
    real_edit = gw.services.config.edit

    def hand_edit_first(change, check=None):
        gw.services.config.edit = real_edit
        real_edit(lambda doc: doc["routing"].__setitem__("session_idle_return_seconds", 45))
        return real_edit(change, check)

    gw.services.config.edit = hand_edit_first
    told = len((await gw.api("list_events", limit=500))["events"])
    await gw.api("update_routing", session_idle_return_seconds=90)
    events = (await gw.api("list_events", limit=500))["events"]
    assert [e["message"] for e in events[:len(events) - told]] == [
        "Routing settings changed: session_idle_return_seconds = 90"]
    # A provider chosen by name is not "first in the list", whatever is switched off or on; routing follows
    # at once (the gateway would otherwise stay on the provider it served meanwhile, shown as a failover
    # to it, and the return announced as a recovery).
    await gw.api("set_provider_disabled", provider="p1", disabled=True)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("set_provider_disabled", provider="p1", disabled=False)
    # (the usage checks' own events, a provider without a usage panel found so, come when they come)
    messages = [e["message"] for e in (await gw.api("list_events"))["events"] if e["kind"] != "usage"][:5]
    assert not any("first in the list" in m for m in messages)
    assert messages[0] == "Preferred provider set to P1 (it can serve again)", messages
    assert "Preferred provider set to P2 (P1 cannot serve)" in messages
    summary = (await gw.api("get_status"))["summary"]
    assert (summary["state"], summary["provider"]) == ("serving", "p1"), summary
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"


async def test_every_provider_switched_off_then_on_again_is_no_failover(fakes, gateway):
    """The preferred p1 off (p2 serves), p2 off too, then p1 on and p2 on: nothing failed, so the gateway
    serves from p1 — not "failover to p2", the provider served before everything was switched off."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_provider_disabled", provider="p1", disabled=True)
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    await gw.api("set_provider_disabled", provider="p1", disabled=False)
    await gw.api("set_provider_disabled", provider="p2", disabled=False)
    summary = (await gw.api("get_status"))["summary"]
    assert summary["state"] == "serving" and summary["provider"] in (None, "p1"), summary
    assert "failover" not in summary["line"].lower(), summary
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    messages = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert not any(m.startswith(("Failover", "Back to preferred")) for m in messages), messages


async def test_ui_settings_are_validated_and_saved(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    cfg = await gw.api("update_ui", notify_failover=False, notify_quota_percent=25)
    assert cfg["ui"]["notify_failover"] is False and cfg["ui"]["notify_quota_percent"] == 25
    assert "notify_failover = false" in gw.services.paths.config.read_text()
    with pytest.raises(ApiError, match="notify_quota_percent must be a percentage"):
        await gw.api("update_ui", notify_quota_percent=140)
    with pytest.raises(ApiError, match="unknown ui setting"):
        await gw.api("update_ui", colour="red")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG login item")
async def test_autostart_setting_sets_the_login_item(fakes, gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    item = tmp_path / "xdg" / "autostart" / "api-router.desktop"
    before = await gw.api("get_config")
    assert before["autostart"] == {"supported": True, "installed": False, "location": str(item)}

    cfg = await gw.api("update_ui", autostart=True)
    assert cfg["ui"]["autostart"] is True and cfg["autostart"]["installed"] is True
    exec_line = next(line for line in item.read_text().splitlines() if line.startswith("Exec="))
    assert "-m api_router" in exec_line and str(gw.services.paths.user_data) in exec_line

    cfg = await gw.api("update_ui", autostart=False)
    assert cfg["ui"]["autostart"] is False and cfg["autostart"]["installed"] is False
    assert not item.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG login item")
async def test_a_refused_login_item_is_reported_and_the_setting_kept(fakes, gateway, tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    (xdg / "autostart").write_text("a file where the folder should be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    with pytest.raises(ApiError, match=r"could not add the login item at .*api-router\.desktop.*setting is saved"):
        await gw.api("update_ui", autostart=True)
    assert (await gw.api("get_config"))["ui"]["autostart"] is True


async def test_a_json_answer_leaves_before_it_is_recorded(fakes, gateway, monkeypatch):
    """The client does not wait for the bookkeeping: by the time an attempt's result is recorded (routing,
    quota, the request log), a JSON answer has already been written to the client."""
    from api_router.gateway.outcomes import OutcomeRecorder

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    seen = []
    record = OutcomeRecorder.attempt_done

    def checked(self, ex, attempt, result, **kw):  # type: ignore[no-untyped-def]
        seen.append((result.outcome, result.response is not None and result.response.prepared))
        record(self, ex, attempt, result, **kw)

    monkeypatch.setattr(OutcomeRecorder, "attempt_done", checked)
    reply = await gw.responses()
    assert reply.status == 200 and reply.text == "hello"
    assert seen == [(Outcome.OK, True)]
    assert (await gw.api("list_requests"))["requests"][0]["status"] == 200


async def test_a_complete_json_answer_the_client_stops_reading_is_still_accounted(fakes, gateway):
    """The answer is sent before it is recorded, so a client that stops reading a large answer and then
    goes away cancels the request while it is being sent: the provider's complete answer still counts
    (its tokens in the log, the quota ledger and the metrics), and the log says the client left."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.always(fp.json_ok("y" * 30_000_000, usage={"input_tokens": 100, "output_tokens": 50, "total_tokens": 150}))
    host, port = gw.base.split("//")[1].split(":")
    body = json.dumps({"model": "gpt-test", "input": "hi"}).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in gw.auth().items())
    reader, writer = await asyncio.open_connection(host, int(port.split("/")[0]))
    writer.write(f"POST /v1/responses HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{head}"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    await asyncio.sleep(1.5)  # reads nothing while the gateway sends 30 MB
    writer.transport.abort()
    for _ in range(200):  # the request is logged once the gateway has noticed (10 s at most)
        if gw.services.store.request_log():
            break
        await asyncio.sleep(0.05)
    row = gw.services.store.request_log()[0]
    assert (row["status"], row["provider"], row["total_tokens"]) == (499, "p1", 150)
    assert row["error"] == "client disconnected"
    # The 499 is the request's; the provider answered 200, whole.
    chain = (await gw.api("get_request", id=row["id"]))["attempt_chain"]
    assert [(a["outcome"], a["status"]) for a in chain] == [("ok", 200)]
    assert (await gw.api("get_status"))["ledgers"]["p1"]["tokens_since_check"] == 150
    assert gw.services.store.metrics()["p1"].total_tokens == 150


async def test_a_stream_that_broke_on_the_provider_serving_it_is_no_failover(fakes, gateway):
    """Failover means served after another provider failed: the row, the timeline, the outcome filter
    and the session list agree."""
    from tests.support import fake_provider as fp

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("cut short", cut_after=4))  # after output: the client gets response.failed
    await gw.responses(stream=True, headers={"session-id": "sess-cut"})
    p1.always(fp.status(503))
    await gw.responses(headers={"session-id": "sess-cut"})  # p1 fails, p2 serves: a failover
    timeline = (await gw.api("get_session_timeline", session_id="sess-cut"))["requests"]
    assert [(t["provider"], t["failover"]) for t in timeline] == [("p1", False), ("p2", True)]
    listed = (await gw.api("list_requests", outcome="failover"))["requests"]
    assert [r["provider"] for r in listed] == ["p2"]
    assert (await gw.api("list_sessions"))["sessions"][0]["failovers"] == 1


async def test_the_export_downloads_a_page_of_rows_at_a_time(fakes, gateway):
    """GET /api/export_requests: the same file as the control call (its arguments checked and refused in the
    same words), written to the client as its pages are read — however long the log, the app holds a page of it (the whole file as rows took most of a GB)."""
    from tests.support.records import record

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for i in range(4100):
        gw.services.store.log_request(record(session="keep" if i % 2 else "other"))
    for fmt in ("csv", "jsonl"):
        reply = await gw.request("GET", f"/api/export_requests?format={fmt}&session_id=keep")
        assert reply.status == 200 and reply.headers["X-API-Router-Rows"] == "2050"
        assert reply.headers["Content-Disposition"] == f'attachment; filename="api-router-requests.{fmt}"'
        whole = await gw.api("export_requests", format=fmt, session_id="keep")
        assert reply.body.decode() == whole["content"] and whole["rows"] == 2050
    rows = list(csv.DictReader(io.StringIO(reply_csv := (await gw.request(
        "GET", "/api/export_requests?outcome=ok")).body.decode())))
    assert len(rows) == 4100 and reply_csv.startswith('"id","request_id"')
    for query, status, said in (("format=xml", 400, "export_requests: format must be one of 'csv', 'jsonl' (got 'xml')"),
                                ("outcome=nonsense", 400, "outcome must be one of"),
                                ("path=/etc/passwd", 400, "bad arguments for export_requests: unknown argument(s) 'path'")):
        reply = await gw.request("GET", f"/api/export_requests?{query}")
        assert reply.status == status and said in reply.json["error"]["message"], (query, reply.body[:200])
    assert (await gw.request("GET", "/api/export_requests", token=False)).status == 401


def test_an_export_holds_the_rows_it_counted_while_the_row_limit_prunes(tmp_path):
    """Pages go newest first, so the oldest rows are read last — the ones a prune at max_rows deletes
    while a download is under way. The file must hold the rows its count (X-API-Router-Rows, the
    window's "Exported N requests") says."""
    from api_router import request_log
    from api_router.store import Store

    store = Store(tmp_path / "s.sqlite3")
    store.open()
    try:
        store.set_retention(Retention(days=30, rows=6000))
        for i in range(6000):
            store.log_request(RequestRecord(now_ms(), "/v1/responses", False, session_id=f"s{i}", status=200,
                                            attempts=[Attempt("p1", Outcome.OK)]))
        store.flush()
        made = request_log.export_of(store, lambda pid: pid, "csv")
        pieces = made.pieces()
        got = [next(pieces), next(pieces)]  # the header and the first page
        for i in range(400):  # traffic while the file downloads: each batch is followed by a prune
            store.log_request(RequestRecord(now_ms(), "/v1/responses", False, session_id=f"new{i}", status=200,
                                            attempts=[Attempt("p1", Outcome.OK)]))
        store.flush()
        store.prune()
        got += list(pieces)
        rows = list(csv.DictReader(io.StringIO(b"".join(got).decode())))
        assert made.total == made.rows == len(rows) == 6000
        assert not any(r["session_id"].startswith("new") for r in rows)
    finally:
        store.close()


async def test_requests_are_listed_by_the_time_they_began_and_paged_so(fakes, gateway):
    """A long Codex turn begun before a short one ends after it (and is logged after it): newest first
    goes by the Time column, on every page and in the export, ties in one millisecond by log order."""
    from tests.support.records import record

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    t0 = now_ms() - 60_000
    began = {"long-turn": t0, "short": t0 + 5_000, "tie-a": t0 + 9_000, "tie-b": t0 + 9_000, "newest": t0 + 20_000}
    for session in ("short", "long-turn", "tie-a", "newest", "tie-b"):  # the order they ended and were logged
        gw.services.store.log_request(record(ts=began[session], session=session))
    expected = ["newest", "tie-b", "tie-a", "short", "long-turn"]
    listed, before = [], None
    while True:
        page = await gw.api("list_requests", limit=2, before_id=before)
        listed += [r["session_id"] for r in page["requests"]]
        if (before := page["next_before_id"]) is None:
            break
    assert listed == expected
    exported = (await gw.api("export_requests", format="jsonl"))["content"].splitlines()
    assert [json.loads(line)["session_id"] for line in exported] == expected
    # A page read before its last row was pruned (by age): nothing older is left to list, and nothing is
    # listed twice.
    page = await gw.api("list_requests", limit=4)
    gw.services.store.set_retention(Retention(days=(now_ms() - t0 - 6_000) / 86_400_000))
    assert [r["session_id"] for r in (await gw.api("list_requests"))["requests"]] == expected[:3]
    assert (await gw.api("list_requests", before_id=page["next_before_id"]))["requests"] == []


async def test_the_oldest_page_is_one_step_away_and_pages_up_from_there(fakes, gateway):
    """A full log is thousands of pages deep: ``oldest`` lists its far end at once, ``after_id`` pages up from
    there to the newest, and every page says how many rows are above it — the same rows, in the same order,
    as paging down from the top; with filters too."""
    from tests.support.records import record

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    t0 = now_ms() - 60_000
    for i in range(11):  # logged out of order: a long turn begun first, logged after the others
        gw.services.store.log_request(record(ts=t0 + ((i + 4) % 11) * 100, session=f"s{(i + 4) % 11}"))
    down, before = [], None
    while True:
        page = await gw.api("list_requests", limit=4, before_id=before)
        assert page["newer"] == len(down) and page["total"] == 11
        down += [r["session_id"] for r in page["requests"]]
        if (before := page["next_before_id"]) is None:
            break
    assert down == [f"s{i}" for i in range(10, -1, -1)]
    oldest = await gw.api("list_requests", limit=4, oldest=True)
    assert [r["session_id"] for r in oldest["requests"]] == ["s3", "s2", "s1", "s0"]
    assert oldest["newer"] == 7 and oldest["next_before_id"] is None
    up, page = [], oldest
    while page["requests"]:
        up = [r["session_id"] for r in page["requests"]] + up
        assert page["newer"] == 11 - len(up)
        page = await gw.api("list_requests", limit=4, after_id=page["requests"][0]["id"])
    assert up == down
    middle = await gw.api("list_requests", limit=4, after_id=oldest["requests"][0]["id"])
    assert [r["session_id"] for r in middle["requests"]] == ["s7", "s6", "s5", "s4"]
    assert middle["next_before_id"] == middle["requests"][-1]["id"]  # older ones are there, and Older finds them
    odd = await gw.api("list_requests", limit=2, oldest=True, text="s1")  # s1 and s10 match
    assert [r["session_id"] for r in odd["requests"]] == ["s10", "s1"] and odd["newer"] == 0
    assert (await gw.api("list_requests", oldest=True, session_id="nobody")) == {
        "requests": [], "next_before_id": None, "total": 0, "newer": 0}
    # A page above a row pruned since: the rows that are left, from the oldest.
    gone = oldest["requests"][-1]["id"]
    await gw.api("update_request_log", max_rows=9)
    assert [r["session_id"] for r in (await gw.api("list_requests", limit=3, after_id=gone))["requests"]] == [
        "s4", "s3", "s2"]
    for two in ({"oldest": True, "before_id": gone}, {"before_id": 5, "after_id": 3}, {"oldest": True, "after_id": 3}):
        with pytest.raises(ApiError, match="give at most one of them"):
            await gw.api("list_requests", **two)
    # Below the oldest row: an empty page, every row above it; a page holding exactly the last rows, no Older.
    left = await gw.api("list_requests", limit=3, oldest=True)
    below = await gw.api("list_requests", limit=3, before_id=left["requests"][-1]["id"])
    assert below["requests"] == [] and below["newer"] == 9 and below["next_before_id"] is None
    exactly = await gw.api("list_requests", limit=9)
    assert len(exactly["requests"]) == 9 and exactly["next_before_id"] is None
    with pytest.raises(ApiError, match=r"oldest.*true or false"):
        await gw.api("list_requests", oldest="yes")


def test_an_attempt_cancelled_by_the_shutdown_is_aborted_not_closed_by_the_client():
    """Every attempt cancelled before its result goes through the recorder, which tells the two apart: a
    client that left, or the gateway shutting down (no one's failure, said as attempt_done says it)."""
    import time as clock

    from api_router.gateway.errors import GATEWAY_QUITS
    from api_router.gateway.outcomes import OutcomeRecorder

    left, quit_ = Attempt("p1", Outcome.OK), Attempt("p1", Outcome.OK)
    OutcomeRecorder.attempt_left(left, clock.perf_counter(), cut_by_gateway=False)
    OutcomeRecorder.attempt_left(quit_, clock.perf_counter() - 0.25, cut_by_gateway=True)
    assert (left.outcome, left.error) == (Outcome.CLIENT_CLOSED, "")
    assert (quit_.outcome, quit_.error) == (Outcome.ABORTED, GATEWAY_QUITS) and quit_.latency_ms >= 250


async def test_the_row_limit_cuts_the_oldest_by_start_so_paging_misses_nothing(fakes, gateway):
    """A long turn begun first but logged last: the row limit cuts from the end of the page order (the
    time each began), so a page read before the cut still leads to every row left."""
    from tests.support.records import record

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    t0 = now_ms() - 60_000
    for i in range(1, 6):
        gw.services.store.log_request(record(ts=t0 + i * 1_000, session=f"short-{i}"))
    gw.services.store.log_request(record(ts=t0, session="long-turn"))  # began before them, ended after
    first = await gw.api("list_requests", limit=2)
    assert [r["session_id"] for r in first["requests"]] == ["short-5", "short-4"]
    await gw.api("update_request_log", max_rows=3)
    rest = await gw.api("list_requests", before_id=first["next_before_id"])
    assert [r["session_id"] for r in rest["requests"]] == ["short-3"]
    left = [r["session_id"] for r in (await gw.api("list_requests"))["requests"]]
    assert left == ["short-5", "short-4", "short-3"]


async def test_an_export_after_the_database_file_was_deleted_says_so_and_makes_no_file(fakes, gateway):
    """data/ cleared while API Router runs: requests are still served and the pages still read (their
    connection holds the file deleted), but an export opens the file by its name: it says what happened and
    what to do, and makes no new empty database (with the umask's mode) where the deleted one was."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    assert (await gw.responses()).status == 200
    store = gw.services.store.path
    shutil.rmtree(store.parent)
    assert (await gw.responses()).status == 200
    with pytest.raises(ApiError, match=r"was deleted while API Router ran\. Restart API Router"):
        await gw.api("export_requests", format="jsonl")
    assert not store.exists()



def test_a_page_read_is_not_held_up_by_a_search_under_way(tmp_path):
    """Each open Requests page with a text search re-reads it at every poll (up to a second through a full
    log): on the store's one shared reading connection the other reads queued behind it (a plain page went
    from 40 to 400 ms with four such tabs). A page is read on a connection of its own."""
    import threading

    from api_router import request_log
    from api_router.store import Store
    from tests.support.records import record

    store = Store(tmp_path / "s.sqlite3")
    store.open()
    try:
        for i in range(3):
            store.log_request(record(session=f"s{i}"))
        store.flush()
        read = threading.Thread(target=request_log.page, args=(store, request_log.filters_of()))
        with store._read_lock:  # a long read under way on the shared connection
            read.start()
            read.join(5)
            assert not read.is_alive(), "the page waited for the shared connection"
    finally:
        store.close()
