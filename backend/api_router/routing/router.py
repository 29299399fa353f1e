"""Which provider serves the next request, and what each attempt's outcome does to that choice.

Health lives here (consecutive failures, cooldowns, providers that stopped answering); the order of
candidates follows the contract: a lock wins; otherwise a session in use stays on its provider, then
the preferred provider, then the rest in ``provider_order``. Every change of the serving provider is
reported once, with its reason, through ``emit``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from api_router.config import Config
from api_router.records import EventSink, Kind, Level
from api_router.routing.affinity import SessionAffinity
from api_router.routing.hedging import FirstEventTimes
from api_router.routing.phrases import Mention, Phrase, joined, say
from api_router.states import ProviderHealth

MAX_RETRY_AFTER_SECONDS = 3600
LOCKED = "locked by user"  # the reason a locked provider serves (shown as such in the UI)
# While client requests find no provider to ask, each one not answering is checked this often (a dead
# one costs a ping a second, each ending at the check's timeout; at most three at once per provider).
ON_DEMAND_CHECK_SECONDS = 1.0
# A cooldown is told again only when it grows by this much at least (or by cooldown_seconds when that is
# more): with cooldown_seconds = 0 every last-resort failure under the same Retry-After would be news.
RETOLD_LONGER_SECONDS = 30.0
_LOCKED, _PREFERRED, _NO_REASON = say(LOCKED), say("preferred provider"), Phrase()


def _cooldown_news(cfg: Config, h: Health, was_cooling: bool, *, asked: bool) -> bool:
    """Whether a cooldown just set is told (and so noted): when it begins, or when a Retry-After (``asked``)
    makes it end much later than its last event said (in one step, or by steps too small to tell one by one)."""
    news = not was_cooling or (asked and h.cooldown_until >= h.told_until + max(cfg.routing.cooldown_seconds,
                                                                               RETOLD_LONGER_SECONDS))
    if news:
        h.told_until = h.cooldown_until
    return news


def _latest(asked_before: float | None, asked: float) -> float:
    """When the latest question a provider failed was asked: a failure of an older one, ending after it (a
    request that hung while a newer one was refused), leaves it — or a success older still would pass for news."""
    return asked if asked_before is None else max(asked_before, asked)


def _cooldown_asked(cfg: Config, retry_after: float) -> float:
    """The cooldown a Retry-After asks for: at least ``cooldown_seconds``, at most an hour."""
    return min(max(cfg.routing.cooldown_seconds, retry_after), MAX_RETRY_AFTER_SECONDS)


def _note_rest(h: Health, asked_at: float, now: float, retry_after: float | None) -> None:
    """What a failed answer to a question asked at ``asked_at`` says of the provider's rest: until the time its
    Retry-After names no background check asks it (each would be one more request to a provider that is
    rate-limiting); without one, no rest. The latest question's answer says it, a shorter wait included: an
    answer to one asked before the question that set the rest is older news."""
    if asked_at < h.rest_asked_at:
        return
    h.rest_asked_at = asked_at
    h.rest_until = now + min(retry_after, MAX_RETRY_AFTER_SECONDS) if retry_after is not None else 0.0


@dataclass
class Health:
    consecutive_failures: int = 0
    cooldown_until: float = 0.0
    # Until when its latest answer's Retry-After asked not to be asked (see _note_rest); a success, a later
    # question's failure without one, or its not answering ends that. A longer cooldown is checked after it.
    rest_until: float = 0.0
    rest_asked_at: float = 0.0  # when the question whose answer set (or ended) the rest was asked
    told_until: float = 0.0  # when its last cooldown event said it would end
    last_error: str = ""
    last_status: int | None = None  # the HTTP status of the last failure, when it had one
    last_ok_at: float | None = None
    # When a Responses request or check asked since its latest failure last got an answer: what one asked
    # before that answer fails with is older news (a probe, which only lists models, proves nothing here).
    last_answer_at: float | None = None
    # When its generated output last began reaching a client: a long stream answers long before its end,
    # when last_ok_at is set (a failover is under way from then on, and is told so).
    last_output_at: float | None = None
    # When each request whose output is reaching a client now was sent (one ends: it goes).
    answering: list[float] = field(default_factory=list)
    last_fail_at: float | None = None
    last_fail_asked_at: float | None = None  # when the request or check that failed last was sent
    last_request_fail_at: float | None = None  # the last failure a client request met (not a check)
    failing_since: float | None = None  # the first failure since it last answered (checks' too)
    # Did not answer in time: out of rotation until a background check (or a test) gets an answer.
    unresponsive_since: float | None = None
    # When it last left rotation: its first check waits a whole interval from then, so that a relay
    # that failed a real request (a stream that stalled after output) is not back after one ping.
    out_since: float | None = None
    last_check_at: float | None = None
    # The model a client last had it serve (what checks and tests ask for, through its model_map as it is then).
    last_model: str | None = None
    # Its last failure said its quota is used up: its cooldown's end brings no quota back.
    quota_spent: bool = False

    def asked_before_failing(self, asked_at: float) -> bool:
        """Whether a question asked at ``asked_at`` came before the one it failed last: its answer is older
        news than that failure, whose cooldown and error stand."""
        return self.last_fail_asked_at is not None and asked_at < self.last_fail_asked_at

    def answering_since_failing(self) -> bool:
        """Whether a request asked after its latest failure is getting its output now: the provider answers,
        although the failure count ends only with that answer."""
        return any(not self.asked_before_failing(asked) for asked in self.answering)


@dataclass(frozen=True)
class Failure:
    provider: str
    error: str
    status: int | None = None
    retry_after: float | None = None
    # False: the provider cannot do this kind of request (a compaction) but is otherwise fine, so the
    # failure neither moves new traffic nor, with the others, makes the gateway "down".
    health: bool = True
    rate_limited: bool = False  # a 429, or a rate limit reported in-band
    quota_spent: bool = False  # it said its quota is used up (insufficient_quota): no wait brings it back
    # It said the model asked for does not exist there: the request's own fault when no provider knows
    # the model (a typo), this provider's gap when another one serves it (then counted as a failure).
    unknown_model: bool = False


@dataclass
class _State:
    health: dict[str, Health] = field(default_factory=dict)
    active: str | None = None
    _reason: Phrase = _NO_REASON  # ``active_reason``
    # What the reason rests on changed without a request (the preferred provider's address or key, the
    # automatic return switched): it is said again from the preferred provider's state when next read.
    reason_stale: bool = False
    # While no provider could serve: the failures that found it so, the newest of each provider over the
    # outage's requests (one passed by, cooling down, stays down); cleared by a success.
    down: tuple[Failure, ...] = ()
    down_asked: frozenset[str] = frozenset()  # the providers the last of those requests asked
    # The provider routing was locked to until the user unlocked it: automatic routing decides
    # afresh, and the route event of its first answer says where it came from.
    released: str | None = None
    # Counts the user's routing choices (a lock, an unlock, a new preferred provider). A request planned
    # under an earlier one that ends after it neither binds its session nor moves the serving provider
    # (nor makes the gateway "down"): the choice released them, and the next request follows it.
    choice: int = 0

    @property
    def active_reason(self) -> Phrase:
        """Why ``active`` serves, shown with the providers' names as they are when it is read."""
        return self._reason

    @active_reason.setter
    def active_reason(self, reason: Phrase) -> None:
        self._reason, self.reason_stale = reason, False

    def rename_in_reason(self, old: str, new: str) -> None:
        """The same reason naming ``new`` for ``old``: as stale as it was."""
        self._reason = self._reason.renamed(old, new)


def chosen_cannot_serve(cfg: Config) -> str | None:
    """The event for a preferred provider chosen by name that cannot serve (switched off, or without a base
    URL) while another is preferred meanwhile; None otherwise."""
    chosen, meanwhile = cfg.routing.preferred_provider, cfg.effective_preferred
    if not chosen or chosen == meanwhile or chosen not in cfg.providers or meanwhile is None:
        return None
    why = "is switched off" if cfg.providers[chosen].disabled else "has no base URL"
    return (f"Preferred provider set to {cfg.name_of(chosen)}, which {why}: {cfg.name_of(meanwhile)} is preferred "
            "until it can serve")


class Router:
    def __init__(self, emit: EventSink, clock: Callable[[], float] = time.monotonic,
                 skip: Callable[[str], str | None] = lambda provider: None,
                 redact: Callable[[str], str] = lambda text: text,
                 affinity: SessionAffinity | None = None, wall: Callable[[], float] = time.time) -> None:
        self._emit = emit
        # Cooldowns and check intervals run on a monotonic clock: a wall clock set back (NTP, by hand)
        # would stretch a cooldown and hold background checks back by as much. ``wall`` only dates them
        # for display.
        self._clock = clock
        self._wall = wall
        self._redact = redact  # upstream error texts may echo a key; last_error is shown in the UI
        self._skip = skip  # why automatic routing should pass a provider by (e.g. no quota left)
        self._affinity = affinity
        self.first_events = FirstEventTimes()
        self._lock = threading.Lock()
        self._s = _State()
        self._cooling_ends = 0.0  # no provider is cooling down after this moment
        # The providers whose Health.unresponsive_since is set, for a plan to ask "any?" and "this one?"
        # without walking every Health: changed with it, under the lock, and nowhere else.
        self._unresponsive: set[str] = set()
        # A client request found no provider to ask (each one it could go to stopped answering): those are
        # checked at the next round, not an interval after they left rotation (see needing_check).
        self._checks_wanted = False
        # Told the id of a provider that just stopped answering in time (called where the failure is
        # recorded: the gateway's loop), so requests still waiting on it can stop waiting.
        self.unresponsive_listeners: list[Callable[[str], None]] = []

    # --- decisions ---------------------------------------------------------------------------------

    def plan(self, cfg: Config, session_id: str | None = None) -> list[str]:
        """Candidates for one request, in the order they are to be tried. A provider that stopped answering
        is never one (locked to or not): no client request waits on it until a check gets an answer."""
        routable = cfg.routable
        if not routable:
            return []
        lock = cfg.effective_lock
        if lock is not None:
            with self._lock:
                return [] if lock in self._unresponsive else [lock]
        now = self._clock()
        bound = self._session_provider(cfg, session_id)
        with self._lock:
            planned = self._plan_locked(cfg, now, bound)
            fresh = self._outside_the_outage_locked(cfg, now)
        if fresh:  # the outage is no verdict on them, and the others failed in it: the next request goes there
            planned = [*fresh, *(pid for pid in planned if pid not in fresh)]
        return planned

    def _plan_locked(self, cfg: Config, now: float, bound: str | None) -> list[str]:
        """``plan`` by the providers' health, the serving provider and the session's binding; ``_lock`` held."""
        routable = cfg.routable
        first = cfg.preferred_first
        preferred = first[0]
        if (bound is None or bound == preferred) and now >= self._cooling_ends and not self._unresponsive \
                and self._preferred_ready(cfg, preferred, now) and not any(self._skip(pid) for pid in routable):
            return list(first)  # the usual case: nothing cooling, nothing out of quota, no stickiness
        others = list(first[1:])
        if self._preferred_ready(cfg, preferred, now):
            ordered = [preferred, *others]
        else:
            # Stay on the provider that is serving now (no ping-pong between fallbacks); the
            # preferred one is the last resort until it has been stable long enough.
            sticky = self._s.active if self._s.active in others else None
            rest = [pid for pid in others if pid != sticky]
            ordered = [*([sticky] if sticky else []), *rest, preferred]
        if bound is not None and bound in ordered:
            ordered = [bound, *(pid for pid in ordered if pid != bound)]
        available = [pid for pid in ordered if self._available(pid, now)]
        ready = [pid for pid in available if self._skip(pid) is None]
        if ready:
            # Out of quota by their last reading, which may be stale: asked only when the others failed.
            return [*ready, *(pid for pid in available if pid not in ready)]
        if available:
            return available
        # Nothing is available: the provider whose cooldown ends first (its failures were answers) — first of
        # all one whose own Retry-After is over (a client told to come back then is sent to it, not to one
        # still asking to be left alone).
        cooling = sorted((pid for pid in ordered if pid not in self._unresponsive),
                         key=lambda pid: (max(self._health(pid).rest_until, now), self._health(pid).cooldown_until))
        return cooling[:1]

    def want_checks(self) -> None:
        """A client request got no answer: check the ones not answering soon (at most every
        ON_DEMAND_CHECK_SECONDS each), so one that answers again — a relay whose request hung once — is
        back for the client's retry rather than after the whole check interval."""
        with self._lock:
            self._checks_wanted = True

    @property
    def checks_wanted(self) -> bool:
        """Whether a client request asked for checks that have not run yet (an idle gateway runs them too:
        the request is use)."""
        return self._checks_wanted

    def answering(self, provider: str) -> bool:
        """Whether ``provider`` is not out of rotation for not answering (a request that planned it before it
        was found so passes it by too)."""
        with self._lock:
            return provider not in self._unresponsive

    def _session_provider(self, cfg: Config, session_id: str | None) -> str | None:
        bound = self.session_binding(cfg, session_id) if session_id is not None else None
        return bound if bound in cfg.routable else None

    def _preferred_ready(self, cfg: Config, preferred: str, now: float) -> bool:
        if not self._available(preferred, now):
            return False
        active = self._s.active
        if active is None or active == preferred or active not in cfg.providers:
            return True
        if not cfg.routing.auto_return_to_preferred:
            return False
        last_fail = self._health(preferred).last_fail_at
        return last_fail is None or now - last_fail >= cfg.routing.preferred_stable_seconds

    def _available(self, pid: str, now: float) -> bool:
        return self._health(pid).cooldown_until <= now and pid not in self._unresponsive

    def _health(self, pid: str) -> Health:
        h = self._s.health.get(pid)
        if h is None:
            h = self._s.health[pid] = Health()
        return h

    def session_binding(self, cfg: Config, session_id: str) -> str | None:
        """The provider the session is bound to while it is in use (idle past the return time, it is not)."""
        if self._affinity is None:
            return None
        return self._affinity.provider_for(session_id, cfg.routing.session_idle_return_seconds)

    def hedge_delay(self, cfg: Config, provider: str) -> float:
        return self.first_events.delay(cfg.routing, provider)

    # --- outcomes --------------------------------------------------------------------------------

    @property
    def choice(self) -> int:
        """The user's routing choice now; a request notes it when it is planned."""
        return self._s.choice

    def record_success(self, cfg: Config, provider: str, failures: Sequence[Failure] = (),
                       session_id: str | None = None, first_event_s: float | None = None,
                       choice: int | None = None, took_s: float = 0.0, passed_by: bool = False,
                       route_taken: bool = False) -> None:
        """``choice``: the one the request was planned under (None: the current one); ``took_s``: how long
        ago the provider was asked; ``passed_by``: providers before it could not be given the request
        (its conversation is held here); ``route_taken``: ``record_failover`` took the route to it as its
        stream began, and its end changes the route no more."""
        counted = [Failure(f.provider, self._redact(f.error)) for f in failures if f.health]
        now = self._clock()
        if first_event_s is not None:
            self.first_events.record(provider, first_event_s)
        # Planned before the user's latest choice, which released the sessions and the serving provider.
        stale = choice is not None and choice != self._s.choice
        with self._lock:
            h = self._health(provider)
            if h.asked_before_failing(now - took_s):
                # Asked before its latest failure (a long stream that outlived a 429 to another request): it
                # says nothing of the provider since, and the cooldown or failure count stands.
                h.last_ok_at = now
                if session_id is not None and self._affinity is not None and not stale:
                    self._affinity.bind(session_id, provider)
                return
        # A session kept on its own provider says nothing about where new traffic goes: the serving
        # provider (and its route events) follows the rest, or two sessions would flip it every request.
        held_by_session = False
        if session_id is not None and self._affinity is not None and not stale:
            held_by_session = not failures and self._affinity.provider_for(
                session_id, cfg.routing.session_idle_return_seconds) == provider
            self._affinity.bind(session_id, provider)
        # Nor does a request only this provider could do (the others refused a compaction, or could not be
        # given the conversation it continues): nothing failed, and new traffic goes where it went.
        only_refused = (bool(failures) or passed_by) and not counted
        with self._lock:
            h = self._health(provider)
            recovered = h.consecutive_failures > 0 or h.unresponsive_since is not None
            self._clear(provider, h)
            h.last_ok_at = h.last_answer_at = now
            h.last_error = ""  # it answers: an old error shown beside "healthy" would only mislead
            self._s.down = ()
            previous = self._s.active
            # Where nothing has served yet (a start, an unlock), such a request names no serving provider either.
            if stale or route_taken or previous == provider or ((held_by_session or only_refused) and (
                    previous is None or (previous in cfg.routable and self._available(previous, now)))):
                change = None
            else:
                change = self._route_to(cfg, provider, counted)
            if change is None and self._serving_instead_of(cfg, provider):
                # The preferred provider answered a request kept on it (a session, a conversation only it
                # holds) while a fallback serves: as after a check's answer, its old error is no reason now.
                self._s.active_reason = self._why_not(cfg, provider)
        if recovered:
            self._emit(Level.INFO, Kind.RECOVERED, f"{cfg.name_of(provider)} is answering again", provider)
        if change is not None:  # an event is history: it keeps the names of its time
            self._emit(change[2], Kind.ROUTE, change[1].render(cfg.name_of), provider)

    def _route_to(self, cfg: Config, provider: str, failures: Sequence[Failure]) -> tuple[Phrase, Phrase, Level]:
        """``provider`` serves now (after ``failures``); ``_lock`` held. Returns what ``_route_change`` does."""
        previous = self._s.active
        # After an unlock only "back to the preferred provider from <the one locked>" says where.
        came_from = previous if previous is not None else (
            self._s.released if provider == cfg.effective_preferred else None)
        change = self._route_change(cfg, came_from if came_from != provider else None, provider, failures)
        self._s.active, self._s.active_reason, self._s.released = provider, change[0], None
        return change

    def keep_session(self, session_id: str, provider: str, *, choice: int | None = None) -> None:
        """``provider`` answered the session, though the answer says nothing of its health (its table is cut
        from config.toml for now): the session stays with it, unless the user chose since (``choice``)."""
        if self._affinity is not None and (choice is None or choice == self._s.choice):
            self._affinity.bind(session_id, provider)

    def record_failover(self, cfg: Config, provider: str, failures: Sequence[Failure], *, choice: int | None = None,
                        took_s: float = 0.0) -> bool:
        """A stream's output began reaching its client from ``provider`` after the providers before it failed
        (``failures``): it serves from now on — the status and the route event say so now, not when a long
        answer ends. Arguments as ``record_success``'s; returns whether the route is ``provider``'s (for
        ``record_success``'s ``route_taken``)."""
        counted = [Failure(f.provider, self._redact(f.error)) for f in failures if f.health]
        if not counted or (choice is not None and choice != self._s.choice):
            return False
        now = self._clock()
        with self._lock:
            if self._s.active == provider:
                return True
            if self._health(provider).asked_before_failing(now - took_s):
                return False
            self._s.down = ()
            change = self._route_to(cfg, provider, counted)
        self._emit(change[2], Kind.ROUTE, change[1].render(cfg.name_of), provider)
        return True

    def _failed_again(self, cfg: Config, provider: str, h: Health, error: str, status: int | None) -> None:
        """A check found ``provider`` failing with ``error`` (and ``status``); ``_lock`` held."""
        h.last_error, h.last_status = error, status
        if self._s.down:
            self._s.down = tuple(replace(f, error=error, status=status) if f.provider == provider else f
                                 for f in self._s.down)
        self._reason_follows(cfg, provider, error)

    def _reason_follows(self, cfg: Config, provider: str, error: str) -> None:
        """The serving provider's reason is the preferred provider's latest failure; ``_lock`` held."""
        if self._serving_instead_of(cfg, provider):
            self._s.active_reason = _listed([Failure(provider, error)])

    def quota_back(self, cfg: Config, provider: str) -> None:
        """A usage check shows ``provider`` has quota again: a fallback serving in its place no longer gives
        the spent quota as the reason (routing takes it again, if nothing else holds it back)."""
        with self._lock:
            if self._serving_instead_of(cfg, provider) and self._s.active_reason.mentions(provider):
                self._s.active_reason = self._why_not(cfg, provider)

    def _serving_instead_of(self, cfg: Config, preferred: str) -> bool:
        """Whether another provider serves in place of ``preferred`` (the preferred one, not locked away
        from): the serving provider's reason is then what ``preferred`` last showed. ``_lock`` held."""
        active = self._s.active
        return (preferred == cfg.effective_preferred and active is not None and active != preferred
                and self._s.active_reason != _LOCKED)

    def _clear(self, provider: str, h: Health) -> None:
        h.consecutive_failures = 0
        h.quota_spent = False
        h.failing_since = None
        h.cooldown_until = 0.0
        h.rest_until = 0.0  # it answers: no longer rate-limiting
        h.unresponsive_since = None
        h.out_since = None
        self._unresponsive.discard(provider)

    def _route_change(self, cfg: Config, previous: str | None, provider: str,
                      failures: Sequence[Failure]) -> tuple[Phrase, Phrase, Level]:
        """The serving provider's new reason, the route event's message and the event's level."""
        serving = Mention(provider)
        if cfg.routing.manual_override == provider:
            return _LOCKED, say("Serving from {} ({})", serving, LOCKED), Level.INFO
        preferred = cfg.effective_preferred
        if provider == preferred:
            if previous is None or previous not in cfg.providers:
                return _PREFERRED, say("Serving from preferred provider {}", serving), Level.INFO
            # The stable window is the reason only when the preferred provider had failed before it.
            last_fail = self._health(provider).last_fail_at
            stable = cfg.routing.preferred_stable_seconds
            why = f" (no failure for {stable:g} s)" if last_fail is not None and \
                self._clock() - last_fail >= stable else ""
            return _PREFERRED, say("Back to preferred provider {} from {}{}", serving, Mention(previous), why), \
                Level.INFO
        source = previous if previous is not None else (failures[0].provider if failures else None)
        because = _listed(failures, unnamed=source)  # the event's prefix names the source
        if not because:
            because = self._why_not(cfg, cause=source or preferred)
        prefix = say("Failover from {} to {}", Mention(source), serving) if source else say("Failover to {}", serving)
        # The serving provider's reason stands alone (status, tray, notification): why the preferred provider
        # does not serve — how it failed in this request, or what it last failed with.
        return self._instead_of(cfg, preferred, failures) or because, say("{}: {}", prefix, because), Level.WARNING

    def _instead_of(self, cfg: Config, preferred: str | None, failures: Sequence[Failure]) -> Phrase | None:
        """Why ``preferred`` does not serve, for the serving provider's reason: how it failed in this
        request — or, not asked, what it last failed with — then what the others asked met; ``_lock`` held."""
        if preferred is None or any(f.provider == preferred for f in failures):
            ordered = sorted(failures, key=lambda f: f.provider != preferred)  # the preferred one first
            return _listed(ordered) if ordered else None
        h = self._s.health.get(preferred)
        if h is not None and h.last_error and (h.consecutive_failures or h.unresponsive_since is not None):
            lead = say("{}: {}", Mention(preferred), h.last_error)
        else:
            lead = self._why_not(cfg, preferred)
        return joined("; ", [lead, _listed(failures)]) if failures else lead

    def _why_not(self, cfg: Config, cause: str | None) -> Phrase:
        """Why ``cause`` (the provider that served, or the preferred one) does not serve, from its health."""
        if cause is None:
            return say("the preferred provider unavailable")
        who = Mention(cause)
        h = self._s.health.get(cause)
        if h is not None and h.unresponsive_since is not None:
            return say("{} is not answering", who)
        if h is not None and h.cooldown_until > self._clock():
            return say("{} is cooling down", who)
        if spent := self._skip(cause):  # its usage reading says it has nothing left
            return say("{}: {}", who, spent)
        if h is not None and h.last_error:
            return say("{} not yet stable after: {}", who, h.last_error)
        preferred = cause == cfg.effective_preferred
        if h is not None and h.last_fail_at is not None and preferred and not cfg.routing.auto_return_to_preferred:
            # However long it stays stable, traffic does not go back to it by itself.
            return say("{} answers again; automatic return to the preferred provider is off", who)
        if preferred and self._preferred_ready(cfg, cause, self._clock()):
            return say("{} can serve again", who)  # (a session bound elsewhere stays there)
        if h is not None and h.last_fail_at is not None:
            return _not_yet_stable(cause)
        if preferred and not cfg.routing.auto_return_to_preferred:  # nothing known against it (a new key)
            return say("automatic return to the preferred provider is off: {} serves once you pick it", who)
        return say("{} unavailable", who)

    def record_failure(self, cfg: Config, provider: str, error: str, retry_after: float | None = None,
                       *, unresponsive: bool = False, status: int | None = None,
                       session_id: str | None = None, quota_spent: bool = False, took_s: float = 0.0) -> None:
        """A provider failure. ``unresponsive``: it did not answer in time, so it leaves rotation at once
        (whatever the failure threshold) until a background check gets an answer from it. A session it
        failed (``session_id``) is no longer held to it. ``took_s``: how long ago the provider was asked."""
        error = self._redact(error)
        if session_id is not None and self._affinity is not None:
            self._affinity.release(session_id, provider)
        now = self._clock()
        threshold = cfg.routing.failure_threshold
        with self._lock:
            h = self._health(provider)
            h.consecutive_failures += 1
            h.last_error, h.last_status, h.quota_spent = error, status, quota_spent
            h.last_fail_at, h.last_fail_asked_at = now, _latest(h.last_fail_asked_at, now - took_s)
            h.last_request_fail_at = now
            h.failing_since = h.failing_since or now
            was_cooling = h.cooldown_until > now
            was_in = h.unresponsive_since is None and not was_cooling
            cooldown = 0.0
            # What it asks now is what counts; a hang asks nothing (it is checked as every provider not answering).
            _note_rest(h, now - took_s, now, None if unresponsive else retry_after)
            if retry_after is not None:
                cooldown = _cooldown_asked(cfg, retry_after)
            elif h.consecutive_failures >= threshold and not unresponsive:
                cooldown = cfg.routing.cooldown_seconds
            if cooldown > 0:
                h.cooldown_until = max(h.cooldown_until, now + cooldown)
                self._cooling_ends = max(self._cooling_ends, h.cooldown_until)
            newly_unresponsive = unresponsive and h.unresponsive_since is None
            if unresponsive:
                h.unresponsive_since = h.unresponsive_since or now
                self._unresponsive.add(provider)
            if was_in and (cooldown > 0 or unresponsive):
                h.out_since = now
            failures = h.consecutive_failures
            self._reason_follows(cfg, provider, error)
            tell_cooldown = cooldown > 0 and _cooldown_news(cfg, h, was_cooling, asked=retry_after is not None)
        name = cfg.name_of(provider)
        self._emit(Level.WARNING, Kind.PROVIDER_FAILURE, f"{name} failed ({failures} in a row): {error}", provider)
        if newly_unresponsive:
            self._emit(Level.WARNING, Kind.UNRESPONSIVE,
                       f"{name} did not answer in time; it is out of rotation until a "
                       "background check gets an answer from it", provider)
            for listener in self.unresponsive_listeners:
                listener(provider)
        if tell_cooldown:  # asked again while cooling (the last resort) and failing: it starts over, untold
            in_a_row = f"{failures} failure{'s' if failures != 1 else ''} in a row"
            cause = "Retry-After" if retry_after is not None else in_a_row
            # A routine cooldown is a warning: the next provider serves meanwhile.
            self._emit(Level.WARNING, Kind.COOLDOWN, f"{name} cooling down for {for_a_person(cooldown)} ({cause})",
                       provider)

    def record_all_failed(self, failures: Sequence[Failure], explained: str, choice: int | None = None) -> None:
        """No candidate could serve a client request: the gateway is down until one succeeds.
        ``explained``: what the client was told (each provider, those passed by, the hints); ``choice``:
        the routing choice the request was planned under (None: the current one)."""
        failures = [f for f in failures if f.health]
        if not failures or (choice is not None and choice != self._s.choice):
            return  # only refusals of this kind of request (the providers serve others), or a choice since
        with self._lock:
            was_down = bool(self._s.down)
            # Merged with what earlier requests of the same outage found: a provider this one passed by
            # (cooling down) is down all the same, and stays so once its cooldown has ended.
            down = {f.provider: f for f in self._s.down}
            down.update((f.provider, Failure(f.provider, self._redact(f.error), f.status, f.retry_after))
                        for f in failures)
            self._s.down = tuple(down.values())
            self._s.down_asked = frozenset(f.provider for f in failures)
        if not was_down:
            self._emit(Level.ERROR, Kind.ALL_DOWN, self._redact(explained[:1].upper() + explained[1:]))

    def last_model(self, provider: str) -> str | None:
        with self._lock:
            h = self._s.health.get(provider)
            return h.last_model if h is not None else None

    def record_output(self, provider: str, took_s: float = 0.0) -> float:
        """``provider``'s generated output began reaching a client (a stream; its end, a success or not, is
        recorded when it comes); ``took_s``: how long ago the provider was asked. Returns when that was, for
        ``output_ended``."""
        now = self._clock()
        with self._lock:
            h = self._health(provider)
            h.last_output_at = now
            h.answering.append(now - took_s)
        return now - took_s

    def output_ended(self, provider: str, asked_at: float) -> None:
        """The stream ``record_output`` told of (asked at ``asked_at``) ended, however it ended."""
        with self._lock:
            h = self._s.health.get(provider)
            if h is not None and asked_at in h.answering:
                h.answering.remove(asked_at)

    def note_model(self, provider: str, model: str | None) -> None:
        if model:
            with self._lock:
                self._health(provider).last_model = model

    # --- background checks ------------------------------------------------------------------------------

    def needing_check(self, cfg: Config, interval: float) -> list[tuple[str, str | None]]:
        """(provider, model to ask for) of the routable providers out of rotation — not answering, or
        cooling down — or, while the gateway is down, that failed and have not answered since, whose last check (or
        whose leaving rotation, or last failure) is at least ``interval`` old. Without the last kind an
        outage would be reported until the next client request, its providers long answering again."""
        now = self._clock()
        with self._lock:
            wanted, self._checks_wanted = self._checks_wanted, False
            down = {f.provider for f in self._s.down}
            out = []
            for pid in cfg.routable:
                h = self._s.health.get(pid)
                if h is None:
                    continue
                # While the gateway is down: the providers that failed in the outage, and those that failed
                # before it (passed by as cooling down in its last request) and have not answered since.
                failed = pid in down or (bool(down) and h.consecutive_failures > 0)
                if h.unresponsive_since is None and h.cooldown_until <= now and not failed:
                    continue
                if h.rest_until > now:  # its Retry-After is honoured
                    continue
                if wanted and pid in self._unresponsive and (
                        h.last_check_at is None or now - h.last_check_at >= ON_DEMAND_CHECK_SECONDS):
                    out.append((pid, h.last_model))
                    continue
                # A failure in the outage counts from its end when a client request met it; one a check met
                # counts from when that check was asked, as every check does (a check that timed out would
                # otherwise hold the next one up by its timeout).
                since = [t for t in (h.last_check_at, h.out_since, h.last_request_fail_at if failed else None)
                         if t is not None]
                if not since or now - max(since) >= interval:
                    out.append((pid, h.last_model))
            return out

    def check_started(self, provider: str) -> None:
        with self._lock:
            self._health(provider).last_check_at = self._clock()

    def record_check(self, cfg: Config, provider: str, ok: bool, how: str, *, responses: bool = True,
                     error: str = "", status: int | None = None, took_s: float = 0.0,
                     retry_after: float | None = None) -> None:
        """A background check (``how`` = "background check"), a provider test or a probe got an answer,
        or not. An answer puts a provider that is cooling down back into rotation, and so does the
        answer to a Responses request (``responses``) for a provider that stopped answering: a relay can
        list its models (a probe) and still hang on every request. The usual return-to-preferred rules
        then apply. ``took_s``: how long ago the provider was asked; what it found is news only against
        what happened to the provider since."""
        if provider not in cfg.providers:
            return  # renamed or deleted while the check ran: its health went with the old id
        told: float | None = None  # a cooldown its Retry-After began
        with self._lock:
            h = self._health(provider)
            if ok and not responses and h.unresponsive_since is not None:
                return  # out of rotation until a Responses request gets an answer
            if not ok and h.last_answer_at is not None and self._clock() - took_s < h.last_answer_at:
                # Asked before its latest answer (checks overlap while a provider hangs): what it failed
                # with is older than that answer, which stands — its error, its stable window.
                return
            if ok and h.asked_before_failing(self._clock() - took_s):
                return  # (a check asked after that question, answering before it timed out, is news)
            was_out = h.unresponsive_since is not None or h.cooldown_until > self._clock()
            was_unhealthy = was_out or h.consecutive_failures > 0
            if ok:
                self._clear(provider, h)
                h.last_ok_at = self._clock()
                if responses:
                    h.last_answer_at = h.last_ok_at
                h.last_error = ""
                if self._serving_instead_of(cfg, provider):  # the error it answered past is no reason now
                    self._s.active_reason = self._why_not(cfg, provider)
                if self._s.down and self._s.active != provider and self._s.active_reason != _LOCKED:
                    if provider != cfg.effective_preferred and cfg.effective_lock is None and provider in cfg.routable:
                        # A fallback ends the outage: it serves, as after a failover, and the preferred
                        # provider returns by the stable window — not when its cooldown ends, unproven.
                        others = [f for f in self._s.down if f.provider != provider]
                        reason = self._route_change(cfg, None, provider, others)[0]
                        self._s.active, self._s.active_reason = provider, reason
                    elif self._s.active is not None:
                        # The provider served last failed too: the next request's pick serves now.
                        self._s.active, self._s.active_reason = None, _NO_REASON
                self._s.down = ()  # a provider answers: the gateway is not down any more
            else:
                # A check it failed is a failure like any other: traffic returns to a preferred provider
                # only after it has failed nothing for the whole stable window — and what it failed with
                # now is its error (the status, the all-down banner and the serving reason say so).
                now = h.last_fail_at = self._clock()
                h.last_fail_asked_at = _latest(h.last_fail_asked_at, now - took_s)
                h.failing_since = h.failing_since or now
                _note_rest(h, now - took_s, now, retry_after)
                if retry_after is not None:  # rate-limiting the check: as a request's 429 with a Retry-After
                    was_cooling = h.cooldown_until > now
                    cooldown = _cooldown_asked(cfg, retry_after)
                    if not was_out and cooldown > 0:
                        h.out_since = now
                    h.cooldown_until = max(h.cooldown_until, now + cooldown)
                    self._cooling_ends = max(self._cooling_ends, h.cooldown_until)
                    told = cooldown if cooldown > 0 and _cooldown_news(cfg, h, was_cooling, asked=True) else None
                if error:
                    self._failed_again(cfg, provider, h, self._redact(error), status)
        name = cfg.name_of(provider)
        if ok and was_out and provider in cfg.routable:
            self._emit(Level.INFO, Kind.RECOVERED, f"{name} answers again ({how}); back in rotation", provider)
        elif ok and was_unhealthy:  # (out of rotation and switched off meanwhile: routing still passes it by)
            self._emit(Level.INFO, Kind.RECOVERED, f"{name} answers again ({how})", provider)
        # A check that finds it still down changes nothing worth an event (it would repeat every few seconds) —
        # but a cooldown it begins or lengthens much is told, as a request's.
        if told is not None:
            self._emit(Level.WARNING, Kind.COOLDOWN, f"{name} cooling down for {for_a_person(told)} (Retry-After)",
                       provider)

    # --- user actions -------------------------------------------------------------------------------

    def lock_changed(self, cfg: Config, provider: str | None) -> None:
        with self._lock:
            # "All down" was the verdict of the routing just left; the next request judges the new one.
            self._s.down = ()
            self._s.choice += 1
            if provider:
                self._s.active, self._s.active_reason = provider, _LOCKED
            elif self._s.active_reason == _LOCKED:
                # Automatic routing decides afresh: the provider that was locked is not a failover.
                self._s.released, self._s.active, self._s.active_reason = self._s.active, None, _NO_REASON
        if self._affinity is not None:
            self._affinity.release_all()
        if provider:
            self._emit(Level.INFO, Kind.LOCK, f"Routing locked to {cfg.name_of(provider)} by user", provider)
        else:
            self._emit(Level.INFO, Kind.LOCK, "Routing lock released; automatic routing resumed")

    def preferred_changed(self, cfg: Config, reason: str = "") -> None:
        """The preferred provider changed (the user picked one, or "first in list" moved): any sticky
        fallback ends, every session follows, and it is tried first."""
        provider = cfg.effective_preferred
        with self._lock:
            self._s.choice += 1
            # Under a lock the locked provider goes on serving: no change of the serving provider to tell.
            locked_serving = cfg.effective_lock is not None and self._s.active == cfg.effective_lock
            if self._s.active != provider and not locked_serving:
                self._s.active, self._s.active_reason = None, _NO_REASON
            elif self._s.active_reason != _LOCKED:  # the fallback serving is the preferred one now
                self._s.active_reason = _PREFERRED
        if self._affinity is not None:
            self._affinity.release_all()
        if provider is None:
            return
        chosen = cfg.routing.preferred_provider
        unservable = chosen_cannot_serve(cfg)
        if not reason and unservable:
            self._emit(Level.INFO, Kind.ROUTE, unservable, provider)
            return
        how = f" ({reason})" if reason else (" (first in list)" if not chosen else "")
        self._emit(Level.INFO, Kind.ROUTE, f"Preferred provider set to {cfg.name_of(provider)}{how}", provider)

    def reset_health(self, provider: str) -> None:
        with self._lock:
            self._drop_health(provider)

    def _drop_health(self, provider: str) -> None:
        self._s.health.pop(provider, None)
        self._unresponsive.discard(provider)

    def readdressed(self, provider: str) -> None:
        """A new address or key: its health and how fast its streams start are to be learnt again (and a
        serving reason that quoted its failure no longer holds)."""
        self.reset_health(provider)
        self.first_events.forget(provider)
        with self._lock:
            if self._s.active != provider and self._s.active_reason.mentions(provider):
                self._s.reason_stale = True

    def evidence_changed(self) -> None:
        """A setting the serving reason rests on changed (automatic return to the preferred provider)."""
        with self._lock:
            self._s.reason_stale = True

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            if old in self._s.health:
                self._s.health[new] = self._s.health.pop(old)
            if old in self._unresponsive:
                self._unresponsive.discard(old)
                self._unresponsive.add(new)
            if self._s.active == old:
                self._s.active = new
            self._s.rename_in_reason(old, new)
            if self._s.released == old:
                self._s.released = new
            self._s.down = tuple(replace(f, provider=new) if f.provider == old else f for f in self._s.down)
            self._s.down_asked = frozenset(new if pid == old else pid for pid in self._s.down_asked)
        self.first_events.rename(old, new)
        if self._affinity is not None:
            self._affinity.rename(old, new)

    def close(self) -> None:
        """The app stops: what is kept for after a restart is saved (the store is still open)."""
        if self._affinity is not None:
            self._affinity.save_unsaved()

    def forget(self, provider: str) -> None:
        with self._lock:
            self._drop_health(provider)
            # Serving for a reason that names it (it failed): routing says afresh who serves and why.
            if self._s.active == provider or self._s.active_reason.mentions(provider):
                self._s.active, self._s.active_reason = None, _NO_REASON
            if self._s.released == provider:
                self._s.released = None
            # "All down" names what failed; a provider that no longer exists is not among it.
            self._s.down = tuple(f for f in self._s.down if f.provider != provider)
        self.first_events.forget(provider)
        if self._affinity is not None:
            self._affinity.forget(provider)

    # --- reporting ------------------------------------------------------------------------------------

    def why_not(self, cfg: Config, provider: str | None, name: Callable[[str | None], str]) -> str:
        """Why ``provider`` (the preferred one) does not serve, from its health, naming providers by ``name``."""
        with self._lock:
            return self._why_not(cfg, provider).render(name)

    def serving_a_fallback(self, cfg: Config) -> bool:
        """Whether traffic is kept on a provider other than the preferred one (a failover's fallback, not a
        lock) — where it stays, with automatic return off, until the user picks a provider."""
        with self._lock:
            active, reason = self._s.active, self._s.active_reason
        return active is not None and reason != _LOCKED and active != cfg.effective_preferred

    def active(self, cfg: Config, name: Callable[[str | None], str]) -> tuple[str | None, str]:
        """Who serves and why, the reason naming providers by ``name`` (their names as they are now)."""
        with self._lock:
            preferred = cfg.effective_preferred
            if preferred is not None and self._serving_instead_of(cfg, preferred) and (
                    self._s.reason_stale or self._stable_since_said(cfg, preferred)):
                self._s.active_reason = self._instead_of(cfg, preferred, ()) or self._why_not(cfg, preferred)
            active, reason = self._s.active, self._s.active_reason
        return active, reason.render(name)

    def _stable_since_said(self, cfg: Config, preferred: str) -> bool:
        """The reason says ``preferred`` is not yet stable, and its stable window has passed since — with no
        request, nothing else would say it can serve again. ``_lock`` held."""
        return self._s.active_reason == _not_yet_stable(preferred) and \
            self._preferred_ready(cfg, preferred, self._clock())

    @property
    def down(self) -> tuple[Failure, ...]:
        with self._lock:
            return self._s.down

    @property
    def down_asked(self) -> frozenset[str]:
        """Which providers of ``down`` the outage's last request asked (the others it passed by)."""
        with self._lock:
            return self._s.down_asked.intersection(f.provider for f in self._s.down)  # none once it ended

    def available(self, cfg: Config) -> list[str]:
        """Routable providers in rotation right now (not cooling down, not unresponsive)."""
        now = self._clock()
        with self._lock:
            return [pid for pid in cfg.routable if self._available(pid, now)]

    def outside_the_outage(self, cfg: Config) -> list[str]:
        """While the gateway is down: the providers in rotation that took no part in the outage — added or
        switched on since, never failing — which the next request goes to (the outage is no verdict on
        them). Empty when it is not down; under a lock, only the locked provider may be one."""
        now = self._clock()
        with self._lock:
            return self._outside_the_outage_locked(cfg, now)

    def _outside_the_outage_locked(self, cfg: Config, now: float) -> list[str]:
        if not self._s.down:
            return []
        lock = cfg.effective_lock
        part = {f.provider for f in self._s.down}
        return [pid for pid in ([lock] if lock else cfg.routable) if pid not in part and self._available(pid, now)
                and ((h := self._s.health.get(pid)) is None or h.consecutive_failures == 0)
                and self._skip(pid) is None]  # one out of quota takes no request either

    def first_back(self, among: Sequence[str]) -> tuple[str, float] | None:
        """(provider, seconds) of the one among ``among`` whose cooldown ends first. A provider that
        stopped answering is left out: it comes back with a check, not with time; so is one whose quota
        is used up (no wait brings a quota back)."""
        now = self._clock()
        with self._lock:
            waits = [(h.cooldown_until - now, pid) for pid in among
                     if (h := self._s.health.get(pid)) is not None and h.cooldown_until > now
                     and pid not in self._unresponsive and not h.quota_spent]
        if not waits:
            return None
        wait, pid = min(waits)
        return pid, wait

    def cooldown_left(self, provider: str) -> float:
        now = self._clock()
        with self._lock:
            h = self._s.health.get(provider)
            return max(0.0, h.cooldown_until - now) if h is not None else 0.0

    def last_failure(self, provider: str) -> tuple[str, int | None] | None:
        """(error, HTTP status) of what the provider last failed with, while it has not served since."""
        with self._lock:
            h = self._s.health.get(provider)
            if h is None or not (h.consecutive_failures or h.unresponsive_since is not None) or not h.last_error:
                return None
            return h.last_error, h.last_status

    def out_of_rotation(self, cfg: Config, *, asked: Collection[str] = ()) -> dict[str, str]:
        """Why each routable provider that automatic routing passes by is passed by, leaving out the
        ``asked`` ones (those whose own failure the caller already reports): the providers not asked."""
        now = self._clock()
        out: dict[str, str] = {}
        with self._lock:
            for pid in cfg.routable:
                if pid in asked:
                    continue
                h = self._s.health.get(pid)
                if pid in self._unresponsive:
                    out[pid] = "not answering"
                elif h is not None and h.cooldown_until > now:
                    out[pid] = f"cooling down for {for_a_person(h.cooldown_until - now)} more"
        for pid in cfg.routable:
            reason = self._skip(pid) if pid not in asked else None
            if reason and pid not in out:
                out[pid] = reason  # says itself what is spent ("quota exhausted: remaining 0")
        return out

    def health_json(self, cfg: Config) -> dict[str, dict[str, Any]]:
        now = self._clock()
        to_wall = self._wall() - now

        def _ms(t: float | None) -> int | None:
            return None if t is None else int((t + to_wall) * 1000)

        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for pid, p in cfg.providers.items():
                h = self._s.health.get(pid) or Health()
                cooling = h.cooldown_until > now
                if p.disabled:
                    status = ProviderHealth.DISABLED
                elif h.unresponsive_since is not None:
                    status = ProviderHealth.UNRESPONSIVE
                elif cooling:
                    status = ProviderHealth.COOLDOWN
                elif h.consecutive_failures and not h.answering_since_failing():
                    status = ProviderHealth.UNHEALTHY
                elif h.last_ok_at is not None or h.last_output_at is not None:
                    status = ProviderHealth.HEALTHY
                else:
                    status = ProviderHealth.UNKNOWN
                out[pid] = {
                    "status": status,
                    "consecutive_failures": h.consecutive_failures,
                    "cooldown_until_unix_ms": _ms(h.cooldown_until) if cooling else None,
                    "last_error": h.last_error,
                    "last_status": h.last_status if h.last_error else None,  # the HTTP status it came with
                    "last_ok_at_unix_ms": _ms(h.last_ok_at),
                    "last_output_at_unix_ms": _ms(h.last_output_at),
                    "last_fail_at_unix_ms": _ms(h.last_fail_at),
                    "failing_since_unix_ms": _ms(h.failing_since),
                    "unresponsive_since_unix_ms": _ms(h.unresponsive_since),
                    "last_check_at_unix_ms": _ms(h.last_check_at),
                    "hedge_delay_ms": round(self.first_events.delay(cfg.routing, pid) * 1000),
                }
        return out


def for_a_person(seconds: float) -> str:
    """A duration as a person reads it: seconds up to 100 s, then minutes, hours, days (a Retry-After or
    cooldown may be set as high as 1e9 s)."""
    if seconds < 100:
        return f"{max(0.0, round(seconds, 1)):g} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400):,} days"


def _not_yet_stable(provider: str) -> Phrase:
    return say("{} not yet stable after its last failure", Mention(provider))


def _listed(failures: Sequence[Failure], *, unnamed: str | None = None) -> Phrase:
    """Each failure as "<provider>: <error>"; those of ``unnamed`` (named by the text around it) as the
    error alone."""
    return joined("; ", (say("{}", f.error) if f.provider == unnamed else say("{}: {}", Mention(f.provider), f.error)
                         for f in failures))
