"""Soak: thousands of mixed requests against providers that fail at random.

Short form in ``python3 tasks.py test``; the full form (3 minutes) with ``python3 tasks.py soak``
(API_ROUTER_SOAK=full). Afterwards every client request is in the request log, every answer was a
complete success or one clear error, and tasks, file descriptors and memory are back near their
baseline.

Stated bounds: after the run, at most 3 more tasks and 24 more open descriptors than the warmed-up
baseline (the upstream keep-alive pool may hold a few more idle sockets), and RSS growth below
25 MB (short) / 40 MB (full).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from tests.support import fake_provider as fp
from tests.support.harness import simple_body
from tests.support.processes import TOKEN, setup_user_data, spawn, wait_health

FULL = os.environ.get("API_ROUTER_SOAK") == "full"
DURATION = 180.0 if FULL else 20.0
MAX_REQUESTS = 40_000 if FULL else 2_500
RSS_BOUND = (40 if FULL else 25) * 1024 * 1024

pytestmark = pytest.mark.slow


def chaotic(rng: random.Random) -> fp.Behaviour:
    """Mostly healthy; sometimes 5xx, 429, resets, hangs, cut streams or HTML."""
    # Healthy answers carry sealed reasoning, as a reasoning model's do; the sessions re-send it.
    ok_json, ok_stream = fp.json_ok("soak ok", reasoning=True), fp.stream_ok("soak ok stream", deltas=5, reasoning=True)
    faults = [
        (0.05, fp.status(503, "overloaded")),
        (0.03, fp.status(429, "slow down", headers={"Retry-After": "1"})),
        (0.03, fp.stream_ok("cut", deltas=5, cut_after=4)),
        (0.02, fp.reset()),
        (0.01, fp.hang(5)),
        (0.02, fp.html_page()),
        (0.02, fp.stream_ok("stalls", deltas=5, stall_after=4, stall=5)),
    ]

    async def run(request: web.Request, fake: fp.FakeProvider) -> web.StreamResponse:
        roll = rng.random()
        for chance, behaviour in faults:
            if roll < chance:
                return await behaviour(request, fake)
            roll -= chance
        stream = b'"stream": true' in await request.read()
        return await (ok_stream if stream else ok_json)(request, fake)
    return run


@dataclass
class Tally:
    complete: int = 0
    clear_errors: int = 0
    bad: list[str] | None = None

    def __post_init__(self) -> None:
        self.bad = []


def last_event_type(body: bytes) -> str | None:
    blocks = [b for b in body.replace(b"\r\n", b"\n").split(b"\n\n") if b.strip()]
    if not blocks or not body.endswith(b"\n\n"):
        return None
    data = b"\n".join(line[5:].strip() for line in blocks[-1].split(b"\n") if line.startswith(b"data:"))
    try:
        return json.loads(data).get("type")
    except ValueError:
        return None


class Conversations:
    """Codex-like sessions: every request re-sends the session's history, including the reasoning each
    provider sealed, so the gateway has to keep every provider's sealed items from the others."""

    def __init__(self, rng: random.Random, count: int = 24, keep: int = 12) -> None:
        self._rng = rng
        self._keep = keep
        self.history: dict[str, list[dict]] = {f"soak-session-{i:02d}": [] for i in range(count)}

    def body(self, stream: bool) -> tuple[str, dict]:
        sid = self._rng.choice(list(self.history))
        items = [*self.history[sid], *simple_body()["input"]]
        return sid, {**simple_body(), "input": items, "stream": stream, "store": False, "prompt_cache_key": sid}

    def answered(self, sid: str, request_items: list[dict], output: list[dict]) -> None:
        self.history[sid] = [*request_items, *output][-self._keep:]


def output_of(body: bytes, stream: bool) -> list[dict]:
    try:
        if not stream:
            return json.loads(body).get("output", [])
        for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
            data = b"\n".join(line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:"))
            if data and b'"response.completed"' in data:
                return json.loads(data)["response"].get("output", [])
    except (ValueError, KeyError, AttributeError):
        pass
    return []


async def one_request(session: aiohttp.ClientSession, url: str, stream: bool, tally: Tally,
                      conversations: Conversations) -> None:
    sid, payload = conversations.body(stream)
    try:
        async with session.post(url, json=payload, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            body = await resp.read()
            if resp.status == 200:
                conversations.answered(sid, payload["input"], output_of(body, stream))
            if resp.status != 200:
                error = (await resp.json(content_type=None)).get("error", {}) if body else {}
                # Every provider rate-limited is a 429 that says when to come back.
                rate_limited = resp.status == 429 and resp.headers.get("Retry-After", "").isdigit()
                if (resp.status in (502, 503) or rate_limited) and error.get("message"):
                    tally.clear_errors += 1
                else:
                    tally.bad.append(f"HTTP {resp.status}: {body[:200]!r}")
                return
            if not stream:
                if b'"status": "completed"' in body:
                    tally.complete += 1
                else:
                    tally.bad.append(f"JSON without completion: {body[:200]!r}")
                return
            last = last_event_type(body)
            if last == "response.completed":
                tally.complete += 1
            elif last == "response.failed":
                tally.clear_errors += 1
            else:
                tally.bad.append(f"truncated stream presented as 200 (last event {last!r}): {body[-200:]!r}")
    except (TimeoutError, aiohttp.ClientError) as exc:
        tally.bad.append(f"{type(exc).__name__}: {exc}")


async def load(url: str, *, count: int, seconds: float, concurrency: int, seed: int) -> tuple[int, Tally]:
    rng = random.Random(seed)
    conversations = Conversations(rng)
    tally = Tally()
    sent = 0
    deadline = time.monotonic() + seconds
    asyncio.Queue()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal sent
            while sent < count and time.monotonic() < deadline:
                sent += 1
                await one_request(session, url, rng.random() < 0.6, tally, conversations)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent, tally


async def diagnostics(port: int) -> dict:
    async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{port}/api/get_diagnostics", json={},
                      headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        return await resp.json()


async def settled(port: int) -> dict:
    """Diagnostics once nothing is in flight any more."""
    for _ in range(100):
        d = await diagnostics(port)
        if d["inflight_requests"] == 0 and d["open_upstream_responses"] == 0:
            await asyncio.sleep(0.3)
            return await diagnostics(port)
        await asyncio.sleep(0.1)
    raise AssertionError(f"requests still in flight: {d}")


async def test_soak(tmp_path):
    rng = random.Random(1234)
    providers = [await fp.FakeProvider(n).start() for n in ("a", "b", "c")]
    for fake in providers:
        fake.always(chaotic(rng))
    ud = setup_user_data(tmp_path, {f.name: f for f in providers}, request_timeout_seconds=1,
                         stream_idle_timeout_seconds=1, cooldown_seconds=1, failure_threshold=2,
                         preferred_stable_seconds=1)
    port = fp.free_port()
    output = (tmp_path / "gateway.log").open("w")
    proc = spawn(ud, "--port", str(port), output=output)
    url = f"http://127.0.0.1:{port}/v1/responses"
    try:
        await asyncio.to_thread(wait_health, port, proc)
        warm_sent, _ = await load(url, count=300, seconds=15, concurrency=32, seed=1)
        baseline = await settled(port)

        sent, tally = 0, Tally()
        phases = [(16, 0.3), (64, 0.3), (32, 0.4)] if FULL else [(32, 1.0)]
        for concurrency, share in phases:
            n, t = await load(url, count=int(MAX_REQUESTS * share), seconds=DURATION * share,
                              concurrency=concurrency, seed=concurrency)
            sent += n
            tally.complete += t.complete
            tally.clear_errors += t.clear_errors
            tally.bad.extend(t.bad)
        after = await settled(port)

        async with aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{port}/api/get_analytics", json={"window": "hour"},
                              headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                logged = (await resp.json())["overall"]["requests"]
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)
        output.close()
        for fake in providers:
            await fake.stop()

    kinds = Counter(b.split(":")[0] for b in tally.bad)
    leaks = {fake.name: fake.foreign_sealed for fake in providers if fake.foreign_sealed}
    assert not leaks, f"providers received items sealed by another provider: {leaks}"
    assert sum(b"sealed-by-" in r.raw for fake in providers for r in fake.requests) > 500  # the check had work
    print(f"\nsoak: {sent} requests ({tally.complete} complete, {tally.clear_errors} clear errors), "
          f"baseline {baseline}, after {after}")
    assert sent >= (2000 if not FULL else 5000)
    assert not tally.bad, f"{len(tally.bad)} answers were neither complete nor a clear error: {kinds}; {tally.bad[:3]}"
    assert tally.complete + tally.clear_errors == sent
    assert logged == sent + warm_sent + 0, f"request log has {logged}, clients sent {sent + warm_sent}"
    assert after["tasks"] <= baseline["tasks"] + 3
    assert after["open_fds"] <= baseline["open_fds"] + 24
    assert after["rss_bytes"] - baseline["rss_bytes"] < RSS_BOUND
    assert proc.returncode == 0
