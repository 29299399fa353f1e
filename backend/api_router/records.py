"""What happened, as plain records: events, one client request and its upstream attempts, token usage.

The gateway fills these in while it serves; the store persists them. Nothing here knows about the
database, so the streaming code can build records without importing it.
"""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


def now_ms() -> int:
    return int(time.time() * 1000)


# Linux's clock that goes on while the machine sleeps (an idle time spent asleep is idle time too).
_STEADY_CLOCK = getattr(time, "CLOCK_BOOTTIME", None)


def _steady_ns() -> int:
    return time.clock_gettime_ns(_STEADY_CLOCK) if _STEADY_CLOCK is not None else time.monotonic_ns()


_STARTED_MS, _STARTED_STEADY_NS = now_ms(), _steady_ns()


def steady_ms() -> int:
    """Unix ms as the wall clock said when the app started, moved on since by a clock nobody sets. Idle
    times and schedules are measured on it: a wall clock set back an hour (NTP, the clock of a machine
    that also boots Windows, a time zone fixed by hand) would otherwise hold them up for that hour. Shown
    as a date only through ``wall_ms``."""
    return _STARTED_MS + (_steady_ns() - _STARTED_STEADY_NS) // 1_000_000


@dataclass(slots=True)
class Activity:
    """When the gateway last served a client request (a ``steady_ms`` time): usage refreshes and outage
    checks run in the background only while requests keep coming."""

    last_ms: int | None = None


def wall_ms(steady: int) -> int:
    """The wall clock's Unix ms for a ``steady_ms`` time: as long before now as it was."""
    return now_ms() - (steady_ms() - steady)


def steady_of(unix_ms: int, steady_now: int, wall_now: int) -> int:
    """The steady time for a saved wall-clock time: as long ago as the wall clock says, never after now
    (the clock may have been set back since it was saved)."""
    return steady_now - max(0, wall_now - unix_ms)


class Outcome(enum.StrEnum):
    """How one upstream attempt ended (stored as its value)."""

    OK = "ok"  # the client got this provider's complete answer
    PROVIDER_FAILURE = "provider_failure"  # counts against the provider; the next one may be tried
    CLIENT_ERROR = "client_error"  # the request's own fault: passed back unchanged, provider not blamed
    RETRY = "retry"  # a continuity retry on the same provider follows
    CLIENT_CLOSED = "client_closed"  # the client went away
    ABORTED = "aborted"  # the gateway shut down under it
    HEDGE_LOST = "hedge_lost"  # a hedged twin answered first; this one was cancelled


class RequestOutcome(enum.StrEnum):
    """How a client request ended, as the request log files it (stored as its value; the log's filter
    adds "failover", which is a path to an answer rather than an ending)."""

    OK = "ok"
    ERROR = "error"  # a provider's failure, or nobody answered: not the client's doing
    CLIENT_ERROR = "client_error"  # the request's own fault, whoever said so
    CLIENT_CLOSED = "client_closed"


class Retry(enum.StrEnum):
    """Why an attempt is repeated on the same provider with another body."""

    REBUILD = "rebuild"  # previous_response_id refused: replay the history instead
    STRIP_SEALED = "strip_sealed"  # sealed reasoning refused: send it without
    EXPAND_COMPACTION = "expand_compaction"  # a foreign compaction item refused: send what it summarised
    SUMMARIZE = "summarize_compaction"  # what it summarised is too long here: summarise it here first
    SHORTER_SUMMARY = "shorter_summary"  # even the summary request was too long: again without the oldest part


class Level(enum.StrEnum):
    """How much an event matters (also the level it is logged at)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Kind(enum.StrEnum):
    """What an event is about (the UI filters by it)."""

    CONFIG = "config"  # a setting, a provider, a key changed
    ROUTE = "route"  # where requests go changed
    LOCK = "lock"
    HEDGE = "hedge"
    PROVIDER_FAILURE = "provider_failure"
    COOLDOWN = "cooldown"
    UNRESPONSIVE = "unresponsive"
    RECOVERED = "recovered"
    ALL_DOWN = "all_down"
    QUOTA = "quota"
    USAGE = "usage"  # a usage check failed
    CONTINUITY = "continuity"  # conversation state carried across providers
    SECURITY = "security"
    CODEX = "codex"  # Connect Codex
    GATEWAY = "gateway"  # listening, stopping
    STORE = "store"  # the database


class EventSink(Protocol):
    def __call__(self, level: Level, kind: Kind, message: str, provider: str | None = None) -> Any: ...


@dataclass(frozen=True)
class Event:
    id: int
    unix_ms: int
    level: str  # a Level (read back from the store as its word)
    provider: str | None
    kind: str  # a Kind, likewise
    message: str

    def to_json(self, seen_up_to: int = 0) -> dict[str, Any]:
        return {**asdict(self), "seen": self.id <= seen_up_to}


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.cached_tokens + other.cached_tokens, self.reasoning_tokens + other.reasoning_tokens,
                     self.total_tokens + other.total_tokens)


@dataclass(slots=True)
class Attempt:
    provider: str
    outcome: Outcome = Outcome.PROVIDER_FAILURE
    status: int | None = None
    latency_ms: float = 0.0
    error: str = ""
    ttfb_ms: float | None = None  # from asking the provider: to the client's first byte if it served, else its answer
    hedge: bool = False  # started by the hedge timer, racing an earlier attempt
    retry: Retry | None = None  # with outcome RETRY: what the next attempt changes
    sent_model: str | None = None
    # Asked the provider for a summary of a conversation compacted elsewhere (see gateway.compaction),
    # not for the answer: its tokens count, but it is not a served request.
    summary: bool = False


@dataclass(slots=True)
class RequestRecord:
    unix_ms: int
    path: str
    stream: bool
    request_id: str = ""
    session_id: str | None = None
    model: str | None = None  # as the client asked
    sent_model: str | None = None  # as sent to the provider that served (model_map)
    provider: str | None = None  # who served it
    status: int = 0
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    usage: Usage = field(default_factory=Usage)
    error: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    request_bytes: int = 0
    response_bytes: int = 0

    def failed_over(self) -> bool:
        """Served by another provider than the one asked first, after one failed (a stream that broke on the
        provider that served it is no failover, nor a hedge that failed while the first provider went on to
        serve)."""
        attempts = self.attempts
        return self.provider is not None and bool(attempts) and attempts[0].provider != self.provider and any(
            a.outcome is Outcome.PROVIDER_FAILURE and a.provider != self.provider for a in attempts)

    def outcome(self) -> RequestOutcome:
        """How the request ended, by what the client heard and which attempt answered it."""
        if self.status == 499:
            return RequestOutcome.CLIENT_CLOSED
        # The attempt that answered: the last one of the provider the client heard (a hedge cancelled behind it
        # — lost, or late and failed — comes after it in the list).
        answered = next((a for a in reversed(self.attempts) if a.provider == self.provider), None)
        if answered is not None and answered.outcome is Outcome.CLIENT_ERROR:
            return RequestOutcome.CLIENT_ERROR  # also when the error came in-band, inside a 200 stream
        # A 408 or 429 a provider answered is its failure; the gateway's own 408 (the request body stalled)
        # asked no provider: the client's.
        if (self.error and self.status < 400) or self.status >= 500 or (
                self.status in (408, 429) and self.attempts):
            return RequestOutcome.ERROR
        if 200 <= self.status < 300:
            return RequestOutcome.OK
        return RequestOutcome.CLIENT_ERROR
