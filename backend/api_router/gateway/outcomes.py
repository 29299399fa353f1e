"""The one place where what happened to a client request becomes state: an attempt's result updates
its record, the router's view of the provider, the quota ledger and the continuity index; a finished
request goes to the store. (What the gateway learns outside client requests — background checks,
provider tests and probes — goes to the router through ``Router.record_check``.)

While it runs, a request names providers by the ids it was planned with (its config snapshot). What
an attempt leaves goes to the provider it went to as that provider is *now*: renamed meanwhile, under
its new id (the request log's row too); deleted, nowhere — a provider added since under the same id
is another one (``ProviderIdentity``). A table cut from config.toml by hand is no delete: what the request
leaves is kept under its id for when it comes back, all but its health (``_as_asked``). The router is told
with the config as it is now."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from aiohttp import web

from api_router.config import Config
from api_router.continuity.index import ContinuityIndex
from api_router.gateway.attempt import AttemptResult
from api_router.gateway.errors import GATEWAY_QUITS, GatewayError
from api_router.gateway.exchange import Exchange
from api_router.quota import Quota
from api_router.records import Attempt, EventSink, Kind, Level, Outcome, Retry
from api_router.routing import Failure, Router
from api_router.store import Store
from api_router.store.database import tombstone


class OutcomeRecorder:
    def __init__(self, router: Router, quota: Quota, index: ContinuityIndex, store: Store,
                 emit: EventSink, config: Callable[[], Config], key_of: Callable[[str], str | None],
                 moving: AbstractContextManager[object]) -> None:
        self._moving = moving  # held while a rename moves the providers' state (ProviderStates.moving)
        self._config = config  # the config as it is now
        self._key_of = key_of  # a provider's key as it is now
        self._router = router
        self._quota = quota
        self._index = index
        self._store = store
        self._emit = emit

    def attempt_done(self, ex: Exchange, attempt: Attempt, result: AttemptResult, *, started: float,
                     ended: float | None = None, aborted: bool = False) -> None:
        """``started``, ``ended``: the attempt's perf_counter start and end (if not now). ``aborted``: the
        gateway itself cut the attempt off (shutdown), which is not the provider's fault — nor the client's,
        when the shutdown's cancellation ended its answer."""
        attempt.latency_ms = ((ended or time.perf_counter()) - started) * 1000
        with self._moving:
            self._attempt_done(ex, attempt, result, aborted)

    def _attempt_done(self, ex: Exchange, attempt: Attempt, result: AttemptResult, aborted: bool) -> None:
        cut = result.outcome is Outcome.PROVIDER_FAILURE or result.outcome is Outcome.CLIENT_CLOSED
        attempt.outcome, attempt.error = result.outcome, result.error
        if aborted and cut:  # what the cut looked like (the connection closed, the client gone) is ours
            attempt.outcome, attempt.error = Outcome.ABORTED, GATEWAY_QUITS
        attempt.retry = result.retry
        if result.status is not None:
            attempt.status = result.status
        now = ex.now_called(attempt.provider)  # the id its state is kept under; None: nowhere
        if now is not None:
            if not result.unknown_model:  # a background check asks for a model the provider knows
                self._router.note_model(now, ex.record.model)
            if result.turn_state:
                self._index.record_turn_state(result.turn_state, now)
        if attempt.outcome is Outcome.OK:
            if attempt.summary:
                self._summarized(ex, attempt, result, now)
            else:
                self._served(ex, attempt, result, now)
        elif attempt.outcome is Outcome.PROVIDER_FAILURE:
            self._failed(ex, attempt, result, now)
        elif attempt.outcome is Outcome.CLIENT_ERROR:
            self._answered_for_client(ex, attempt, result)
            if result.committed:  # cut mid-answer for the request's own fault: what passed is the client's
                self._keep_sealed(ex, attempt, result, now)
        elif attempt.outcome is Outcome.RETRY and now is not None:
            self._retrying(ex, attempt, result, now)
        elif attempt.outcome in (Outcome.CLIENT_CLOSED, Outcome.ABORTED) and result.committed:
            self._cut_short(ex, attempt, result, now)

    def _served(self, ex: Exchange, attempt: Attempt, result: AttemptResult, now: str | None) -> None:
        # No response: the client left while the complete answer was being sent to it.
        _answered_by(ex, attempt, result, 200 if result.response is not None else 499)
        self._keep_sealed(ex, attempt, result, now)
        client = ex.client
        if now is None:
            return
        stream = client is not None and client.stream
        failures = self._served_elsewhere(ex)
        if self._as_asked(ex, attempt.provider, now):
            self._router.record_success(self._config(), now, failures, choice=ex.choice,
                                        session_id=client.session_id if client else None,
                                        first_event_s=result.first_event_ms / 1000
                                        if stream and result.first_event_ms else None,
                                        took_s=(attempt.latency_ms or 0.0) / 1000, passed_by=ex.passed_by_first,
                                        route_taken=ex.route_taken)
        elif client is not None and client.session_id and now not in self._config().providers:
            # Its table cut by hand, to come back: nothing said of its health, but the conversation is its.
            self._router.keep_session(client.session_id, now, choice=ex.choice)
        self._quota.record_tokens(now, result.usage.total_tokens)
        # previous_response_id can only name a response the provider stored; with store: false (how
        # Codex asks) there is nothing to remember, and nothing to spend on the hot path.
        if result.response_id and client is not None and not client.store_false:
            self._index.record_response(result.response_id, now)

    def answer_out(self, ex: Exchange, provider: str, sealed: list[tuple[str, str]], turn_state: str | None) -> None:
        """The end of ``provider``'s stream (as the request knows it) is leaving for the client — a complete
        answer, or an error reported in-band: its sealed items and turn state are recorded now, before the
        client can send the turn that carries them back (``attempt_done`` records them again once the
        attempt ends; the index takes each once)."""
        with self._moving:
            now = ex.now_called(provider)
            if now is not None and turn_state:
                self._index.record_turn_state(turn_state, now)
            self._record_sealed(ex, provider, sealed, now)

    def sealed_out(self, ex: Exchange, provider: str, sealed: list[tuple[str, str]]) -> None:
        """Sealed items of ``provider``'s stream reached the client while the stream goes on: recorded now
        (``answer_out`` and ``attempt_done`` record them again at the end; the index takes each once)."""
        self.answer_out(ex, provider, sealed, None)

    def _keep_sealed(self, ex: Exchange, attempt: Attempt, result: AttemptResult, now: str | None) -> None:
        self._record_sealed(ex, attempt.provider, result.sealed, now)

    def _record_sealed(self, ex: Exchange, provider: str, sealed: list[tuple[str, str]], now: str | None) -> None:
        """Who sealed the items the client got (whole answer or not): they come back in its next
        requests, and no other provider may be sent them. Sealed by a provider that is gone: under its
        tombstone they are another provider's for every candidate, where unknown items would pass for
        each candidate's own."""
        if sealed:
            self._index.record_sealed(ex.client.session_id if ex.client else None, sealed,
                                      now if now is not None else tombstone(provider))

    def _summarized(self, ex: Exchange, attempt: Attempt, result: AttemptResult, now: str | None) -> None:
        """A summary written on the way to the answer: not the answer, but its tokens were spent."""
        if now is not None:
            self._quota.record_tokens(now, result.usage.total_tokens)
        spent = ex.summary_usage.get(attempt.provider)
        ex.summary_usage[attempt.provider] = result.usage if spent is None else spent + result.usage

    def output_begun(self, ex: Exchange, provider: str, took_s: float) -> float | None:
        """``provider``'s stream began its output to the client: it is answering (the failover a status
        reports is under way), long before its answer ends and is recorded. ``took_s``: since it was asked.
        Returns what ``output_ended`` is to be told (None: nothing was recorded)."""
        with self._moving:
            now = ex.now_called(provider)
            if now is not None and self._as_asked(ex, provider, now):
                failed = [replace(f, health=True) if f.unknown_model else f for f in self._current_failures(ex)]
                if failed:
                    ex.route_taken = self._router.record_failover(self._config(), now, failed, choice=ex.choice,
                                                                  took_s=took_s)
                return self._router.record_output(now, took_s)
        return None

    def output_ended(self, ex: Exchange, provider: str, noted: float) -> None:
        """The stream ``output_begun`` recorded ended, however it ended (the client may have left)."""
        with self._moving:
            now = ex.now_called(provider)
            if now is not None:
                self._router.output_ended(now, noted)

    def called_now(self, ex: Exchange, pid: str) -> tuple[str, str]:
        """The id and name an event names the provider the request knows as ``pid`` by: those of now
        (renamed or renamed for show since the request began, the new ones; deleted, the id it went by last
        and the name it had when the request began)."""
        now = ex.now_called(pid)
        return (now, self._config().name_of(now)) if now is not None else (ex.last_called(pid), ex.cfg.name_of(pid))

    def hedge_started(self, ex: Exchange, slow: str, hedge: str, slowness: str) -> None:
        """``hedge`` is asked too, as ``slow`` (``slowness`` says how) has not begun its answer."""
        slow_id, slow_name = self.called_now(ex, slow)
        self._emit(Level.INFO, Kind.HEDGE, f"{slow_name} {slowness}; asking {self.called_now(ex, hedge)[1]} too",
                   slow_id)

    def conversation_summarised(self, ex: Exchange, provider: str) -> None:
        pid, name = self.called_now(ex, provider)
        self._emit(Level.INFO, Kind.CONTINUITY,
                   f"{name} summarised a conversation compacted by another provider, which was too long for it", pid)

    def summary_written(self, ex: Exchange, provider: str, compaction_id: str, text: str) -> None:
        """Later requests of the session give ``provider`` this summary at once (see ContinuityIndex)."""
        with self._moving:
            now = ex.now_called(provider)
            if now is not None:
                self._index.record_summary(now, compaction_id, text)

    def _against(self, ex: Exchange, attempt: Attempt, result: AttemptResult, now: str | None) -> None:
        """The provider's failure goes to routing — once (a silence another request of the same stall
        already reported is ``judged_elsewhere``), and only as the provider that was asked."""
        if result.counts_against_health and not result.judged_elsewhere and now is not None \
                and self._as_asked(ex, attempt.provider, now):
            self._router.record_failure(self._config(), now, result.error, result.retry_after,
                                        unresponsive=result.timed_out, status=result.status,
                                        session_id=ex.client.session_id if ex.client else None,
                                        quota_spent=result.quota_spent,
                                        took_s=(attempt.latency_ms or 0.0) / 1000)

    def _failed(self, ex: Exchange, attempt: Attempt, result: AttemptResult, now: str | None) -> None:
        self._against(ex, attempt, result, now)
        if result.committed:  # a stream that broke after output: the client got part of it
            _answered_by(ex, attempt, result, 200)
            self._keep_sealed(ex, attempt, result, now)
        else:
            failure = Failure(attempt.provider, result.error, result.status, result.retry_after,
                              health=result.counts_against_health, rate_limited=result.rate_limited,
                              quota_spent=result.quota_spent, unknown_model=result.unknown_model)
            _add_in_ask_order(ex, failure)
            if result.too_long:
                if not ex.too_long:
                    ex.failed_before_too_long = [f for f in ex.failures if f is not failure]
                ex.too_long.append(failure)

    @staticmethod
    def _answered_for_client(ex: Exchange, attempt: Attempt, result: AttemptResult) -> None:
        status = result.response.status if result.response is not None else attempt.status or 0
        _answered_by(ex, attempt, result, status)

    def _retrying(self, ex: Exchange, attempt: Attempt, result: AttemptResult, now: str) -> None:
        name = self._config().name_of(now)
        if result.refuses_previous_id:
            if self._index.mark_rejects_previous_id(now):
                self._emit(Level.INFO, Kind.CONTINUITY,
                           f"{name} does not accept previous_response_id; its requests now "
                           "replay the conversation from the Codex session file", now)
        elif result.retry is Retry.STRIP_SEALED:
            self._emit(Level.INFO, Kind.CONTINUITY,
                       f"{name} could not read reasoning sealed by another provider; retrying without it", now)

    def _cut_short(self, ex: Exchange, attempt: Attempt, result: AttemptResult, now: str | None) -> None:
        _answered_by(ex, attempt, result, 499 if attempt.outcome is Outcome.CLIENT_CLOSED else 200)
        self._keep_sealed(ex, attempt, result, now)
        if attempt.outcome is Outcome.CLIENT_CLOSED and result.timed_out:
            self._against(ex, attempt, result, now)  # it gave up on the provider's silence: a stall

    def all_failed(self, ex: Exchange, explained: str) -> None:
        """No candidate could serve: ``explained`` is what the client is told. (A provider passed by because
        it could not be given this request's conversation serves the others: the gateway is not down.)"""
        with self._moving:
            failures = self._current_failures(ex)
            if failures and not ex.passed_by:
                self._router.record_all_failed(failures, explained, choice=ex.choice)

    @staticmethod
    def refused_by_all(ex: Exchange, refused: set[str]) -> None:
        """The providers ``refused`` what the request asks (a model none of them has, a compaction), and the
        client hears that refusal: the request's own fault, and so are those attempts — no provider's error
        count takes them (nor did its health). An attempt that failed otherwise (a provider down while
        another refused a compaction) stays that provider's failure."""
        for attempt in ex.record.attempts:
            if attempt.outcome is Outcome.PROVIDER_FAILURE and attempt.provider in refused:
                attempt.outcome = Outcome.CLIENT_ERROR

    @staticmethod
    def answered_by_gateway(ex: Exchange, err: GatewayError, response: web.Response) -> None:
        """The gateway answered the request itself, with ``response`` for ``err``."""
        record = ex.record
        record.status, record.error = err.status, record.error or err.message
        record.response_bytes = len(response.body) if isinstance(response.body, bytes) else 0

    @staticmethod
    def attempt_left(attempt: Attempt, started: float, *, cut_by_gateway: bool) -> None:
        """An attempt cancelled before it had a result (``started``: its perf_counter start): the client
        left — or the gateway cut it off once the shutdown grace was over, which is no one's failure (as
        ``attempt_done`` says it). Within the grace a client that leaves has left on its own."""
        attempt.outcome, attempt.error = (Outcome.ABORTED, GATEWAY_QUITS) if cut_by_gateway else \
            (Outcome.CLIENT_CLOSED, attempt.error)
        attempt.latency_ms = (time.perf_counter() - started) * 1000

    @staticmethod
    def cancelled(ex: Exchange, *, cut_by_gateway: bool) -> None:
        """The request's task was cancelled: its client left, or the gateway cut it off after the grace."""
        record = ex.record
        if not record.status:
            record.status = 499
        if record.status != 200:  # a complete answer (the client left after it) is no error
            record.error = record.error or ("gateway shut down" if cut_by_gateway else "client disconnected")

    def request_done(self, ex: Exchange) -> None:
        record = ex.record
        record.latency_ms = (time.perf_counter() - ex.started) * 1000
        # What the serving provider spent on summaries is part of what the request cost there (another
        # provider's summaries count in that provider's quota ledger).
        spent = ex.summary_usage.get(record.provider) if record.provider else None
        if spent is not None:
            record.usage = record.usage + spent
        # The row names each provider by the id it has now (a deleted one by its old id, as history);
        # the metrics count the ones that still exist.
        existing = set()
        with self._moving:
            for attempt in record.attempts:
                now = ex.now_called(attempt.provider)
                if now is not None:
                    existing.add(now)
                attempt.provider = now or ex.last_called(attempt.provider)
            if record.provider is not None:
                record.provider = ex.last_called(record.provider)
            self._store.log_request(record, existing)

    def _as_asked(self, ex: Exchange, provider: str, now: str) -> bool:
        """Whether the provider (``provider`` to the request, ``now`` as it is called now) still has the
        base URL and key the request asked it with. A new one starts it afresh (ProviderStates): what a
        request begun before says about the old address or key is not the new one's health."""
        current = self._config().providers.get(now)
        asked, key = ex.asked.get(provider, (ex.cfg.providers.get(provider), None))
        if current is None or asked is None or current.base_url != asked.base_url:
            return False
        return provider not in ex.asked or self._key_of(now) == key

    def _served_elsewhere(self, ex: Exchange) -> list[Failure]:
        """The request's failures once another provider served it: one that said the model does not exist
        there lacks what the others have (a model_map entry, most likely), and counts as failed — recorded
        here, whether or not the serving provider's own success can be."""
        failures = self._current_failures(ex)
        for f in failures:
            if f.unknown_model:
                self._router.record_failure(self._config(), f.provider, f.error, status=f.status)
        return [replace(f, health=True, unknown_model=False) if f.unknown_model else f for f in failures]

    def _current_failures(self, ex: Exchange) -> list[Failure]:
        """The request's failures, of the providers that still exist, under their ids now. One asked at an
        address or with a key changed since (or whose table is cut) says nothing of the provider now: it
        neither moves traffic nor is quoted as the reason it moved."""
        out = []
        for f in ex.failures:
            now = ex.now_called(f.provider)
            if now is None:
                continue
            said = f if self._as_asked(ex, f.provider, now) else replace(f, health=False, unknown_model=False)
            out.append(said if now == f.provider else replace(said, provider=now))
        return out


def _add_in_ask_order(ex: Exchange, failure: Failure) -> None:
    """``failure`` among the request's, in the order the providers were asked — not the order their failures
    were judged: racers judged together (a hedge and the original it raced, silent alike) would otherwise
    have the route event and the client's message start with the hedge rather than the provider asked first."""
    failures = ex.failures
    if failures:  # the usual request has none: nothing to look up
        asked = [a.provider for a in ex.record.attempts]
        rank = asked.index(failure.provider) if failure.provider in asked else len(asked)
        for i, earlier in enumerate(failures):
            if earlier.provider in asked and asked.index(earlier.provider) > rank:
                failures.insert(i, failure)
                return
    failures.append(failure)


def _answered_by(ex: Exchange, attempt: Attempt, result: AttemptResult, status: int) -> None:
    """The request's record: which provider's answer the client got (whole, in part or an error), and
    what it cost."""
    record = ex.record
    record.provider, record.sent_model, record.status = attempt.provider, attempt.sent_model, status
    record.usage, record.ttfb_ms = result.usage, result.ttfb_ms
    record.error, record.response_bytes = result.error, result.response_bytes
