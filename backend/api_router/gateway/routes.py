"""The aiohttp application: endpoints, the Host check, token auth and JSON errors everywhere."""

from __future__ import annotations

import asyncio
import functools
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from api_router import __version__
from api_router.config import ConfigError
from api_router.gateway.errors import GatewayError, error_response
from api_router.gateway.proxy import ResponsesProxy, parse_object, read_body
from api_router.gateway.upstream import describe_exception, error_text, upstream_headers
from api_router.services import Services
from api_router.status import build_status

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONTROL_BODY_LIMIT = 1024 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def host_allowed(host_header: str | None, listen_host: str) -> bool:
    """Loopback names and the configured listen host, with any port; anything else may be a
    DNS-rebinding page pretending to be us."""
    if not host_header:
        return True  # HTTP/1.0 clients; browsers always send Host
    host = host_header.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    listen = listen_host.lower()
    return name in _LOOPBACK_NAMES or name in (listen, f"[{listen}]")


def bearer_token(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class GatewayApp:
    """Builds the aiohttp application for one runtime and one control object."""

    def __init__(self, rt: Services, control: Any) -> None:
        self.rt = rt
        self.control = control
        self.proxy = ResponsesProxy(rt)
        self._control_methods = {
            name: fn for name, fn in inspect.getmembers(control, inspect.ismethod) if not name.startswith("_")
        }

    def build(self) -> web.Application:
        # The body limit is enforced per request from the live config, not by aiohttp's fixed one.
        app = web.Application(middlewares=[self._guard], client_max_size=1 << 40, handler_args={"max_field_size": 65536})
        app.router.add_get("/health", self.health)
        app.router.add_get("/status", self._token(self.status))
        app.router.add_get("/v1/models", self._token(self.models))
        app.router.add_get("/models", self._token(self.models))
        for path in ("/v1/responses", "/responses"):
            app.router.add_post(path, self._token(self.proxy.handle))
            app.router.add_get(path, self._token(self.websocket_refused))
        app.router.add_post("/api/{method}", self._token(self.control_call, same_origin=True))
        app.router.add_get("/", self.spa)
        app.router.add_get("/{path:.+}", self.spa)
        return app

    # --- cross-cutting ---------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host"), self.rt.config.current.listen.host):
            return error_response(403, "requests must address the gateway as localhost or 127.0.0.1 (foreign Host header refused)")
        try:
            return await handler(request)
        except GatewayError as err:
            return error_response(err.status, self.rt.redactor(err.message), err.type)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = "no such endpoint" if exc.status == 404 else exc.reason
            return error_response(exc.status, message)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            return error_response(500, "internal error in API Router; see its log")

    def _token(self, handler: Handler, *, same_origin: bool = False) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            if same_origin:
                origin = request.headers.get("Origin")
                if origin is not None and origin != f"http://{request.host}":
                    return error_response(403, "cross-origin control requests are refused")
            expected = self.rt.secrets.current.gateway_token.encode()
            if not hmac.compare_digest(bearer_token(request).encode(), expected):
                return error_response(401, "missing or wrong gateway token (Authorization: Bearer ao_…)", "unauthorized")
            return await handler(request)

        return checked

    # --- endpoints ---------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "version": __version__})

    async def status(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(build_status(self.rt)), content_type="application/json")

    async def websocket_refused(self, request: web.Request) -> web.Response:
        # Codex tries a WebSocket upgrade first when supports_websockets is set; say no quickly.
        return error_response(426, "this gateway speaks HTTP POST /v1/responses only (no WebSocket mode)")

    async def models(self, request: web.Request) -> web.Response:
        """The routed provider's model list, trying the candidates in order; provider health is
        not touched because many relays do not implement /models at all."""
        rt = self.rt
        assert rt.http is not None
        cfg = rt.config.current
        errors = []
        timeout = cfg.routing.request_timeout_seconds
        for pid in rt.router.plan(cfg):
            key = rt.secrets.current.provider_keys.get(pid)
            try:
                async with asyncio.timeout(timeout):
                    async with rt.http.get(cfg.providers[pid].endpoint("/models"), allow_redirects=False,
                                           headers=upstream_headers({"Accept": "application/json"}, key)) as resp:
                        body = await resp.read()
                        if resp.status == 200:
                            orjson.loads(body)
                            return web.Response(body=body, content_type="application/json",
                                                headers={"X-API-Router-Provider": pid})
                        errors.append(f"{pid}: HTTP {resp.status}: {error_text(body, resp.content_type)}")
            except orjson.JSONDecodeError:
                errors.append(f"{pid}: answered something that is not JSON")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                errors.append(f"{pid}: {describe_exception(exc, timeout)}")
        if not errors:
            raise GatewayError(502, "no provider is available: add a provider with a base URL in API Router")
        raise GatewayError(502, "no provider returned a model list — " + "; ".join(errors))

    async def control_call(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        fn = self._control_methods.get(name)
        if fn is None:
            raise GatewayError(404, f"unknown control method {name!r}")
        body = await read_body(request, CONTROL_BODY_LIMIT)
        kwargs = parse_object(body) if body.strip() else {}
        try:
            inspect.signature(fn).bind(**kwargs)
        except TypeError as exc:
            raise GatewayError(400, f"bad arguments for {name}: {exc}") from None
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, functools.partial(fn, **kwargs))
        except (ConfigError, ValueError) as exc:
            raise GatewayError(400, str(exc)) from None
        return web.Response(body=orjson.dumps(result), content_type="application/json")

    async def spa(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info.get("path", "")
        if path.startswith(("v1/", "api/")):
            raise GatewayError(404, "no such endpoint")
        index = WEB_DIR / "index.html"
        if not index.is_file():
            return web.Response(status=503, content_type="text/html", text=_UI_MISSING)
        target = (WEB_DIR / path).resolve() if path else index
        if path and (not target.is_relative_to(WEB_DIR) or not target.is_file()):
            target = index  # client-side routes fall back to the app
        headers = {"Cache-Control": "no-cache" if target == index else "public, max-age=31536000, immutable"}
        return web.FileResponse(target, headers=headers)


_UI_MISSING = """<!doctype html><meta charset="utf-8"><title>API Router</title>
<body style="font-family:system-ui;margin:3rem"><h1>API Router</h1>
<p>The gateway is running, but the web UI has not been built.</p>
<p>Run <code>python3 tasks.py run</code> (it builds the UI) or <code>npm --prefix frontend ci &amp;&amp;
npm --prefix frontend run build</code>.</p></body>
"""

