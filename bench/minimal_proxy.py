"""The physical floor for comparison: the least an aiohttp server + aiohttp client proxy can do.

    python -m bench.minimal_proxy --upstream http://127.0.0.1:N/v1 [--port P]   prints ``READY <port>``

Reads the body, validates it as JSON (as any gateway must), POSTs it upstream over a keep-alive
pool and relays the answer chunk by chunk. No routing, no logging, no auth.

Keep it honest: this is the floor every API Router budget is a ratio to, so it stays the simplest
*correct* forwarder — no feature of the router (no auth, routing, header filtering, SSE parsing,
logging, timeouts of its own), and nothing slowed down either: it runs with the process settings
the router runs with — uvloop where it exists (``--loop asyncio`` for comparison) and the router's
garbage-collector tuning (``--gc default`` for comparison) — and aiohttp's defaults otherwise.
Making it slower would make the router look closer to the floor than it is.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

import aiohttp
import orjson
from aiohttp import web

from bench.serving import serve_until_signalled


async def main(upstream: str, port: int) -> None:
    # No cookie jar: a forwarder has no cookies of its own to send (the router uses the same
    # DummyCookieJar; filtering a real jar costs a little on every request).
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, limit_per_host=0),
                                    timeout=aiohttp.ClientTimeout(total=None), cookie_jar=aiohttp.DummyCookieJar())
    target = upstream.rstrip("/") + "/responses"

    async def responses(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        orjson.loads(body)
        async with session.post(target, data=body, headers={"Content-Type": "application/json"}) as up:
            if up.content_type == "text/event-stream":
                out = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream"})
                await out.prepare(request)
                async for chunk in up.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
                return out
            return web.Response(status=up.status, body=await up.read(), content_type=up.content_type)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/v1/responses", responses)
    app.router.add_get("/health", health)
    try:
        await serve_until_signalled(app, port)
    finally:
        await session.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the event loop (default: uvloop where it exists, like the router)")
    parser.add_argument("--gc", choices=("tuned", "default"), default="tuned",
                        help="the router's collector settings (default) or Python's")
    args = parser.parse_args()
    if args.gc == "tuned":  # as api_router.cli.tune_gc: objects alive after start-up frozen, rarer passes
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
    sys.setswitchinterval(0.001)  # as api_router.cli.favour_the_event_loop
    run = asyncio.run
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            run = uvloop.run
    run(main(args.upstream, args.port))
