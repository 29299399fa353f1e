"""``POST /v1/responses``: route one client request through the candidates until one succeeds.

Flow: read and check the body → ask the router for candidates → for each, build the body that
provider may see (continuity) → one upstream attempt → its outcome goes to the router (health,
events) and the request log.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from yarl import URL

from api_router.config import Config
from api_router.gateway import sse
from api_router.gateway.continuity import (
    ClientRequest,
    MissingSession,
    mentions_previous_response_not_found,
    mentions_unreadable_reasoning,
    mentions_unsupported_previous_response_id,
    session_id_of,
)
from api_router.gateway.deadlines import Deadlines
from api_router.gateway.errors import GatewayError, error_response
from api_router.gateway.response_objects import reasoning_ids, response_id, usage_of
from api_router.gateway.streaming import StreamEnd, StreamRelay, send_synthesized
from api_router.gateway.upstream import (
    CLIENT_ERROR_STATUSES,
    describe_exception,
    error_text,
    forwarded_headers,
    headers_back,
    parse_retry_after,
    read_limited,
    upstream_headers,
)
from api_router.routing import Failure
from api_router.services import Services
from api_router.store import Attempt, RequestRecord, Usage, now_ms

REJECTS_PREVIOUS_ID_META = "rejects_previous_response_id"
SHUTTING_DOWN = "API Router is shutting down; the request was not completed"


@dataclass
class _Result:
    kind: str  # delivered | client_error | failed | broken | gone | retry
    response: web.StreamResponse | None = None
    error: str = ""
    retry_after: float | None = None
    retry: str = ""  # with kind == "retry": "rebuild" or "strip_reasoning"


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, refusing (413) anything above ``limit`` before reading it all."""
    mb = limit / (1024 * 1024)
    too_large = f"request body exceeds the {mb:g} MB limit (listen.max_body_mb in config.toml)"
    if request.content_length is not None:
        if request.content_length > limit:
            raise GatewayError(413, too_large)
        return await request.read()  # a declared length cannot grow past itself
    buf = bytearray()
    while chunk := await request.content.readany():
        buf += chunk
        if len(buf) > limit:
            raise GatewayError(413, too_large)
    return bytes(buf)


@functools.lru_cache(maxsize=64)
def _parsed_url(url: str) -> URL:
    """A provider endpoint parsed once, instead of by aiohttp on every request (~6 us each)."""
    return URL(url)


def parse_object(body: bytes) -> dict:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise GatewayError(400, "request body must be a JSON object")
    return payload


class ResponsesProxy:
    def __init__(self, rt: Services) -> None:
        self.rt = rt

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        record = RequestRecord(unix_ms=now_ms(), path=request.path, stream=False)
        self.rt.inflight += 1
        try:
            if self.rt.shutting_down:
                raise GatewayError(503, SHUTTING_DOWN)
            return await self._serve(request, record, started)
        except GatewayError as err:
            record.status, record.error = err.status, record.error or err.message
            return error_response(err.status, self.rt.redactor(err.message), err.type)
        except asyncio.CancelledError:
            if not record.status:
                record.status = 499
            record.error = record.error or ("gateway shut down" if self.rt.shutting_down else "client disconnected")
            raise
        finally:
            self.rt.inflight -= 1
            record.latency_ms = (time.perf_counter() - started) * 1000
            self.rt.store.log_request(record)
            self.rt.touch()

    async def _serve(self, request: web.Request, record: RequestRecord, started: float) -> web.StreamResponse:
        cfg = self.rt.config.current
        body = await read_body(request, cfg.listen.max_body_bytes)
        payload = parse_object(body)
        req = ClientRequest(body, payload, session_id_of(request.headers, payload), payload.get("stream") is True)
        record.stream, record.session_id, record.model = req.stream, req.session_id, req.model
        plan = self.rt.router.plan(cfg)
        if not plan:
            raise GatewayError(502, "no provider is available: add a provider with a base URL (and enable it) in API Router")
        forwarded = forwarded_headers(request.headers)
        failures: list[Failure] = []
        # Without previous_response_id or sealed reasoning no continuity retry can arise, so the
        # usual request goes straight to one attempt per provider.
        untouched = self.rt.continuity.untouched(req)
        for pid in plan:
            if untouched:
                result = await self._attempt(request, req, cfg, pid, body, forwarded, record, started,
                                             can_rebuild=False, can_strip=False)
            else:
                result = await self._try_provider(request, req, cfg, pid, plan[0], forwarded, record, started)
            if self.rt.shutting_down and result.kind in ("failed", "broken"):
                # The gateway closed the upstream connections itself: not the provider's fault.
                for attempt in record.attempts:
                    if attempt.outcome == "provider_failure":
                        attempt.outcome = "aborted"
                if result.kind == "failed":
                    raise GatewayError(503, SHUTTING_DOWN)
                assert result.response is not None
                return result.response
            if result.kind == "failed":
                self.rt.router.record_failure(cfg, pid, result.error, result.retry_after)
                failures.append(Failure(pid, result.error))
                continue
            if result.kind == "delivered":
                self.rt.router.record_success(cfg, pid, failures)
            elif result.kind == "broken":
                self.rt.router.record_failure(cfg, pid, result.error)
            elif result.kind == "client_error":
                assert result.response is not None
                record.provider, record.status, record.error = pid, result.response.status, record.attempts[-1].error
            if result.response is None:  # the client left while we were answering
                raise asyncio.CancelledError()
            return result.response
        self.rt.router.record_all_failed(failures)
        summary = "; ".join(f"{f.provider}: {f.error}" for f in failures)
        raise GatewayError(502, f"all providers failed — {summary}")

    async def _try_provider(self, request: web.Request, req: ClientRequest, cfg: Config, pid: str, first: str,
                            forwarded: dict[str, str], record: RequestRecord, started: float) -> _Result:
        """One provider, plus at most one continuity retry of each kind on that same provider."""
        rebuild = strip = False
        while True:
            try:
                body = await self.rt.continuity.body_for(req, pid, first, strip_all_reasoning=strip, rebuild=rebuild)
            except MissingSession as exc:
                raise GatewayError(400, str(exc)) from None
            result = await self._attempt(request, req, cfg, pid, body, forwarded, record, started,
                                         can_rebuild=not rebuild, can_strip=not strip)
            if result.kind != "retry":
                return result
            if result.retry == "rebuild":
                rebuild = True
            else:
                strip = True

    async def _attempt(self, request: web.Request, req: ClientRequest, cfg: Config, pid: str, body: bytes,
                       forwarded: dict[str, str], record: RequestRecord, started: float, *,
                       can_rebuild: bool, can_strip: bool) -> _Result:
        rt = self.rt
        assert rt.http is not None and rt.deadlines is not None
        provider = cfg.providers[pid]
        timeout = cfg.routing.request_timeout_seconds
        attempt = Attempt(pid, "provider_failure")
        record.attempts.append(attempt)
        t0 = time.perf_counter()
        resp: aiohttp.ClientResponse | None = None
        done = False
        try:
            try:
                with rt.deadlines.timeout(timeout):
                    resp = await rt.http.post(_parsed_url(provider.endpoint("/responses")), data=body,
                                              headers=upstream_headers(forwarded, rt.secrets.current.provider_keys.get(pid)),
                                              allow_redirects=False)
                rt.upstreams.add(resp)
                attempt.status = resp.status
                if not 200 <= resp.status < 300:
                    return await self._upstream_error(resp, attempt, pid, req, body, can_rebuild, can_strip)
                back = headers_back(resp.headers, pid)
                if req.stream and resp.content_type == "text/event-stream":
                    remaining = max(0.001, timeout - (time.perf_counter() - t0))
                    relay = StreamRelay(request, resp, rt.deadlines, headers=back, started=started,
                                        first_event_timeout=remaining,
                                        idle_timeout=cfg.routing.stream_idle_timeout_seconds,
                                        shutting_down=lambda: rt.shutting_down)
                    result = await relay.run()
                    done = result.end == StreamEnd.COMPLETED
                    return self._stream_result(result, attempt, record, req, pid, body, can_rebuild, can_strip)
                data = await self._read_all(resp, cfg.routing.stream_idle_timeout_seconds, rt.deadlines)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return self._failed(attempt, describe_exception(exc, timeout))
            response_obj = self._response_object(data, resp.content_type)
            if isinstance(response_obj, str):
                return self._failed(attempt, response_obj)
            done = True
            if req.stream:
                try:
                    out, ttfb = await send_synthesized(request, response_obj, back, started)
                except ConnectionError:
                    attempt.outcome = "client_closed"
                    record.status, record.error = 499, "client disconnected"
                    return _Result("gone", None)
            else:
                if resp.content_type != "application/json":
                    data = orjson.dumps(response_obj)
                back["Content-Type"] = "application/json"
                out, ttfb = web.Response(body=data, headers=back), None
            self._delivered(attempt, record, req, pid, usage_of(response_obj), response_id(response_obj),
                            reasoning_ids(response_obj.get("output")), ttfb, started)
            return _Result("delivered", out)
        except asyncio.CancelledError:
            attempt.outcome = "client_closed"
            raise
        finally:
            attempt.latency_ms = (time.perf_counter() - t0) * 1000
            if resp is not None:
                rt.upstreams.discard(resp)
                resp.release() if done else resp.close()

    @staticmethod
    async def _read_all(resp: aiohttp.ClientResponse, idle_timeout: float, deadlines: Deadlines) -> bytes:
        """A whole (non-streamed) body; a provider silent for the idle timeout is cut off."""
        if resp.content.is_eof():  # the whole body came with the headers: nothing left to wait for
            return await resp.read()
        watchdog = deadlines.watchdog(resp.close, idle_timeout)
        watchdog.start()
        chunks = []
        try:
            async for chunk in resp.content.iter_any():
                watchdog.touch()
                chunks.append(chunk)
        except (aiohttp.ClientError, OSError):
            if not watchdog.expired:
                raise
        finally:
            watchdog.stop()
        if watchdog.expired:
            raise TimeoutError(f"the response body stalled for {idle_timeout:g} s")
        return b"".join(chunks)

    @staticmethod
    def _response_object(data: bytes, content_type: str) -> dict | str:
        """The response object of a complete body, or why the body is not a usable answer."""
        if content_type == "text/event-stream":
            failed = None
            for ev in sse.iter_events(data):
                kind = ev.type
                if kind in ("response.completed", "response.incomplete"):
                    payload = ev.json()
                    if isinstance(payload, dict) and isinstance(payload.get("response"), dict):
                        return payload["response"]
                if kind in ("response.failed", "error"):
                    failed = kind
            return f"stream {'reported ' + failed if failed else 'ended before response.completed'}"
        if not data:
            return "empty response body"
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            shown = content_type or "no content type"
            return f"answered {shown} that is not JSON: {error_text(data, content_type)}"
        if not isinstance(obj, dict):
            return "answered JSON that is not a response object"
        return obj

    def _stream_result(self, result, attempt: Attempt, record: RequestRecord, req: ClientRequest, pid: str,
                       body: bytes, can_rebuild: bool, can_strip: bool) -> _Result:
        if result.end == StreamEnd.COMPLETED:
            self._delivered(attempt, record, req, pid, result.usage, result.response_id, result.reasoning_ids,
                            result.ttfb_ms, None)
            return _Result("delivered", result.response)
        if result.end == StreamEnd.FAILED_EARLY:
            retry = self._continuity_retry(result.error, pid, req, body, can_rebuild, can_strip)
            if retry:
                attempt.outcome, attempt.error = "retry", result.error
                return _Result("retry", retry=retry)
            return self._failed(attempt, f"stream failed before output: {result.error}")
        record.ttfb_ms = result.ttfb_ms
        record.status = 200
        record.provider = pid
        record.usage = result.usage
        if result.end == StreamEnd.CLIENT_GONE:
            attempt.outcome = "client_closed"
            record.status, record.error = 499, "client disconnected"
            return _Result("gone", result.response)
        attempt.error = record.error = result.error
        return _Result("broken", result.response, result.error)

    def _delivered(self, attempt: Attempt, record: RequestRecord, req: ClientRequest, pid: str, usage: Usage,
                   rid: str | None, reasoning: list[str], ttfb_ms: float | None, started: float | None) -> None:
        attempt.outcome = "ok"
        record.provider, record.status, record.usage = pid, 200, usage
        self.rt.quota.record_tokens(pid, usage.total_tokens)
        record.ttfb_ms = ttfb_ms if ttfb_ms is not None else (
            (time.perf_counter() - started) * 1000 if started is not None else None)
        # previous_response_id can only name a response the provider stored; with store: false
        # (how Codex asks) there is nothing to remember, and nothing to spend on the hot path.
        if rid and req.payload.get("store") is not False:
            self.rt.store.record_response_owner(rid, pid)
        if reasoning:
            self.rt.store.record_reasoning_owner(req.session_id or "", reasoning, pid)

    @staticmethod
    def _failed(attempt: Attempt, error: str, retry_after: float | None = None) -> _Result:
        attempt.outcome, attempt.error = "provider_failure", error
        return _Result("failed", error=error, retry_after=retry_after)

    def _continuity_retry(self, message: str, pid: str, req: ClientRequest, body: bytes, can_rebuild: bool,
                          can_strip: bool) -> str:
        if can_rebuild and req.previous_response_id is not None:
            if mentions_unsupported_previous_response_id(message):
                self._remember_rejects_previous_id(pid)
                return "rebuild"
            if mentions_previous_response_not_found(message):
                return "rebuild"
        if can_strip and b'"encrypted_content"' in body and mentions_unreadable_reasoning(message):
            self.rt.emit("info", "continuity", f"{pid} could not read reasoning sealed by another provider; "
                                               "retrying without it", pid)
            return "strip_reasoning"
        return ""

    def _remember_rejects_previous_id(self, pid: str) -> None:
        rejecting = self.rt.continuity.rejects_previous_id
        if pid in rejecting:
            return
        rejecting.add(pid)
        self.rt.store.set_meta(REJECTS_PREVIOUS_ID_META, orjson.dumps(sorted(rejecting)).decode())
        self.rt.emit("info", "continuity", f"{pid} does not accept previous_response_id; its requests now replay "
                                           "the conversation from the Codex session file", pid)

    async def _upstream_error(self, resp: aiohttp.ClientResponse, attempt: Attempt, pid: str, req: ClientRequest,
                              body: bytes, can_rebuild: bool, can_strip: bool) -> _Result:
        raw = await read_limited(resp)
        message = error_text(raw, resp.content_type)
        status = resp.status
        if status in CLIENT_ERROR_STATUSES:
            retry = self._continuity_retry(message, pid, req, body, can_rebuild, can_strip) if status == 400 else ""
            if retry:
                attempt.outcome, attempt.error = "retry", f"HTTP {status}: {message}"
                return _Result("retry", retry=retry)
            attempt.outcome, attempt.error = "client_error", f"HTTP {status}: {message}"
            out = web.Response(body=raw, status=status, headers={
                **headers_back(resp.headers, pid), "Content-Type": resp.headers.get("Content-Type", "application/json")})
            return _Result("client_error", out)
        retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status == 429 else None
        return self._failed(attempt, f"HTTP {status}: {message}", retry_after)
