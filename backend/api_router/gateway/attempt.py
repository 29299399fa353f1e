"""One upstream attempt: send the body to one provider, judge the answer, deliver it.

An attempt has two steps so that two of them can race: ``open`` lasts until the provider has
answered — response headers and, for a stream, its first event; for JSON, the whole body — and
``finish`` relays or delivers that answer. Whatever the provider did ends as one ``AttemptResult``;
what that result does to routing, quota and the records is decided in ``outcomes``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from api_router.config import ProviderConfig
from api_router.continuity.rewrite import ClientRequest
from api_router.gateway import classify, sse
from api_router.gateway.deadlines import Deadlines
from api_router.gateway.errors import TooLarge
from api_router.gateway.exchange import Exchange
from api_router.gateway.response_objects import (
    COMPACTION_ITEM,
    answer_of,
    compaction_problem,
    failure_in,
    failure_said,
    holds_events,
    is_compaction_item,
    read_as_stream,
    reports_failure,
    response_id,
    sealed_items,
    usage_of,
)
from api_router.gateway.streaming import (
    Ending,
    StreamEnd,
    StreamFailed,
    StreamResult,
    UpstreamStream,
    drain,
    send_synthesized,
)
from api_router.gateway.upstream import (
    ANSWER_BODY_LIMIT,
    TURN_STATE_HEADER,
    Upstream,
    content_type_back,
    cut,
    cut_while_gzipped,
    describe_exception,
    error_text,
    headers_back,
    read_limited,
    status_note,
    upstream_headers,
)
from api_router.jsonbytes import NestedTooDeep, dumps
from api_router.records import Attempt, Outcome, Retry, Usage


@dataclass(slots=True)
class AttemptResult:
    outcome: Outcome
    response: web.StreamResponse | None = None  # what the client got (or gets), if anything
    error: str = ""
    retry_after: float | None = None
    retry: Retry | None = None
    timed_out: bool = False  # the provider did not answer in time
    # A failure that says nothing about the provider's health (it cannot do this kind of request — a
    # compaction — but serves others): fail over without taking it out of rotation.
    counts_against_health: bool = True
    # Another request found the provider not answering and counted that failure: a provider failure all
    # the same (this one gave up waiting on it), only not counted a second time.
    judged_elsewhere: bool = False
    # The provider says the model does not exist there (see Failure.unknown_model): no health change
    # unless another provider serves the request.
    unknown_model: bool = False
    committed: bool = False  # part of an answer reached the client before the failure
    usage: Usage = field(default_factory=Usage)
    response_id: str | None = None
    sealed: list[tuple[str, str]] = field(default_factory=list)
    ttfb_ms: float | None = None  # to the client's first byte, from the request's start
    # From asking the provider to its first event (any, response.created included): what hedging learns
    # its delay from, as the hedge timer waits for just that.
    first_event_ms: float | None = None
    status: int | None = None  # the provider's HTTP status, for failures
    rate_limited: bool = False  # a 429, or a rate limit reported in-band: wait, then ask again
    quota_spent: bool = False  # it said its quota is used up (see Failure.quota_spent)
    # The provider's x-codex-turn-state on an answer the client got (whatever the outcome): the
    # client sends it back, and it goes to this provider only.
    turn_state: str | None = None
    response_bytes: int = 0  # what the client got of it
    too_long: bool = False  # passed on, too long even with the provider's summaries in (Exchange.too_long)
    # A REBUILD retry because the provider does not take previous_response_id at all (not: the response it
    # names is gone) — judged on its whole words; ``error`` is what is shown, cut to 300 characters.
    refuses_previous_id: bool = False
    # The request was cancelled (client gone, shutdown) once an answer, or part of one, had reached the
    # client: the result is recorded all the same, then the cancellation goes on.
    cancelled: bool = False


@dataclass(slots=True, eq=False)
class Opened:
    """A provider that answered: its open response, and what was read of it so far."""

    provider: str
    attempt: Attempt
    body: bytes
    resp: aiohttp.ClientResponse
    t0: float
    stream: UpstreamStream | None = None
    answer: dict[str, Any] | None = None  # the response object of a whole (non-stream) answer
    data: bytes = b""  # that answer's bytes as they came


@dataclass(frozen=True)
class Retries:
    """Which continuity retries are still allowed for this provider."""

    rebuild: bool = False
    strip_sealed: bool = False
    expand_compaction: bool = False
    summarize: bool = False  # the body carries an expanded compaction that the provider may find too long
    # The body carries this provider's own summary of a foreign compaction: too long even so, the conversation
    # is passed on — another candidate may take it (its maker may hold it whole), else the client hears why.
    pass_on_too_long: bool = False



class AttemptRunner:
    def __init__(self, upstream: Upstream, key_of: Callable[[str], str | None], redact: Callable[[bytes], bytes],
                 shutting_down: Callable[[], bool], turn_state_owner: Callable[[str], str | None]) -> None:
        self._upstream = upstream
        self._deadlines: Deadlines = upstream.deadlines
        self._key_of = key_of
        self._redact = redact
        self._shutting_down = shutting_down
        self._turn_state_owner = turn_state_owner
        # The attempts (by id: a record is no dict key) whose 2xx headers came but none of the answer yet:
        # an event stream's first event, a whole body's first byte (or, answering a JSON request as an
        # event stream, its first event).
        self._awaiting: set[int] = set()

    def answer_begun(self, attempt: Attempt) -> bool:
        """Whether ``attempt``'s provider has begun its answer: its headers came, and then some of the
        answer (or its status is an error, whose body is read with the time the request has left)."""
        return attempt.status is not None and id(attempt) not in self._awaiting

    def _headers(self, ex: Exchange, provider: str, target: ProviderConfig) -> dict[str, str]:
        """The headers for ``target`` (the provider the request knows as ``provider``, as configured now):
        its own key — looked up under its id now, so the key and the address always belong together."""
        # x-codex-turn-state belongs to the provider that issued it: any other provider never sees it.
        turn_state = ex.request.headers.get(TURN_STATE_HEADER)
        extra = {TURN_STATE_HEADER: turn_state} \
            if turn_state and self._turn_state_owner(turn_state) == target.id else None
        key = self._key_of(target.id)
        ex.asked[provider] = (target, key)
        return upstream_headers(ex.forwarded, key, extra)

    # --- open -----------------------------------------------------------------------------------

    async def open(self, ex: Exchange, provider: str, target: ProviderConfig, body: bytes, attempt: Attempt,
                   retries: Retries) -> Opened | AttemptResult:
        """Send ``body`` to ``target`` (the provider the request knows as ``provider``, as configured when
        the attempt began) and wait until it has answered (or failed to)."""
        cfg = ex.cfg
        client = ex.client
        assert client is not None
        timeout = cfg.routing.request_timeout_seconds
        t0 = time.perf_counter()
        try:
            resp = await self._upstream.post(target.endpoint(ex.upstream_path), body,
                                             self._headers(ex, provider, target), timeout)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=describe_exception(exc, timeout),
                                 timed_out=isinstance(exc, TimeoutError))
        attempt.status = resp.status
        opened = Opened(provider, attempt, body, resp, t0)
        handed_on = False  # True once the open response belongs to ``finish``
        began = functools.partial(self._awaiting.discard, id(attempt))
        try:
            if not 200 <= resp.status < 300:
                return _passed_back(opened, await self._http_error(ex, opened, client, retries))
            self._awaiting.add(id(attempt))
            whole = None
            if client.stream and read_as_stream(resp.content_type):
                stream = opened.stream = UpstreamStream(resp, self._deadlines, self._redact,
                                                        may_be_whole=resp.content_type != "text/event-stream")
                remaining = max(0.001, timeout - (time.perf_counter() - t0))
                try:
                    await stream.first_event(remaining, timeout)
                except StreamFailed as exc:
                    if stream.whole_body is None:
                        return AttemptResult(Outcome.PROVIDER_FAILURE, error=str(exc),
                                             timed_out=isinstance(exc.__cause__, TimeoutError))
                    # No event in it: a whole answer (or error) under another label, read as one below.
                    whole, opened.stream = stream.whole_body, None
                else:
                    attempt.ttfb_ms = (time.perf_counter() - t0) * 1000
                    handed_on = True
                    return opened
            if whole is not None:
                began()
            opened.data = whole if whole is not None else await self._read_all(
                resp, cfg.routing.stream_idle_timeout_seconds, max(0.001, timeout - (time.perf_counter() - t0)),
                timeout, began)
            attempt.ttfb_ms = (time.perf_counter() - t0) * 1000
            answer = answer_of(opened.data, resp.content_type, needs_id=ex.upstream_path == "/responses")
            failure, error = _reported_failure(opened, answer)
            # A refusal in the body of a 200 is as good a reason to retry as one with an HTTP status.
            said = classify.failure_text(failure) if failure is not None else ""
            retry = _continuity_retry(said, client, body, retries) if failure is not None else None
            if retry is not None:
                return _retried(retry, error, said)
            if failure is not None and _too_long_even_so(retries, said):
                return _passed_on(error)
            if isinstance(answer, str):
                return _passed_back(opened, self._unusable(ex, opened, answer, failure))
            if failure is not None:
                if classify.is_unknown_model_event(failure):
                    return _unknown_model(error)
                if not classify.is_client_error_event(failure):
                    # A server-side failure dressed as an answer (a 200 with "status": "failed").
                    return AttemptResult(Outcome.PROVIDER_FAILURE, error=error,
                                         rate_limited=classify.is_rate_limit_event(failure),
                                         quota_spent=classify.is_spent_quota(failure))
                if not client.stream or client.compaction_trigger:  # the request's own fault: a refusal
                    return _passed_back(opened, self._refused(ex, opened, failure, error))
            opened.answer = answer
            handed_on = True
            return opened
        except (aiohttp.ClientError, TimeoutError, OSError, TooLarge) as exc:
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=describe_exception(exc, timeout),
                                 timed_out=isinstance(exc, _NoAnswer))
        finally:
            began()
            if not handed_on:
                # An error body read to its end leaves the connection reusable; anything else is cut.
                self._upstream.done(resp, reuse=resp.content.is_eof())

    def _unusable(self, ex: Exchange, opened: Opened, why: str, failure: dict[str, Any] | None) -> AttemptResult:
        """A complete body that is no answer. An event stream (to a JSON request) that reports the
        request's own error (``failure``) is that error, as JSON, for the client: no failover, as in a
        stream."""
        if failure is not None and classify.is_unknown_model_event(failure):
            return _unknown_model(failure_said(failure, why))
        if failure is None or not classify.is_client_error_event(failure):
            # A 200 whose JSON is an error is read as the same error with an error status would be: a spent
            # quota or a rate limit from every provider is the 429 Codex stops (or waits) for, not a 502.
            said = failure if failure is not None else classify.trouble_event(opened.data)
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=why if failure is None else failure_said(failure, why),
                                 rate_limited=classify.is_rate_limit_event(said),
                                 quota_spent=classify.is_spent_quota(said))
        return self._refused(ex, opened, failure, failure_said(failure, why))

    def _refused(self, ex: Exchange, opened: Opened, failure: dict[str, Any], error: str) -> AttemptResult:
        """A JSON request the provider refused as its own fault (a failed response, or an event stream that
        reports one): a 400 with that ``error`` object, no failover, health untouched — except for a
        compaction trigger, which goes on to the next provider (Codex has no fallback of its own)."""
        if ex.client is not None and ex.client.compaction_trigger:
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=error, counts_against_health=False)
        try:
            body = self._redact(dumps({"error": classify.error_object(failure)}))
        except NestedTooDeep as exc:
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"{error} ({exc})")
        out = web.Response(body=body, status=400, content_type="application/json", headers=headers_back(
            opened.resp.raw_headers, _called(ex, opened), ex.record.request_id, self._redact))
        return AttemptResult(Outcome.CLIENT_ERROR, out, error=error, status=400, response_bytes=len(body))

    async def _http_error(self, ex: Exchange, opened: Opened, client: ClientRequest, retries: Retries) -> AttemptResult:
        resp = opened.resp
        limit = ex.cfg.routing.request_timeout_seconds
        status, whole = resp.status, True
        try:
            with self._deadlines.timeout(max(0.001, limit - (time.perf_counter() - opened.t0))):
                raw = await read_limited(resp)
            message = classify.with_code(error_text(raw, resp.content_type), raw)
            said = classify.with_code(error_text(raw, resp.content_type, whole=True), raw)  # judged by
        except TimeoutError:
            # The status came, its body not in time: half an error can be neither passed on as the provider's
            # answer nor judged by what it says — its status is all there is (a 4xx too is its failure then).
            raw, message, whole = b"", f"the error body was not complete within {limit:g} s", False
            said = message
        if whole and cut_while_gzipped(resp, raw):  # half an error as well, cut in transit
            raw, message, whole = b"", "the error body was cut off (its gzip data ends early)", False
            said = message
        if status in classify.CLIENT_ERROR_STATUSES and whole:
            # A body too large for this provider (413) is the same story as a context-length 400.
            retry = _continuity_retry(said, client, opened.body, retries, too_large=status == 413) \
                if status in (400, 413) else None
            if retry is not None:
                return _retried(retry, f"HTTP {status}: {message}", said)
            if status in (400, 413) and _too_long_even_so(retries, said, too_large=status == 413):
                return _passed_on(f"HTTP {status}: {message}", status)
            if classify.says_unknown_model(said, raw):
                return _unknown_model(f"HTTP {status}: {message}", status)
            if status == 400 and classify.says_plain_http_to_tls(raw, resp.content_type):  # the address is wrong
                return AttemptResult(Outcome.PROVIDER_FAILURE, status=status,
                                     error=f"HTTP {status}: {message} — {classify.plain_http_hint(resp.url.scheme)}")
            if (trouble := classify.says_provider_trouble(raw)) is not None:  # as the same words in-band are
                error = {"error": trouble}
                limited = classify.is_rate_limit_event(error)  # its Retry-After then says how long, as a 429's
                return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"HTTP {status}: {message}", status=status,
                                     rate_limited=limited, quota_spent=classify.is_spent_quota(error),
                                     retry_after=classify.retry_after_of(resp.headers)
                                     if limited else None)
            if client.compaction_trigger:  # Codex has no fallback when its compaction request is refused
                return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"HTTP {status}: {message}", status=status,
                                     counts_against_health=False)
            body = self._redact(raw)
            out = web.Response(body=body, status=status, headers={
                **headers_back(resp.raw_headers, _called(ex, opened), ex.record.request_id, self._redact),
                "Content-Type": content_type_back(resp, self._redact)})
            return AttemptResult(Outcome.CLIENT_ERROR, out, error=f"HTTP {status}: {message}", status=status,
                                 response_bytes=len(body))
        if status == 404 and classify.says_unknown_model(said, raw):
            return _unknown_model(f"HTTP {status}: {message}", status)
        if status == 404 and classify.mentions_item_not_found(said):
            # An item the request refers to is stored by another provider (a client with ``store`` on sends
            # item_reference): the request is bound there, and this provider did not fail.
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"HTTP {status}: {message}", status=status,
                                 counts_against_health=False)
        retry_after = classify.retry_after_of(resp.headers) if status == 429 else None
        message += status_note(resp)
        return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"HTTP {status}: {message}", retry_after=retry_after,
                             status=status, rate_limited=status == 429, quota_spent=classify.spent_quota_body(raw))

    async def _read_all(self, resp: aiohttp.ClientResponse, idle_timeout: float, first_within: float,
                        limit: float, began: Callable[[], None]) -> bytes:
        """A whole (non-streamed) body; a provider silent for the idle timeout is cut off. A plain body
        must be complete within ``first_within`` (what is left of the request timeout ``limit``),
        however it trickles in. An event stream (a JSON request answered as one) must bring its first
        event within ``first_within`` — comments are no answer — and its first generated event too (a
        relay that only opens the stream, ``response.created``, and stalls did not answer, as for a
        stream); then only its silences are limited: its events are progress."""
        if resp.content.is_eof():  # the whole body came with the headers: nothing left to wait for
            began()
            return await resp.read()
        event_stream = resp.content_type == "text/event-stream"
        waiting = event_stream  # for a first event
        watchdog = self._deadlines.watchdog(functools.partial(cut, resp), idle_timeout)
        # Silence is limited by the idle timeout from the headers on, as for a plain body; comments are no
        # progress, so a stream of them before its first event is as silent as no body at all.
        watchdog.start(min(first_within, idle_timeout) if waiting else idle_timeout)
        unanswered = self._deadlines.watchdog(functools.partial(cut, resp), first_within) if event_stream else None
        if unanswered is not None:  # never touched: stopped by the first event that is more than a preamble
            unanswered.start()
        whole_by = nullcontext() if event_stream else self._deadlines.timeout(
            first_within, f"the answer was not complete within {limit:g} s")
        chunks = []
        size = 0
        events = sse.SSEDecoder() if event_stream else None  # whole events: a comment split across reads is one
        ended = False  # an event stream's end event came: the answer (or failure) is whole
        try:
            with whole_by:
                async for chunk in resp.content.iter_any():
                    new = events.feed(chunk)[1] if events is not None else None
                    real = [ev for ev in new if sse.is_progress(ev)] if new is not None else None
                    if real is None or real:
                        if real is None or _answering(real):
                            began()  # a first byte of the body, or of an event stream part of its answer
                            if unanswered is not None:
                                unanswered.stop()
                        if waiting:
                            waiting = False
                            watchdog.relimit(idle_timeout)
                        else:
                            watchdog.touch()
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > ANSWER_BODY_LIMIT:
                        raise TooLarge(f"the provider's answer is larger than {ANSWER_BODY_LIMIT // (1024 * 1024)} MB")
                    if new and any(ev.type in _STREAM_ENDS for ev in new):
                        ended = True
                        break
        except TimeoutError:  # (an OSError: first) the whole answer's time is up
            if not size:  # headers, then nothing: as good as no answer at all (a relay that hangs)
                raise _NoAnswer(f"no response within {limit:g} s (headers only, no body)") from None
            raise
        except (aiohttp.ClientError, OSError):
            if not watchdog.expired and not (unanswered is not None and unanswered.expired):
                raise
        finally:
            watchdog.stop()
            if unanswered is not None:
                unanswered.stop()
        if waiting and (watchdog.expired or (unanswered is not None and unanswered.expired)):
            within = idle_timeout if watchdog.expired and idle_timeout < first_within else limit
            raise _NoAnswer(f"no response within {within:g} s "
                            f"({'only keep-alive comments' if size else 'headers only, no body'})")
        if unanswered is not None and unanswered.expired:
            raise _NoAnswer(f"no answer within {limit:g} s (only response.created / in_progress, then nothing)")
        if watchdog.expired:
            if not size:
                raise _NoAnswer(f"no response within {idle_timeout:g} s (headers only, no body)")
            raise TimeoutError(f"the response body stalled for {idle_timeout:g} s")
        if ended:  # a provider that keeps the body open after it is not waited on past a moment
            await drain(resp.content.iter_any(), self._deadlines)
        return b"".join(chunks)

    # --- finish ---------------------------------------------------------------------------------

    async def finish(self, ex: Exchange, opened: Opened, retries: Retries) -> AttemptResult:
        """Deliver an answer that arrived: relay the stream, or send the JSON (as a stream if asked)."""
        done = False
        try:
            if opened.stream is not None:
                result = await self._relay(ex, opened, retries)
                done = result.outcome is Outcome.OK and opened.stream.drained
            else:
                done = True
                result = await self._deliver_answer(ex, opened)
            _time_to_client(ex, opened, result)
            return _passed_back(opened, result)
        finally:
            self._upstream.done(opened.resp, reuse=done)

    def discard(self, opened: Opened) -> None:
        """An answer that will not be used (its race was lost): close it."""
        self._upstream.done(opened.resp, reuse=False)

    async def _relay(self, ex: Exchange, opened: Opened, retries: Retries) -> AttemptResult:
        assert opened.stream is not None and ex.client is not None
        back = headers_back(opened.resp.raw_headers, _called(ex, opened), ex.record.request_id, self._redact)
        trigger = ex.client.compaction_trigger
        limit = ex.cfg.routing.request_timeout_seconds
        result = await opened.stream.relay(ex.request, headers=back, started=ex.started,
                                           idle_timeout=ex.cfg.routing.stream_idle_timeout_seconds,
                                           hold_until_end=trigger, shutting_down=self._shutting_down,
                                           answer_within=(max(0.001, limit - (time.perf_counter() - opened.t0)),
                                                          limit))
        facts = result.facts
        if result.end is StreamEnd.HELD_COMPLETE:
            wrong = compaction_problem(facts.compaction_count)
            if wrong:
                return AttemptResult(Outcome.PROVIDER_FAILURE, error=wrong, status=200, counts_against_health=False,
                                     cancelled=result.cancelled)
            if result.cancelled:  # the client left before it could be sent: complete, and not sent
                result.end = StreamEnd.COMPLETED
            else:
                result = await opened.stream.deliver_held(ex.request, headers=back, started=ex.started)
        if result.end is StreamEnd.COMPLETED:
            return AttemptResult(Outcome.OK, result.response, usage=facts.usage, response_id=facts.response_id,
                                 sealed=facts.sealed, ttfb_ms=result.ttfb_ms, response_bytes=result.sent,
                                 cancelled=result.cancelled)
        if result.end is StreamEnd.FAILED_EARLY:
            if facts.end is Ending.FAILED:
                said = classify.failure_text(facts.failure)
                retry = _continuity_retry(said, ex.client, opened.body, retries)
                if retry is not None:
                    return _retried(retry, facts.error, said)
                if ex.client.compaction_trigger and classify.is_client_error_event(facts.failure):
                    return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"stream reported: {facts.error}",
                                         counts_against_health=False)
                if _too_long_even_so(retries, said):
                    return _passed_on(f"stream reported: {facts.error}")
                if classify.is_unknown_model_event(facts.failure):
                    return _unknown_model(f"stream failed before output: {result.error}")
                if classify.is_client_error_event(facts.failure):
                    delivered = await opened.stream.deliver_held(ex.request, headers=back, started=ex.started)
                    return self._client_error_in_band(delivered, facts.error)
                return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"stream failed before output: {result.error}",
                                     rate_limited=classify.is_rate_limit_event(facts.failure),
                                     quota_spent=classify.is_spent_quota(facts.failure))
            # Given up because another request found the provider not answering: judged once, by that one.
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=result.error, timed_out=result.timed_out,
                                 judged_elsewhere=opened.stream.given_up)
        # A failure the provider reported mid-answer may be the request's doing (a moderation cut): the
        # answer is still broken, but the request's own error, as one reported before output is — the
        # provider is as healthy as before, and no provider error is counted.
        refused = facts.end is Ending.FAILED and classify.is_client_error_event(facts.failure)
        outcome = Outcome.CLIENT_CLOSED if result.end is StreamEnd.CLIENT_GONE else \
            Outcome.CLIENT_ERROR if refused else Outcome.PROVIDER_FAILURE
        # The sealed items that passed are in the client's history now (Codex keeps an interrupted turn's).
        return AttemptResult(outcome, result.response, error=result.error, committed=True, usage=facts.usage,
                             sealed=facts.sealed, ttfb_ms=result.ttfb_ms, response_bytes=result.sent,
                             cancelled=result.cancelled, counts_against_health=not refused,
                             timed_out=result.timed_out)

    @staticmethod
    def _client_error_in_band(delivered: StreamResult, message: str) -> AttemptResult:
        if delivered.end is StreamEnd.CLIENT_GONE:
            return AttemptResult(Outcome.CLIENT_CLOSED, delivered.response, error="client disconnected",
                                 committed=True)
        return AttemptResult(Outcome.CLIENT_ERROR, delivered.response, error=f"stream reported: {message}",
                             ttfb_ms=delivered.ttfb_ms, response_bytes=delivered.sent)

    async def _deliver_answer(self, ex: Exchange, opened: Opened) -> AttemptResult:
        answer = opened.answer
        assert answer is not None and ex.client is not None
        back = headers_back(opened.resp.raw_headers, _called(ex, opened), ex.record.request_id, self._redact)
        usage, rid, sealed = usage_of(answer), response_id(answer), sealed_items(answer.get("output"))
        if ex.client.compaction_trigger:
            output = answer.get("output")
            wrong = compaction_problem(sum(map(is_compaction_item, output)) if isinstance(output, list) else 0)
            if wrong:
                return AttemptResult(Outcome.PROVIDER_FAILURE, error=wrong, status=200, counts_against_health=False)
        # An unfinished answer's error or reason may echo a key; a healthy answer is not scanned.
        failed = reports_failure(answer)
        unfinished = failed or answer.get("status") in _UNFINISHED
        result = AttemptResult(Outcome.OK, usage=usage, response_id=rid, sealed=sealed)
        if failed:  # the request's own fault (a server-side one, or a refused
            # compaction, failed over in open). Its tokens are not counted, as none of a failed stream's
            # are: only a finished answer counts, whatever the transport.
            result = AttemptResult(Outcome.CLIENT_ERROR, error=_reported_failure(opened, answer)[1])
        try:
            told = self._told(ex.client, opened, answer, failed=failed, unfinished=unfinished)
        except NestedTooDeep as exc:  # an answer in a form the client did not ask for, that cannot be written
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=f"answered {exc}", status=200)
        # Sent before the result is recorded: the client does not wait for the bookkeeping.
        if ex.client.stream:
            return await _delivered(result, send_synthesized(ex.request, told, back, ex.started))
        back["Content-Type"] = "application/json"
        return await _delivered(result, _send_json(ex.request, told, back, ex.started))

    def _told(self, client: ClientRequest, opened: Opened, answer: dict[str, Any], *, failed: bool,
              unfinished: bool) -> bytes:
        """The answer's bytes as the client asked for them: events for a stream, else JSON (as it came
        when it came as JSON); an unfinished one masked. Raises NestedTooDeep for an answer that must be
        written again and cannot be."""
        if client.stream:
            if failed and answer.get("status") != "failed":  # told as what it is: response.failed
                answer = {**answer, "status": "failed"}
            if unfinished:
                answer = orjson.loads(self._redact(dumps(answer)))
            return sse.synthesize(answer)
        # The provider's own bytes when they are the JSON they are labelled as (an event stream under a JSON
        # label is read as the stream it is: its response object, written out).
        as_came = opened.resp.content_type == "application/json" and not holds_events(opened.data, "")
        raw = opened.data if as_came else dumps(answer)
        return self._redact(raw) if unfinished else raw


def _answering(events: list[sse.SSEEvent]) -> bool:
    """Whether ``events`` bring part of an answer or its end (a failure too) — what commits a relayed
    stream; not its opening (``response.created``) nor a relay's own heartbeat events."""
    return any(sse.is_answer(ev.type) or ev.type in sse.FAILURE_END for ev in events)


_UNFINISHED = frozenset({"incomplete", "cancelled"})  # "failed": reports_failure
_STREAM_ENDS = sse.ANSWER_END | sse.FAILURE_END
def _reported_failure(opened: Opened, answer: dict[str, Any] | str) -> tuple[dict[str, Any] | None, str]:
    """The failure a complete body reports (see ``failure_in``) and the error recorded for it."""
    failure = failure_in(opened.data, opened.resp.content_type, answer)
    if failure is None:
        return None, answer if isinstance(answer, str) else ""
    return failure, failure_said(failure, answer)


def _unknown_model(error: str, status: int | None = None) -> AttemptResult:
    """The provider says the model asked for does not exist there: fail over, its health untouched
    until another provider serves the request (see ``OutcomeRecorder``)."""
    return AttemptResult(Outcome.PROVIDER_FAILURE, error=error, status=status, counts_against_health=False,
                         unknown_model=True)


def _time_to_client(ex: Exchange, opened: Opened, result: AttemptResult) -> None:
    """The attempt whose answer reached the client is timed to the client's first byte (a stream's first
    generated event: a relay's instant ``response.created`` says nothing of when the answer starts), from
    when it asked the provider — as a request served by one attempt is timed, from its start. The time
    to the provider's first event, which the hedge delay is learnt from, stays in the result."""
    result.first_event_ms = opened.attempt.ttfb_ms
    if result.ttfb_ms is not None:
        opened.attempt.ttfb_ms = max(0.0, result.ttfb_ms - (opened.t0 - ex.started) * 1000)


def _passed_back(opened: Opened, result: AttemptResult) -> AttemptResult:
    """Notes the provider's turn state on a result whose answer (headers included) reached the
    client: an error passed through or a broken stream counts as much as a complete answer."""
    if result.response is not None:
        result.turn_state = opened.resp.headers.get(TURN_STATE_HEADER)
    return result


class _NoAnswer(TimeoutError):
    """The provider did not answer in time (it is out of rotation until a check gets an answer)."""


async def _send_json(request: web.Request, body: bytes, headers: dict[str, str],
                     started: float) -> tuple[web.StreamResponse, float, int]:
    out = web.Response(body=body, headers=headers)
    ttfb = (time.perf_counter() - started) * 1000
    await out.prepare(request)
    await out.write_eof()
    return out, ttfb, len(body)


async def _delivered(result: AttemptResult,
                     sending: Coroutine[Any, Any, tuple[web.StreamResponse, float, int]]) -> AttemptResult:
    """Send a complete answer. A client that leaves meanwhile does not make it less complete: the result
    stays OK — the provider did its work and its tokens count — with no response (the client did not
    get it)."""
    try:
        result.response, result.ttfb_ms, result.response_bytes = await sending
    except ConnectionError:
        pass
    except asyncio.CancelledError:
        result.cancelled = True
    return result


def _retried(retry: Retry, error: str, said: str) -> AttemptResult:
    """The attempt is asked again with another body (``retry``); ``said``: the provider's whole words."""
    refuses = retry is Retry.REBUILD and classify.mentions_unsupported_previous_response_id(said)
    return AttemptResult(Outcome.RETRY, error=error, retry=retry, refuses_previous_id=refuses)


def _too_long_even_so(retries: Retries, said: str, *, too_large: bool = False) -> bool:
    """The provider finds the conversation too long with its own summary in (``said``: its whole words)."""
    return retries.pass_on_too_long and (too_large or classify.mentions_context_length(said))


def _passed_on(error: str, status: int | None = None) -> AttemptResult:
    """A conversation this provider cannot take whatever it is sent: the next candidate is asked, and when
    none takes it the client hears this refusal (``Exchange.too_long``). The provider serves shorter ones,
    so its health is untouched."""
    return AttemptResult(Outcome.PROVIDER_FAILURE, error=error, status=status, counts_against_health=False,
                         too_long=True)


def _continuity_retry(message: str, client: ClientRequest, body: bytes, retries: Retries, *,
                      too_large: bool = False) -> Retry | None:
    if retries.summarize and (too_large or classify.mentions_context_length(message)):
        return Retry.SUMMARIZE
    if retries.rebuild and client.previous_response_id is not None and (
            classify.mentions_unsupported_previous_response_id(message)
            or classify.mentions_previous_response_not_found(message)):
        return Retry.REBUILD
    if b'"encrypted_content"' not in body or not classify.mentions_unreadable_sealed_content(message):
        return None
    # A compaction item whose producer is not known is the likelier culprit: it cannot be dropped like
    # reasoning, so what it summarised takes its place.
    if retries.expand_compaction and COMPACTION_ITEM.search(body):
        return Retry.EXPAND_COMPACTION
    if retries.strip_sealed:
        return Retry.STRIP_SEALED
    return None


def _called(ex: Exchange, opened: Opened) -> str:
    """The id the client is told served it: the provider's id now (renamed since the request began, the
    new one; deleted, the one it went by last, as the request log says)."""
    return ex.last_called(opened.provider)
