"""The Usage page in a real browser: seeded traffic and quota, numbers and charts as the user sees
them. The app runs in this test's loop (same composition root as ``api-router``); the browser
script is ``frontend/e2e/usage.e2e.mjs``."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import fake_provider as fp
from tests.support.browser import FRONTEND, require_browser, run_script

pytestmark = pytest.mark.browser


def new_api(available: float) -> dict:
    return {"success": True, "data": {"total_granted": available + 100, "total_used": 100,
                                      "total_available": available, "unlimited_quota": False, "expires_at": 0}}


VIEWPORTS = [(720, "dark"), (1000, "light"), (1180, "light"), (1400, "dark")]
LONG_NAME = "Relay Two, Azure East US production deployment"


@pytest.mark.parametrize(("width", "scheme"), VIEWPORTS, ids=[f"{w}px-{s}" for w, s in VIEWPORTS])
async def test_usage_page_shows_seeded_numbers_charts_and_timeline(fakes, gateway, width, scheme):
    require_browser()
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 5})
    await gw.api("upsert_provider", provider="p1", display_name="Relay One")
    await gw.api("upsert_provider", provider="p2", display_name=LONG_NAME)  # long names wrap, never cut

    async def slow(request, fake):  # latencies in seconds (every percentile) make the widest by-provider table
        await asyncio.sleep(1.05)
        return await fp.json_ok()(request, fake)

    p1.queue(slow, slow, slow)
    for _ in range(3):
        assert (await gw.responses(headers={"session_id": "s-e2e"})).status == 200
    p1.queue(fp.status(502, "bad gateway"))
    failover = await gw.responses(headers={"session_id": "s-e2e"})
    assert failover.headers["X-API-Router-Provider"] == "p2"
    p1.usage, p2.usage = new_api(5000), new_api(0)
    quota = (await gw.api("refresh_usage"))["quota"]
    assert quota["p2"]["skipped"] is True

    out = await run_script(FRONTEND / "e2e" / "usage.e2e.mjs", {
        "E2E_GATEWAY": gw.base + "/", "E2E_TOKEN": gw.token, "E2E_WIDTH": str(width), "E2E_SCHEME": scheme},
        name=f"usage-{width}")
    assert "PASS" in out


async def test_small_latencies_have_distinct_axis_labels_and_a_nine_digit_total_fits(fakes, gateway):
    """Requests of 1.5–3 ms: the latency chart's gridlines (0.75 ms apart, were they allowed between whole
    milliseconds) each read differently; a total of 123,456,789 output tokens reads 123M, on one line."""
    require_browser()
    from api_router.records import Attempt, Outcome, RequestRecord, Usage, now_ms

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    store = gw.services.store
    for i, ms in enumerate((1.5, 2.0, 2.5, 3.0)):
        output = 123_456_789 if i == 0 else 0
        store.log_request(RequestRecord(now_ms(), "/v1/responses", False, request_id=f"req_{i:016x}", provider="p1",
                                        status=200, latency_ms=ms, ttfb_ms=ms, usage=Usage(10, output, 0, 0, 10 + output),
                                        attempts=[Attempt("p1", Outcome.OK, 200, ms, ttfb_ms=ms)]))
    store.flush()
    out = await run_script(FRONTEND / "e2e" / "smallFigures.e2e.mjs", {
        "E2E_GATEWAY": gw.base + "/", "E2E_TOKEN": gw.token, "E2E_WIDTH": "1320"}, name="usage-small-figures")
    assert "PASS" in out


@pytest.mark.parametrize("width", [1280, 1599, 1600, 1920])
async def test_a_busy_months_figures_keep_every_column_of_the_provider_table_in_view(fakes, gateway, width):
    """Token counts of eleven digits and latencies in seconds (a heavy user's month): the twelve columns fit
    their card — beside the latency chart from 1600 px, under it below (a 10-digit month once hid its TTFB
    columns behind the card's edge at 1,320 px)."""
    require_browser()
    from api_router.records import Attempt, Outcome, RequestRecord, Usage, now_ms

    ids = ("p1", "p2", "p3")
    providers = await fakes(*ids)
    gw = await gateway(dict(zip(ids, providers, strict=True)))
    store = gw.services.store
    for n, pid in enumerate(ids):
        for i, ms in enumerate((2_990.0, 8_380.0, 19_600.0)):
            usage = Usage(47_516_655_310 // 3, 1_178_244_110 // 3, 0, 0, 48_694_899_420 // 3) if i else \
                Usage(47_516_655_310 - 2 * (47_516_655_310 // 3), 1_178_244_110 - 2 * (1_178_244_110 // 3), 0, 0,
                      48_694_899_420 - 2 * (48_694_899_420 // 3))
            store.log_request(RequestRecord(now_ms() - 86_400_000 * (n + i), "/v1/responses", True,
                                            request_id=f"req_{n}{i:015x}", provider=pid, status=200, latency_ms=ms,
                                            ttfb_ms=ms / 4, usage=usage,
                                            attempts=[Attempt(pid, Outcome.OK, 200, ms, ttfb_ms=ms / 4)]))
    store.flush()
    out = await run_script(FRONTEND / "e2e" / "wideTable.e2e.mjs", {
        "E2E_GATEWAY": gw.base + "/", "E2E_TOKEN": gw.token, "E2E_WIDTH": str(width)}, name=f"usage-wide-{width}")
    assert "PASS" in out
