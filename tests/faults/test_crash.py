"""Crash safety: kill -9 while config, secrets and the store are being written.

After each kill, every file parses, nothing acknowledged before the kill is lost, and the store
opens; a store that is corrupt anyway is moved aside and recreated, with an event.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3

import aiohttp
import pytest
import tomlkit

from api_router.config import ConfigFile
from api_router.secrets import SecretsFile
from api_router.store import BATCH_WINDOW_SECONDS, Store
from tests.support import fake_provider as fp
from tests.support.harness import simple_body
from tests.support.processes import TOKEN, setup_user_data, spawn, wait_health

pytestmark = pytest.mark.slow
KILLS = 5
# An acknowledged row waits for the batch in progress before its own, and that one may be held up by a
# checkpoint's fsync, slow on a loaded machine. Rows kept in memory instead of committed are lost
# however long the grace, so a wide one still catches them.
UNFLUSHED_GRACE = 30 * BATCH_WINDOW_SECONDS


async def hammer(port: int, acked: dict[str, int], stop: asyncio.Event) -> None:
    """Write config, secrets and the store as fast as possible; remember what was acknowledged."""
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        async def api(method: str, **kw) -> bool:
            async with s.post(f"{base}/api/{method}", json=kw) as r:
                return r.status == 200

        async def config_writer() -> None:
            i = acked["config"]
            while not stop.is_set():
                i += 1
                if await api("upsert_provider", provider="p1", display_name=f"name-{i}"):
                    acked["config"] = i

        async def secrets_writer() -> None:
            i = acked["secrets"]
            while not stop.is_set():
                i += 1
                if await api("set_provider_key", provider="p1", key=f"sk-crash-{i:08d}"):
                    acked["secrets"] = i

        async def store_writer() -> None:
            while not stop.is_set():
                async with s.post(f"{base}/v1/responses", json=simple_body()) as r:
                    if r.status == 200:
                        acked["requests"] += 1

        async def guarded(coro) -> None:
            try:
                await coro
            except (aiohttp.ClientError, ConnectionError):
                pass  # the process was killed under us

        await asyncio.gather(*(guarded(c) for c in (config_writer(), secrets_writer(), store_writer(),
                                                    store_writer())))


def index_of(text: str, prefix: str) -> int:
    return int(text.removeprefix(prefix))


async def test_kill_9_during_writes_loses_nothing_acknowledged(tmp_path):
    fake = await fp.FakeProvider("p1").start()
    ud = setup_user_data(tmp_path, {"p1": fake})
    acked = {"config": 0, "secrets": 0, "requests": 0}
    # Request-log rows acknowledged at least UNFLUSHED_GRACE before a kill must be on disk; the
    # newest ones may still have been in the writer's batch (the log is written behind the response).
    must_survive = 0
    rng = random.Random(7)
    try:
        for _ in range(KILLS):
            port = fp.free_port()
            log = (tmp_path / "gateway.log").open("a")
            proc = spawn(ud, "--port", str(port), output=log)
            await asyncio.to_thread(wait_health, port, proc)
            stop = asyncio.Event()
            writer = asyncio.create_task(hammer(port, acked, stop))
            before = acked["requests"]
            await asyncio.sleep(rng.uniform(0.4, 1.2))
            must_survive += acked["requests"] - before
            await asyncio.sleep(UNFLUSHED_GRACE)
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
            stop.set()
            await asyncio.wait_for(writer, 10)
            log.close()

            config, report = ConfigFile.load(ud / "config.toml")
            assert not report.problems and report.moved_to is None and report.copied_to is None
            assert index_of(config.current.providers["p1"].display_name, "name-") >= acked["config"]
            secrets, sreport = SecretsFile.load(ud / "secrets.json")
            assert not sreport.problems and sreport.moved_to is None
            assert secrets.current.gateway_token == TOKEN
            assert index_of(secrets.current.provider_keys["p1"], "sk-crash-") >= acked["secrets"]
            store = Store(ud / "data" / "api-router.sqlite3")
            assert store.open() is None  # not corrupt
            store.close()
            assert not list(ud.glob(".*.tmp")), "temp files of interrupted writes were left behind"
    finally:
        await fake.stop()
    assert acked["config"] > 10 and acked["secrets"] > 10 and acked["requests"] > 10
    rows = sqlite3.connect(ud / "data" / "api-router.sqlite3").execute("SELECT count(*) FROM request_log").fetchone()[0]
    # At most one unacknowledged row per in-flight request (two writers) per kill.
    assert must_survive <= rows <= acked["requests"] + 2 * KILLS


async def test_corrupt_store_at_start_is_moved_aside_with_an_event(tmp_path):
    fake = await fp.FakeProvider("p1").start()
    ud = setup_user_data(tmp_path, {"p1": fake})
    db = ud / "data" / "api-router.sqlite3"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"SQLite format 3\x00" + b"\x13" * 5000)
    port = fp.free_port()
    log = (tmp_path / "gateway.log").open("w")
    proc = spawn(ud, "--port", str(port), output=log)
    try:
        await asyncio.to_thread(wait_health, port, proc)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            async with s.get(f"http://127.0.0.1:{port}/status") as r:
                status = await r.json()
            async with s.post(f"http://127.0.0.1:{port}/v1/responses", json=simple_body()) as r:
                assert r.status == 200
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        log.close()
        await fake.stop()
    events = [e for e in status["recent_events"] if e["kind"] == "store"]
    assert events and events[0]["level"] == "error" and "moved to" in events[0]["message"]
    aside = list(db.parent.glob("api-router.sqlite3.broken-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"SQLite format 3\x00\x13")
    assert sqlite3.connect(db).execute("SELECT count(*) FROM request_log").fetchone()[0] == 1
    assert tomlkit.parse((ud / "config.toml").read_text())  # untouched and valid
    assert json.loads((ud / "secrets.json").read_text())["gateway_token"] == TOKEN


def sealed_then_silent(seconds: float = 30) -> fp.Behaviour:
    """A reasoning item, sealed and done, then nothing for ``seconds`` (a model thinking about its answer)."""

    async def run(request: aiohttp.web.Request, fake: fp.FakeProvider) -> aiohttp.web.StreamResponse:
        response = fp.response_object("never sent", provider=fake.name, reasoning=True)
        reasoning = response["output"][0]
        resp = aiohttp.web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(fp.sse_event({"type": "response.created",
                                       "response": {**response, "status": "in_progress", "output": []}}))
        await resp.write(fp.sse_event({"type": "response.output_item.added", "output_index": 0,
                                       "item": {**reasoning, "encrypted_content": None}}))
        await resp.write(fp.sse_event({"type": "response.output_item.done", "output_index": 0, "item": reasoning}))
        await asyncio.sleep(seconds)
        return resp
    return run


async def test_who_sealed_an_item_the_client_holds_survives_a_kill_moments_later(tmp_path):
    """Codex keeps a sealed item the moment it is done; API Router killed 30 ms later (well within the
    request log's batching window) still knows, after a restart, that p1 sealed it: Codex's retry, which
    carries it while p1 is down, reaches p2 without it."""
    p1, p2 = fp.FakeProvider("p1"), fp.FakeProvider("p2")
    await p1.start()
    await p2.start()
    p1.always(sealed_then_silent())
    p2.always(fp.stream_ok("served by p2"))
    ud = setup_user_data(tmp_path, {"p1": p1, "p2": p2})
    headers = {"Authorization": f"Bearer {TOKEN}", "session_id": "sess-kill"}
    log = (tmp_path / "gateway.log").open("a")
    try:
        port = fp.free_port()
        proc = spawn(ud, "--port", str(port), output=log)
        await asyncio.to_thread(wait_health, port, proc)
        held = None
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/v1/responses", headers=headers,
                                    json={**simple_body(), "stream": True}) as resp:
                async for line in resp.content:
                    if line.startswith(b"data:") and b'"response.output_item.done"' in line:
                        held = json.loads(line[5:])["item"]
                        break
                await asyncio.sleep(0.03)
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 10)
        assert held is not None and held["encrypted_content"] == "sealed-by-p1"
        await p1.stop()  # down at the retry: p2 serves it

        proc = spawn(ud, "--port", str(port), output=log)
        await asyncio.to_thread(wait_health, port, proc)
        retry = {**simple_body(), "stream": True,
                 "input": [held, {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/v1/responses", headers=headers, json=retry) as resp:
                assert resp.status == 200 and b"served by p2" in await resp.read()
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 15)
        assert [fp.foreign_sealed_items(r.json, "p2") for r in p2.requests if r.json.get("input") != "ping"] == [[]]
    finally:
        log.close()
        await p2.stop()
        if proc.poll() is None:
            proc.kill()
