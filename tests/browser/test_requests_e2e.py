"""The Requests page (list, filters from the address, live first page, attempt chains, paging,
export), provider tests (a pass clears 'unresponsive') and Connect Codex's "token out of date" in a
real browser, once per window width. The app runs in this test's loop; the browser script is
``frontend/e2e/requests.e2e.mjs``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from tests.support import fake_provider as fp
from tests.support.browser import FRONTEND, require_browser, run_script

pytestmark = pytest.mark.browser

VIEWPORTS = [(720, "light"), (1000, "dark"), (1400, "light")]


def capable() -> fp.Behaviour:
    """A provider that does what a provider test asks: SSE for a stream, a function call for a tool."""

    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        body = await request.json()
        response = fp.response_object(f"hello from {fake.name}", provider=fake.name)
        if body.get("tools"):
            tool = body["tools"][0]
            response["output"] = [{"id": f"fc_{fake.name}", "type": "function_call", "status": "completed",
                                   "call_id": f"call_{fake.name}", "name": tool.get("name", "f"),
                                   "arguments": "{}"}]
        if not body.get("stream"):
            return web.json_response(response)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        events = fp.stream_events(response) if not body.get("tools") else [
            {"type": "response.created", "response": {**response, "status": "in_progress", "output": []}},
            {"type": "response.output_item.added", "output_index": 0, "item": response["output"][0]},
            {"type": "response.output_item.done", "output_index": 0, "item": response["output"][0]},
            {"type": "response.completed", "response": response},
        ]
        for event in events:
            await resp.write(fp.sse_event(event))
        await resp.write_eof()
        return resp
    return run


@pytest.mark.parametrize(("width", "scheme"), VIEWPORTS, ids=[f"{w}px-{s}" for w, s in VIEWPORTS])
async def test_requests_tests_and_codex_state(fakes, gateway, codex_home: Path, width: int, scheme: str) -> None:
    require_browser()
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    for fake in (p1, p2, p3):
        fake.always(capable())
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3},
                       routing={"failure_threshold": 5, "request_timeout_seconds": 1.5, "hedge": False})
    for pid, name in (("p1", "Relay One"), ("p2", "Relay Two"), ("p3", "Relay Three")):
        await gw.api("upsert_provider", provider=pid, display_name=name)
    await gw.api("upsert_provider", provider="p2", model_map={"gpt-test": "vendor/gpt-test"})

    # 104 requests to Relay One, then one that fails over to Relay Two: more than a page of 100.
    for i in range(104):
        assert (await gw.responses(headers={"session_id": "s-bulk"})).status == 200, i
    p1.queue(fp.status(502, "bad gateway"))
    failover = await gw.responses(headers={"session_id": "s-fail"})
    assert failover.headers["X-API-Router-Provider"] == "p2"

    control = await fp.serve_switches({"p1": p1, "p2": p2, "p3": p3}, {  # POST /<name>/<ok|fail|hang>
        "ok": lambda _: capable(), "fail": lambda _: fp.status(503, "upstream overloaded, try again later"),
        "hang": lambda _: fp.hang()})
    try:
        out = await run_script(FRONTEND / "e2e" / "requests.e2e.mjs", {
            "E2E_GATEWAY": gw.base + "/", "E2E_TOKEN": gw.token, "E2E_CODEX_HOME": str(codex_home),
            "E2E_FAKE_CONTROL": f"http://127.0.0.1:{control.addresses[0][1]}",
            "E2E_WIDTH": str(width), "E2E_SCHEME": scheme}, name=f"requests-{width}")
    finally:
        await control.cleanup()
    assert "PASS" in out

    # Rotating the token rewrote the auth.json Connect Codex had written.
    auth = json.loads((codex_home / "auth.json").read_text(encoding="utf-8"))
    assert auth == {"OPENAI_API_KEY": (await gw.api("get_gateway_token"))["token"]}
