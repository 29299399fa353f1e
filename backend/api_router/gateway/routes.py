"""The aiohttp application: its routes, declared in one table, and the objects handlers use.

What only exists while the app runs — the upstream client, the coarse timer, the proxy — is made in a
``cleanup_ctx`` and kept under typed ``AppKey``s, so handlers get them as plain, non-optional objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import logging
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
from aiohttp import web

from api_router import __version__, request_log
from api_router.control import Refused, Registry
from api_router.gateway import explain
from api_router.gateway.checks import BackgroundChecks
from api_router.gateway.deadlines import Deadlines
from api_router.gateway.errors import SHUTTING_DOWN, GatewayError
from api_router.gateway.exchange import answer_now, expect_continue, parse_object, read_body
from api_router.gateway.middleware import Handler, guard, still_the_token, token_required
from api_router.gateway.models import MODELS_TIMEOUT_SECONDS, ModelList, fetch_models
from api_router.gateway.proxy import ResponsesProxy
from api_router.gateway.upstream import PROVIDER_HEADER, PoolConnector, Upstream, forwarded_headers
from api_router.jsonbytes import dumps
from api_router.proxyenv import unusable_proxies
from api_router.routing import Failure
from api_router.services import ProviderIdentity, Services, ServingState, id_last, id_now, identity_of
from api_router.status import build_status
from api_router.store import DamagedDatabase

SERVICES = web.AppKey("services", Services)
REGISTRY = web.AppKey("registry", Registry)
STATE = web.AppKey("state", ServingState)
UPSTREAM = web.AppKey("upstream", Upstream)
PROXY = web.AppKey("proxy", ResponsesProxy)
HOP_ID = web.AppKey("hop_id", str)  # marks every request this gateway sends upstream


@dataclass(frozen=True)
class ControlThreads:
    """Where control calls run: the quick ones, and apart from them those that wait on the loop."""

    quick: ThreadPoolExecutor
    waiting: ThreadPoolExecutor


CONTROL_THREADS = web.AppKey("control_threads", ControlThreads)
EXPORT_ROWS_HEADER = "X-API-Router-Rows"  # how many requests a download holds
# A download whose client takes nothing for this long is ended: it holds a read of the database, and while
# it does the database's write-ahead log cannot be folded back (it grew by ~36 MB a minute under traffic).
EXPORT_STALL_SECONDS = 60.0
EXPORT_WRITE_BYTES = 64 * 1024  # written (and timed) a part at a time: a slow reader still makes progress

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CONTROL_BODY_LIMIT = 1024 * 1024
MAX_HEADER_LINE = 65536  # one header line, read from a client or a provider


async def upstream_context(app: web.Application) -> AsyncIterator[None]:
    """The upstream client, the proxy built on it and the background checks, for as long as the app runs."""
    session = aiohttp.ClientSession(
        # No pool limit of its own: client connections are bounded by [listen] max_connections, and a
        # request queued for a pool slot would time out as its provider's failure, never having been sent.
        connector=PoolConnector(limit=0, limit_per_host=0, ttl_dns_cache=300,
                                ssl=await asyncio.to_thread(app[SERVICES].trust.context)),  # usage checks too
        timeout=aiohttp.ClientTimeout(total=None),  # our own timeouts apply per phase
        # A relay's cookies must never ride along to it (or to another provider on its host), and
        # filtering a cookie jar costs time on every request.
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,  # each request is handed its proxy (``ProxyRoutes``): see proxyenv
        # A relay's front end may send a header line far past aiohttp's 8190 bytes (a long Set-Cookie or
        # Content-Security-Policy); Codex reads such an answer, and so does the gateway, as its server does.
        max_line_size=MAX_HEADER_LINE, max_field_size=MAX_HEADER_LINE,
    )
    for why in unusable_proxies(app[SERVICES].proxies.settings):
        log.warning("%s", why)
    upstream = Upstream(session, Deadlines(asyncio.get_running_loop()), app[HOP_ID], app[SERVICES].proxies)
    app[UPSTREAM] = upstream
    state = app[STATE]
    app[PROXY] = ResponsesProxy(app[SERVICES], upstream, state)
    checks = asyncio.get_running_loop().create_task(
        BackgroundChecks(app[SERVICES], upstream, in_flight=lambda: state.inflight).run(), name="background-checks")
    try:
        yield
    finally:
        app[PROXY].close()
        checks.cancel()
        await asyncio.gather(checks, return_exceptions=True)
        await upstream.close()


async def control_context(app: web.Application) -> AsyncIterator[None]:
    """The threads control calls run in. Not the loop's default pool: a call waits there for work it
    hands to the loop (a test, a usage check), and that work needs the default pool itself (a worker
    thread to read a file), so a few calls at once could wait on each other for good."""
    threads = ControlThreads(ThreadPoolExecutor(max_workers=16, thread_name_prefix="control"),
                             ThreadPoolExecutor(max_workers=8, thread_name_prefix="control-wait"))
    app[CONTROL_THREADS] = threads
    try:
        yield
    finally:
        for pool in (threads.quick, threads.waiting):
            pool.shutdown(wait=False, cancel_futures=True)


# --- handlers --------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "version": __version__})


async def status(request: web.Request) -> web.Response:
    return web.Response(body=dumps(build_status(request.app[SERVICES])), content_type="application/json")


async def responses(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY].handle(request)


async def websocket_refused(request: web.Request) -> web.Response:
    # Codex tries a WebSocket upgrade first when supports_websockets is set; say no quickly.
    raise GatewayError(426, "this gateway speaks HTTP POST /v1/responses only (no WebSocket mode)")


async def models(request: web.Request) -> web.Response:
    """The routed provider's model list, trying the candidates in order; provider health is not touched:
    many relays do not implement /models at all, and one whose /models hangs may still answer requests
    (a silent provider is found out by them). Each provider gets at most MODELS_TIMEOUT_SECONDS. A
    provider renamed (or given a new address or key) while the list is asked for is asked as it is then
    — its address with its own key — and named by its id of now; one deleted meanwhile is passed by."""
    services = request.app[SERVICES]
    identities = services.providers.identities  # before the config: each provider it names is followed
    cfg = services.config.current
    timeout = min(cfg.routing.request_timeout_seconds, MODELS_TIMEOUT_SECONDS)
    plan = services.router.plan(cfg)
    forwarded = forwarded_headers(request.raw_headers)
    asked: list[tuple[ProviderIdentity | str, Failure]] = []
    for pid in plan:
        who = identity_of(identities, pid)
        with services.providers.moving:  # not halfway through a rename: the address and key belong together
            now = id_now(who)
            provider = services.config.current.providers.get(now) if now is not None else None
            key = services.provider_key(now) if now is not None else None
        if provider is None or now is None:
            continue  # deleted since the list was asked for
        if not services.router.answering(now):  # found so since the plan was made: no request waits on it
            asked.append((who, Failure(now, explain.FOUND_NOT_ANSWERING)))
            continue
        result = await _model_list(services, fetch_models(
            request.app[UPSTREAM], provider, key, timeout, asked_as=forwarded, query=request.rel_url.raw_query_string),
            who)
        if result.ok:
            return web.Response(body=services.redactor.redact_bytes(result.body), content_type="application/json",
                                headers={PROVIDER_HEADER: id_last(who)})
        asked.append((who, Failure(now, result.error, result.status, retry_after=result.retry_after,
                                   rate_limited=result.status == 429)))
    cfg = services.config.current  # the providers named as they are called now
    failures = [dataclasses.replace(f, provider=id_last(who)) for who, f in asked]
    if not cfg.routable:
        raise explain.nobody_routable(cfg)
    if not failures:
        services.router.want_checks()
        raise explain.none_available(cfg, services.router)
    if all(f.rate_limited for f in failures):  # 429 with the soonest Retry-After, as for /v1/responses
        planned = [id_last(identity_of(identities, pid)) for pid in plan]
        raise explain.all_failed(cfg, failures, services.router, planned)
    raise explain.no_model_list(cfg, failures, services.router)


async def _model_list(services: Services, fetching: Coroutine[Any, Any, ModelList],
                      who: ProviderIdentity | str) -> ModelList:
    """``who``'s model list — given up at once when another request finds it not answering (renamed
    meanwhile, it is the same provider), as every request waiting on it is."""
    found: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stopped(provider: str) -> None:
        if provider == id_now(who) and not found.done():
            found.set_result(None)

    listeners = services.router.unresponsive_listeners
    listeners.append(stopped)
    task = asyncio.ensure_future(fetching)
    waits: set[asyncio.Future[Any]] = {task, found}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the client left
        task.cancel()
        raise
    finally:
        listeners.remove(stopped)
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return ModelList(False, None, 0.0, error=explain.FOUND_NOT_ANSWERING)


async def control_call(request: web.Request) -> web.Response:
    """``POST /api/<method>``: one control call. Shutdown waits for it like for a proxy request (within
    the grace period) and, past that, answers it 503 — its body still arriving or its call still running."""
    state = request.app[STATE]
    if state.shutting_down:  # on a connection kept open from before: the app is going
        raise GatewayError(503, SHUTTING_DOWN)
    with _in_flight(state):
        body = await read_body(request, CONTROL_BODY_LIMIT, request.app[UPSTREAM].deadlines,
                               request.app[SERVICES].config.current.listen.body_stall_timeout_seconds,
                               limit_set_by="the fixed limit of a control call", receiving=state.receiving)
        kwargs = parse_object(body) if body.strip() else {}
        cut_off = functools.partial(answer_now, request, 503, SHUTTING_DOWN, None)
        state.receiving.add(cut_off)  # a call still running when the grace is over is answered then
        try:
            return await _run_control(request, kwargs)
        finally:
            state.receiving.discard(cut_off)


@contextlib.contextmanager
def _in_flight(state: ServingState) -> Iterator[None]:
    state.other_inflight += 1
    try:
        yield
    finally:
        state.other_inflight -= 1


async def _run_control(request: web.Request, kwargs: dict[str, object]) -> web.Response:
    registry = request.app[REGISTRY]
    name = request.match_info["method"]
    threads = request.app[CONTROL_THREADS]
    call = functools.partial(registry.run, name, kwargs, allowed=still_the_token(request.app[SERVICES], request))
    try:
        pool = threads.waiting if registry.waits(name) else threads.quick
        result = await asyncio.get_running_loop().run_in_executor(pool, call)
    except Refused as exc:
        raise GatewayError(exc.status, exc.message) from None
    return web.Response(body=dumps(result), content_type="application/json")


async def export_download(request: web.Request) -> web.StreamResponse:
    """``GET /api/export_requests?format=csv&provider=…``: the request log's export as a download, written
    to the client a page of rows at a time as the pages are read (on a control thread), so however long
    the log, the app holds a page of it (the control call ``export_requests`` answers with all of it)."""
    state = request.app[STATE]
    if state.shutting_down:  # on a connection kept open from before: the app is going
        raise GatewayError(503, SHUTTING_DOWN)
    # Checked and made as the control call export_requests is (a session id a key was sent as is looked for
    # as the log keeps it, masked), on a control thread: the files caught up with, the token asked again.
    made_by = functools.partial(request.app[REGISTRY].pieces, "export_requests", dict(request.query),
                                allowed=still_the_token(request.app[SERVICES], request))
    with _in_flight(state):  # shutdown lets a download under way (or being made) finish within its grace
        try:
            made = await asyncio.get_running_loop().run_in_executor(request.app[CONTROL_THREADS].quick, made_by)
        except Refused as exc:
            raise GatewayError(exc.status, exc.message) from None
        return await _download(request, made)


async def _download(request: web.Request, made: request_log.Export) -> web.StreamResponse:
    pieces = made.pieces()
    loop, pool = asyncio.get_running_loop(), request.app[CONTROL_THREADS].quick
    try:  # the first piece counts the rows (and finds a damaged file before the answer starts)
        first = await loop.run_in_executor(pool, next, pieces, None)
    except DamagedDatabase as exc:
        raise GatewayError(500, str(exc)) from None
    out = web.StreamResponse(headers={"Content-Type": f"{made.content_type}; charset=utf-8",
                                      "Content-Disposition": f'attachment; filename="{made.filename}"',
                                      EXPORT_ROWS_HEADER: str(made.total or 0), "Cache-Control": "no-store"})
    await out.prepare(request)
    if request.method == "HEAD":  # what a GET would send, without its rows (aiohttp writes what it is given)
        await loop.run_in_executor(pool, pieces.close)  # its snapshot ends in the thread that read it
        await out.write_eof()
        return out
    piece = first
    try:
        while piece is not None:
            for start in range(0, len(piece), EXPORT_WRITE_BYTES):
                await asyncio.wait_for(out.write(piece[start:start + EXPORT_WRITE_BYTES]), EXPORT_STALL_SECONDS)
            piece = await loop.run_in_executor(pool, next, pieces, None)
        await out.write_eof()
    except (ConnectionError, TimeoutError) as exc:
        # The client left mid-download (seen by a write before aiohttp tells the handler, which it then
        # cancels), or stopped reading: nothing to answer, and no error of the gateway's.
        stalled = isinstance(exc, TimeoutError)
        log.info("an export download ended early: %s", f"the client took nothing for {EXPORT_STALL_SECONDS:g} s"
                 if stalled else "the client closed the connection")
        if stalled and request.transport is not None:
            request.transport.close()
        await loop.run_in_executor(pool, pieces.close)  # its snapshot ends in the thread that read it
    except asyncio.CancelledError:  # aiohttp saw the client go first (its snapshot ends as the pieces go)
        log.info("an export download ended early: %s", "API Router is quitting" if request.app[STATE].shutting_down
                 else "the client closed the connection")
        raise
    return out


async def spa(request: web.Request) -> web.StreamResponse:
    path = request.match_info.get("path", "")
    if _not_the_apps(path):  # GET /v1/responses/compact: refused as the catch-all refuses it
        await _refuse(request)
    index = WEB_DIR / "index.html"
    target = _asset(path) if path else None
    if target is None and "/assets/" in path:
        # The app's files are named relative to the page ("./assets/…"): a page opened at a deeper path
        # (/requests/, a trailing slash) asks for them under it.
        path = path[path.index("/assets/") + 1:]
        target = _asset(path)
    if target is None and path.startswith("assets/"):
        # A script an old tab still names (a build since replaced it): the page is no script.
        raise web.HTTPNotFound()
    if target is None:
        if not index.is_file():  # a source checkout whose UI is not built: its pages say so
            return web.Response(status=503, content_type="text/html", text=_UI_MISSING)
        target = index  # client-side routes fall back to the app
    headers = {"Cache-Control": "no-cache" if target == index else "public, max-age=31536000, immutable"}
    return web.FileResponse(target, headers=headers)


async def unserved(request: web.Request) -> web.StreamResponse:
    """No route takes this path and method: 404, or 405 naming the methods that are taken here, as aiohttp
    would answer. A route of its own, so that it has the routes' ``Expect`` handler: a client waiting for
    "100 Continue" hears this answer instead, and its connection closes."""
    await _refuse(request)


async def _refuse(request: web.Request) -> NoReturn:
    apps = not _not_the_apps(request.path)  # the UI's pages answer GET here
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        handlers = {route.handler for route in resource}
        if unserved not in handlers and (apps or spa not in handlers):
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    if not apps:
        raise GatewayError(404, NO_SUCH_ENDPOINT)
    raise web.HTTPNotFound()


NO_SUCH_ENDPOINT = ("no such endpoint: this gateway serves POST /v1/responses (the Responses API, JSON or a stream), "
                    "POST /v1/responses/compact and GET /v1/models")


# The first segments of the gateway's own paths: the API under /v1 and /api, and its routes served without
# /v1 (Codex and other clients are often given the bare address).
_API_SEGMENTS = frozenset({"v1", "api", "responses", "models", "status", "health"})


def _not_the_apps(path: str) -> bool:
    """A path of the API (``v1/…``, ``api/…``, ``responses/…``, ``status/…``, in any case) that no route took:
    never the UI's page."""
    return path.lstrip("/").split("/", 1)[0].lower() in _API_SEGMENTS


def _asset(path: str) -> Path | None:
    """The UI file ``path`` names, if there is one (never anything outside the UI's folder)."""
    try:
        target = (WEB_DIR / path).resolve()
        return target if target.is_relative_to(WEB_DIR) and target.is_file() else None
    except (ValueError, OSError):  # a NUL byte, a name too long for the file system
        return None


# --- the table ---------------------------------------------------------------------------------------


class Auth(enum.Enum):
    NONE = "none"
    TOKEN = "token"  # the gateway token
    TOKEN_SAME_ORIGIN = "token+origin"  # and, from a browser, only the gateway's own page


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    auth: Auth = Auth.TOKEN


ROUTES = (
    Route("GET", "/health", health, auth=Auth.NONE),
    Route("GET", "/status", status),
    Route("GET", "/v1/models", models),
    Route("GET", "/models", models),
    Route("POST", "/v1/responses", responses),
    Route("POST", "/responses", responses),
    Route("POST", "/v1/responses/compact", responses),
    Route("POST", "/responses/compact", responses),
    Route("GET", "/v1/responses", websocket_refused),
    Route("GET", "/responses", websocket_refused),
    Route("POST", "/api/{method}", control_call, auth=Auth.TOKEN_SAME_ORIGIN),
    Route("GET", "/api/export_requests", export_download, auth=Auth.TOKEN_SAME_ORIGIN),
    Route("GET", "/", spa, auth=Auth.NONE),
    Route("GET", "/{path:.+}", spa, auth=Auth.NONE),
    Route("*", "/{path:.*}", unserved, auth=Auth.NONE),  # last: only what no other route takes
)


def build_app(services: Services, registry: Registry, state: ServingState, host: str) -> web.Application:
    """``host``: the address the app is served on (what a Host header may name besides loopback names)."""
    # The body limit is enforced per request from the live config, not by aiohttp's fixed one.
    hop_id = os.urandom(8).hex()
    app = web.Application(middlewares=[guard(services, hop_id, host)], client_max_size=1 << 40,
                          handler_args={"max_field_size": MAX_HEADER_LINE})
    app[HOP_ID] = hop_id
    app[SERVICES] = services
    app[REGISTRY] = registry
    app[STATE] = state
    app.cleanup_ctx.append(upstream_context)
    app.cleanup_ctx.append(control_context)
    for route in ROUTES:
        handler = route.handler if route.auth is Auth.NONE else token_required(
            services, route.handler, same_origin=route.auth is Auth.TOKEN_SAME_ORIGIN)
        if route.method == "GET":
            app.router.add_get(route.path, handler, expect_handler=expect_continue)  # and HEAD
        else:
            app.router.add_route(route.method, route.path, handler, expect_handler=expect_continue)
    return app


_UI_MISSING = """<!doctype html><meta charset="utf-8"><title>API Router</title>
<body style="font-family:system-ui;margin:3rem"><h1>API Router</h1>
<p>The gateway is running, but the web UI has not been built.</p>
<p>Run <code>python3 tasks.py run</code> (it builds the UI) or <code>npm --prefix frontend ci &amp;&amp;
npm --prefix frontend run build</code>.</p></body>
"""
