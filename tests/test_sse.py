"""The SSE decoder against a reference reading of the spec, under arbitrary chunking."""

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_router.gateway import sse


def reference(stream: bytes) -> list[tuple[str | None, bytes]]:
    """Straight from the spec: split lines on CRLF/CR/LF, dispatch on blank lines."""
    out, data, name = [], [], None
    text = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines = text.split(b"\n")
    for line in lines[:-1]:  # the last piece has no line end yet
        if not line:
            if data:
                out.append((name, b"\n".join(data)))
            data, name = [], None
            continue
        if line.startswith(b":"):
            continue
        key, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if key == b"data":
            data.append(value)
        elif key == b"event":
            name = value.decode("utf-8", "replace")
    return out


field_text = st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30)
event = st.builds(
    lambda name, datas, comment: (name, datas, comment),
    st.one_of(st.none(), st.sampled_from(["response.completed", "response.output_text.delta", "é-vent"])),
    st.lists(field_text, min_size=1, max_size=3),
    st.one_of(st.none(), field_text),
)


def render(events, newline: bytes) -> bytes:
    out = b""
    for name, datas, comment in events:
        if comment is not None:
            out += b":" + comment.encode() + newline
        if name:
            out += b"event: " + name.encode() + newline
        for d in datas:
            out += b"data: " + d.encode() + newline
        out += newline
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(event, max_size=6), st.sampled_from([b"\n", b"\r\n", b"\r"]), st.data())
def test_any_chunking_gives_the_spec_events_and_forwards_whole_events(events, newline, data):
    stream = render(events, newline)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=False)]
    decoder = sse.SSEDecoder()
    got, forwarded = [], b""
    for piece in pieces:
        out, evs = decoder.feed(piece)
        forwarded += out
        got += [(e.name, e.data) for e in evs]
    if newline == b"\r" and stream:
        # a final lone CR may still become CRLF; one more byte settles it
        out, evs = decoder.feed(b"\n")
        forwarded += out
        got += [(e.name, e.data) for e in evs]
        stream += b"\n"
    assert got == reference(stream)
    assert stream.startswith(forwarded)
    assert forwarded + decoder.pending == stream
    # only whole events are forwarded: the held-back remainder completes no event by itself
    assert reference(decoder.pending) == []
    assert reference(forwarded) == got


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40), st.integers(1, 8))
def test_multibyte_utf8_split_anywhere_decodes_whole(text, step):
    payload = json.dumps({"type": "response.output_text.delta", "delta": text}, ensure_ascii=False).encode()
    stream = b"data: " + payload + b"\n\n"
    decoder = sse.SSEDecoder()
    events = []
    for i in range(0, len(stream), step):
        events += decoder.feed(stream[i:i + step])[1]
    assert len(events) == 1
    assert events[0].json()["delta"] == text
    assert events[0].type == "response.output_text.delta"


def test_type_comes_from_a_telling_name_then_the_data():
    """A Responses, error or heartbeat name says what the event is; any other name (or one with a
    trailing space) leaves it to the data's ``type``, as Codex reads it."""
    decoder = sse.SSEDecoder()
    _, evs = decoder.feed(b'event: response.created\ndata: {"x": 1}\n\ndata: {"type": "error", "message": "m"}\n\n'
                          b'data: {"a": {"type": "inner"}, "type": "outer"}\n\n'
                          b'event: chunk\ndata: {"type": "response.completed"}\n\n'
                          b'event: response.completed \ndata: {"type": "response.completed"}\n\n'
                          b'event: error\ndata: {"type": "server_error", "message": "m"}\n\n'
                          b'event: ping\ndata: {"type": "heartbeat"}\n\n'
                          b'event: chunk\ndata: {"n": 1}\n\n')
    assert [e.type for e in evs] == ["response.created", "error", "outer", "response.completed", "response.completed",
                                     "error", "ping", "chunk"]
    assert not sse.is_progress(evs[6]) and not sse.carries_progress(b'event: ping\ndata: {"type": "heartbeat"}\n\n')


def test_synthesized_stream_parses_back():
    response = {"id": "r1", "object": "response", "status": "completed", "output": [
        {"id": "m1", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]},
        {"id": "fc1", "type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]}
    events = list(sse.iter_events(sse.synthesize(response)))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert events[-1].json()["response"] == response
    assert "response.output_text.delta" in types


def test_a_synthesized_stream_tells_each_item_as_the_api_streams_it():
    """A reasoning item's summary and a function call's arguments come as their own events, as the API
    streams them (the AI SDK builds its reasoning text from the summary deltas), and every event is
    numbered in order."""
    reasoning = {"id": "rs1", "type": "reasoning", "encrypted_content": "sealed",
                 "summary": [{"type": "summary_text", "text": "Thinking."}, {"type": "summary_text", "text": "Done."}]}
    call = {"id": "fc1", "type": "function_call", "call_id": "c", "name": "f", "arguments": '{"x": 1}',
            "status": "completed"}
    response = {"id": "r1", "object": "response", "status": "completed", "output": [reasoning, call]}
    events = [e.json() for e in sse.iter_events(sse.synthesize(response))]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    summary = [e for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert [(e["summary_index"], e["delta"]) for e in summary] == [(0, "Thinking."), (1, "Done.")]
    assert [e["type"] for e in events if e.get("summary_index") == 1] == [
        "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done"]
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert added[0]["summary"] == [] and (added[1]["arguments"], added[1]["status"]) == ("", "in_progress")
    arguments = [e for e in events if e["type"].startswith("response.function_call_arguments.")]
    assert [(e["type"], e.get("delta"), e.get("arguments")) for e in arguments] == [
        ("response.function_call_arguments.delta", '{"x": 1}', None),
        ("response.function_call_arguments.done", None, '{"x": 1}')]
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done == [reasoning, call] and events[-1]["response"] == response


def test_keepalive_comments_and_heartbeat_events_carry_no_data() -> None:
    assert not sse.carries_progress(b": keep-alive\n\n")
    assert not sse.carries_progress(b":\n\n: ping\n\n")
    for beat in (b"data: {}\n\n", b"data:\n\n", b'data: {"type":"keepalive","sequence_number":3}\n\n',
                 b'event: ping\ndata: {"ts": 1}\n\n', b"event: ping\r\ndata: {}\r\n\r\n", b"event: ping\n",
                 b'event: response.keepalive\ndata: {"type":"response.keepalive"}\n\n'):
        assert not sse.carries_progress(b": keep-alive\n\n" + beat), beat
    # Blocks that hold no event: a relay's bare words, a Responses name with no data or empty data.
    for no_event in (b"ping\n\n", b"upstream still working\n\n", b"event: response.output_text.delta\ndata:\n\n",
                     b"event: response.in_progress\ndata: {}\n\n", b"event: response.created\n\n"):
        assert not sse.carries_progress(no_event), no_event
    assert sse.carries_progress(b'data: {"type":"response.output_text.delta","delta":"hi"}\n\n')  # unnamed
    # A relay's own lines are no Responses event: no progress, before the output or after it.
    for own in (b"data: [DONE]\n\n", b"data: ping\n\n", b'data: {"type": "heartbeat"}\n\n',
                b'data: {"type": "response.heartbeat"}\n\n', b'event: response.heartbeat\ndata: {"t": 1}\n\n',
                b'event: chunk\ndata: {"n": 1}\n\n', b"data: {}\r\rdata: ping\r\r",
                b'data: {"type": "response.relay_status"}\n\n',
                b'event: response.output_error\ndata: {"type": "response.output_error"}\n\n'):
        assert not sse.carries_progress(own), own
    assert sse.carries_progress(b'data: {"type": "error", "message": "m"}\n\n')
    # A remote compaction's progress while it is held whole: alive, though it generates nothing itself.
    compacting = b'event: response.compaction.compacting\ndata: {"type":"response.compaction.compacting"}\n\n'
    assert sse.carries_progress(compacting) and not sse.is_answer("response.compaction.compacting")
    assert sse.carries_progress(b'event: error\ndata: {"type": "server_error"}\n\n')


def test_many_heartbeats_are_judged_in_one_pass() -> None:
    """Every block is read once, whatever the mix (a pattern over the chunk once backtracked on it)."""
    beats = b"data: {}\n\n" * 45
    assert len(beats) < 512 and not sse.carries_progress(beats)
    assert sse.carries_progress(beats + b'data: {"type":"response.output_text.delta"}\n\n')


@settings(max_examples=300, deadline=None)
@given(st.lists(event, max_size=8), st.lists(st.sampled_from([b"completed", b"\xc3\xa9", b"ta: x"]), min_size=1,
                                              max_size=2))
def test_events_with_decodes_exactly_the_blocks_that_hold_a_needle(events, needles):
    whole = render(events, b"\n")
    blocks = [b for b in whole.split(b"\n\n") if b.strip(b"\n")]
    expected = [(e.name, e.data) for block in blocks if any(n in block for n in needles)
                for e in sse.events_of_lf(block)]
    assert [(e.name, e.data) for e in sse.events_with(whole, tuple(needles))] == expected



@settings(max_examples=300, deadline=None)
@given(st.lists(event, min_size=1, max_size=6), st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_each_event_says_where_its_block_ends(events, newline):
    """A relay that stops at an event forwards ``whole[:event.end]``: exactly the events up to it, the
    last of them whole (its blank line included), whichever way the events were decoded."""
    whole = render(events, newline) + b"data: x" + newline + newline
    if newline == b"\n":
        decoded = [sse.events_of_lf(whole), sse.events_with(whole, (b"data",))]
    else:
        decoded = [sse.SSEDecoder().feed(whole)[1]]
    for got in decoded:
        for i, ev in enumerate(got):
            head = whole[:ev.end]
            assert head.endswith(newline * 2)
            assert reference(head) == [(e.name, e.data) for e in got[:i + 1]]


_TYPES = ["response.output_text.delta", "response.completed", "response.incomplete", "response.failed", "error",
          "response.output_item.done", "response.created", "message", "chunk"]
_FIELDS = st.sampled_from(['"encrypted_content":"x"', '"error":null', '"delta":"response.completed"', '"n":1'])


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([None, *_TYPES]), st.sampled_from(_TYPES), st.lists(_FIELDS, max_size=3),
       st.booleans())
def test_a_committed_chunk_is_only_passed_by_unread_when_nothing_in_it_matters(name, data_type, fields, comment):
    from api_router.gateway.streaming import _usual_event, _worth_reading
    data = "{" + ",".join([f'"type":"{data_type}"', *fields]) + "}"
    chunk = ((f"event: {name}\n" if name else "") + (": keep-alive\n" if comment else "") + f"data: {data}\n\n").encode()
    (event,) = sse.events_of_lf(chunk)
    matters = event.type in ("response.completed", "response.incomplete", "response.failed", "error") or (
        event.type == "response.output_item.done" and b'"encrypted_content"' in chunk)
    usual = _usual_event(chunk)  # one event and nothing else, passed on as it came
    assert usual is None or (usual.decode() == event.type and not matters and not comment)
    if usual is None:
        read = _worth_reading(chunk)
        assert [(e.name, e.data) for e in read] in ([(event.name, event.data)], [])
        assert read or not matters


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_an_event_over_a_megabyte_is_forwarded_whole_however_it_is_split(newline):
    """An unfinished event that long is kept growing in place; where it ends must be found as before:
    a blank line split across reads, a CR at the end of a read that turns out to be a whole line end."""
    big = "data: " + "A" * 2_200_000
    raw = (big + newline * 2 + 'data: {"type":"x"}' + newline * 2 + "data: " + "B" * 10).encode()
    end = len(big) + 2 * len(newline)  # where the first event's blank line ends
    for cut in range(len(big) - 1, end + 3):  # every split around that end, each followed by a short read
        decoder = sse.SSEDecoder()
        forwarded, events = b"", []
        bounds = [0, 65536, 1_500_000, cut, cut + 5, len(raw)]
        for a, b in itertools.pairwise(bounds):
            chunk = raw[a:b]
            whole = decoder.cut(chunk)
            forward, new = decoder.feed(chunk) if whole is None else (whole, sse.events_of_lf(whole))
            forwarded += forward
            events += new
            if b == cut + 5 and cut >= end:  # the first event is whole by now: it must be out
                assert len(forwarded) >= end, (newline, cut)
        assert [len(e.data) for e in events] == [2_200_000, 12], (newline, cut)
        assert forwarded + decoder.pending == raw and decoder.pending == b"data: " + b"B" * 10


def test_an_event_that_never_ends_is_cut_off_at_the_limit():
    decoder = sse.SSEDecoder()
    decoder.cut(b"data: ")
    with pytest.raises(sse.EventTooLarge):
        for _ in range(sse.MAX_EVENT_BYTES // 65536 + 2):
            decoder.cut(b"A" * 65536)


def test_a_cr_that_ends_a_blank_line_ends_its_event_at_once():
    """No next byte is needed to tell: ``\\r\\r`` and ``\\r\\r\\n`` both end the event."""
    decoder = sse.SSEDecoder()
    forwarded, events = decoder.feed(b"data: a\r\r")
    assert [e.data for e in events] == [b"a"] and forwarded == b"data: a\r\r"
    forwarded, events = decoder.feed(b"\ndata: b\r")  # the LF completes a CRLF: one more blank line, no event
    assert events == [] and forwarded == b"\n"
    forwarded, events = decoder.feed(b"\ndata: c\r\n\r\n")  # "data: b" CRLF "data: c": one event of two lines
    assert [e.data for e in events] == [b"b\nc"]


def test_in_a_crlf_stream_an_event_waits_for_the_lf_of_its_blank_line():
    """A read may end between the CR and the LF: the event (and its bytes) end after the LF, so the
    client never gets an event whose line end it must still wait for."""
    body = b"event: response.created\r\ndata: {}\r\n\r\nevent: response.completed\r\ndata: {\"x\":1}\r\n\r\n"
    decoder = sse.SSEDecoder()
    forwarded, events = decoder.feed(body[:-1])
    assert [e.type for e in events] == ["response.created"] and forwarded.endswith(b"{}\r\n\r\n")
    rest, events = decoder.feed(body[-1:])
    assert [e.type for e in events] == ["response.completed"] and forwarded + rest == body
    assert events[0].end == len(rest)


def test_a_byte_order_mark_opening_the_stream_is_dropped():
    for first in (b"\xef\xbb\xbfdata: x\n\n", b"\xef\xbb\xbfdata: x\r\n\r\n"):
        decoder = sse.SSEDecoder()
        whole = decoder.cut(first)
        if whole is None:
            whole, events = decoder.feed(first)
        else:
            events = sse.events_of_lf(whole)
        assert [e.data for e in events] == [b"x"] and not whole.startswith(b"\xef")


def test_comments_of_any_length_are_no_progress():
    assert not sse.carries_progress(b":" + b" " * 4096 + b"\n\n")
    assert not sse.carries_progress(b": keep-alive\n\n" * 100)
    assert sse.carries_progress(b": keep-alive\n\n" * 100 + b'data: {"type":"response.created"}\n\n')


def test_a_long_event_with_cr_line_ends_is_read_once(monkeypatch):
    """A 40,000-line event arriving in 16 KB reads: each line is looked at about once, not again with
    every read (which made a 4 MB event cost seconds of the loop)."""
    searches = 0
    line_end = sse._LINE_END

    class Counting:
        def search(self, buf, pos):
            nonlocal searches
            searches += 1
            return line_end.search(buf, pos)

    monkeypatch.setattr(sse, "_LINE_END", Counting())
    lines = 40_000
    event = b"event: response.completed\r\n" + b"data: x\r\n" * lines + b"\r\n"
    decoder = sse.SSEDecoder()
    got = []
    for i in range(0, len(event), 16 * 1024):
        got += decoder.feed(event[i:i + 16 * 1024])[1]
    assert len(got) == 1 and got[0].data == b"\n".join([b"x"] * lines)
    reads = -(-len(event) // (16 * 1024))
    assert searches <= lines + 2 + 2 * reads, searches


def test_only_a_relays_own_lines_are_masked_in_a_read_events_pass_as_they_came():
    """A read with no secret in it passes as it came; one with a secret is walked line by line and only the
    lines that are no Responses event go through masking."""
    from api_router.gateway.streaming import _secrets_masked

    def redact(line: bytes) -> bytes:
        return line.replace(b"KEY", b"K\xe2\x80\xa6")

    event = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"KEY"}\n\n'
    later = b'data: {"delta":"KEY","type":"response.output_text.delta"}\n\n'  # its type written last
    usual = event * 3
    clean = usual.replace(b"KEY", b"hi")
    assert _secrets_masked(clean, redact) is clean  # no secret in it: not walked
    assert _secrets_masked(usual, redact) == usual  # the model's words pass as they came
    assert _secrets_masked(later, redact) == later
    for words in (b": KEY\n\n", b"KEY\n\n", b'data: {"error": "KEY"}\n\n', b'data: {"detail": [{"type": "x", "m": "KEY"}]}\n\n',
                  b'data: {"type": "relay_error", "m": "KEY"}\n\n', b"event: bad KEY\n\n", b"data: KEY\n\n",
                  b"event: KEY\n\n", b'data: {"detail": {"type": "response.x"}, "m": "KEY"}\n\n',
                  b'data: {"m": "KEY", "detail": {"type": "response.x"}}\n\n',
                  b'data: {"type": "response.error", "m": "KEY"}\n\n', b'data: {"m": "KEY", "type": "response.error"}\n\n',
                  b'event: response.relay_error\ndata: {"type":"response.relay_error","m":"KEY"}\n\n',
                  # a name that is no Responses one, over data that is: the name is the relay's words
                  b'event: response.error KEY\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n'):
        for read in (event + words, words + event, event.replace(b"\n", b"\r") + words.replace(b"\n", b"\r")):
            masked = _secrets_masked(read, redact)
            assert masked.count(b"KEY") == 1 and masked.count(b'"delta":"KEY"') == 1, read
    cut_by_cr = b"event: x\rKEY\n" + event[event.index(b"data"):]
    assert _secrets_masked(cut_by_cr, redact).count(b"KEY") == 1


def test_a_relays_line_quoting_an_event_or_naming_one_with_a_key_is_masked():
    from api_router.gateway.streaming import _secrets_masked

    def redact(line: bytes) -> bytes:
        return line.replace(b"KEY", b"K\xe2\x80\xa6")

    delta = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi"}\n\n'
    for words in (b'data: relay error, key KEY, upstream said data: {"type":"response.failed"}\n\n',
                  b': key KEY data: {"type":"response.x"}\n\n',
                  b'event: upstream rejected key KEY\ndata: {"type":"response.output_text.delta","delta":"hi"}\n\n'):
        assert b"KEY" not in _secrets_masked(delta + words, redact), words


def test_data_that_begins_as_an_event_and_is_none_is_a_relays_words():
    """Codex refuses each of these as an event (and a JSON reader takes a type named twice as the last):
    not the model's words, so a key in them is masked — also as the one event of a read, which passes on
    without being decoded."""
    from api_router.gateway.streaming import _secrets_masked

    def redact(line: bytes) -> bytes:
        return line.replace(b"KEY", b"K\xe2\x80\xa6")

    head = b'data: {"type":"response.output_text.delta","delta":"x"'
    for data in (head + b'} upstream said: bad key KEY', head + b'} {"type":"response.failed","m":"KEY"}',
                 b'data: {"type":"response.output_text.delta","delta":"KEY",}',
                 head + b',"type":"response.failed","response":{"error":{"message":"KEY"}}}',
                 b'data: {"type":"response.failed","response":{"error":{"message":"KEY"}}}',
                 # an event of its kind carrying an error of its own (a client raises it as one)
                 head + b',"error":{"message":"invalid api key KEY"}}',
                 # two data lines, each a whole event alone: the client reads them joined, as no event
                 head + b'}\ndata: {"type":"response.output_text.delta","delta":"KEY"}'):
        read = b"event: response.output_text.delta\n" + data + b"\n\n"
        assert b"KEY" not in _secrets_masked(read, redact), data
    # A delta whose error is null, as some relays write every event: the model's words.
    words = b'event: response.output_text.delta\n' + head + b',"error":null,"x":"KEY"}\n\n'
    assert _secrets_masked(words, redact) == words


def test_a_heartbeat_whose_blank_line_comes_in_the_next_read_is_no_event_under_way():
    decoder = sse.SSEDecoder()
    assert decoder.cut(b"event: keepalive\ndata: {}\n") == b"" and not decoder.event_under_way
    decoder = sse.SSEDecoder()
    assert decoder.cut(b'event: response.output_text.delta\ndata: {"delta": "' + b"x" * 4096) == b""
    assert decoder.event_under_way


def test_one_stream_event_over_64_mb_is_refused():
    """README (failure table): one stream event over 64 MB (an event that never ends) fails the stream —
    the number itself, which the other tests read from the constant or set smaller."""
    decoder = sse.SSEDecoder()
    chunk = b"x" * (1024 * 1024)
    decoder.feed(b"event: response.output_text.delta\ndata: ")
    with pytest.raises(sse.EventTooLarge):
        for _ in range(66):
            decoder.feed(chunk)
