"""Background checks: bringing a provider back once it answers again.

A provider that did not answer in time (or is cooling down) is out of rotation; while the gateway is
in use (a client request in the last 10 minutes) each such provider is asked, at least every
``check_interval_seconds`` (the first time an interval after it left rotation), the cheapest
question that proves it answers the Responses API: a streamed ``POST /responses`` with the input
``"ping"``, ``max_output_tokens: 16`` and ``store: false``, for the model last sent to it. The first
Responses event is the answer; the connection is closed right then, so the provider stops
generating. It may still bill a few input tokens. A 400/422 also counts as an answer (the server is
up and reading Responses requests; it only disliked the probe) unless it says the model does not
exist; a first event that reports a server-side failure (overloaded, rate limit…) does not. A check
that is still waiting does not hold up the next one: a new check starts every interval (at most
``MAX_CHECKS_AT_ONCE`` per provider).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from api_router.config import ProviderConfig
from api_router.gateway import classify, sse
from api_router.gateway.response_objects import (
    ending_response,
    holds_events,
    read_as_stream,
    reports_failure,
)
from api_router.gateway.upstream import (
    ERROR_BODY_LIMIT,
    Upstream,
    describe_exception,
    error_text,
    read_limited,
    status_note,
    upstream_headers,
)
from api_router.records import steady_ms
from api_router.services import ProviderIdentity, Services, id_now

log = logging.getLogger(__name__)

IN_USE_MS = 10 * 60 * 1000  # checks run only while the gateway served a request this recently
TICK_SECONDS = 0.25  # how soon a due check starts: checks come at most this much before their interval is up
CHECK_TIMEOUT_SECONDS = 10.0
MAX_CHECKS_AT_ONCE = 3
# With checks due more often than every CHECK_TIMEOUT_SECONDS / MAX_CHECKS_AT_ONCE, a check gets only as long
# as that many intervals — three hung checks would otherwise hold up the next — but never less than this.
SHORTEST_CHECK_SECONDS = 2.0
DEFAULT_MODEL = "gpt-5"  # only when nothing was ever sent to the provider: a 400 still proves it answers


@dataclass
class ProbeResult:
    ok: bool
    status: int | None
    first_event_ms: float | None
    latency_ms: float
    error: str = ""
    events: list[sse.SSEEvent] | None = None  # every event, when the whole stream was read
    answer: dict[str, Any] | None = None  # the response object, when it answered JSON instead of a stream
    timed_out: bool = False  # no answer within the time it had
    retry_after: float | None = None  # how long a provider rate-limiting it asked to be left alone


def check_body(model: str | None) -> bytes:
    return orjson.dumps({"model": model or DEFAULT_MODEL, "input": "ping", "max_output_tokens": 16,
                         "stream": True, "store": False})


async def probe_responses(upstream: Upstream, provider: ProviderConfig, key: str | None, body: bytes,
                          timeout: float, *, read_all: bool = False) -> ProbeResult:
    """Send a small streamed Responses request; ``ok`` once a Responses event arrives (or, with
    ``read_all``, once the stream completed). The connection is closed when the question is answered."""
    started = time.perf_counter()

    def ms() -> float:
        return (time.perf_counter() - started) * 1000

    headers = upstream_headers({"Accept": "text/event-stream", **upstream.client_identity.headers}, key)
    try:
        resp = await upstream.post(provider.endpoint("/responses"), body, headers, timeout)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return ProbeResult(False, None, None, ms(), describe_exception(exc, timeout),
                           timed_out=isinstance(exc, TimeoutError))
    try:
        if not 200 <= resp.status < 300:
            try:  # an error body that never comes: the status says enough
                with upstream.deadlines.timeout(max(0.001, timeout - ms() / 1000)):
                    raw = await read_limited(resp, 65536)
            except TimeoutError:
                raw = b""
            message = classify.with_code(error_text(raw, resp.content_type), raw) + status_note(resp)
            plain_http = resp.status == 400 and classify.says_plain_http_to_tls(raw, resp.content_type)
            if plain_http:
                message += f" — {classify.plain_http_hint(resp.url.scheme)}"
            # Up and reading Responses requests, for a check (not with its key refused in a 400, nor at an address
            # that should be https://); a test (read_all) wants a whole answer.
            said = classify.with_code(error_text(raw, resp.content_type, whole=True), raw)
            trouble = classify.says_provider_trouble(raw)  # its key refused, a rate limit… (the body read once)
            alive = not read_all and resp.status in (400, 422) and not plain_http \
                and not classify.mentions_unknown_model(said) and trouble is None
            # Rate-limiting, as a request's 429 (or a client-error status saying so) is read: its Retry-After is kept.
            limited = resp.status == 429 or (resp.status in classify.CLIENT_ERROR_STATUSES
                                             and classify.is_rate_limit_event({"error": trouble}))
            wait = classify.retry_after_of(resp.headers) if limited else None
            return ProbeResult(alive, resp.status, None, ms(), f"HTTP {resp.status}: {message}", retry_after=wait)
        if not read_as_stream(resp.content_type):  # a whole answer instead of a stream
            with upstream.deadlines.timeout(max(0.001, timeout - ms() / 1000), f"no answer within {timeout:g} s"):
                raw = await read_limited(resp)
            return _whole_answer(resp.status, resp.content_type, raw, ms(), read_all)
        decoder = sse.SSEDecoder()
        events: list[sse.SSEEvent] = []
        first: float | None = None
        # A stream labelled text/plain (or not at all), as the proxy reads one, may be a whole answer after all.
        kept: list[bytes] | None = [] if resp.content_type != "text/event-stream" else None
        kept_size = 0
        remaining = max(0.001, timeout - ms() / 1000)
        with upstream.deadlines.timeout(remaining, f"no Responses event within {timeout:g} s"):
            async for chunk in resp.content.iter_any():
                if kept is not None and first is None:
                    kept.append(chunk)
                    kept_size += len(chunk)
                    if kept_size > ERROR_BODY_LIMIT:  # no answer is this long: stop holding it
                        kept = None
                _, new = decoder.feed(chunk)
                if new and first is None:
                    first = ms()
                events.extend(new)
                if not read_all and _answered(events) is not None:
                    break
                if any(e.type in _ENDS for e in new):
                    break
        if first is None:
            if kept:
                return _whole_answer(resp.status, resp.content_type, b"".join(kept), ms(), read_all)
            if kept_size > ERROR_BODY_LIMIT:
                return ProbeResult(False, resp.status, None, ms(), f"answered more than {ERROR_BODY_LIMIT >> 20} MB "
                                   f"of {resp.content_type or 'something'} that is not a response")
            return ProbeResult(False, resp.status, None, ms(), "the stream ended before any event")
        return _judged(resp.status, events, first, ms(), read_all)
    except (aiohttp.ClientError, TimeoutError, OSError, sse.EventTooLarge) as exc:
        return ProbeResult(False, resp.status, None, ms(), describe_exception(exc, timeout),
                           timed_out=isinstance(exc, TimeoutError))
    finally:
        upstream.done(resp, reuse=False)


_ENDS = frozenset({*sse.ANSWER_END, *sse.FAILURE_END})


def _judged(status: int, events: list[sse.SSEEvent], first: float | None, took_ms: float,
            read_all: bool) -> ProbeResult:
    """What the events of a stream that was read say: for a check, whether they answer the question; for
    a test (``read_all``), the whole stream, looked at by the test."""
    if read_all:
        return ProbeResult(True, status, first, took_ms, events=events)
    answered = _answered(events)
    if answered is None:  # it ended with no more than the opening events (or heartbeats): no answer
        return ProbeResult(False, status, first, took_ms, "the stream ended after only "
                           + ", ".join(dict.fromkeys(e.type or "message" for e in events)), events=events)
    ok, why = answered
    return ProbeResult(ok, status, first, took_ms, why, events=events)


def _whole_answer(status: int, content_type: str, raw: bytes, took_ms: float, read_all: bool) -> ProbeResult:
    """A probe answered with a whole body: a response object answers, an error or anything else does not;
    an event stream under another label (JSON, say) is judged as a stream is."""
    if holds_events(raw, content_type):
        events = list(sse.iter_events(raw))
        if not events:
            return ProbeResult(False, status, None, took_ms, "the stream ended before any event")
        return _judged(status, events, took_ms, took_ms, read_all)
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("output"), list):
        return ProbeResult(False, status, None, took_ms, f"answered {content_type or 'something'} "
                           f"that is not a response: {error_text(raw, content_type)}")
    if reports_failure(answer):  # a 200 that carries an error is no answer
        return ProbeResult(False, status, None, took_ms, "answered a failed response: "
                           + classify.error_message_of_event({"response": answer}))
    return ProbeResult(True, status, took_ms, took_ms, answer=answer)


def _answered(events: list[sse.SSEEvent]) -> tuple[bool, str] | None:
    """Whether the events so far answer the question (None: not yet — opening events, heartbeats, or
    events that are no Responses work, such as a bare ``data: [DONE]`` or an untyped error, as the relay
    reads them). A failure the provider reports as its own (overloaded, rate limit…) is no answer; one
    about the request is."""
    for ev in events:
        kind = ev.type
        if kind in sse.FAILURE_END or (kind in sse.ANSWER_END and ending_response(ev.json())[1]):
            failure = ev.failure()
            if classify.is_client_error_event(failure):
                return True, ""
            return False, f"reported {kind}: {classify.error_message_of_event(failure)}"
        if sse.is_answer(kind):
            return True, ""
    return None


class BackgroundChecks:
    """Runs on the gateway's loop for as long as the gateway serves."""

    def __init__(self, services: Services, upstream: Upstream, clock: Callable[[], int] = steady_ms,
                 in_flight: Callable[[], int] = lambda: 0) -> None:
        self._services = services
        self._upstream = upstream
        self._clock = clock
        self._in_flight = in_flight  # a long stream still running is use too, though no request ended lately
        # The checks under way, by provider (its identity: renamed meanwhile, it is the one they wait on).
        self._running: dict[ProviderIdentity | str, set[asyncio.Task[None]]] = {}

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                try:
                    self.tick()
                except Exception:  # a slip in one round must not end the checks until a restart
                    log.exception("background checks: a round failed")
        finally:
            for tasks in self._running.values():
                for task in tasks:
                    task.cancel()

    def tick(self) -> None:
        services = self._services
        last = services.activity.last_ms
        idle = (last is None or self._clock() - last > IN_USE_MS) and not self._in_flight()
        if idle and not services.router.checks_wanted:  # a GET /v1/models after a quiet hour wants them too
            return
        cfg = services.config.current
        for pid, model in services.router.needing_check(cfg, _due_after(cfg.routing.check_interval_seconds)):
            who = services.providers.who(pid)
            running = self._running.setdefault(who, set())
            if len(running) >= MAX_CHECKS_AT_ONCE:  # a provider that hangs: its checks time out in turn
                continue
            services.router.check_started(pid)
            task = asyncio.get_running_loop().create_task(self._check(pid, model), name=f"check-{pid}")
            running.add(task)
            task.add_done_callback(functools.partial(self._check_done, who))

    def _check_done(self, who: ProviderIdentity | str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background check of %s failed", id_now(who) or who, exc_info=task.exception())
        running = self._running.get(who)
        if running is not None:
            running.discard(task)
            if not running:
                del self._running[who]

    async def _check(self, pid: str, model: str | None) -> None:
        services = self._services
        asked = services.asking(pid)
        if asked is None:
            return
        provider = asked.provider
        routing = services.config.current.routing
        timeout = min(CHECK_TIMEOUT_SECONDS, routing.request_timeout_seconds,
                      max(SHORTEST_CHECK_SECONDS, MAX_CHECKS_AT_ONCE * _due_after(routing.check_interval_seconds)))
        t0 = time.monotonic()
        result = await probe_responses(self._upstream, provider, asked.key,
                                       check_body(provider.model_for(model or DEFAULT_MODEL)), timeout)
        log.info("background check of %s: %s", pid, "answered" if result.ok else result.error)
        now = services.answered_for(asked)  # renamed meanwhile: the provider's under its new id
        if now is not None:
            services.router.record_check(services.config.current, now, result.ok, "background check",
                                         error=result.error, status=result.status, took_s=time.monotonic() - t0,
                                         retry_after=result.retry_after)


def _due_after(interval: float) -> float:
    """Due one tick early, so that on a ticking clock the gap between checks never exceeds the interval."""
    return max(0.0, interval - TICK_SECONDS)
