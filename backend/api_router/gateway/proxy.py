"""``POST /v1/responses`` (and ``/responses/compact``): route one client request through the candidates
until one succeeds.

Flow: read and check the body → ask the router for candidates → for each, build the body that
provider may see (continuity, model map) → an upstream attempt (``attempt``), raced against the next
candidate when a stream's first event is late (the hedge) → each attempt's result is recorded
(``outcomes``) → the next candidate, or the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from aiohttp import web

from api_router.config import Config, ProviderConfig
from api_router.continuity.rewrite import PLAIN, BodyOptions, ClientRequest, MissingSession, session_id_of
from api_router.gateway import explain
from api_router.gateway.attempt import AttemptResult, AttemptRunner, Opened, Retries
from api_router.gateway.bodies import Bodies
from api_router.gateway.compaction import SummaryFailed, summarize
from api_router.gateway.errors import SHUTTING_DOWN, GatewayError, error_response, from_error
from api_router.gateway.exchange import Exchange, RequestIds, parse_object, read_body
from api_router.gateway.outcomes import OutcomeRecorder
from api_router.gateway.streaming import UpstreamStream
from api_router.gateway.upstream import (
    PROVIDER_HEADER,
    REQUEST_ID_HEADER,
    TURN_STATE_HEADER,
    Upstream,
    forwarded_headers,
    identity_of,
)
from api_router.heap import GiveBackWhenIdle
from api_router.jsonbytes import NestedTooDeep
from api_router.records import Attempt, Outcome, RequestRecord, Retry, now_ms
from api_router.routing import Failure
from api_router.services import ProviderIdentity, Services, ServingState
from api_router.texts import quoted


class _NoBody(Exception):
    """The body this provider may see cannot be built (its history is missing); the message says why."""

    def __init__(self, provider: str, why: str) -> None:
        super().__init__(why)
        self.provider = provider


class _Gone(Exception):
    """The candidate may no longer be asked: deleted, switched off, or outside a lock set since the
    request was planned. It is passed by as if it had not been in the plan; the message says why, for a
    request left with nothing else to tell its client."""


class _NotAnswering(_Gone):
    """The candidate was found not answering (by another request) while its body was being built: no
    request waits on it. Passed by like one never planned; the 502, if it comes to that, names it."""


# At most this many times a request whose candidates were all passed by or tried looks again at what
# routing would choose now (the config changed while it ran): a lock or a provider added since.
_REPLANS = 3
# How often a stream whose providers are all past their hedge delay looks for one back in rotation.
_LOOK_AGAIN_SECONDS = 1.0


class _Verdict(Enum):
    """How a hedge winner that had only opened its stream answered, for the late racers it beat."""

    ANSWERED = "answered"  # its output began (or it answered otherwise): they were late
    FAILED = "failed"  # it failed before its output: they are asked again
    GONE = "gone"  # the request ended before its output (the client left)


@dataclass(slots=True, eq=False)
class _Racer:
    """One attempt, until its provider has answered: awaited in the request's own task when nothing
    can race it (no task to create and wait on), or launched as a task of its own for a hedge race."""

    provider: str  # as the request knows it (see Exchange.identities)
    opts: BodyOptions
    retries: Retries
    attempt: Attempt
    t0: float
    opening: Coroutine[Any, Any, Opened | AttemptResult]
    task: asyncio.Task[Opened | AttemptResult] | None = None
    delay: float = 0.0  # its hedge delay, in a race
    overdue_after: float | None = None  # seconds after its start it was found late (no first event)
    given_up: asyncio.Future[None] | None = None  # in a race: set when another request finds it not answering
    found_dead: bool = False  # given up for that (judged once, by the request that found it)
    output_noted: float | None = None  # its output reaching the client, as recorded (see OutcomeRecorder.output_ended)
    # Racers past their hedge delay that this one beat with only the opening of its stream: judged late once
    # its answer begins; asked again when it fails before that (an opening is no answer).
    beaten: list[tuple[_Racer, AttemptResult, float]] = field(default_factory=list)

    def launch(self) -> asyncio.Task[Opened | AttemptResult]:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.opening)
        return self.task


@dataclass(slots=True, eq=False)
class _Race:
    """What a hedge race keeps from one round to the next."""

    racers: list[_Racer]  # still running; the newest (the one that may be within its hedge delay) last
    # A provider's refusal of the request (its context window smaller than the others', say), or its asking
    # to be asked again (a continuity retry), while another still races is no answer yet: kept, with when it
    # came, for when no other gives one. A retry asked for is sent after that provider's hedge delay all the
    # same when no other has answered by then: it races them, as a hedge would.
    refused: tuple[_Racer, AttemptResult, float] | None = None
    retry_at: float | None = None
    # Another request may find a provider waited on not answering first: then no need to sit out its
    # delay. Each racer is watched, by its provider's identity (renamed meanwhile, it is the same one).
    watched: list[tuple[ProviderIdentity | str, asyncio.Future[None]]] = field(default_factory=list)


class ResponsesProxy:
    def __init__(self, services: Services, upstream: Upstream, state: ServingState) -> None:
        self._services = services
        self._state = state
        self._upstream = upstream
        self._bodies = Bodies(services.continuity)
        self._request_ids = RequestIds()
        self._runner = AttemptRunner(upstream, key_of=services.provider_key,
                                     redact=services.redactor.redact_bytes,
                                     shutting_down=lambda: state.grace_over,
                                     turn_state_owner=services.continuity.index.turn_state_owner)
        self._memory = GiveBackWhenIdle(in_flight=lambda: state.inflight)
        self._recorder = OutcomeRecorder(services.router, services.quota, services.continuity.index,
                                         services.store, services.emit, lambda: services.config.current,
                                         services.provider_key, services.providers.moving)
        # Streams waiting for a provider's first event, by provider (its identity: renamed meanwhile, it is
        # still the one they wait on): told when it is found not answering.
        self._waiting_on: dict[ProviderIdentity | str, set[asyncio.Future[None]]] = {}
        # Streams past their opening events, still waiting for the first generated one: told the same.
        self._relaying_on: dict[ProviderIdentity | str, set[UpstreamStream]] = {}
        # Attempts nothing races (a JSON answer, a stream with hedging off), by provider, with the request
        # task that awaits each: that task is cancelled when the provider is found not answering.
        self._alone_on: dict[ProviderIdentity | str, dict[_Racer, asyncio.Task[Any]]] = {}
        services.router.unresponsive_listeners.append(self._stopped_answering)

    def close(self) -> None:
        """The app that served through this proxy stops (the services outlive it)."""
        self._services.router.unresponsive_listeners.remove(self._stopped_answering)
        self._memory.close()

    def _stopped_answering(self, provider: str) -> None:
        who = self._services.providers.who(provider)
        for waiting in self._waiting_on.pop(who, ()):
            if not waiting.done():
                waiting.set_result(None)
        for stream in list(self._relaying_on.get(who, ())):
            stream.give_up()
        for racer, task in list(self._alone_on.get(who, {}).items()):
            # One whose answer has begun (an answer or an error being read) is answered by this provider.
            if not self._runner.answer_begun(racer.attempt):
                racer.found_dead = True
                task.cancel()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        services, state = self._services, self._state
        # In this order: a routing choice made from here on finds the request planned under the one before
        # it; and each provider the config snapshot names has its identity here (renamed or deleted since,
        # it is followed) unless it was added since (then its own id stands for it).
        choice = services.router.choice
        identities = services.providers.identities
        cfg = services.config.current
        ex = Exchange(request, RequestRecord(unix_ms=now_ms(), path=request.path, stream=False,
                                             request_id=self._request_ids.new()),
                      time.perf_counter(), cfg, identities=identities, choice=choice,
                      upstream_path="/responses/compact" if request.path.endswith("/compact") else "/responses")
        record = ex.record
        state.inflight += 1
        try:
            if state.shutting_down:
                raise GatewayError(503, SHUTTING_DOWN)
            return await self._serve(ex)
        except GatewayError as err:
            response = from_error(err, services.redactor.redact_bytes)
            response.headers[REQUEST_ID_HEADER] = record.request_id  # the row that says what happened
            self._recorder.answered_by_gateway(ex, err, response)
            return response
        except asyncio.CancelledError:
            self._recorder.cancelled(ex, cut_by_gateway=state.grace_over)
            raise
        finally:
            state.inflight -= 1
            self._recorder.request_done(ex)
            self._memory.note(record.request_bytes)
            services.touch()

    async def _serve(self, ex: Exchange) -> web.StreamResponse:
        services = self._services
        client = await self._read_request(ex)
        plan = self._plan(ex, client.session_id)
        if not ex.cfg.routable:
            raise explain.nobody_routable(ex.cfg)
        ex.forwarded = forwarded_headers(ex.request.raw_headers)
        self._upstream.client_identity.note(ex.forwarded)
        # Without previous_response_id or sealed items no continuity retry can arise, so the usual
        # request goes straight to one attempt per provider with the client's own bytes.
        untouched = self._bodies.untouched(client)
        queue = deque(plan)
        first = plan[0] if plan else None  # the first candidate: the first provider asked, for the whole request
        planned_with, replans = ex.cfg, 0
        gone: list[str] = []
        while True:
            if not queue:  # what routing would choose now, not yet asked: the config or a provider changed
                if replans >= _REPLANS:
                    break
                fresh = self._newly_routable(ex, services.config.current, planned_with)
                if not fresh and services.config.current is planned_with:
                    break
                planned_with, replans = services.config.current, replans + 1
                queue.extend(fresh)
                continue
            self._pass_not_answering(ex, queue)
            if not queue:
                continue
            try:
                first = first or queue[0]
                result = await self._next_provider(ex, queue, first, untouched)
            except _NoBody as exc:  # this provider cannot be given the conversation; the next may hold it
                ex.passed_by[exc.provider] = str(exc)
                ex.passed_by_first = ex.passed_by_first or not ex.record.attempts
                continue
            except _NotAnswering:
                continue
            except _Gone as exc:
                gone.append(str(exc))
                continue
            if self._state.grace_over and result.outcome in (Outcome.PROVIDER_FAILURE, Outcome.ABORTED):
                # The gateway closed the upstream connections itself: not the provider's fault. (Within
                # the grace a request goes on as ever: a provider failing then is failed over.)
                if result.response is None:
                    raise GatewayError(503, SHUTTING_DOWN)
                return result.response
            if result.outcome is Outcome.PROVIDER_FAILURE and not result.committed:
                continue
            if result.response is None:  # the client left while we were answering
                raise asyncio.CancelledError()
            return result.response
        raise self._no_answer(ex, plan, gone)

    async def _read_request(self, ex: Exchange) -> ClientRequest:
        """The client's request read, checked and parsed into ``ex.client``, and what its row can say of it."""
        request, record = ex.request, ex.record
        listen = ex.cfg.listen
        # What the row can say of a body that is never read whole (too large, stalled, undecodable) or turns
        # out to be no JSON: its size (as declared, until it is read) and the session its headers name.
        record.session_id = session_id_of(request.headers, {})
        record.request_bytes = request.content_length or 0
        body = await read_body(request, listen.max_body_bytes, self._upstream.deadlines,
                               listen.body_stall_timeout_seconds, record=record, receiving=self._state.receiving)
        record.request_bytes = len(body)
        payload = parse_object(body)
        client = ex.client = ClientRequest(body, payload, session_id_of(request.headers, payload))
        del payload
        record.stream, record.session_id, record.model = client.stream, client.session_id, client.model
        return client

    def _left(self, racer: _Racer) -> None:
        """``racer`` was cancelled before its result: the client left, or the gateway shuts down."""
        self._recorder.attempt_left(racer.attempt, racer.t0, cut_by_gateway=self._state.grace_over)

    def _no_answer(self, ex: Exchange, plan: Sequence[str], gone: list[str]) -> GatewayError:
        """What the client hears when no candidate answered: every provider's refusal of the request
        itself, or the failures (and the providers not asked) in one 502. ``gone``: why candidates
        planned were passed by because they changed while the request ran."""
        services = self._services
        if gone and not ex.failures and not ex.passed_by:
            return GatewayError(503, f"the providers this request was routed to changed while it ran "
                                     f"({'; '.join(gone)}) and no other could take it; send it again")
        if ex.passed_by and not ex.failures:
            return GatewayError(400, next(iter(ex.passed_by.values())))
        if ex.too_long and not _may_serve_a_retry(ex):
            # No candidate was left, or the ones it was passed on to went (deleted, switched off, not answering)
            # or refused it too.
            self._recorder.refused_by_all(ex, {f.provider for f in ex.too_long})
            return explain.too_long(ex.cfg, ex.too_long[-1], ex.cfg.effective_lock)
        refusals = _refusals(ex.failures)
        unknown_model = all(f.unknown_model for f in ex.failures)
        asked = {f.provider for f in ex.failures}
        # A model only the providers asked lack may be had by one not asked (cooling down): that is no
        # refusal of the request, but the usual failure, which names them. Locked, the lock is everyone: a
        # retry goes nowhere else (a typo would be asked again and again), so its refusal is the answer.
        lock = ex.cfg.effective_lock
        everyone_asked = not unknown_model or set(ex.cfg.routable) <= asked or asked == {lock}
        # A compaction no provider made and one refused: Codex retries a 5xx (the trigger again, to the
        # same providers), and has no fallback for it either, so the refusal is its answer.
        compaction_refusals = [f for f in refusals if _refused_compaction(f)] if (
            ex.client is not None and ex.client.compaction_trigger) else []
        refused_by_all = len(refusals) == len(ex.failures) and not any(f.health for f in ex.failures)
        if compaction_refusals or (refusals and refused_by_all and everyone_asked):
            # Every provider refused what this request asks (a compaction, a model none of them has): the
            # client hears that refusal, not a gateway error it would retry. (One that answered a 200
            # without the compaction item refused nothing.)
            refused = compaction_refusals or refusals
            self._recorder.refused_by_all(ex, {f.provider for f in refused})
            model = quoted(ex.client.model) if unknown_model and ex.client is not None else None
            return explain.refused_by_all(ex.cfg, refused, model, lock=lock)
        # The providers not answering are checked now, for the client's retry: one that hung once may be the
        # only way out of this 502 (the others asked failed too, or none was left to ask).
        services.router.want_checks()
        error = self._all_failed(ex, plan)
        self._recorder.all_failed(ex, error.message)
        return error

    def _plan(self, ex: Exchange, session_id: str | None) -> list[str]:
        """The candidates, by the settings of the request's first byte; what routing knows of each (its
        cooldown, its quota, the session bound to it) found where a rename since has put it."""
        view, renamed = self._in_ids_of_now(ex)
        plan = self._services.router.plan(view, session_id)
        if renamed:
            back = {new: old for old, new in renamed.items()}
            plan = [back.get(pid, pid) for pid in plan]
        return plan

    def _in_ids_of_now(self, ex: Exchange) -> tuple[Config, dict[str, str]]:
        """``ex.cfg`` with its providers called as they are now — ids (routing's state follows renames) and
        display names — and the renames since (old id: new id). The usual request, nothing changed:
        ``ex.cfg`` itself."""
        now = self._services.config.current
        if now is ex.cfg:
            return ex.cfg, {}
        renamed = {old: new for old, identity in ex.identities.items()
                   if old in ex.cfg.providers and (new := identity.id) is not None and new != old}
        return ex.cfg.with_ids(renamed, names=now), renamed

    def _all_failed(self, ex: Exchange, plan: Sequence[str]) -> GatewayError:
        """The 502 (or 429) naming every provider as it is called now: what routing knows of one renamed
        while the request ran (its cooldown, its wait) is under its new id."""
        view, renamed = self._in_ids_of_now(ex)

        def now(pid: str) -> str:
            return renamed.get(pid, pid)

        failures = [dataclasses.replace(f, provider=now(f.provider)) if f.provider in renamed else f
                    for f in ex.failures]
        return explain.all_failed(view, failures, self._services.router, [now(pid) for pid in plan],
                                  {now(pid): why for pid, why in ex.passed_by.items()})

    def _pass_not_answering(self, ex: Exchange, queue: deque[str]) -> None:
        """Drop from the front of ``queue`` the providers found not answering since the request was planned
        (by another request): no request waits on one. The 502 names them as passed by."""
        router = self._services.router
        while queue and not router.answering(ex.now_called(queue[0]) or queue[0]):
            queue.popleft()

    def _newly_routable(self, ex: Exchange, cfg: Config, planned_with: Config) -> list[str]:
        """The candidates not yet asked that the request may still go to: of what routing chooses now, the
        providers in rotation (back since: a cooldown over, a check answered; added, enabled) — and a lock
        set since, whatever its provider's state. Not a last resort routing would offer with nothing else:
        a rename or a new name changes nothing about who may serve."""
        fresh = self._not_yet_asked(ex, cfg)
        up = set(self._services.router.available(cfg))
        lock = cfg.effective_lock if cfg is not planned_with else None
        return [pid for pid in fresh if (now := ex.now_called(pid) or pid) in up or now == lock]

    def _not_yet_asked(self, ex: Exchange, cfg: Config) -> list[str]:
        """The candidates routing would choose now that the request has not tried or passed by (renamed
        since, a provider is still the one it tried). A provider added since under an id the request knew
        for another one is left out: the request could not tell the two apart in what it records."""
        assert ex.client is not None
        with self._services.providers.moving:  # not halfway through a rename
            identities = self._services.providers.identities
        known = ex.identities
        seen = {known.get(pid) or pid for pid in (*(a.provider for a in ex.record.attempts), *ex.passed_by)}
        fresh = []
        for pid in self._services.router.plan(cfg, ex.client.session_id):
            identity = identities.get(pid)
            # Known to the request under its id then (renamed since), or under this id; else new to it.
            known_as = next((old for old, i in known.items() if identity is not None and i is identity), None)
            if known_as is None:
                if pid in known:  # the id the request knew for another provider, since deleted
                    continue
                known_as = pid
                if identity is not None:  # added since: what it leaves follows it too
                    ex.identities = known = {**known, pid: identity}
            if (known.get(known_as) or known_as) not in seen:
                fresh.append(known_as)
        return fresh

    def _now_asked(self, ex: Exchange, pid: str) -> ProviderConfig:
        """The provider the request knows as ``pid`` as it is configured now: an attempt beginning now
        uses its base URL, key and model map of now, which always belong together. Raises _Gone when it
        may no longer be asked."""
        cfg = self._services.config.current
        if cfg is ex.cfg:  # the usual case: nothing changed since the request was planned
            return cfg.providers[pid]
        with self._services.providers.moving:  # not halfway through a rename
            cfg = self._services.config.current
            now = ex.now_called(pid)
        provider = cfg.providers.get(now) if now is not None else None
        lock = cfg.effective_lock
        name = ex.cfg.name_of(pid)
        if provider is None:
            raise _Gone(f"{name} was deleted")
        if not provider.routable:
            raise _Gone(f"{name} was switched off")
        if lock is not None and lock != now:
            raise _Gone(f"routing was locked to {cfg.name_of(lock)}")
        return provider

    # --- one provider (and its hedge) -------------------------------------------------------------

    async def _next_provider(self, ex: Exchange, queue: deque[str], first: str, untouched: bool) -> AttemptResult:
        """Try the next candidate — racing it against the one after it if its stream is slow to start —
        plus at most one continuity retry of each kind on the provider that answered."""
        pid = queue.popleft()
        racer = await self._start_queued(ex, pid, first, untouched, hedge=False)
        hedge = ex.client is not None and ex.client.stream and self._services.config.current.routing.hedge
        racer, answer = await self._race(ex, racer, queue if hedge else None, first, untouched)
        winner, result = racer, None
        try:
            while True:
                result = None  # until this attempt's result is known (a client leaving raises in _finish)
                result = answer if isinstance(answer, AttemptResult) else await self._finish(ex, racer, answer)
                if result.outcome is not Outcome.RETRY:
                    return result
                if result.retry is Retry.SUMMARIZE:
                    summaries = await self._summaries(ex, racer, others_left=bool(queue))
                    if isinstance(summaries, AttemptResult):  # no summary: the client hears why
                        result = summaries
                        return result
                    opts = replace(racer.opts, summaries=summaries)
                else:
                    opts = _next_options(racer.opts, result.retry)
                # It asked to be asked again: no answer yet, so the racers its opening beat were not late.
                self._judge_beaten(ex, winner, _Verdict.FAILED, queue)
                racer = await self._start(ex, racer.provider, first, untouched, opts, hedge=False)
                # Asked again, it may go silent as on any request: raced as the first ask was.
                racer, answer = await self._race(ex, racer, queue if hedge else None, first, untouched)
                winner = racer
        finally:
            if result is None:
                verdict = _Verdict.GONE
            elif result.outcome is not Outcome.PROVIDER_FAILURE or result.committed:
                verdict = _Verdict.ANSWERED
            else:
                verdict = _Verdict.FAILED
            self._judge_beaten(ex, winner, verdict, queue)

    def _judge_beaten(self, ex: Exchange, winner: _Racer, verdict: _Verdict, queue: deque[str] | None = None) -> None:
        """The racers ``winner`` beat with the opening of its stream (see ``_drop_losers``), once its answer is
        known — as its output begins, or when it ends without any: they did not answer in time if it answered;
        if it failed before its output they go back to the front of ``queue``, asked again, and nothing counts
        against them; if the request ended otherwise (the client left), they are simply beaten."""
        beaten, winner.beaten = winner.beaten, []
        for r, lost, ended in reversed(beaten):
            if verdict is _Verdict.ANSWERED:
                self._end(ex, r, lost, ended=ended)
                continue
            why = "then failed" if verdict is _Verdict.FAILED else "the request ended"
            self._end(ex, r, AttemptResult(Outcome.HEDGE_LOST, error=f"{lost.error}, {why} before its output"),
                      ended=ended)
            if verdict is _Verdict.FAILED and queue is not None:  # asked again, first of those left
                _put_back(ex, queue, r)

    async def _start_queued(self, ex: Exchange, pid: str, first: str, untouched: bool, *, hedge: bool) -> _Racer:
        """Start ``pid``, just taken from the queue: with the body it asked for when it was put back
        (``_put_back``), else the plain one."""
        return await self._start(ex, pid, first, untouched, ex.asked_again_with.pop(pid, PLAIN), hedge=hedge)

    async def _start(self, ex: Exchange, pid: str, first: str, untouched: bool, opts: BodyOptions, *,
                     hedge: bool) -> _Racer:
        client = ex.client
        assert client is not None
        provider = self._now_asked(ex, pid)
        try:
            if untouched and opts == PLAIN:
                body, model = self._bodies.mapped(client.raw, client, provider)
            else:
                body, model = await self._bodies.for_provider(client, provider, ex.now_called(first) or first, opts,
                                                              pid)
        except MissingSession as exc:
            raise _NoBody(pid, str(exc)) from None
        except NestedTooDeep as exc:  # its body had to be written again (another may take the client's bytes)
            raise _NoBody(pid, f"the request body could not be made for {ex.cfg.name_of(pid)}: {exc}") from None
        client.release_payload()  # freed while it is still in the cache; parsed again only if needed
        if not self._services.router.answering(ex.now_called(pid) or pid):  # found so while the body was built
            raise _NotAnswering(pid)
        attempt = Attempt(pid, hedge=hedge, sent_model=model)
        ex.record.attempts.append(attempt)
        # A history replayed in place of previous_response_id may carry sealed items the client's did not.
        sealed = client.sealed or client.previous_response_id is not None
        retries = Retries(rebuild=not opts.rebuild and client.previous_response_id is not None,
                          strip_sealed=not opts.strip_sealed and sealed,
                          expand_compaction=not opts.expand_compaction and sealed,
                          summarize=not opts.summaries and bool(client.expansions.get((pid, opts))),
                          pass_on_too_long=(pid, opts) in client.summarised)
        return _Racer(pid, opts, retries, attempt, time.perf_counter(),
                      self._runner.open(ex, pid, provider, body, attempt, retries))

    def _hedge_delay(self, ex: Exchange, pid: str) -> float:
        """The hedge delay of the provider the request knows as ``pid``, by its own history (renamed
        since, that history is under its new id)."""
        return self._services.router.hedge_delay(ex.cfg, ex.now_called(pid) or pid)

    async def _race(self, ex: Exchange, racer: _Racer, queue: deque[str] | None, first: str,
                    untouched: bool) -> tuple[_Racer, Opened | AttemptResult]:
        """Wait for ``racer``'s provider to answer. With a ``queue`` (a stream that may hedge): when no
        Responses event has come after the provider's hedge delay, start the next candidate too — and
        the one after it when that one is late as well; the first to answer wins, the others are
        cancelled. Each round waits for an answer, a hedge delay's end or a provider found not answering."""
        if queue is None:
            return racer, await self._alone(ex, racer)
        racer.delay = self._hedge_delay(ex, racer.provider)
        race = _Race([racer])
        try:
            while True:
                await self._retry_if_due(ex, race, first, untouched)
                newest = race.racers[-1]  # the only one that may still be within its hedge delay
                if newest.given_up is None:
                    race.watched.append(self._watch(ex, newest))
                done = await self._round(race, newest)
                found = self._found_not_answering(race.racers)
                if any(r.task in done for r in race.racers):
                    ended = await self._take_answers(ex, race, done, queue, first, untouched)
                else:
                    ended = await self._no_answer_this_round(ex, race, newest, found, bool(done), queue, first,
                                                             untouched)
                if ended is not None:
                    return ended
        except asyncio.CancelledError:
            await self._abandon(race.racers, race.refused)
            raise
        finally:
            self._unwatch(race.watched)

    async def _retry_if_due(self, ex: Exchange, race: _Race, first: str, untouched: bool) -> None:
        if race.retry_at is None or time.perf_counter() < race.retry_at:
            return
        assert race.refused is not None
        race.retry_at, again = None, await self._ask_again(ex, race.refused, first, untouched)
        if again is not None:
            racers = race.racers
            # Behind a newest racer still within its hedge delay, whose timer goes on: the retry is no
            # candidate brought in, and when that delay ends the next one is (not at its own).
            racers.insert(len(racers) - (racers[-1].overdue_after is None), again)
            race.watched.append(self._watch(ex, again))
            race.refused = None

    async def _round(self, race: _Race, newest: _Racer) -> set[asyncio.Future[Any]]:
        """Wait for the next thing that moves the race on; what is done by then."""
        racers = race.racers
        waits: set[asyncio.Future[Any]] = {r.launch() for r in racers}
        # Whichever provider another request finds not answering is not waited on any longer.
        waits |= {r.given_up for r in racers if r.given_up is not None and self._may_be_found(r)}
        if newest.overdue_after is None:  # even with no candidate left: one may come (_add_hedge)
            timeout = max(0.0, newest.t0 + newest.delay - time.perf_counter())
        else:  # every one is late: a provider back in rotation meanwhile is asked too
            timeout = _LOOK_AGAIN_SECONDS
        if race.retry_at is not None:
            timeout = min(timeout, max(0.0, race.retry_at - time.perf_counter()))
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return done

    def _found_not_answering(self, racers: list[_Racer]) -> list[_Racer]:
        """The racers whose providers another request has just found not answering, marked so."""
        found = [r for r in racers if r.given_up is not None and r.given_up.done() and self._may_be_found(r)]
        for r in found:
            r.found_dead = True
            if r.overdue_after is None:
                r.overdue_after = time.perf_counter() - r.t0
        return found

    async def _no_answer_this_round(self, ex: Exchange, race: _Race, newest: _Racer, found: list[_Racer],
                                    woken: bool, queue: deque[str], first: str,
                                    untouched: bool) -> tuple[_Racer, Opened | AttemptResult] | None:
        """No racer answered: a hedge delay ended, or a provider was found not answering — the next candidate
        is brought in. None: the race goes on."""
        if woken and not found:  # the finding came as its answer began: that provider answers it
            return None
        if not found and race.retry_at is not None and time.perf_counter() >= race.retry_at:
            return None  # the kept retry's turn, not the end of a hedge delay
        # Its hedge delay is over — unless what woke the race is another racer found not answering.
        if newest.overdue_after is None and not found:
            newest.overdue_after = newest.delay
        slow = found[0] if found else newest
        await self._add_hedge(ex, race.racers, slow, queue, first, untouched, found_dead=slow.found_dead)
        return await self._ended_if_only_dead(ex, race)

    async def _take_answers(self, ex: Exchange, race: _Race, done: set[asyncio.Future[Any]], queue: deque[str],
                            first: str, untouched: bool) -> tuple[_Racer, Opened | AttemptResult] | None:
        """The answers that came this round, in the order the racers started. None: the race goes on."""
        racers = race.racers
        for r in [r for r in racers if r.task in done]:
            answer = r.launch().result()
            kept = race.refused is None and len(racers) > 1 and _no_answer_yet(answer)
            won = not kept and (isinstance(answer, Opened) or answer.outcome is not Outcome.PROVIDER_FAILURE)
            if won:
                await self._drop_losers(ex, racers, r, queue)
            racers.remove(r)
            if kept:
                assert isinstance(answer, AttemptResult)
                race.refused = r, answer, time.perf_counter()
                if answer.outcome is Outcome.RETRY and answer.retry in _RETRIED_IN_A_RACE:
                    race.retry_at = race.refused[2] + self._hedge_delay(ex, r.provider)
            elif isinstance(answer, AttemptResult):
                self._end(ex, r, answer)
            if won or not racers:
                return self._settled(ex, race.refused, r, answer)
            if queue and racers[-1].overdue_after is not None:
                # It failed while the others are all past their hedge delay: the next candidate
                # starts now rather than after their timeouts.
                await self._add_hedge(ex, racers, racers[-1], queue, first, untouched)
            if (ended := await self._ended_if_only_dead(ex, race)) is not None:
                return ended
        return None

    async def _ended_if_only_dead(self, ex: Exchange, race: _Race) -> tuple[_Racer, Opened | AttemptResult] | None:
        if not self._only_dead_left(race.racers):
            return None
        return self._settled(ex, race.refused, *await self._give_up_on(ex, race.racers))

    async def _ask_again(self, ex: Exchange, held: tuple[_Racer, AttemptResult, float], first: str,
                         untouched: bool) -> _Racer | None:
        """The retry ``held``'s provider asked for, sent to race the others (none answered within that
        provider's hedge delay); None when it cannot be (its body, the provider gone): still held."""
        racer, retry, ended = held
        try:
            again = await self._start(ex, racer.provider, first, untouched, _next_options(racer.opts, retry.retry),
                                      hedge=racer.attempt.hedge)
        except (_NoBody, _Gone, _NotAnswering):
            return None
        self._end(ex, racer, retry, ended=ended)
        again.delay = self._hedge_delay(ex, racer.provider)
        return again

    def _unwatch(self, watched: list[tuple[ProviderIdentity | str, asyncio.Future[None]]]) -> None:
        for who, given_up in watched:
            waiting = self._waiting_on.get(who)
            if waiting is not None:
                waiting.discard(given_up)
                if not waiting:
                    del self._waiting_on[who]

    def _watch(self, ex: Exchange, racer: _Racer) -> tuple[ProviderIdentity | str, asyncio.Future[None]]:
        """From now on, another request finding ``racer``'s provider not answering ends its wait."""
        given_up = racer.given_up = asyncio.get_running_loop().create_future()
        who = ex.who(racer.provider)
        self._waiting_on.setdefault(who, set()).add(given_up)
        if not self._services.router.answering(ex.now_called(racer.provider) or racer.provider):
            given_up.set_result(None)  # found so before it could be told
        return who, given_up

    async def _abandon(self, racers: list[_Racer], refused: tuple[_Racer, AttemptResult, float] | None) -> None:
        """The client left during the race: every attempt is cancelled and nothing it opened stays open."""
        if refused is not None:
            self._left(refused[0])
        for r in racers:
            r.launch().cancel()
            self._left(r)
        await asyncio.gather(*(r.launch() for r in racers), return_exceptions=True)
        for r in racers:  # one may have answered just before the client left (the race's winner)
            self._close_if_opened(r.launch())

    def _settled(self, ex: Exchange, refused: tuple[_Racer, AttemptResult, float] | None, racer: _Racer,
                 answer: Opened | AttemptResult) -> tuple[_Racer, Opened | AttemptResult]:
        """How a race ends: ``racer``'s answer — unless it is a failure and a refusal (or a retry asked for)
        was kept meanwhile (see ``_race``): then that is the answer. One another answer beat lost the race."""
        if refused is None:
            return racer, answer
        held, refusal, ended = refused
        if isinstance(answer, Opened) or answer.outcome is not Outcome.PROVIDER_FAILURE:
            self._end(ex, held, AttemptResult(Outcome.HEDGE_LOST, error=f"{refusal.error}; "
                                              f"{ex.cfg.name_of(racer.provider)} answered"), ended=ended)
            return racer, answer
        self._end(ex, held, refusal, ended=ended)
        return held, refusal

    def _may_be_found(self, racer: _Racer) -> bool:
        """Whether another request's finding its provider not answering would end ``racer``'s wait: not
        once found so, nor once its answer has begun (that provider is answering it)."""
        return not racer.found_dead and not self._runner.answer_begun(racer.attempt)

    @staticmethod
    def _only_dead_left(racers: list[_Racer]) -> bool:
        """Whether every racer still running waits on a provider found not answering (none answered yet)."""
        return bool(racers) and all(r.found_dead and not r.launch().done() for r in racers)

    async def _give_up_on(self, ex: Exchange, racers: list[_Racer]) -> tuple[_Racer, AttemptResult]:
        """Stop waiting on racers whose providers another request found not answering, with no candidate
        left to bring in: each is judged once, by the request that found it; the request goes on (the
        next candidate routing has, or its 502) instead of sitting out their timeouts."""
        ended: tuple[_Racer, AttemptResult] | None = None
        for r in list(racers):
            racers.remove(r)
            task = r.launch()
            task.cancel()
            try:
                answer = (await asyncio.gather(task, return_exceptions=True))[0]
            except asyncio.CancelledError:  # the client left meanwhile: _race closes the rest
                self._left(r)
                self._close_if_opened(task)
                raise
            if isinstance(answer, Opened):  # it answered at the last moment: too late, it is closed
                self._runner.discard(answer)
            if isinstance(answer, AttemptResult) and answer.outcome is Outcome.PROVIDER_FAILURE:
                result = answer  # it failed on its own meanwhile
            else:
                result = AttemptResult(Outcome.PROVIDER_FAILURE, judged_elsewhere=True,
                                       error=explain.FOUND_NOT_ANSWERING)
            self._end(ex, r, result)
            ended = r, result
        assert ended is not None
        return ended

    async def _alone(self, ex: Exchange, racer: _Racer) -> Opened | AttemptResult:
        """An attempt nothing can race, awaited in the request's own task (cancelled when another request
        finds its provider not answering: it stops waiting, and the next candidate is asked)."""
        who = ex.who(racer.provider)
        task = asyncio.current_task(self._upstream.deadlines.loop)  # the loop given: no getpid() (3.11)
        assert task is not None
        waiting = self._alone_on.setdefault(who, {})
        waiting[racer] = task
        try:
            answer = await racer.opening
        except asyncio.CancelledError:
            if not racer.found_dead or task.uncancel() > 0:  # the client left, or shutdown
                self._left(racer)
                raise
            # Judged once, by the request that found it: no second failure counted.
            answer = AttemptResult(Outcome.PROVIDER_FAILURE, judged_elsewhere=True,
                                   error=explain.FOUND_NOT_ANSWERING)
        finally:
            waiting.pop(racer, None)
            if not waiting and self._alone_on.get(who) is waiting:
                del self._alone_on[who]
        if isinstance(answer, AttemptResult):
            self._end(ex, racer, answer)
        return answer

    async def _add_hedge(self, ex: Exchange, racers: list[_Racer], slow: _Racer, queue: deque[str], first: str,
                         untouched: bool, *, found_dead: bool = False) -> None:
        """Start the next candidate that can take the request next to ``slow``; the ones that cannot
        (their body cannot be built) are passed by. ``found_dead``: another request found ``slow``'s
        provider not answering meanwhile."""
        cfg = self._services.config.current
        if not cfg.routing.hedge:  # switched off since the request began
            return
        if not queue:  # a provider enabled, added, locked to or back in rotation since may take it
            queue.extend(self._newly_routable(ex, cfg, ex.cfg))
        while True:
            self._pass_not_answering(ex, queue)
            if not queue:
                return
            pid = queue.popleft()
            try:
                hedge = await self._start_queued(ex, pid, first, untouched, hedge=True)
            except _NoBody as exc:
                ex.passed_by[pid] = str(exc)
                continue
            except _Gone:
                continue
            hedge.delay = self._hedge_delay(ex, pid)
            self._recorder.hedge_started(ex, slow.provider, pid, f"is {explain.FOUND_NOT_ANSWERING}" if found_dead
                                         else f"sent no first event within {_seconds(slow.delay)} s")
            racers.append(hedge)
            return

    async def _drop_losers(self, ex: Exchange, racers: list[_Racer], winner: _Racer,
                           queue: deque[str] | None) -> None:
        """Cancel what lost the race. One that was past its hedge delay did not answer in time (it
        leaves rotation); a hedge still within its delay was simply not needed, and goes back to the
        front of the queue in case the winner fails before its output starts."""
        # A winner with only the opening of its stream (response.created) has not answered yet: it may still
        # fail before its output, and then a late loser was not beaten after all (see _judge_beaten). Nor has
        # one answering a compaction, until its whole answer is judged (it may hold no compaction item).
        opened_only = _only_opened(winner.launch().result()) is not None or _held_to_the_end(ex)
        first = self._recorder.called_now(ex, winner.provider)[1]  # named as now: it may have been added since the plan
        for r in [r for r in racers if r is not winner]:
            racers.remove(r)
            # Found late by its timer (or by another request), or past its delay now all the same: the
            # last candidate arms no timer, having none to bring in.
            waited = r.overdue_after if r.overdue_after is not None else time.perf_counter() - r.t0
            late = r.overdue_after is not None or waited >= r.delay
            task = r.launch()
            if not task.done():
                task.cancel()
            try:
                answer = (await asyncio.gather(task, return_exceptions=True))[0]
            except asyncio.CancelledError:  # the client left meanwhile: _race closes the winner, this closes r
                self._left(r)
                self._close_if_opened(task)
                self._judge_beaten(ex, winner, _Verdict.GONE)
                raise
            if isinstance(answer, Opened):  # it answered too, just not first
                self._runner.discard(answer)
                late = False
            elif isinstance(answer, AttemptResult) and answer.outcome is not Outcome.OK:
                self._end(ex, r, answer)
                continue
            if r.found_dead:  # judged once, by the request that found it: no second failure counted
                lost = AttemptResult(Outcome.PROVIDER_FAILURE, judged_elsewhere=True,
                                     error=f"{explain.FOUND_NOT_ANSWERING}; "
                                           f"{first} answered first")
            elif not late:
                lost = AttemptResult(Outcome.HEDGE_LOST, error=f"{first} answered first")
                if queue is not None:  # it did not fail: asked again if the winner fails before output
                    _put_back(ex, queue, r)
            else:
                lost = AttemptResult(Outcome.PROVIDER_FAILURE, timed_out=True,
                                     error=f"no first event within {waited:.3g} s; "
                                           f"{first} answered first (hedge)")
                if opened_only:  # judged once the winner's answer begins (or fails before it does)
                    winner.beaten.append((r, lost, time.perf_counter()))
                    continue
            self._end(ex, r, lost)

    def _close_if_opened(self, task: asyncio.Task[Opened | AttemptResult]) -> None:
        """An attempt that opened its answer, which nothing will read now: its connection is closed (no
        timeout would ever come for it)."""
        if task.done() and not task.cancelled() and task.exception() is None \
                and isinstance(answer := task.result(), Opened):
            self._runner.discard(answer)

    async def _finish(self, ex: Exchange, racer: _Racer, opened: Opened) -> AttemptResult:
        # A stream with nothing generated yet keeps waiting on its provider: it is told when another
        # request finds that provider not answering.
        waiting = _only_opened(opened)
        if opened.stream is not None and not _held_to_the_end(ex):
            if waiting is None:  # its output began with its first read: it is under way now
                racer.output_noted = self._recorder.output_begun(ex, racer.provider, time.perf_counter() - racer.t0)
            else:
                waiting.on_output = functools.partial(self._output_begun, ex, racer)
        if opened.stream is not None:
            opened.stream.on_answer_out = functools.partial(self._answer_out, ex, racer, opened)
            opened.stream.on_sealed_out = functools.partial(self._recorder.sealed_out, ex, racer.provider)
        waited_on = ex.who(racer.provider)
        if waiting is not None:
            self._relaying_on.setdefault(waited_on, set()).add(waiting)
        try:
            result = await self._runner.finish(ex, opened, racer.retries)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._left(racer)
            self._output_over(ex, racer)
            raise
        finally:
            streams = self._relaying_on.get(waited_on)
            if waiting is not None and streams is not None:
                streams.discard(waiting)
                if not streams:
                    del self._relaying_on[waited_on]
        try:
            self._end(ex, racer, result)
        finally:  # after its result: a success is never read for a moment as a failure not answering
            self._output_over(ex, racer)
        if result.cancelled:
            raise asyncio.CancelledError()
        return result

    def _output_over(self, ex: Exchange, racer: _Racer) -> None:
        """``racer``'s output, if it was recorded as reaching the client, no longer is (see Health.answering)."""
        if racer.output_noted is not None:
            self._recorder.output_ended(ex, racer.provider, racer.output_noted)
            racer.output_noted = None

    def _answer_out(self, ex: Exchange, racer: _Racer, opened: Opened) -> None:
        """The end of ``racer``'s stream is leaving for the client, who may send its next turn the moment it
        has it: what that turn depends on is recorded now."""
        assert opened.stream is not None
        self._recorder.answer_out(ex, racer.provider, opened.stream.facts.sealed,
                                  opened.resp.headers.get(TURN_STATE_HEADER))

    def _output_begun(self, ex: Exchange, racer: _Racer) -> None:
        """``racer``'s stream began its output: its provider answers (recorded as such), and the racers it
        beat with only the opening of its stream were late (see ``_drop_losers``) — judged first: a failover
        is told with the failures it follows."""
        self._judge_beaten(ex, racer, _Verdict.ANSWERED)
        racer.output_noted = self._recorder.output_begun(ex, racer.provider, time.perf_counter() - racer.t0)

    async def _summaries(self, ex: Exchange, racer: _Racer, *,
                         others_left: bool) -> tuple[tuple[str, str], ...] | AttemptResult:
        """The provider's own summary of each conversation a foreign compaction item stood for; each
        request for one is an attempt of its own in the record (it costs tokens). Without a summary
        this provider cannot take the conversation: the next candidate may (``others_left``), else the
        client hears why."""
        client, services = ex.client, self._services
        assert client is not None
        provider = self._now_asked(ex, racer.provider)  # renamed since the attempt began: its key is filed anew
        model = provider.model_for(client.model)
        # Silent on it past its hedge delay, it is passed over as a silent stream would be: the next candidate
        # takes the conversation as it is.
        hedged = others_left and client.stream and services.config.current.routing.hedge
        answer_within = self._hedge_delay(ex, racer.provider) if hedged else None
        out = []
        for cid, items in client.expansions.get((racer.provider, racer.opts), {}).items():
            attempt = Attempt(racer.provider, sent_model=model, summary=True)
            ex.record.attempts.append(attempt)
            t0 = time.perf_counter()

            def refused(exc: SummaryFailed) -> None:  # each request sent is an attempt of its own
                nonlocal attempt, t0
                self._recorder.attempt_done(ex, attempt, AttemptResult(
                    Outcome.RETRY, error=f"{exc}; asked again without the oldest part of the conversation",
                    status=exc.status, retry=Retry.SHORTER_SUMMARY), started=t0)
                attempt = Attempt(racer.provider, sent_model=model, summary=True)
                ex.record.attempts.append(attempt)
                t0 = time.perf_counter()

            try:
                summary = await summarize(self._upstream, provider, services.provider_key(provider.id), model,
                                          items, ex.cfg.routing.request_timeout_seconds, identity_of(ex.forwarded),
                                          refused, answer_within)
            except SummaryFailed as exc:
                message = (f"the conversation carries a compaction made by another provider; what it summarised is "
                           f"too long for {ex.cfg.name_of(provider.id)}, and summarising it there failed: {exc}")
                result = self._no_summary(ex, provider.id, message, exc.status, others_left)
            except asyncio.CancelledError:
                self._recorder.attempt_left(attempt, t0, cut_by_gateway=self._state.grace_over)
                raise
            else:
                result = AttemptResult(Outcome.OK, usage=summary.usage, status=200)
                out.append((cid, summary.text))
                self._recorder.summary_written(ex, racer.provider, cid, summary.text)
            self._recorder.attempt_done(ex, attempt, result, started=t0)
            if result.outcome is not Outcome.OK:
                return result
        self._recorder.conversation_summarised(ex, racer.provider)
        return tuple(out)

    def _no_summary(self, ex: Exchange, pid: str, message: str, status: int | None,
                    others_left: bool) -> AttemptResult:
        if others_left:  # says nothing about the provider's health: it serves shorter conversations
            return AttemptResult(Outcome.PROVIDER_FAILURE, error=message, status=status, counts_against_health=False)
        answer = error_response(400, self._services.redactor(message),
                                headers={PROVIDER_HEADER: pid, REQUEST_ID_HEADER: ex.record.request_id})
        return AttemptResult(Outcome.CLIENT_ERROR, answer, error=message, status=status,
                             response_bytes=len(answer.body) if isinstance(answer.body, bytes) else 0)

    def _end(self, ex: Exchange, racer: _Racer, result: AttemptResult, *, ended: float | None = None) -> None:
        """Record how ``racer``'s attempt ended (``ended``: when, if not now)."""
        router = self._services.router
        if result.timed_out and not result.judged_elsewhere and (
                racer.found_dead or not router.answering(ex.now_called(racer.provider) or racer.provider)):
            # Its own deadline came as another request found the provider not answering (it was answering
            # when this attempt began): one silence, counted once, by the finder.
            result = replace(result, judged_elsewhere=True)
        self._recorder.attempt_done(ex, racer.attempt, result, started=racer.t0, ended=ended,
                                    aborted=self._state.grace_over)


def _held_to_the_end(ex: Exchange) -> bool:
    """A compaction: its answer is held until it is complete and judged (``hold_until_end``), so its
    output beginning says nothing yet about whether it is an answer."""
    return ex.client is not None and ex.client.compaction_trigger


def _put_back(ex: Exchange, queue: deque[str], racer: _Racer) -> None:
    """``racer``'s provider first in ``queue`` again, to be asked with the body it was asked with."""
    queue.appendleft(racer.provider)
    if racer.opts != PLAIN:
        ex.asked_again_with[racer.provider] = racer.opts


def _no_answer_yet(answer: Opened | AttemptResult) -> bool:
    """A provider's refusal of the request itself (a 4xx passed through) or its asking to be asked again (a
    continuity retry), before any of an answer."""
    return isinstance(answer, AttemptResult) and not answer.committed and answer.outcome in _NOT_YET


_NOT_YET = frozenset({Outcome.CLIENT_ERROR, Outcome.RETRY})
# The retries a race can send while it goes on; a summary (its own requests, then the retry) waits for its end.
_RETRIED_IN_A_RACE = frozenset({Retry.REBUILD, Retry.STRIP_SEALED, Retry.EXPAND_COMPACTION})


def _only_opened(answer: Opened | AttemptResult) -> UpstreamStream | None:
    """The stream of an answer that has only opened (``response.created``), nothing generated yet."""
    if isinstance(answer, Opened) and answer.stream is not None and not answer.stream.facts.generated:
        return answer.stream
    return None


def _next_options(opts: BodyOptions, retry: Retry | None) -> BodyOptions:
    if retry is Retry.REBUILD:
        return replace(opts, rebuild=True)
    if retry is Retry.EXPAND_COMPACTION:
        return replace(opts, expand_compaction=True)
    return replace(opts, strip_sealed=True)



def _may_serve_a_retry(ex: Exchange) -> bool:
    """Whether a provider failed (not: refused the request) while the conversation was in play — asked after
    the first that found it too long, or failing after that one refused (a racer asked before it): a retry
    may find it serving."""
    first = ex.too_long[0]
    at = next(i for i, f in enumerate(ex.failures) if f is first)
    before = {id(f) for f in ex.failed_before_too_long}
    return any(f.health and (i > at or id(f) not in before) for i, f in enumerate(ex.failures))


def _refused_compaction(failure: Failure) -> bool:
    """A provider's refusal of a compaction trigger (a relay without remote compaction): a 4xx, or the same
    said in the body of a 200 (a failed response, a failed stream: no status kept). Not a provider down, nor
    one without the model (another may have it)."""
    return not failure.health and not failure.unknown_model and (
        failure.status is None or 400 <= failure.status < 500)


def _refusals(failures: Sequence[Failure]) -> list[Failure]:
    """The failures in which a provider refused the request, leaving out answers that came with a 200
    and were still no answer (a compaction request answered without its compaction item)."""
    return [f for f in failures if f.status != 200]


def _seconds(delay: float) -> str:
    """A delay as events say it: 3.62, 0.004, 12, 1000."""
    return f"{delay:.3g}" if delay < 10 else f"{delay:.0f}"
