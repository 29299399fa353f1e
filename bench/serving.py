"""The child side of a benchmark process: serve an aiohttp app until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web


async def serve_until_signalled(app: web.Application, port: int, *, backlog: int = 128) -> None:
    """Listen on 127.0.0.1:``port``, print ``READY <port>`` for the parent, stop on a signal."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=backlog).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
