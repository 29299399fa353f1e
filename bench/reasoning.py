"""Live reasoning scenario: how late the first reasoning summary delta reaches a client through API
Router, against the same stream read directly.

    python -m bench.reasoning [--rounds 10]

A fake upstream (in this process) answers every streamed request the way a reasoning model does:
``response.created``, a reasoning item, its first ``response.reasoning_summary_text.delta`` after
``SUMMARY_AT`` seconds, and the answer only after ``ANSWER_AT``. API Router runs as a real process
(``api-router --headless``). Rounds alternate direct and through-the-gateway requests; the report
gives the median time to the first summary delta of each and the difference, against the failover
issue's target: through the gateway ≤ direct + 5 ms (a gateway that held reasoning back until the
answer would add ``ANSWER_AT - SUMMARY_AT``). Exits 1 when the target is missed. Bounded in rounds
and time; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench import procs

SUMMARY_AT = 0.3
ANSWER_AT = 1.0
EXTRA_MAX_MS = 5.0
MARK = b"response.reasoning_summary_text.delta"
ROUND_TIMEOUT = 10.0


def _event(payload: dict[str, object]) -> bytes:
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + json.dumps(payload).encode() + b"\n\n"


async def _reasoning_stream(request: web.Request) -> web.StreamResponse:
    await request.read()
    shell = {"id": "resp_reasoning", "object": "response", "status": "in_progress", "output": []}
    item = {"id": "rs_live", "type": "reasoning", "summary": []}
    message = {"id": "msg_live", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "done", "annotations": []}]}
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_event({"type": "response.created", "response": shell}))
    await resp.write(_event({"type": "response.in_progress", "response": shell}))
    await asyncio.sleep(SUMMARY_AT)
    await resp.write(_event({"type": "response.output_item.added", "output_index": 0, "item": item}))
    await resp.write(_event({"type": "response.reasoning_summary_text.delta", "item_id": "rs_live",
                             "output_index": 0, "summary_index": 0, "delta": "Thinking about it"}))
    await asyncio.sleep(ANSWER_AT - SUMMARY_AT)
    done = {**shell, "status": "completed", "output": [{**item, "summary": []}, message],
            "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}
    await resp.write(_event({"type": "response.output_item.added", "output_index": 1, "item": message}))
    await resp.write(_event({"type": "response.output_text.delta", "item_id": "msg_live", "output_index": 1,
                             "content_index": 0, "delta": "done"}))
    await resp.write(_event({"type": "response.completed", "response": done}))
    await resp.write_eof()
    return resp


def _write_user_data(folder: Path, upstream_url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text("\n".join([
        'provider_order = ["relay"]', "", "[listen]", f'host = "{procs.HOST}"', "port = 0", "",
        "[providers.relay]", 'display_name = "Reasoning relay"', f'base_url = "{upstream_url}"', ""]))
    secrets = {"gateway_token": procs.TOKEN, "usage_tokens": {}, "providers": {"relay": "sk-relay-000000"}}
    (folder / "secrets.json").write_text(json.dumps(secrets))


async def _first_summary_delta(session: aiohttp.ClientSession, url: str) -> float:
    """Seconds from sending a streamed request to the first summary delta (the stream is read to its end)."""
    body = {"model": "gpt-5.5", "input": "think first", "stream": True, "store": False,
            "reasoning": {"effort": "medium", "summary": "auto"}}
    headers = {"Authorization": f"Bearer {procs.TOKEN}", "session-id": "reasoning-bench"}
    started = time.perf_counter()
    seen: float | None = None
    async with session.post(url, json=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:300]!r}")
        tail = b""
        async for chunk in resp.content.iter_any():
            if seen is None and MARK in tail + chunk:
                seen = time.perf_counter() - started
            tail = chunk[-len(MARK):]
    if seen is None:
        raise RuntimeError("the stream carried no reasoning summary delta")
    return seen


async def run(rounds: int) -> tuple[list[float], list[float]]:
    app = web.Application()
    app.router.add_post("/v1/responses", _reasoning_stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, procs.HOST, 0)
    await site.start()
    port = runner.addresses[0][1]
    tmp = tempfile.TemporaryDirectory(prefix="api-router-reasoning-")
    work = Path(tmp.name)
    _write_user_data(work / "user-data", f"http://{procs.HOST}:{port}/v1")
    try:
        gateway = await asyncio.to_thread(procs.Gateway.start, work / "user-data", work / "codex-home")
    except BaseException:
        await runner.cleanup()
        tmp.cleanup()
        raise
    direct: list[float] = []
    through: list[float] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ROUND_TIMEOUT)) as session:
            for i in range(rounds):
                pair = [(direct, f"http://{procs.HOST}:{port}/v1/responses"),
                        (through, f"http://{procs.HOST}:{gateway.port}/v1/responses")]
                for out, url in (pair if i % 2 == 0 else pair[::-1]):
                    out.append(await _first_summary_delta(session, url))
    finally:
        await asyncio.to_thread(gateway.stop)
        await runner.cleanup()
        tmp.cleanup()
    return direct, through


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    rounds = max(1, min(args.rounds, 50))
    direct, through = asyncio.run(run(rounds))
    d, t = statistics.median(direct) * 1000, statistics.median(through) * 1000
    print(f"first reasoning summary delta, median of {rounds}: direct {d:.1f} ms, through API Router {t:.1f} ms, "
          f"added {t - d:+.2f} ms (target ≤ +{EXTRA_MAX_MS:g} ms; the summary is sent at {SUMMARY_AT * 1000:.0f} ms, "
          f"the answer at {ANSWER_AT * 1000:.0f} ms)")
    met = t - d <= EXTRA_MAX_MS
    print("target met" if met else "TARGET MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
