"""Analytics under traffic: how much a month of a full request log, read by the Usage page, slows the
gateway's own requests.

    python -m bench.analytics [--rows 200000] [--seconds 10]

The request log is seeded with ``rows`` requests spread over 29 days (the default retention bound:
mixed providers, a tenth of them failovers), then API Router runs as a real process (``api-router
--headless``) against a fake upstream in this process. One client sends short JSON requests one after
another for ``seconds`` while nothing else happens (the floor), then as long again while a second
client calls ``get_analytics(window="month")`` back to back, as a Usage page left open on "30 days"
would, only without its 30 s pause. The report gives both latency distributions, their p99 ratio and
how long each analytics call took, against the target: p99 while analytics runs ≤ ``P99_RATIO_MAX`` ×
the floor's p99 (a summary worked out in Python holds the interpreter the gateway shares: before
the work moved into SQLite, p99 went from 6.5 ms to 66 ms and the slowest request waited 208 ms).
Exits 1 when the target is missed. Bounded in rows, requests and time; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from api_router.paths import Paths
from api_router.records import Attempt, Outcome, RequestRecord, Usage, now_ms
from api_router.store import Store
from bench import procs

P99_RATIO_MAX = 4.0
SPREAD_MS = 29 * 86_400_000
REQUEST_TIMEOUT = 10.0
MAX_ROWS = 500_000
MAX_SECONDS = 60.0


async def _answer(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({
        "id": "resp_bench", "object": "response", "status": "completed", "model": "gpt-5.5",
        "output": [{"type": "message", "id": "msg_bench", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
        "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}})


def seed(store_path: Path, rows: int) -> None:
    """``rows`` requests over the last 29 days, as the gateway logs them."""
    rnd = random.Random(7)
    store = Store(store_path)
    store.open()
    try:
        now = now_ms()
        for i in range(rows):
            served = rnd.choice(("A", "B"))
            attempts = [Attempt(served, Outcome.OK, 200, 400 + rnd.random() * 3000, ttfb_ms=rnd.random() * 600)]
            if i % 10 == 0:  # a failover: the other provider failed first
                attempts.insert(0, Attempt("B" if served == "A" else "A", Outcome.PROVIDER_FAILURE, 503, 80.0))
            store.log_request(RequestRecord(
                unix_ms=now - SPREAD_MS + i * SPREAD_MS // rows, path="/v1/responses", stream=True,
                session_id=f"bench-session-{i % 400}", model="gpt-5.5", provider=served, status=200,
                latency_ms=attempts[-1].latency_ms + 5, ttfb_ms=attempts[-1].ttfb_ms,
                usage=Usage(9000, 400, 6000, 100, 9400), attempts=attempts))
            if i % 20_000 == 19_999:
                store.flush(60)
        store.flush(120)
    finally:
        store.close()


async def _latencies(session: aiohttp.ClientSession, url: str, seconds: float) -> list[float]:
    """Milliseconds per request, one request after another for ``seconds``."""
    body = {"model": "gpt-5.5", "input": "hi", "store": False}
    headers = {"Authorization": f"Bearer {procs.TOKEN}"}
    found: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        async with session.post(url, json=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status} from the gateway")
        found.append((time.perf_counter() - started) * 1000)
    return found


async def _analytics_calls(session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> list[float]:
    took: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        async with session.post(url, json={"window": "month"},
                                headers={"Authorization": f"Bearer {procs.TOKEN}"}) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"get_analytics answered HTTP {resp.status}")
        took.append(time.perf_counter() - started)
    return took


async def run(rows: int, seconds: float) -> tuple[list[float], list[float], list[float]]:
    """(floor latencies, latencies while analytics runs, analytics call seconds)."""
    app = web.Application()
    app.router.add_post("/v1/responses", _answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, procs.HOST, 0).start()
    upstream = f"http://{procs.HOST}:{runner.addresses[0][1]}/v1"
    with tempfile.TemporaryDirectory(prefix="api-router-analytics-") as tmp:
        paths = Paths(Path(tmp) / "user-data")
        try:
            procs.write_user_data(paths.user_data, upstream)
            await asyncio.to_thread(seed, paths.store, rows)
            gateway = await asyncio.to_thread(procs.Gateway.start, paths.user_data, Path(tmp) / "codex-home")
        except BaseException:
            await runner.cleanup()
            raise
        try:
            base = f"http://{procs.HOST}:{gateway.port}"
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as session:
                await _latencies(session, f"{base}/v1/responses", min(2.0, seconds))  # warm-up, not recorded
                floor = await _latencies(session, f"{base}/v1/responses", seconds)
                stop = asyncio.Event()
                reading = asyncio.create_task(_analytics_calls(session, f"{base}/api/get_analytics", stop))
                try:
                    busy = await _latencies(session, f"{base}/v1/responses", seconds)
                finally:
                    stop.set()
                took = await reading
        finally:
            await asyncio.to_thread(gateway.stop)
            await runner.cleanup()
    return floor, busy, took


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(floor: list[float], busy: list[float], took: list[float]) -> tuple[str, bool]:
    ratio = _p(busy, 0.99) / _p(floor, 0.99)
    lines = [f"{name:<28} n={len(v):>5}  p50 {_p(v, 0.5):6.1f} ms  p99 {_p(v, 0.99):6.1f} ms  max {max(v):6.1f} ms"
             for name, v in (("gateway alone (floor)", floor), ("while analytics runs", busy))]
    lines.append(f"p99 while analytics runs: {ratio:.2f}× the floor (target ≤ {P99_RATIO_MAX:g}×)")
    lines.append(f"get_analytics(month): {len(took)} calls, median {statistics.median(took):.2f} s" if took
                 else "get_analytics(month): no call finished")
    met = ratio <= P99_RATIO_MAX and bool(took)
    lines.append("target met" if met else "TARGET MISSED")
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    rows = max(1, min(args.rows, MAX_ROWS))
    seconds = max(1.0, min(args.seconds, MAX_SECONDS))
    procs.end_cleanly_on_signals()
    text, met = report(*asyncio.run(run(rows, seconds)))
    print(f"{rows:,} logged requests over 29 days\n{text}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
