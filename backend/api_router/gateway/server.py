"""Serving the gateway: listen, drain in-flight requests on stop, or run it all on a thread of its own.

``GatewayServer`` serves one ``Services`` on the current event loop; ``GatewayThread`` runs a
GatewayServer on its own loop in a daemon thread (the desktop shell keeps the main thread for the GUI).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import threading

import aiohttp
from aiohttp import web

from api_router.config import LOOPBACK_HOSTS
from api_router.composition import new_event_loop
from api_router.control import Control
from api_router.gateway.deadlines import Deadlines
from api_router.gateway.routes import GatewayApp
from api_router.services import Services

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 5.0


def _environment_matters() -> bool:
    """Whether aiohttp's ``trust_env`` can change anything: a proxy variable or a netrc file.

    With ``trust_env`` aiohttp looks up netrc and the proxy variables in worker threads on every
    request (two thread hops per upstream call); without either there is nothing to find.
    """
    from aiohttp.helpers import netrc_from_env, proxies_from_env

    return bool(proxies_from_env()) or netrc_from_env() is not None



class StartError(Exception):
    """The gateway could not start; the message is one line for the user."""

    exit_code = 1


class PortInUse(StartError):
    exit_code = 2



class GatewayServer:
    def __init__(self, rt: Services, control: Control, *, host: str | None = None, port: int | None = None,
                 shutdown_grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        self.rt = rt
        self.control = control
        self.host = host
        self.port = port
        self.shutdown_grace = shutdown_grace
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        rt = self.rt
        listen = rt.config.current.listen
        host = self.host or listen.host
        port = listen.port if self.port is None else self.port
        if host not in LOOPBACK_HOSTS and not listen.allow_remote:
            raise StartError(f"refusing to listen on {host}: only loopback addresses are allowed unless "
                             "[listen] allow_remote = true is set in config.toml")
        rt.loop = asyncio.get_running_loop()
        rt.deadlines = Deadlines(rt.loop)
        rt.shutting_down = False
        rt.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=0, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None),  # our own timeouts apply per phase
            # A relay's cookies must never ride along to it (or to another provider on its host),
            # and filtering a cookie jar costs time on every request.
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=_environment_matters(),
        )
        app = GatewayApp(rt, self.control).build()
        # Our own stop() drains requests first; aiohttp's timeout only covers what is left after it.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            await self._cleanup()
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise PortInUse(f"port {port} on {host} is already in use (is API Router already running?)") from None
            raise StartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = self._runner.addresses[0]
        rt.bound_host, rt.bound_port = host, bound[1]
        if host not in LOOPBACK_HOSTS:
            log.warning("listening on non-loopback address %s: other machines can reach the gateway", host)
            rt.emit("warning", "security", f"Listening on {host}:{rt.bound_port}, reachable from other machines "
                                           "(allow_remote = true)")
        rt.emit("info", "gateway", f"Gateway listening on {rt.gateway_url}")

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish within the grace period, then end the
        rest with a clean error: closing the upstream client makes their reads fail, and the proxy
        answers those with a shutdown error (streams get a ``response.failed`` event)."""
        rt = self.rt
        rt.shutting_down = True
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()
        if not await self._drained(self.shutdown_grace):
            for resp in list(rt.upstreams):
                resp.close()
            if rt.http is not None:
                await rt.http.close()
            await self._drained(2.0)
        await self._cleanup()

    async def _drained(self, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.rt.inflight > 0:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.rt.quota.stop()
        if self.rt.http is not None:
            await self.rt.http.close()
            self.rt.http = None


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
