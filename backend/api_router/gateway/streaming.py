"""Reading one upstream SSE stream and relaying it to the client.

Two phases. ``first_event`` waits for the first Responses event (SSE comments such as
``: keep-alive`` never count: they prove a socket is open, not that a model is working); the hedge
timer races providers on this phase. ``relay`` then holds what arrives until the first *generated*
event — reasoning summary text, any output item or delta — so that an in-band failure reported
before it can still go to the next provider; from that event on, bytes pass through as they arrive
(whole events only). A stream that ends without ``response.completed`` is closed with a
``response.failed`` event, so a client never mistakes a truncated answer for a complete one.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import HttpVersion11, web

from api_router.gateway import sse
from api_router.gateway.classify import error_message_of_event, error_object, message_of_event
from api_router.gateway.deadlines import Deadlines, Watchdog
from api_router.gateway.errors import GATEWAY_QUITS, TooLarge
from api_router.gateway.response_objects import (
    COMPACTION_ITEM,
    closes_an_answer,
    ending_response,
    is_compaction_item,
    sealed_items,
    usage_of,
)
from api_router.gateway.upstream import ANSWER_BODY_LIMIT, clip, cut, describe_exception
from api_router.records import Usage

_CREATED_ID = re.compile(rb'"id"\s*:\s*"([^"\\]+)"')
# A stream that never produces output still has to be committed at some point — though no sooner than an
# answer read whole may grow: OpenAI echoes the request's instructions and tools in response.created and again
# in response.in_progress, megabytes each for a large request, and a failure after them is still one before
# output (committed at 8 MB, it was said to come "after output started" and nobody else was asked).
PRECOMMIT_LIMIT = ANSWER_BODY_LIMIT
DRAIN_SECONDS = 0.5  # how long the end of the body may follow response.completed

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class StreamEnd(enum.Enum):
    COMPLETED = "completed"  # the client got a complete stream
    HELD_COMPLETE = "held_complete"  # complete, and all of it held back (hold_until_end): not sent yet
    FAILED_EARLY = "failed_early"  # nothing was sent: the next provider may be tried
    BROKEN = "broken"  # output was sent, then the stream failed; the client got response.failed
    CLIENT_GONE = "client_gone"


class Ending(enum.Enum):
    """How the upstream said its stream ends, in an event: an answer (``response.completed`` or
    ``response.incomplete``) or a failure (``response.failed``, ``error``)."""

    ANSWERED = "answered"
    FAILED = "failed"


class StreamFailed(Exception):
    """The upstream stream failed before its first event (timeout, cut, end); the message says how."""


@dataclass(slots=True)
class StreamFacts:
    """What the relay learned from the events that passed."""

    generated: bool = False
    end: Ending | None = None  # None: no ending event yet
    error: str = ""  # as recorded and shown: one line, 300 characters at most
    said: str = ""  # a failure's whole words, for the client's response.failed in the gateway's words
    failure: Any = None  # the parsed failure event, for classification
    response_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    sealed: list[tuple[str, str]] = field(default_factory=list)  # (item id, kind)
    # Compaction items announced by response.output_item.done: Codex counts those, not the final
    # response's output list (an item listed only there never reaches it).
    compaction_count: int = 0
    incomplete: bool = False  # ended with response.incomplete (its reason may quote the request)


@dataclass(slots=True)
class StreamResult:
    end: StreamEnd
    response: web.StreamResponse | None = None
    error: str = ""
    ttfb_ms: float | None = None
    facts: StreamFacts = field(default_factory=StreamFacts)
    sent: int = 0  # bytes the client got
    # The request was cancelled (the client left, or shutdown) once part or all of the answer had reached
    # the client, or the answer was complete: the result stands and is recorded, then the cancellation
    # goes on.
    cancelled: bool = False
    timed_out: bool = False  # no generated event in time: the provider did not answer


class _ClientGone(Exception):
    pass


# A client that leaves a stream whose provider has sent no event for this share of the idle limit gave
# up on the provider's silence: Codex's own idle limit is 300 s, as the gateway's is by default, and it
# fires first. That is the provider's stall, judged as the gateway's cut would be — else every retry of
# the turn is sent back to it and waits the limit out again. (A user's Esc in a shorter silence, a model
# reasoning without a word, blames nobody.)
CLIENT_GAVE_UP_SHARE = 0.9


def _left_on_a_stall(result: StreamResult, watchdog: Watchdog) -> StreamResult:
    silent = watchdog.silent_for()
    if result.end is StreamEnd.CLIENT_GONE and result.response is not None and \
            silent >= CLIENT_GAVE_UP_SHARE * watchdog.limit:
        result.error = f"the client left after {silent:.0f} s without a stream event from the provider"
        result.timed_out = True
    return result


# What makes a committed chunk worth decoding: the end of the stream, a failure, or a sealed item.
# ("event: error" names a flat error event whose data may not say "error" at all; the space is optional.)
_LOOK_FOR = (b'"encrypted_content"', b"response.completed", b"response.incomplete", b"response.failed", b'"error"',
             b"event: error", b"event:error")


# Event names after which a committed stream's events need reading (an event without a Responses
# name is typed by its data, so the needles decide).
_DECISIVE_NAMES = frozenset({b"response.completed", b"response.incomplete", b"response.failed", b"error"})
_SEALED_NAME = b"response.output_item.done"


def _secrets_masked(chunk: bytes, redact: Callable[[bytes], bytes]) -> bytes:
    """``chunk`` with every secret masked where it is a relay's own words — a comment, an event name or id,
    data that is no whole Responses event (text after its JSON, a second object, JSON that does not parse, a
    type named twice: what Codex refuses as an event, and another client may show) — while the model's
    words pass as they came (``_model_words``). A read that holds no secret, the usual one, is passed on
    after one pass of masking's searches over it."""
    if redact(chunk) is chunk:
        return chunk
    parts = _LINES.split(chunk)  # line, its end, line, its end, …, what follows the last end
    data = [part.startswith(b"data:") for part in parts]
    for i in range(0, len(parts), 2):
        # One of several data lines is no event: the client reads them joined ({…}\n{…}).
        alone = not (i >= 2 and data[i - 2]) and not (i + 2 < len(parts) and data[i + 2])
        if parts[i] and not (alone and _model_words(parts[i])):
            parts[i] = redact(parts[i])
    return b"".join(parts)


_LINES = re.compile(rb"(\r\n|\r|\n)")

# The lines that make a block one a client reading Responses events cannot read: data that is no JSON
# object (a relay's early "[DONE]", "ping", an empty data line), an id or a retry, a name whose block holds no
# data ("event: ping"); and heartbeats, which the OpenAI SDKs' stream helpers and the AI SDK refuse as
# unknown events: data "{}", data typed as one ({"type": "keepalive"}), a heartbeat's name. The quick look
# finds a read holding none — the usual one — and passes it on as it is; ``_readable`` decides block by
# block for any other. Led by "\n" (every line of an LF or CRLF stream is but the first), the search skips
# ahead at C speed; a read holding a CR may end its lines with it alone, and is searched with the slower
# pattern.
_NL = rb"(?:\r\n|\r(?!\n)|\n)"  # a CRLF is one line end, never two
_HEARTBEATS = frozenset({"ping", "keepalive", "heartbeat"})
_HEARTBEAT_NAMES = frozenset(word.encode() for word in _HEARTBEATS)
# A heartbeat's type as its data writes it ("ping", "response.ping"), wherever in the data.
_BEAT_TYPES = tuple(f'{lead}{word}"'.encode() for word in sorted(_HEARTBEATS) for lead in ('"', "."))
_HEARTBEAT_SIZE = 4096  # data longer than this is no heartbeat: not parsed to find out
_BEAT = b"(?:" + b"|".join(sorted(_HEARTBEAT_NAMES)) + b")"
# A name is odd unless a data line follows it at once (a comment or a second name in between is rare enough
# to be read block by block): looking one line ahead keeps the search linear in the read, however many
# names a relay writes.
_ODD = (rb"(?:data(?::[ \t]*+(?!\{)|:[ \t]*+\{[ \t]*+\}|[\r\n]|$)|id[:\r\n]|retry[:\r\n]|event:[ \t]*+" + _BEAT
        + rb"[ \t]*+(?:[\r\n]|$)|event:[^\r\n]*+(?:" + _NL + rb"(?!data(?:[:\r\n]|$))|$))")
_ODD_FIRST_LINE = re.compile(_ODD)
_ODD_LINE = re.compile(rb"\n" + _ODD)
_ODD_LINE_ANY_END = re.compile(rb"[\r\n]" + _ODD)


def _relayed(chunk: bytes, redact: Callable[[bytes], bytes]) -> bytes:
    """A relay's bytes as the client gets them: readable (``_readable``), secrets masked."""
    return _secrets_masked(_readable(chunk), redact)


def _read_as_a_failure(ev: sse.SSEEvent) -> bool:
    """Whether clients read a failure event as one: a JSON object typed ``error`` or ``response.failed``."""
    payload = ev.json()
    return isinstance(payload, dict) and payload.get("type") in sse.FAILURE_END


def _readable(chunk: bytes) -> bytes:
    """``chunk`` with every block that is no event with a JSON object for data turned into comment lines.
    The OpenAI SDKs end a stream at ``data: [DONE]`` — a relay's early one would make a broken answer
    look finished, the gateway's ``response.failed`` unread — and fail on data that is not JSON, or on a
    name without data; Codex skips all of them. What the relay said still reaches the client, as a comment."""
    odd = _ODD_LINE_ANY_END if b"\r" in chunk else _ODD_LINE
    if odd.search(chunk) is None and _ODD_FIRST_LINE.match(chunk) is None and not _names_a_heartbeat(chunk):
        return chunk
    parts = _LINES.split(chunk)  # line, its end, line, its end, …, what follows the last end
    block: list[int] = []
    for i in range(0, len(parts), 2):
        if parts[i]:
            block.append(i)
        if not parts[i] or i == len(parts) - 1:  # a blank line, or the end, closes the block
            whole = _an_event([parts[j] for j in block])
            for j in block:
                # An id is never passed as one: the OpenAI SDKs keep the last one for good and from then on
                # take every blank line — a comment's — for an event with empty data.
                if (not whole and not parts[j].startswith(b":")) or parts[j].startswith(b"id:"):
                    parts[j] = b": " + parts[j]
            block = []
    return b"".join(parts)


def _names_a_heartbeat(chunk: bytes) -> bool:
    """Whether ``chunk`` may hold a heartbeat's type, wherever its data names it ({"n": 3, "type":
    "keepalive"}): three short searches, then the exact six only when one finds something ("typing" ends as
    "ping" does)."""
    return (b'ping"' in chunk or b'alive"' in chunk or b'beat"' in chunk) and any(w in chunk for w in _BEAT_TYPES)


def _an_event(lines: list[bytes]) -> bool:
    """Whether a block's lines are an event a client reads: its data (its data lines joined, as clients
    join them) begins as a JSON object that is no heartbeat — by its type, the last it names, as JSON
    readers take it — or it has no data and no field a client would dispatch it for (comments, a relay's
    words)."""
    name, data, dispatched = b"", [], False
    for line in lines:
        if line.startswith(b"data:") or line == b"data":  # a bare "data" is an empty one
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            name = line[6:].strip(b" \t")
        dispatched = dispatched or line.startswith((b"event:", b"id:", b"retry:"))
    if not data:
        return not dispatched
    joined = b"\n".join(data)
    if not joined.lstrip(b" \t\r\n").startswith(b"{"):
        return False
    if len(joined) > _HEARTBEAT_SIZE:
        return True
    try:
        payload = orjson.loads(joined)
    except orjson.JSONDecodeError:  # begins as an object: passed as it came, as the quick look passes it
        return True
    if not isinstance(payload, dict):
        return True
    kind = payload.get("type")
    if not payload or (isinstance(kind, str) and kind.removeprefix("response.") in _HEARTBEATS):
        return False
    return not (name in _HEARTBEAT_NAMES and kind is None)  # {"ts": 1} under "event: ping"


def _model_words(line: bytes) -> bool:
    """Whether ``line`` is the data of a whole Responses event: one JSON object whose type — the last one it
    names, as JSON readers take it — is a Responses event's, and not a failure's, and that carries no error
    of its own (a client shows an event's ``error`` as one: its message is a relay's words)."""
    if not line.startswith(b"data:"):
        return False
    try:
        payload = orjson.loads(line[5:])
    except orjson.JSONDecodeError:
        return False
    if not isinstance(payload, dict) or payload.get("error"):
        return False
    kind = payload.get("type")
    return isinstance(kind, str) and kind in sse.RESPONSES_EVENT_TYPES and kind not in sse.FAILURE_END


def _usual_event(chunk: bytes) -> bytes | None:
    """The name of the usual read of a committed stream — one named Responses event ("event: …",
    "data: …", blank line) whose data says it is what its name says, and that decides nothing (no end,
    no failure, no sealed item): it is passed on unread, the data of a delta not searched at all. None
    for any other read (other names do not say what the data is)."""
    if not chunk.startswith(b"event: response."):
        return None
    nl = chunk.find(b"\n")
    if chunk.find(b"\n", nl + 1) != len(chunk) - 2 or not chunk.endswith(b"\n\n"):
        return None
    name = chunk[7:nl]
    if name in _DECISIVE_NAMES or name not in sse.RESPONSES_EVENT_TYPES_BYTES \
            or (name == _SEALED_NAME and b'"encrypted_content"' in chunk) \
            or name.endswith(b" ") or not _typed_as_named(chunk, nl + 1, name):
        return None
    return name


def _worth_reading(chunk: bytes) -> list[sse.SSEEvent]:
    """The events of a committed read (not ``_usual_event``) that can carry what must be recorded or
    judged, decoded. One named event that decides is decoded as it is; any other read is searched for
    the needles once."""
    nl = chunk.find(b"\n") if chunk.startswith(b"event: ") else -1
    if nl > 0 and chunk.find(b"\n", nl + 1) == len(chunk) - 2 and chunk.endswith(b"\n\n"):
        name = chunk[7:nl]
        if name in _DECISIVE_NAMES or (name == _SEALED_NAME and b'"encrypted_content"' in chunk):
            event = sse.parse_block_lf(chunk[:-2])
            if event is None:
                return []
            event.start, event.end = 0, len(chunk)
            return [event]
    return sse.events_with(chunk, _LOOK_FOR)


def _typed_as_named(chunk: bytes, at: int, name: bytes) -> bool:
    """Whether the data line at ``at`` starts ``{"type":"<name>"`` (a space after the colon or not): an
    event whose data says it is another (a failure under a delta's name) is read, as Codex reads it."""
    if not chunk.startswith(b'data: {"type":', at):
        return False
    at += 14
    if chunk[at:at + 1] == b" ":
        at += 1
    end = at + 1 + len(name)
    return chunk[at:at + 1] == b'"' and chunk.startswith(name, at + 1) and chunk[end:end + 1] == b'"'


_SAID_LIMIT = 1000  # characters of a relay's own failure text (not JSON) kept for the client


def _inspect(ev: sse.SSEEvent, facts: StreamFacts) -> None:
    """Learn from one event with a scan for the few types that matter; only the rare events that carry
    what must be recorded (sealed items, the final response, a failure) are parsed. The first ending
    event decides how the stream ends: nothing after it is looked at (or relayed)."""
    if facts.end is not None:
        return
    kind = ev.type
    if kind in sse.PREAMBLE:
        if kind == "response.created" and facts.response_id is None:
            m = _CREATED_ID.search(ev.data)
            try:
                facts.response_id = m.group(1).decode() if m else None
            except UnicodeDecodeError:  # not UTF-8, so not JSON a client could read: a broken stream
                facts.end = Ending.FAILED
                facts.error = "the provider's response.created event is not UTF-8"
        return
    if kind in sse.ANSWER_END:
        payload = ev.json()
        response, failed = ending_response(payload)
        if failed:
            # A failure under an answer's name (as a failed JSON answer is one): masked, never taken
            # for an answer.
            facts.end = Ending.FAILED
            facts.failure = payload
            facts.said = message_of_event(payload)
            facts.error = error_message_of_event(payload)
            return
        if not closes_an_answer(response):  # no end to Codex: the stream goes on, to end without one
            facts.error = f"the stream's {kind} event carries no response object"
            return
        facts.generated = True
        facts.end = Ending.ANSWERED
        # Under its own name or an answer's: the status says what it is (its reason may quote the request).
        facts.incomplete = kind == "response.incomplete" or response.get("status") == "incomplete"
        facts.usage = usage_of(response)
        facts.response_id = response["id"] or facts.response_id
        output = response.get("output")
        if isinstance(output, list):
            known = {item for item, _ in facts.sealed}
            facts.sealed.extend(s for s in sealed_items(output) if s[0] not in known)
        return
    if kind in sse.FAILURE_END:
        facts.end = Ending.FAILED
        facts.failure = ev.failure()
        said = ev.data.strip() if facts.failure is None else b""  # not JSON: the relay's own words
        # (cut as clip cuts: a key the cut falls in is left out whole, not shown in part)
        facts.said = clip(said.decode("utf-8", "replace"), _SAID_LIMIT) if said else message_of_event(facts.failure)
        facts.error = clip(facts.said) or error_message_of_event(facts.failure)
        return
    if not kind.startswith(sse.GENERATED_PREFIXES) or kind not in sse.RESPONSES_EVENT_TYPES:
        return  # unknown or unreadable: passed on, but it neither commits nor ends the stream
    facts.generated = True
    if kind == "response.output_item.done" and (b'"encrypted_content"' in ev.data or (
            b"compaction" in ev.data and COMPACTION_ITEM.search(ev.data))):
        payload = ev.json()
        item = payload.get("item") if isinstance(payload, dict) else None
        facts.sealed.extend(sealed_items([item]))
        if is_compaction_item(item):
            facts.compaction_count += 1


async def drain(chunks: AsyncIterator[bytes], deadlines: Deadlines, timeout: float = DRAIN_SECONDS) -> bool:
    """Read what follows a stream's end event (never relayed: the first end decides) until the body ends,
    for at most ``timeout``; True when it ended (the connection can go back to the pool)."""
    try:
        with deadlines.timeout(timeout):
            async for _ in chunks:
                pass
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False
    return True


class UpstreamStream:
    def __init__(self, resp: aiohttp.ClientResponse, deadlines: Deadlines,
                 redact: Callable[[bytes], bytes], *, may_be_whole: bool = False) -> None:
        """``may_be_whole``: the body is labelled as something else (text/plain, say) and may be a whole
        answer after all; what ``first_event`` reads is kept until an event shows it is a stream."""
        self._resp = resp
        self._deadlines = deadlines
        self._redact = redact
        self._decoder = sse.SSEDecoder()
        self._chunks: AsyncIterator[bytes] = resp.content.iter_any().__aiter__()
        # Read by first_event, not relayed yet: complete events as bytes, with their decoded events
        # (None: LF-only bytes not decoded yet, see ``_take``).
        self._buffered: list[tuple[bytes, list[sse.SSEEvent] | None]] = []
        self._held: list[bytes] = []
        self._held_size = 0
        self.facts = StreamFacts()
        self.drained = False  # the body was read to its end: the connection can go back to the pool
        self.given_up = False  # another request found the provider not answering (see ``give_up``)
        self._unanswered: Callable[[], None] | None = None  # while relay waits for a first generated event
        self.on_output: Callable[[], None] | None = None  # called once the relay read the first generated event
        # Called once, just before the end of what the client gets leaves for it (a complete answer, or an
        # error the provider reported in-band; not while it is held to be judged): what the client's next
        # request depends on is recorded then, not when the provider ends its body — which a relay may keep
        # open for a while (a late [DONE]) as the next turn comes.
        self.on_answer_out: Callable[[], None] | None = None
        # Called with the sealed items of each read that reached the client while the stream goes on: Codex
        # keeps an item the moment it is done, and a fork (or its retry after the app was killed) carries
        # it before this stream ends.
        self.on_sealed_out: Callable[[list[tuple[str, str]]], None] | None = None
        self._sealed_told = 0
        self._read: list[bytes] | None = [] if may_be_whole else None
        self._read_size = 0
        self.whole_body: bytes | None = None  # a body kept that way that ended with no event: all of it

    async def first_event(self, timeout: float, limit: float) -> None:
        """Read until a complete Responses event has arrived (at most ``timeout``, what is left of the
        request's ``limit``); raises StreamFailed otherwise."""
        try:
            with self._deadlines.timeout(timeout, f"no response within {limit:g} s"):
                while True:
                    try:
                        chunk = await anext(self._chunks)
                    except StopAsyncIteration:
                        forward, events = self._decoder.finish()  # a last line ended by the CR it ended on
                        if any(map(sse.is_progress, events)):
                            self._buffered.append((forward, events))
                            return
                        if self._read is not None:
                            self.whole_body = b"".join(self._read)
                        raise StreamFailed("the stream ended before any event") from None
                    if self._read is not None:
                        self._keep(chunk)
                    whole = self._decoder.cut(chunk)
                    if whole is None:  # CR line ends: the general decoder
                        forward, events = self._decoder.feed(chunk)
                        self._buffered.append((forward, events))
                        found = any(map(sse.is_progress, events))
                    else:
                        self._buffered.append((whole, None))
                        found = sse.carries_progress(whole)
                    if found:
                        self._read = None
                        return
        except (aiohttp.ClientError, OSError, TimeoutError, TooLarge) as exc:  # EventTooLarge among them
            raise StreamFailed(describe_exception(exc, limit)) from exc

    def _output_begun(self, unanswered: Watchdog | None) -> None:
        if unanswered is not None:
            unanswered.stop()
        if self.on_output is not None:
            told, self.on_output = self.on_output, None
            told()

    def _answer_out(self) -> None:
        if self.on_answer_out is not None:
            told, self.on_answer_out = self.on_answer_out, None
            told()

    def _sealed_out(self, out: _ClientSide) -> None:
        sealed = self.facts.sealed
        if len(sealed) > self._sealed_told and out.response is not None and self.on_sealed_out is not None:
            new, self._sealed_told = sealed[self._sealed_told:], len(sealed)
            self.on_sealed_out(new)

    def _keep(self, chunk: bytes) -> None:
        assert self._read is not None
        self._read.append(chunk)
        self._read_size += len(chunk)
        if self._read_size > ANSWER_BODY_LIMIT:
            raise TooLarge(f"the provider's answer is larger than {ANSWER_BODY_LIMIT // (1024 * 1024)} MB")

    async def relay(self, request: web.Request, *, headers: dict[str, str], started: float, idle_timeout: float,
                    hold_until_end: bool, shutting_down: Callable[[], bool],
                    answer_within: tuple[float, float] | None = None) -> StreamResult:
        """Relay the rest. ``hold_until_end``: commit nothing before the stream completed (a
        compaction request must be judged whole). ``answer_within``: (seconds left, the limit they are
        left of) for the first generated event — a relay's instant ``response.created`` followed by
        silence (or keep-alives) is no answer, however long the idle limit."""
        watchdog = self._deadlines.watchdog(functools.partial(cut, self._resp), idle_timeout)
        out = _ClientSide(request, headers, started, idle=watchdog)
        watchdog.start()
        unanswered = self._await_answer(out, answer_within)
        problem = ""
        try:
            await self._pump(out, watchdog, unanswered, hold_until_end)
        except _ClientGone:
            return _left_on_a_stall(self._gone(out), watchdog)
        except asyncio.CancelledError:
            if not out.reached:
                raise  # nothing reached the client: nothing of this answer is in its history
            # The client left mid-answer (Codex's Esc; its leaving cancels the request): what it got is
            # recorded — who served it, the sealed items that passed — then the cancellation goes on.
            result = self._gone(out)
            result.cancelled = True
            if shutting_down():  # the gateway's own cut: no one gave up on anyone
                result.error = GATEWAY_QUITS
                return result
            return _left_on_a_stall(result, watchdog)
        except (aiohttp.ClientError, ConnectionError, OSError, sse.EventTooLarge) as exc:
            problem = describe_exception(exc, idle_timeout)
        finally:
            watchdog.stop()
            self._unanswered = None
            if unanswered is not None:
                unanswered.stop()
        return await self._ended(out, hold_until_end, problem, watchdog, unanswered, answer_within,
                                 idle_timeout, shutting_down())

    def _await_answer(self, out: _ClientSide, answer_within: tuple[float, float] | None) -> Watchdog | None:
        """An absolute deadline (never touched) for the first generated event, or None."""
        if answer_within is None or self.facts.generated:
            return None
        facts = self.facts

        def no_answer() -> None:  # judged when it fires: the answer may be on its way to the client
            if out.response is None and not facts.generated:
                cut(self._resp)

        unanswered = self._deadlines.watchdog(no_answer, answer_within[0])
        unanswered.start()
        self._unanswered = no_answer
        return unanswered

    async def _pump(self, out: _ClientSide, watchdog: Watchdog, unanswered: Watchdog | None,
                    hold_until_end: bool) -> None:
        """What ``first_event`` kept, then the upstream's reads, to the client until the stream ends."""
        facts = self.facts
        for forward, buffered_events in self._buffered:
            if await self._take(out, forward, buffered_events, hold_until_end):
                if facts.generated:  # its output began and ended in the reads kept so far
                    self._output_begun(unanswered)
                return
            await out.flush()
            self._sealed_out(out)
        self._buffered.clear()
        if facts.generated:
            self._output_begun(unanswered)
        decoder = self._decoder
        async for chunk in self._chunks:
            whole = decoder.cut(chunk)
            if whole is None:  # CR line ends: the general decoder
                forward, events = decoder.feed(chunk)
                if any(map(sse.is_progress, events)) or decoder.event_under_way:
                    watchdog.touch()
                ended = await self._step(out, forward, events, hold_until_end)
            elif not whole:
                if decoder.event_under_way:  # more of a long event: its data is still coming
                    watchdog.touch()
                continue
            else:
                if out.response is not None and _usual_event(whole) is not None:
                    watchdog.touch()  # a Responses event (a heartbeat's name, response.ping, is none)
                    await out.write(_secrets_masked(whole, self._redact))  # one event, as usual: on
                    continue
                if sse.carries_progress(whole):
                    watchdog.touch()  # comments and heartbeats are not progress: only events are
                if out.response is None:
                    ended = await self._take(out, whole, None, hold_until_end)
                elif worth := _worth_reading(whole):
                    ended = await self._step(out, whole, worth, hold_until_end)
                else:  # committed, and nothing inside matters but a relay's words, masked
                    await out.write(_relayed(whole, self._redact))
                    continue
            if facts.generated:  # also when the same read ended the stream
                self._output_begun(unanswered)
            if ended:
                return
            await out.flush()  # what this read brought, before the next read is awaited
            self._sealed_out(out)
        # The upstream's end: a CR it ended on ends a line (it can no longer start a CRLF).
        forward, events = decoder.finish()
        if events:
            await self._step(out, forward, events, hold_until_end)

    async def _ended(self, out: _ClientSide, hold_until_end: bool, problem: str, watchdog: Watchdog,
                     unanswered: Watchdog | None, answer_within: tuple[float, float] | None,
                     idle_timeout: float, shutting_down: bool) -> StreamResult:
        """The stream's end as the client gets it: answered, failed as the provider said, or broken."""
        facts = self.facts
        if facts.end is Ending.ANSWERED:
            return await self._last_steps(out, self._complete(out, hold_until_end), holding=hold_until_end)
        if facts.end is Ending.FAILED:
            if out.response is None:
                return StreamResult(StreamEnd.FAILED_EARLY, None, facts.error, None, facts)
            try:
                await out.finish()  # with the failure event itself, relayed as it came
            except _ClientGone:
                return self._gone(out)
            return StreamResult(StreamEnd.BROKEN, out.response, f"stream failed after output started: {facts.error}",
                                out.ttfb_ms, facts, out.sent)
        code = "upstream_stream_error"
        if shutting_down:
            problem, code = GATEWAY_QUITS, "gateway_shutdown"
        elif unanswered is not None and unanswered.expired and answer_within is not None and out.response is None \
                and not facts.generated:
            return StreamResult(StreamEnd.FAILED_EARLY, None, f"no answer within {answer_within[1]:g} s (only "
                                "response.created / in_progress, then nothing)", None, facts, timed_out=True)
        elif self.given_up and out.response is None and not facts.generated:
            return StreamResult(StreamEnd.FAILED_EARLY, None, "no answer (only response.created / in_progress) "
                                "while another request found the provider not answering", None, facts)
        elif watchdog.expired:
            problem = f"no stream event within {idle_timeout:g} s"
        elif not problem:
            problem = facts.error or "stream ended before response.completed"
        # Silent past the idle limit (or heartbeats only), before output or after it: the provider did not
        # answer in time, and leaves rotation until a check gets an answer — else the client's retry of
        # the turn would be sent to it again and wait out the same limit.
        silent = watchdog.expired and code != "gateway_shutdown"
        if out.response is None:
            return StreamResult(StreamEnd.FAILED_EARLY, None, problem, None, facts, timed_out=silent)
        reason = problem if code == "gateway_shutdown" else f"upstream stream broke after output started: {problem}"
        out.stage(sse.failure_event(reason, code, facts.response_id, out.next_sequence()))
        await out.finish_quietly()
        return StreamResult(StreamEnd.BROKEN, out.response, reason, out.ttfb_ms, facts, out.sent, timed_out=silent)

    async def _complete(self, out: _ClientSide, hold_until_end: bool) -> StreamResult:
        """The answer is complete: the rest of it to the client, and the end of the stream."""
        # After response.completed the chunked body's end is usually a moment away; the client's end of
        # stream follows it, as through any proxy, and the connection can be reused. When that end has
        # already arrived, the last events leave together with the client's end of stream (one write);
        # otherwise the client gets them now, not after the drain.
        if out.response is not None or not hold_until_end:
            self._answer_out()
        if not self._resp.content.is_eof():
            await out.flush()
        await self._drain()
        if out.response is None and hold_until_end:
            return StreamResult(StreamEnd.HELD_COMPLETE, None, "", None, self.facts)
        if out.response is None:
            await out.commit(self._take_held())
        await out.finish()
        return StreamResult(StreamEnd.COMPLETED, out.response, "", out.ttfb_ms, self.facts, out.sent)

    async def _last_steps(self, out: _ClientSide, steps: Coroutine[Any, Any, StreamResult], *,
                          holding: bool = False) -> StreamResult:
        """Deliver what is left; a client that leaves meanwhile ends it. Once the provider's answer is
        complete, even the request's cancellation (the client closing its connection cancels it) does
        not undo that: the result is recorded, then the cancellation goes on. ``holding``: the answer
        is held until it is whole (it is judged before any of it is sent)."""
        try:
            return await steps
        except _ClientGone:
            return self._gone(out, holding)
        except asyncio.CancelledError:
            if self.facts.end is not Ending.ANSWERED:
                raise
            result = self._gone(out, holding)
            result.cancelled = True
            return result

    def give_up(self) -> None:
        """Another request found this stream's provider not answering: a relay still waiting for its first
        generated event stops waiting (nothing reached the client yet: the next provider is asked)."""
        if self._unanswered is not None:
            self.given_up = True
            self._unanswered()

    async def _drain(self) -> None:
        self.drained = await drain(self._chunks, self._deadlines, DRAIN_SECONDS)

    async def _take(self, out: _ClientSide, whole: bytes, events: list[sse.SSEEvent] | None,
                    hold_until_end: bool) -> bool:
        """Handle complete events; ``events`` None: LF-only bytes, decoded here only as far as needed.
        Before the commit, events are looked at one by one up to the one that commits (or ends) the
        stream; after it, only the events that can carry what must be recorded or judged are decoded.
        True when the stream has ended."""
        if events is not None:
            return await self._step(out, whole, events, hold_until_end)
        if out.response is None:
            cut = self._decisive_point(whole, hold_until_end)
            # At an end event the stream is over: what follows it (a "data: [DONE]", later events) is
            # not relayed, as when it comes in a later read (``_drain``).
            if cut < len(whole) and self.facts.end is None:
                if await self._step(out, whole[:cut], [], hold_until_end):
                    return True
                whole = whole[cut:]
            else:
                return await self._step(out, whole[:cut], [], hold_until_end)
        events = sse.events_with(whole, _LOOK_FOR)
        return await self._step(out, whole, events, hold_until_end)

    def _decisive_point(self, whole: bytes, hold_until_end: bool) -> int:
        """Inspect the events of ``whole`` in order and return where the one that commits or ends the
        stream stops (``len(whole)`` when none does); an ending event's block ends at its blank line."""
        facts = self.facts
        pos, size = 0, len(whole)
        while pos < size:
            end = whole.find(b"\n\n", pos)
            end = size if end < 0 else end + 2
            block = whole[pos:end].strip(b"\n")
            pos = end
            event = sse.parse_block_lf(block) if block else None
            if event is None:
                continue
            _inspect(event, facts)
            if facts.end is not None:
                return pos
            if facts.generated and not hold_until_end:
                while pos < size and whole[pos:pos + 1] == b"\n":
                    pos += 1
                return pos
        return size

    async def _step(self, out: _ClientSide, forward: bytes, events: list[sse.SSEEvent], hold_until_end: bool) -> bool:
        """Handle one decoded chunk; True when the stream has ended (successfully or not). The bytes
        handed on end with the ending event's block: what follows it is not relayed."""
        facts = self.facts
        cut = 0  # bytes of ``forward`` committed on the way (``ev.end`` counts from its start)
        ending: sse.SSEEvent | None = None
        for ev in events:
            _inspect(ev, facts)
            if facts.end is not None:
                if 0 <= ev.end - cut < len(forward):
                    forward = forward[:ev.end - cut]
                if forward.endswith(b"\r"):
                    # A stream of lone CRs: nothing follows the end, and a reader (Codex's) cannot tell a
                    # last CR from the first half of a CRLF; an LF after it is one more blank line.
                    forward += b"\n"
                ending = ev
                break
            if out.response is None and facts.generated and not hold_until_end and ev.end > cut:
                # The first generated event commits the stream where it ends, as ``_decisive_point`` does
                # for LF streams: a failure later in the same read is then one after output, whatever the
                # line ends.
                self._hold(_relayed(forward[:ev.end - cut], self._redact))
                await out.commit(self._take_held())
                forward, cut = forward[ev.end - cut:], ev.end
        if facts.end is Ending.FAILED or facts.incomplete:  # an upstream may echo a key in its error message
            at = ending.start - cut if ending is not None else -1
            if out.response is not None and ending is not None and facts.end is Ending.FAILED \
                    and not _read_as_a_failure(ending) and 0 <= at <= len(forward):
                head = _relayed(forward[:at], self._redact)
                forward = head + self._redact(self._failure_in_our_words(out, head))
            else:
                forward = self._ending_masked(forward, at)
        else:
            forward = _relayed(forward, self._redact)
        if out.response is None:
            if facts.end is Ending.FAILED:
                self._hold(forward)  # kept for a client error, which is relayed as it came
                return True
            self._hold(forward)
            if (facts.generated and not hold_until_end) or self._held_size > PRECOMMIT_LIMIT:
                await out.commit(self._take_held())
        else:
            out.stage(forward)
        return facts.end is not None

    def _gone(self, out: _ClientSide, holding: bool = False) -> StreamResult:
        if self.facts.end is Ending.ANSWERED and holding and out.response is None:
            return StreamResult(StreamEnd.HELD_COMPLETE, None, "", None, self.facts)  # still to be judged
        if self.facts.end is Ending.ANSWERED:
            # The provider finished its answer: its tokens were spent and its items exist, whether or not
            # the client stayed to the end (Codex ends its turn at response.completed, and may close
            # before the end of the body follows). Complete, then; and the client's answer when only
            # the end of the stream was lost.
            return StreamResult(StreamEnd.COMPLETED, None if out.events_pending else out.response, "",
                                out.ttfb_ms, self.facts, out.sent)
        return StreamResult(StreamEnd.CLIENT_GONE, out.response, "client disconnected", out.ttfb_ms, self.facts,
                            out.sent)

    def _failure_in_our_words(self, out: _ClientSide, before: bytes) -> bytes:
        """A failure the provider ended its stream with that clients cannot read as one (data that is no
        JSON, or JSON that says no failure type: ``event: error`` with ``data: upstream broke`` or
        ``{"code": …}``) as the ``response.failed`` they read: Codex skips the unreadable event and takes
        the stream for cut off, the OpenAI SDKs raise a JSON error or end the stream as if it were whole.
        Its message and code are the provider's."""
        facts = self.facts
        err = error_object(facts.failure)
        code = err.get("code") if err is not None else None
        return sse.failure_event(facts.said or facts.error,
                                 code if isinstance(code, str) and code else "upstream_error",
                                 facts.response_id, out.next_sequence(before))

    def _ending_masked(self, forward: bytes, at: int) -> bytes:
        """A read that ends with a failure (or an unfinished answer, whose reason may quote the request):
        that event masked whole, from ``at`` where its block starts (-1: not known, the whole read)."""
        if not 0 <= at <= len(forward):
            return self._redact(forward)
        return _relayed(forward[:at], self._redact) + self._redact(forward[at:])

    def _hold(self, data: bytes) -> None:
        if data:
            self._held.append(data)
            self._held_size += len(data)

    def _take_held(self) -> bytes:
        data = b"".join(self._held)
        self._held.clear()
        self._held_size = 0
        return data

    async def deliver_held(self, request: web.Request, *, headers: dict[str, str], started: float) -> StreamResult:
        """Send what was held (e.g. a client error reported in-band) to the client as it came."""
        out = _ClientSide(request, headers, started)
        return await self._last_steps(out, self._send_held(out))

    async def _send_held(self, out: _ClientSide) -> StreamResult:
        self._answer_out()
        await out.commit(self._take_held())
        await out.finish()
        return StreamResult(StreamEnd.COMPLETED, out.response, "", out.ttfb_ms, self.facts, out.sent)


_SEQUENCE = b'"sequence_number"'
_SEQUENCE_VALUE = re.compile(rb"\s*:\s*(\d{1,18})")


class _ClientSide:
    """The client's half of a relayed stream: prepared at the commit, then written to.

    Bytes are *staged* and leave in one write per upstream read (``flush``), or together with the end
    of the stream (``finish``): each write is a system call, and the usual fast stream then reaches the
    client in one or two instead of one per step of the relay."""

    __slots__ = ("_headers", "_idle", "_in_flight", "_numbered", "_request", "_staged", "_started", "response",
                 "sent", "ttfb_ms")

    def __init__(self, request: web.Request, headers: dict[str, str], started: float,
                 idle: Watchdog | None = None) -> None:
        self._request = request
        self._headers = headers
        self._started = started
        # The upstream's silence limit, paused while a write waits for the client to read: a client that
        # stops reading (Codex suspended) holds the upstream back, and that is not the upstream's silence.
        self._idle = idle
        self._staged: list[bytes] = []
        self._numbered = b""  # the latest bytes sent that carry a sequence_number (see ``next_sequence``)
        self._in_flight = False  # events handed to a write that has not returned
        self.response: web.StreamResponse | None = None
        self.ttfb_ms: float | None = None
        self.sent = 0

    async def commit(self, first: bytes) -> None:
        out = _sse_response(self._request, self._headers)
        try:
            await out.prepare(self._request)
        except ConnectionError as exc:
            raise _ClientGone() from exc
        self.response = out
        self.ttfb_ms = (time.perf_counter() - self._started) * 1000
        self.stage(first)

    @property
    def reached(self) -> bool:
        """Whether any of the answer may have reached the client (committed is not sent: the first
        events leave with the headers, at the next flush)."""
        return self.sent > 0 or self._in_flight

    @property
    def events_pending(self) -> bool:
        """Whether events meant for the client may not have reached it: not sent yet, or in a write that
        did not finish."""
        return self.response is None or bool(self._staged) or self._in_flight

    def stage(self, data: bytes) -> None:
        if data:
            self._staged.append(data)

    def _take_staged(self) -> bytes:
        staged = self._staged
        if not staged:
            return b""
        data = staged[0] if len(staged) == 1 else b"".join(staged)
        staged.clear()
        return data

    async def flush(self) -> None:
        if self._staged:
            await self.write(self._take_staged())

    async def write(self, data: bytes) -> None:
        """Send ``data`` now, after anything staged."""
        assert self.response is not None
        if self._staged:
            self.stage(data)
            data = self._take_staged()
        self._in_flight = True
        if self._idle is not None:
            self._idle.pause()
        try:
            await self.response.write(data)
        except ConnectionError as exc:
            raise _ClientGone() from exc
        finally:
            if self._idle is not None:
                self._idle.resume()
        self._in_flight = False
        self.sent += len(data)
        if _SEQUENCE in data:
            self._numbered = data

    def next_sequence(self, before: bytes = b"") -> int:
        """The ``sequence_number`` for an event the gateway adds after ``before``: one past the last the
        client got or is about to (clients such as the AI SDK require one on every event); 0 when none
        carried one."""
        for data in (before, *reversed(self._staged), self._numbered):
            at = data.rfind(_SEQUENCE)
            if at >= 0:
                m = _SEQUENCE_VALUE.match(data, at + len(_SEQUENCE))
                if m is not None:
                    return int(m.group(1)) + 1
        return 0

    async def finish(self) -> None:
        assert self.response is not None
        data = self._take_staged()
        self._in_flight = bool(data)
        try:
            await self.response.write_eof(data)
        except ConnectionError as exc:
            raise _ClientGone() from exc
        self._in_flight = False
        self.sent += len(data)

    async def finish_quietly(self) -> None:
        try:
            await self.finish()
        except _ClientGone:
            pass


async def send_synthesized(request: web.Request, data: bytes, headers: dict[str, str],
                           started: float) -> tuple[web.StreamResponse, float, int]:
    """Answer a stream request with the events ``sse.synthesize`` made of a complete JSON response — made
    before this is called, so that an answer that cannot be written goes to the next provider instead of
    breaking off after the headers; returns (response, ttfb ms, bytes sent)."""
    out = _sse_response(request, headers)
    await out.prepare(request)
    ttfb = (time.perf_counter() - started) * 1000
    await out.write_eof(data)  # headers, events and the end of the stream in one write
    return out, ttfb, len(data)


def _sse_response(request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
    out = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    out._send_headers_immediately = False  # the headers leave with the first events: one write, not two
    if request.version < HttpVersion11:
        # No chunked encoding in HTTP/1.0: only a closed connection ends the stream (aiohttp would keep
        # a keep-alive client's open, and the client would wait for an end that never comes).
        out.force_close()
    return out
