"""Server-sent events: an incremental decoder that also says which bytes are safe to forward, and
the encoder the gateway uses for the events it writes itself.

The decoder hands back only *complete* events for forwarding, so a client never sees half an event
and an event the gateway appends (e.g. ``response.failed`` after a cut) always starts cleanly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from api_router.gateway.errors import TooLarge
from api_router.jsonbytes import dumps

# What a Responses event is, by its type. Events that come before any work: they commit nothing.
PREAMBLE = frozenset({"response.created", "response.in_progress", "response.queued"})
# Events that carry generated work — reasoning (its summary text too), output items and their deltas,
# tool progress: the first of them commits a stream, so the client sees it at once.
GENERATED_PREFIXES = (
    "response.output_", "response.content_part.", "response.reasoning", "response.function_call",
    "response.custom_tool_call", "response.refusal.", "response.audio", "response.code_interpreter_call",
    "response.file_search_call", "response.web_search_call", "response.image_generation_call", "response.mcp_",
)
# The events that end a stream: the first one decides.
ANSWER_END = frozenset({"response.completed", "response.incomplete"})
FAILURE_END = frozenset({"response.failed", "error"})
# Every event type the Responses API streams. Data typed otherwise — "response.error", "response.relay_error"
# as much as "relay_error" — is a relay's own words, where a key it echoes is masked; these pass as they came.
RESPONSES_EVENT_TYPES = PREAMBLE | ANSWER_END | FAILURE_END | frozenset(f"response.{kind}" for kind in (
    "output_item.added", "output_item.done", "content_part.added", "content_part.done",
    "output_text.delta", "output_text.done", "output_text.annotation.added", "refusal.delta", "refusal.done",
    "function_call_arguments.delta", "function_call_arguments.done", "custom_tool_call_input.delta",
    "custom_tool_call_input.done", "reasoning_summary_part.added", "reasoning_summary_part.done",
    "reasoning_summary_text.delta", "reasoning_summary_text.done", "reasoning_text.delta", "reasoning_text.done",
    "file_search_call.in_progress", "file_search_call.searching", "file_search_call.completed",
    "web_search_call.in_progress", "web_search_call.searching", "web_search_call.completed",
    "image_generation_call.in_progress", "image_generation_call.generating", "image_generation_call.partial_image",
    "image_generation_call.completed", "mcp_call_arguments.delta", "mcp_call_arguments.done",
    "mcp_call.in_progress", "mcp_call.completed", "mcp_call.failed", "mcp_list_tools.in_progress",
    "mcp_list_tools.completed", "mcp_list_tools.failed", "code_interpreter_call.in_progress",
    "code_interpreter_call.interpreting", "code_interpreter_call.completed", "code_interpreter_call_code.delta",
    "code_interpreter_call_code.done", "audio.delta", "audio.done", "audio.transcript.delta",
    "audio.transcript.done", "shell_call_command.added", "shell_call_command.delta", "shell_call_command.done",
    "shell_call_output_content.delta", "shell_call_output_content.done", "apply_patch_call_operation_diff.delta",
    "apply_patch_call_operation_diff.done",
    # a remote compaction's progress (v2): no generated work of its own, but the stream is alive
    "compaction.compacting",
    # earlier names, still sent by some relays
    "reasoning.delta", "reasoning.done", "reasoning_summary.delta", "reasoning_summary.done",
    "output_text_annotation.added", "code_interpreter_call.code.delta", "code_interpreter_call.code.done",
    "mcp_call.arguments_delta", "mcp_call.arguments_done"))
RESPONSES_EVENT_TYPES_BYTES = frozenset(kind.encode() for kind in RESPONSES_EVENT_TYPES)


def is_answer(kind: str) -> bool:
    """Whether an event of this type is (part of) an answer: generated work, or the end of an answer."""
    return kind in ANSWER_END or (kind.startswith(GENERATED_PREFIXES) and kind in RESPONSES_EVENT_TYPES)


_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOUNDARY_LF = b"\n\n"
_LF = 0x0A
_BOM = b"\xef\xbb\xbf"  # may open a stream (the spec and Codex's reader skip it)
# One event longer than this is no Responses event (a whole answer with its sealed items is a few MB):
# a provider sending one is cut off rather than held in memory without end.
MAX_EVENT_BYTES = 64 * 1024 * 1024
# An unfinished event longer than this is a real one on its way (see ``SSEDecoder.event_under_way``).
_LONGER_THAN_A_HEARTBEAT = 1024
# A shorter one is when its data says it is a Responses event (a relay trickling one in on a slow link).
_RESPONSES_DATA_HEAD = re.compile(rb'(?:^|[\r\n])data:[ ]?\{\s*"type"\s*:\s*"(response\.[\w.-]+)"')
# An unfinished event this long is kept growing in place: copying it together with every read would
# cost time in the square of its length.
_LONG_EVENT = 1024 * 1024


class EventTooLarge(TooLarge):
    def __init__(self) -> None:
        super().__init__(f"the provider sent an event larger than {MAX_EVENT_BYTES // (1024 * 1024)} MB")

# Event names that say what the event is, whatever its data's "type" says (besides "response.*").
_TELLING_NAMES = frozenset({"error", "ping", "keepalive"})
# The top-level "type" when it is the first key (as OpenAI and Codex write it).
_LEADING_TYPE = re.compile(rb'^\s*\{\s*"type"\s*:\s*"([^"\\]+)"')


@dataclass
class SSEEvent:
    """One dispatched event; ``data`` joins its data lines with LF as the SSE spec says. ``end``: where
    its block (blank line included) ends in the bytes it was decoded from, -1 when not known; a relay
    that stops at this event forwards exactly that much."""

    name: str | None
    data: bytes
    _json: Any = field(default=None, repr=False)
    end: int = field(default=-1, repr=False, compare=False)
    start: int = field(default=-1, repr=False, compare=False)  # where its block starts, -1 when not known
    _type: str | None = field(default=None, repr=False, compare=False)

    @property
    def type(self) -> str:
        """Read once: the failover checks, the recorder and the usage counter all ask."""
        if self._type is None:
            self._type = self._read_type()
        return self._type

    def _read_type(self) -> str:
        """The event's type: its name when that is one of the names that say what an event is (a
        Responses event, ``error``, a heartbeat — ``event: error`` may carry ``{"type": "server_error"}``),
        unless its data says it is another Responses event (Codex acts on the data);
        otherwise its data's ``type``, as Codex reads it (relays name events ``chunk``, or leave a space
        after the name); the name when the data has no type."""
        name = self.name
        if name and (name.startswith("response.") or name in _TELLING_NAMES) and name[-1] != " ":
            if name[0] == "r":  # a Responses name whose data says it is another Responses event is that one
                typed = self._data_type()
                if typed is not None and typed != name:
                    # Rare, so read whole: an object that names its type twice is what the last says, as JSON
                    # readers take it ({"type": "…delta", "type": "response.failed"} is a failure).
                    typed = self._parsed_type() or typed  # data that is no JSON: the leading type stands
                if typed is not None and typed != name and (typed.startswith("response.") or typed == "error"):
                    return typed
            return name
        typed = self._data_type()
        if typed is not None:
            return typed
        payload = self.json()
        if name in (None, "", "message") and isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            return "error"  # a bare {"error": {...}}, as Chat Completions relays report a failure
        return name if name and name != "message" else ""

    def _data_type(self) -> str | None:
        """The data's top-level ``type``, wherever it stands in the object (found first where it usually
        is, without a parse)."""
        m = _LEADING_TYPE.match(self.data)
        if m:
            return m.group(1).decode("utf-8", "replace")
        return self._parsed_type()

    def _parsed_type(self) -> str | None:
        payload = self.json()
        value = payload.get("type") if isinstance(payload, dict) else None
        return value if isinstance(value, str) else None

    def failure(self) -> Any:
        """The data of a failure event, read for the error it reports. An ``error`` event's data may be
        the error object itself — typed by its kind (``{"type": "invalid_request_error", "code": …}``)
        or untyped — which is then nested as in the Responses API's error event, so that its kind and
        code say whose fault it is (as they do in any other spelling)."""
        payload = self.json()
        if (self.type == "error" and isinstance(payload, dict) and payload.get("type") != "error"
                and not isinstance(payload.get("error"), dict) and not isinstance(payload.get("response"), dict)):
            return {"type": "error",
                    "error": {k: payload[k] for k in ("type", "code", "message", "param") if k in payload}}
        return payload

    def json(self) -> Any:
        """The decoded data, or None when it is not JSON."""
        if self._json is None:
            try:
                self._json = orjson.loads(self.data)
            except orjson.JSONDecodeError:
                self._json = False
        return self._json if self._json is not False else None


def parse_block_lf(block: bytes) -> SSEEvent | None:
    """An LF-only event block (no trailing blank line) -> event, or None for comment-only blocks."""
    # The two shapes providers send, without the line-by-line walk: "event: X\ndata: {...}"
    # and "data: {...}" (the same result as the general parse below).
    if block.startswith(b"event: "):
        nl = block.find(b"\n")
        if nl > 0 and block.startswith(b"data: ", nl + 1) and block.find(b"\n", nl + 1) < 0:
            return SSEEvent(block[7:nl].decode("utf-8", "replace"), block[nl + 7:])
    elif block.startswith(b"data: ") and b"\n" not in block:
        return SSEEvent(None, block[6:])
    data: list[bytes] = []
    names: list[str] = []
    for line in block.split(b"\n"):
        _apply_line(line, data, names)
    return SSEEvent(names[-1] if names else None, b"\n".join(data)) if data else None


def _apply_line(line: bytes, data: list[bytes], names: list[str]) -> None:
    if not line or line[:1] == b":":
        return
    key, sep, value = line.partition(b":")
    if sep and value[:1] == b" ":
        value = value[1:]
    if key == b"data":
        data.append(value)
    elif key == b"event":
        names.append(value.decode("utf-8", "replace"))


class SSEDecoder:
    """Feed raw bytes as they arrive; get back (bytes safe to forward, events completed)."""

    def __init__(self) -> None:
        self._buf: bytes | bytearray = b""  # bytes not yet forwarded (a bytearray while a long event grows)
        self._saw_cr = False
        self._fresh = True  # nothing read yet: a byte order mark may come first
        # The general decoder's place in ``_buf``: where its unread lines start, and the fields of the
        # event they continue (so a long event is read once, not again with every read).
        self._resume = 0
        self._data: list[bytes] = []
        self._names: list[str] = []
        self._crlf = False  # lines have ended in CRLF: a CR at the end of a read may be half of one

    def _opening(self, chunk: bytes) -> bytes:
        """The first bytes of the stream without a byte order mark (which would hide the first field)."""
        if chunk:
            self._fresh = False
        return chunk[3:] if chunk.startswith(_BOM) else chunk

    def feed(self, chunk: bytes) -> tuple[bytes, list[SSEEvent]]:
        if self._fresh:
            chunk = self._opening(chunk)
        if not self._saw_cr and b"\r" in chunk:
            self._saw_cr = True
        if self._kept_growing(chunk):
            return b"", []
        buf = self._whole(chunk)
        if not self._saw_cr:
            complete = self._cut_lf(buf)
            return complete, events_of_lf(complete)
        return self._feed_general(buf)

    def cut(self, chunk: bytes) -> bytes | None:
        """The complete events of an LF-only stream, as bytes, without decoding them (``events_of_lf``
        does that when a caller needs to look inside); None once the stream has used CR line ends,
        for which ``feed`` is the way."""
        if self._saw_cr or b"\r" in chunk:
            return None
        if self._fresh:
            chunk = self._opening(chunk)
        buf = self._buf
        if not buf:  # the usual read: whole events, nothing pending
            return self._cut_lf(chunk)
        if len(buf) >= _LONG_EVENT and self._kept_growing(chunk):
            return b""
        return self._cut_lf(self._whole(chunk))

    def finish(self) -> tuple[bytes, list[SSEEvent]]:
        """At the end of the stream: the events a CR kept at the very end completes (it can no longer be
        the first half of a CRLF). Nothing for an LF-only stream, whose events end at a blank line."""
        buf = self._buf
        if not self._saw_cr or not buf or buf[-1:] != b"\r":
            return b"", []
        return self._feed_general(bytes(buf), at_end=True)

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has not been completed yet."""
        return bytes(self._buf)

    @property
    def event_under_way(self) -> bool:
        """Whether the unfinished event held back is a real one with its data coming (over several reads):
        progress — a long one, or a short one whose data says it is a Responses event; not a long comment
        (padding), a name alone, nor a heartbeat whose blank line is late."""
        if len(self._buf) < _LONGER_THAN_A_HEARTBEAT:
            said = _RESPONSES_DATA_HEAD.search(bytes(self._buf[:512]))
            return said is not None and said.group(1) in RESPONSES_EVENT_TYPES_BYTES
        if self._data:
            return True
        head = bytes(self._buf[:512])
        return head.startswith(b"data:") or b"\ndata:" in head or b"\rdata:" in head

    def _kept_growing(self, chunk: bytes) -> bool:
        """Whether ``chunk`` only lengthens a long unfinished event (it cannot hold the event's end):
        then it is added in place, and nothing is searched again."""
        buf = self._buf
        if len(buf) < _LONG_EVENT:
            return False
        if self._saw_cr:
            # A CR kept at the end may already be a whole line end: the next byte tells.
            if b"\n" in chunk or b"\r" in chunk or buf[-1:] == b"\r":
                return False
        elif _BOUNDARY_LF in chunk or (chunk[:1] == b"\n" and buf[-1:] == b"\n"):
            return False
        if isinstance(buf, bytes):
            buf = self._buf = bytearray(buf)
        buf += chunk
        if len(buf) > MAX_EVENT_BYTES:
            raise EventTooLarge()
        return True

    def _whole(self, chunk: bytes) -> bytes:
        """What is pending and ``chunk``, as one bytes object to search."""
        buf = self._buf
        if not buf:
            return chunk
        return bytes(buf) + chunk if isinstance(buf, bytearray) else buf + chunk

    def _cut_lf(self, buf: bytes) -> bytes:
        # The common LF-only stream: events end at a blank line, found in C.
        end = buf.rfind(_BOUNDARY_LF)
        if end < 0:
            if len(buf) > MAX_EVENT_BYTES:
                raise EventTooLarge()
            self._buf = buf
            return b""
        end += 2
        while end < len(buf) and buf[end:end + 1] == b"\n":
            end += 1  # extra blank lines belong to the forwarded part
        complete, self._buf = buf[:end], buf[end:]
        if len(self._buf) > MAX_EVENT_BYTES:
            raise EventTooLarge()
        return complete

    def _feed_general(self, buf: bytes, *, at_end: bool = False) -> tuple[bytes, list[SSEEvent]]:
        """The complete events of ``buf`` (what was pending, then the new bytes), reading on from where
        the last call stopped."""
        events: list[SSEEvent] = []
        pos, data, names = self._resume, self._data, self._names
        forward_end = block_start = 0  # what is kept pending starts a block
        while True:
            m = _LINE_END.search(buf, pos)
            if m is None:
                break
            ending = m.group()
            if ending == b"\r" and m.end() == len(buf) and not at_end and (self._crlf or m.start() > pos):
                # A CR at the very end may be the first half of a CRLF. In a stream of lone CRs, one that
                # ends a blank line ends its event either way (the LF that may follow is one more blank line);
                # in a CRLF stream the event waits for its LF, which the client must get with it.
                break
            if ending == b"\r\n":
                self._crlf = True
            line = buf[pos:m.start()]
            pos = m.end()
            if line:
                _apply_line(line, data, names)
                continue
            if data:
                events.append(SSEEvent(names[-1] if names else None, b"\n".join(data), end=pos, start=block_start))
            data, names = [], []
            forward_end = block_start = pos
        complete, self._buf = buf[:forward_end], buf[forward_end:]
        self._resume, self._data, self._names = pos - forward_end, data, names
        if len(self._buf) > MAX_EVENT_BYTES:
            raise EventTooLarge()
        return complete, events


def events_of_lf(complete: bytes) -> list[SSEEvent]:
    """The events in whole LF-only event blocks (as ``SSEDecoder.cut`` hands them out)."""
    events = []
    end = 0
    for raw_block in complete.split(_BOUNDARY_LF):
        end += len(raw_block) + 2  # the block and the blank line that ends it (whole blocks: it is there)
        block = raw_block.strip(b"\n")
        if block:
            event = parse_block_lf(block)
            if event is not None:
                event.end = end
                events.append(event)
    return events


def events_with(complete: bytes, needles: tuple[bytes, ...]) -> list[SSEEvent]:
    """The events, in order, of those whole LF-only event blocks that contain one of ``needles``;
    every other block is passed by unparsed (most of a stream is deltas nobody needs to read)."""
    spans: dict[int, int] = {}  # block start -> end
    for needle in needles:
        at = complete.find(needle)
        while at >= 0:
            start, end = _block_around(complete, at)
            spans[start] = end
            at = complete.find(needle, end)
    events = []
    size = len(complete)
    for start in sorted(spans):
        end = spans[start]
        block = complete[start:end].strip(b"\n")
        event = parse_block_lf(block) if block else None
        if event is not None:
            event.start, event.end = start, min(end + 2, size)  # with the blank line that ends the block
            events.append(event)
    return events


def _block_around(buf: bytes, at: int) -> tuple[int, int]:
    """Where the LF-only event block holding ``buf[at]`` starts and ends. Walks line ends (a search for
    one byte, in C) rather than searching for the two-byte blank line, which is several times slower."""
    nl = buf.rfind(b"\n", 0, at)
    while nl > 0 and buf[nl - 1] != _LF:
        nl = buf.rfind(b"\n", 0, nl)
    start = nl + 1 if nl > 0 else 0
    size = len(buf)
    nl = buf.find(b"\n", at)
    while 0 <= nl < size - 1 and buf[nl + 1] != _LF:
        nl = buf.find(b"\n", nl + 1)
    return start, (nl if 0 <= nl < size - 1 else size)


def carries_progress(chunk: bytes) -> bool:
    """Whether whole event blocks (as ``SSEDecoder.cut`` hands them out) hold a Responses event
    (``is_progress``): not only comments (``: keep-alive``, however long), blank lines, heartbeats by
    any name and a relay's own data lines, none of which is progress. The first one ends the search."""
    if chunk.startswith(b"event: response."):  # the usual chunk: a named Responses event, with its data
        nl = chunk.find(b"\n")
        if nl > 0 and chunk.startswith(b"data: {", nl + 1) and not chunk.startswith(b"data: {}", nl + 1) \
                and chunk[7:nl].rstrip(b"\r ") in RESPONSES_EVENT_TYPES_BYTES:
            return True
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    pos, size = 0, len(chunk)
    while pos < size:
        end = chunk.find(_BOUNDARY_LF, pos)
        end = size if end < 0 else end
        block, pos = chunk[pos:end], end + 2
        event = parse_block_lf(block.strip(b"\n"))
        if event is not None and is_progress(event):
            return True
    return False  # (a block without data — a comment, a bare line, "event:" alone — is no event)


def is_progress(event: SSEEvent) -> bool:
    """Whether an event is a Responses event (``error`` among them): what Codex acts on, and so what
    shows a provider is answering. Heartbeats by any name (``ping``, ``{"type": "heartbeat"}``,
    ``response.keepalive``), empty data and a relay's own lines that say no type (``data: ping``,
    ``data: [DONE]``, ``{"n": 1}`` under ``event: chunk``) are not."""
    data = event.data.strip()
    if not data or data == b"{}":
        return False
    return event.type in RESPONSES_EVENT_TYPES  # "error" among them; a relay's "response.status" is not


def iter_events(raw: bytes) -> Iterator[SSEEvent]:
    """Every complete event of a whole body (used when an upstream answers SSE to a JSON request)."""
    decoder = SSEDecoder()
    _, events = decoder.feed(raw + b"\n\n")
    yield from events


def encode(event_type: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + event_type.encode() + b"\ndata: " + dumps(payload) + b"\n\n"


def synthesize(response: dict[str, Any]) -> bytes:
    """The standard Responses stream for a complete response object (upstream answered JSON): each item
    told as the API streams it — a message's text, a reasoning item's summary, a function call's arguments
    — so that a client showing them as they come (the AI SDK's reasoning text) has them."""
    seq = 0
    out: list[bytes] = []

    def emit(event_type: str, **payload: Any) -> None:
        nonlocal seq
        out.append(encode(event_type, {"type": event_type, "sequence_number": seq, **payload}))
        seq += 1

    shell = {**response, "status": "in_progress", "output": []}
    shell.pop("usage", None)
    emit("response.created", response=shell)
    emit("response.in_progress", response=shell)
    for index, item in enumerate(response.get("output") or []):
        if not isinstance(item, dict):
            continue
        item_id = item.get("id", "")
        if item.get("type") == "message":
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "content": []})
            for cindex, part in enumerate(item.get("content") or []):
                if not isinstance(part, dict):
                    continue
                common = {"item_id": item_id, "output_index": index, "content_index": cindex}
                if part.get("type") == "output_text":
                    text = part.get("text", "")
                    emit("response.content_part.added", **common, part={**part, "text": ""})
                    emit("response.output_text.delta", **common, delta=text)
                    emit("response.output_text.done", **common, text=text)
                else:
                    emit("response.content_part.added", **common, part=part)
                emit("response.content_part.done", **common, part=part)
        elif item.get("type") == "reasoning":
            summary = [p for p in item.get("summary") or [] if isinstance(p, dict)]
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            for sindex, part in enumerate(summary):
                common = {"item_id": item_id, "output_index": index, "summary_index": sindex}
                text = part.get("text", "")
                emit("response.reasoning_summary_part.added", **common, part={**part, "text": ""})
                emit("response.reasoning_summary_text.delta", **common, delta=text)
                emit("response.reasoning_summary_text.done", **common, text=text)
                emit("response.reasoning_summary_part.done", **common, part=part)
        elif item.get("type") == "function_call":
            arguments = item.get("arguments")
            arguments = arguments if isinstance(arguments, str) else ""
            emit("response.output_item.added", output_index=index,
                 item={**item, "arguments": "", "status": "in_progress"})
            emit("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=arguments)
            emit("response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=arguments)
        else:
            emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    status = response.get("status") or "completed"
    final = {**response, "status": status}
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete",
                "failed": "response.failed"}.get(status, "response.completed")
    emit(terminal, response=final)
    return b"".join(out)


def failure_event(message: str, code: str, response_id: str | None, sequence_number: int | None = None) -> bytes:
    """The ``response.failed`` event the gateway appends when a stream cannot be completed."""
    payload: dict[str, Any] = {
        "type": "response.failed",
        "response": {
            "id": response_id or "resp_gateway_failed",
            "object": "response",
            "status": "failed",
            "output": [],
            "error": {"code": code, "message": message},
        },
    }
    if sequence_number is not None:
        payload["sequence_number"] = sequence_number
    return encode("response.failed", payload)
