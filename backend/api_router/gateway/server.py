"""Serving the gateway: listen, drain in-flight requests on stop, or run it all on a thread of its own.

``GatewayServer`` serves one ``Services`` on the current event loop; ``GatewayThread`` runs a
GatewayServer on its own loop in a daemon thread (the desktop shell keeps the main thread for the GUI).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import threading
import tomllib
from pathlib import Path

from aiohttp import web

from api_router.config import is_loopback
from api_router.control import Registry
from api_router.gateway.connections import GuardedAppRunner
from api_router.gateway.errors import os_reason
from api_router.gateway.routes import UPSTREAM, build_app
from api_router.proxyenv import settings_problem
from api_router.records import Kind, Level
from api_router.services import Services, Serving, ServingState

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 5.0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it exists (not on Windows), else asyncio's own loop."""
    if os.environ.get("API_ROUTER_LOOP") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class StartError(Exception):
    """The gateway could not start; the message is one line for the user."""

    exit_code = 1


class PortInUse(StartError):
    exit_code = 2


def port_source(port_option: int | None, services: Services) -> str:
    """What set the port the gateway tried: the user's way to change it."""
    if port_option is not None:
        return f"the --port {port_option} option of this start"
    port, path = services.config.current.listen.port, services.paths.config
    if services.config.created:  # written there by this first start, from the defaults: not the user's choice
        return f"the default port {port} (this first start wrote it to {path}: set another [listen] port there, " \
               "or start with --port)"
    if not _port_written(path):
        return f"the default port {port} (config.toml has no [listen] port: set one in {path}, or start with --port)"
    return f"[listen] port = {port} in {path}"


def _port_written(path: Path) -> bool:
    """Whether the config file sets ``[listen] port`` itself (there but unreadable: it is named all the
    same)."""
    try:
        listen = tomllib.loads(path.read_text(encoding="utf-8-sig")).get("listen")
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    return isinstance(listen, dict) and "port" in listen


class GatewayServer:
    def __init__(self, services: Services, registry: Registry, *, host: str | None = None, port: int | None = None,
                 shutdown_grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        self.services = services
        self.registry = registry
        self.host = host
        self.port = port
        self.shutdown_grace = shutdown_grace
        self.state = ServingState()
        self._runner: GuardedAppRunner | None = None

    async def start(self) -> None:
        services = self.services
        listen = services.config.current.listen
        host = self.host or listen.host
        port = listen.port if self.port is None else self.port
        if not listen.may_listen_on(host):
            raise StartError(f"refusing to listen on {host}: only loopback addresses are allowed unless "
                             "[listen] allow_remote = true is set in config.toml")
        if (problem := settings_problem(services.proxies.settings)) is not None:
            raise StartError(problem)
        self.state = ServingState()
        app = build_app(services, self.registry, self.state, host)
        # Our own stop() drains requests first; aiohttp's timeout only covers what is left after it.
        # Request bodies are decoded by exchange.read_body, which notices a gzip stream cut short (aiohttp
        # does not) and decodes only the bodies that are read.
        self._runner = GuardedAppRunner(app, listen=lambda: services.config.current.listen, access_log=None,
                                        handler_cancellation=True, shutdown_timeout=1.0, auto_decompress=False)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            await self._cleanup()
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise PortInUse(f"port {port} on {host} is already in use (is API Router already running?)") from None
            raise StartError(f"cannot listen on {host}:{port}: {os_reason(exc)}") from None
        bound_port = self._runner.addresses[0][1]
        services.config.serving_on(bound_port)  # hand edits are checked against the port really in use
        services.serving = Serving(asyncio.get_running_loop(), app[UPSTREAM], host, bound_port, self.state)
        if not is_loopback(host):
            log.warning("listening on non-loopback address %s: other machines can reach the gateway", host)
            services.emit(Level.WARNING, Kind.SECURITY,
                          f"Listening on {host}:{bound_port}, reachable from other machines "
                          "(allow_remote = true)")
        services.emit(Level.INFO, Kind.GATEWAY, f"Gateway listening on {services.gateway_url}")

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish within the grace period, then end the rest
        with a clean error: cutting the upstream requests (answered or still waiting) makes their reads
        fail, and the proxy answers those with a shutdown error (streams under way get a
        ``response.failed`` event)."""
        self.state.shutting_down = True
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()
        if not await self._drained(self.shutdown_grace):
            self.state.end_grace()
            serving = self.services.serving
            if serving is not None:
                await serving.upstream.cut_off()
            await self._drained(2.0)
        await self._cleanup()

    async def _drained(self, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.state.inflight + self.state.other_inflight > 0:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _cleanup(self) -> None:
        self.services.serving = None
        if self._runner is not None:
            await self._runner.cleanup()  # closes the upstream client (the app's cleanup context)
            self._runner = None
        await self.services.quota.stop()


class GatewayThread:
    """A GatewayServer on its own event loop in a daemon thread."""

    def __init__(self, gateway: GatewayServer) -> None:
        self.gateway = gateway
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stopped = threading.Event()

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until the gateway listens; re-raises its StartError."""
        self._thread = threading.Thread(target=self._main, name="gateway", daemon=True)
        self._thread.start()
        self._started.result(timeout)

    def _main(self) -> None:
        loop = self._loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.gateway.start())
            except BaseException as exc:  # reported to the starting thread
                self._started.set_exception(exc)
                return
            self._started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.gateway.stop())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._stopped.set()

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._stopped.wait(timeout)
