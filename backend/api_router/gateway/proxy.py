"""``POST /v1/responses``: route one client request through the candidates until one succeeds.

Flow: read and check the body → ask the router for candidates → for each, build the body that
provider may see (continuity) → one upstream attempt (``attempt``) → its result is recorded
(``outcomes``) → the next candidate, or the answer.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from api_router.continuity.rewrite import ClientRequest, MissingSession, session_id_of
from api_router.gateway.attempt import AttemptResult, AttemptRunner, Retries
from api_router.gateway.errors import GatewayError, error_response
from api_router.gateway.exchange import Exchange, new_request_id, parse_object, read_body
from api_router.gateway.outcomes import OutcomeRecorder
from api_router.gateway.upstream import Upstream, forwarded_headers
from api_router.records import Attempt, Outcome, RequestRecord, Retry, now_ms
from api_router.services import Services, ServingState

SHUTTING_DOWN = "API Router is shutting down; the request was not completed"


class ResponsesProxy:
    def __init__(self, services: Services, upstream: Upstream, state: ServingState) -> None:
        self._services = services
        self._state = state
        self._runner = AttemptRunner(upstream, key_of=lambda pid: services.secrets.current.provider_keys.get(pid),
                                     redact=services.redactor.redact_bytes,
                                     shutting_down=lambda: state.shutting_down)
        self._recorder = OutcomeRecorder(services.router, services.quota, services.continuity.index,
                                         services.store, services.emit)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        services, state = self._services, self._state
        ex = Exchange(request, RequestRecord(unix_ms=now_ms(), path=request.path, stream=False,
                                             request_id=new_request_id()),
                      time.perf_counter(), services.config.current)
        record = ex.record
        state.inflight += 1
        try:
            if state.shutting_down:
                raise GatewayError(503, SHUTTING_DOWN)
            return await self._serve(ex)
        except GatewayError as err:
            record.status, record.error = err.status, record.error or err.message
            return error_response(err.status, services.redactor(err.message), err.type, err.headers)
        except asyncio.CancelledError:
            if not record.status:
                record.status = 499
            record.error = record.error or ("gateway shut down" if state.shutting_down else "client disconnected")
            raise
        finally:
            state.inflight -= 1
            record.latency_ms = (time.perf_counter() - ex.started) * 1000
            self._recorder.request_done(ex)
            services.touch()

    async def _serve(self, ex: Exchange) -> web.StreamResponse:
        services = self._services
        request, record = ex.request, ex.record
        body = await read_body(request, ex.cfg.listen.max_body_bytes)
        payload = parse_object(body)
        client = ex.client = ClientRequest(body, payload, session_id_of(request.headers, payload),
                                           payload.get("stream") is True)
        record.stream, record.session_id, record.model = client.stream, client.session_id, client.model
        record.request_bytes = len(body)
        plan = services.router.plan(ex.cfg)
        if not plan:
            raise GatewayError(502, "no provider is available: add a provider with a base URL (and enable it) "
                                    "in API Router")
        ex.forwarded = forwarded_headers(request.headers)
        # Without previous_response_id or sealed items no continuity retry can arise, so the usual
        # request goes straight to one attempt per provider with the client's own bytes.
        untouched = services.continuity.untouched(client)
        for pid in plan:
            result = await self._provider(ex, pid, plan[0], untouched)
            if self._state.shutting_down and result.outcome is Outcome.PROVIDER_FAILURE:
                # The gateway closed the upstream connections itself: not the provider's fault.
                if result.response is None:
                    raise GatewayError(503, SHUTTING_DOWN)
                return result.response
            if result.outcome is Outcome.PROVIDER_FAILURE and not result.committed:
                continue
            if result.response is None:  # the client left while we were answering
                raise asyncio.CancelledError()
            return result.response
        self._recorder.all_failed(ex)
        summary = "; ".join(f"{f.provider}: {f.error}" for f in ex.failures)
        raise GatewayError(502, f"all providers failed — {summary}")

    async def _provider(self, ex: Exchange, pid: str, first: str, untouched: bool) -> AttemptResult:
        """One provider, plus at most one continuity retry of each kind on that same provider."""
        client = ex.client
        assert client is not None
        retries = Retries(rebuild=not untouched, strip_sealed=not untouched)
        rebuild = strip = False
        while True:
            if untouched:
                body = client.raw
            else:
                try:
                    body = await self._services.continuity.body_for(client, pid, first, strip_all_reasoning=strip,
                                                                     rebuild=rebuild)
                except MissingSession as exc:
                    raise GatewayError(400, str(exc)) from None
            result = await self._attempt(ex, pid, body, retries)
            if result.outcome is not Outcome.RETRY:
                return result
            if result.retry is Retry.REBUILD:
                rebuild = True
            else:
                strip = True
            retries = Retries(rebuild=not rebuild, strip_sealed=not strip)

    async def _attempt(self, ex: Exchange, pid: str, body: bytes, retries: Retries) -> AttemptResult:
        assert ex.client is not None
        attempt = Attempt(pid, sent_model=ex.client.model)
        ex.record.attempts.append(attempt)
        t0 = time.perf_counter()
        try:
            opened = await self._runner.open(ex, pid, body, attempt, retries)
            result = opened if isinstance(opened, AttemptResult) else await self._runner.finish(ex, opened, retries)
        except asyncio.CancelledError:
            attempt.outcome = Outcome.CLIENT_CLOSED
            raise
        finally:
            attempt.latency_ms = (time.perf_counter() - t0) * 1000
        self._recorder.attempt_done(ex, attempt, result, aborted=self._state.shutting_down)
        return result
