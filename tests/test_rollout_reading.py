"""Replaying a Codex session file: only the lines a replay needs are parsed, none is misread, and a
file read before is only read on from where it grew."""

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from api_router.codex import sessions
from api_router.codex.sessions import Rollout, RolloutReader
from api_router.continuity.index import sealed_key


def test_a_replay_takes_response_items_and_compactions_and_nothing_else(tmp_path):
    talk = {"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": 'see {"type":"compacted","payload":{}} in the log'}]}
    kept = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]}
    cmp = {"type": "compaction", "id": "cmp_1", "encrypted_content": "sealed"}
    lines = [
        json.dumps({"timestamp": "t", "type": "session_meta", "payload": {"id": "s"}}),
        json.dumps({"timestamp": "t", "type": "response_item", "payload": talk}, separators=(",", ":")),
        json.dumps({"timestamp": "t", "type": "event_msg", "payload": {"type": "token_count"}}),
        # Python's own writer allows NaN: read by the fallback parser, not dropped.
        json.dumps({"timestamp": "t", "type": "response_item",
                    "payload": {"type": "function_call_output", "call_id": "c1", "output": "x", "score": float("nan")}}),
        json.dumps({"timestamp": "t", "type": "compacted", "payload": {"message": "", "replacement_history": [kept, cmp]}}),
        json.dumps({"type": "response_item", "payload": {"type": "message", "role": "user", "content": "after"}}),
        '{"timestamp":"t","type":"response_item","payload":{"type":"mess',  # torn: Codex is writing it
    ]
    path = tmp_path / "sessions" / "2026" / "12" / "01" / "rollout-2026-12-01T10-00-00-s.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines))
    rollout = RolloutReader().read(tmp_path, "s")
    (summarised,) = rollout.summarised["cmp_1"]
    assert [i.get("call_id") or i["content"] for i in summarised] == [talk["content"], "c1"]
    assert rollout.history == [kept, cmp, {"type": "message", "role": "user", "content": "after"}]


def test_a_compaction_line_with_only_a_summary_leaves_the_users_words_and_the_summary(tmp_path, monkeypatch):
    """Older Codex versions write a local compaction as its summary alone; Codex rebuilds the history
    from it as the user's newest messages (not its instructions or environment) plus the summary."""
    monkeypatch.setattr(sessions, "KEPT_USER_CHARS", 21)

    def said(role: str, text: str) -> dict:
        kind = "input_text" if role == "user" else "output_text"
        return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}

    before = [said("user", "<environment_context>cwd</environment_context>"), said("user", "first ask, long ago"),
              said("assistant", "done"), said("user", "fix the build"), {"type": "function_call", "call_id": "c1"},
              said("user", "now test")]
    path = _session_file(tmp_path, "s")
    path.write_text("".join(_line("response_item", item) for item in before)
                    + _line("compacted", {"message": "The build is fixed; tests are next."})
                    + _line("response_item", said("user", "go on")))
    rollout = RolloutReader().read(tmp_path, "s")
    # 21 characters of the user's words: the two newest messages fit, the older one does not.
    assert rollout.history == [said("user", "fix the build"), said("user", "now test"),
                               said("user", "The build is fixed; tests are next."), said("user", "go on")]
    assert rollout.summarised == {}


def test_a_second_summary_only_compaction_leaves_out_the_first_summary(tmp_path):
    """Codex writes each such summary after its own lead-in; rebuilding from the newest one, it keeps
    the user's words but not an earlier summary (which would otherwise come back as something the user
    said, next to the summary that replaced it)."""
    def said(role: str, text: str) -> dict:
        kind = "input_text" if role == "user" else "output_text"
        return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}

    path = _session_file(tmp_path, "s")
    path.write_text(_line("response_item", said("user", "U1")) + _line("response_item", said("assistant", "A1"))
                    + _line("compacted", {"message": sessions.CODEX_SUMMARY_LEAD + "SUMMARY-ONE"})
                    + _line("response_item", said("user", "U2")) + _line("response_item", said("assistant", "A2"))
                    + _line("compacted", {"message": sessions.CODEX_SUMMARY_LEAD + "SUMMARY-TWO"})
                    + _line("response_item", said("user", "U3")))
    rollout = RolloutReader().read(tmp_path, "s")
    assert rollout.history == [said("user", "U1"), said("user", "U2"),
                               said("user", sessions.CODEX_SUMMARY_LEAD + "SUMMARY-TWO"), said("user", "U3")]


def test_a_summary_only_compaction_keeps_the_message_the_room_ends_in_cut_and_not_codexs_own_notes(tmp_path,
                                                                                                     monkeypatch):
    """As Codex rebuilds it: the newest user message that does not fit whole is kept with its middle left
    out (not dropped with everything older); notes Codex writes itself — an interrupted turn's, a skill's,
    a subagent's — are not the user's words."""
    monkeypatch.setattr(sessions, "KEPT_USER_CHARS", 40)

    def said(role: str, text: str) -> dict:
        kind = "input_text" if role == "user" else "output_text"
        return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}

    long = "START " + "x" * 100 + " END"
    path = _session_file(tmp_path, "s")
    path.write_text("".join(_line("response_item", item) for item in (
        said("user", "older words"), said("user", long), said("user", "<turn_aborted>\nstopped</turn_aborted>"),
        said("user", "<skill>\nrun tests</skill>"), said("user", "<subagent_notification>done</subagent_notification>"),
        said("user", "newest"), said("assistant", "ok")))
        + _line("compacted", {"message": "SUMMARY"}))
    history = RolloutReader().read(tmp_path, "s").history
    texts = [item["content"][0]["text"] for item in history]
    assert texts[1:] == ["newest", "SUMMARY"], texts
    assert texts[0].startswith("START ") and texts[0].endswith("x END") and " tokens truncated…" in texts[0]
    assert len(texts[0]) - len(texts[0].split("…")[1]) - 2 == 40 - len("newest")  # the room left, cut in the middle


# --- the reader that keeps rollouts between requests -------------------------------------------------


def _item(n: int) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"turn {n}"}]}


def _line(kind: str, payload: dict) -> str:
    return json.dumps({"timestamp": "t", "type": kind, "payload": payload}) + "\n"


def _compacted(n: int, keep: list) -> str:
    return _line("compacted", {"message": "", "replacement_history": [
        *keep, {"type": "compaction", "id": f"cmp_{n}", "encrypted_content": "sealed"}]})


def _session_file(home, session="s1", day="2026/12/01"):
    folder = home / "sessions" / day
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"rollout-2026-12-01T10-00-00-{session}.jsonl"


def _fresh(home, session="s1") -> Rollout:
    """The session's file read by a reader that has not seen it before."""
    return RolloutReader().read(home, session)


def _same(a, b) -> bool:
    return a.history == b.history and a.summarised == b.summarised


class _Expected:
    """The replay, as this test understands it, after the lines written so far."""

    def __init__(self, history=(), summarised=None):
        self.history, self.summarised = list(history), dict(summarised or {})

    def then(self, kind: str, payload: dict) -> "_Expected":
        after = _Expected(self.history, self.summarised)
        if kind == "response_item":
            after.history.append(payload)
        elif kind == "compacted":
            replacement = payload["replacement_history"]
            for item in replacement:  # by its id and by its sealed content, every compaction so known
                if item.get("type") == "compaction" and self.history:
                    after.summarised.update({key: [*self.summarised.get(key, []), self.history]
                                             for key in (item.get("id"), sealed_key(item)) if key})
            after.history = list(replacement)
        return after


def test_the_reader_follows_a_growing_file_as_a_fresh_read_would(tmp_path):
    # Codex appends event lines, items and compactions, sometimes in pieces (a line with no newline
    # yet, completed by the next write); after every write the kept rollout equals both the replay
    # this test expects and a fresh read of the whole file.
    rnd = random.Random(7)
    path = _session_file(tmp_path)
    path.write_text("")
    reader = RolloutReader()
    expected = _Expected()

    def check(want: _Expected) -> None:
        got = reader.read(tmp_path, "s1")
        assert (got.history, got.summarised) == (want.history, want.summarised)
        assert _same(got, _fresh(tmp_path))

    for step in range(150):
        roll = rnd.random()
        if roll < 0.5:
            kind, payload = "response_item", _item(step)
        elif roll < 0.7:
            kind, payload = "event_msg", {"type": "token_count"}
        else:
            kind, payload = "compacted", {"message": "", "replacement_history": [
                _item(-step), {"type": "compaction", "id": f"cmp_{step}", "encrypted_content": "sealed"}]}
        text = _line(kind, payload)
        if rnd.random() < 0.3:  # the line arrives in two writes
            cut = rnd.choice([rnd.randrange(1, len(text) - 1), len(text) - 1])
            with path.open("a") as fh:
                fh.write(text[:cut])
            # Torn, it is not there yet; whole but for its newline, it already is.
            check(expected.then(kind, payload) if cut == len(text) - 1 else expected)
            text = text[cut:]
        with path.open("a") as fh:
            fh.write(text)
        expected = expected.then(kind, payload)
        check(expected)


def test_the_reader_parses_a_line_once(tmp_path, monkeypatch):
    path = _session_file(tmp_path)
    path.write_text("".join(_line("response_item", _item(n)) for n in range(50)))
    parsed = []
    real = sessions._json_line
    monkeypatch.setattr(sessions, "_json_line", lambda raw: parsed.append(raw) or real(raw))
    reader = RolloutReader()
    assert len(reader.read(tmp_path, "s1").history) == 50
    assert len(parsed) == 50
    assert len(reader.read(tmp_path, "s1").history) == 50
    assert len(parsed) == 50  # unchanged file: nothing read again
    with path.open("a") as fh:
        fh.write(_line("response_item", _item(50)) + _line("event_msg", {"type": "token_count"}))
    assert reader.read(tmp_path, "s1").history[-1] == _item(50)
    assert len(parsed) == 51  # only the appended item


def test_a_rollout_handed_out_is_not_changed_by_later_appends(tmp_path):
    path = _session_file(tmp_path)
    path.write_text(_line("response_item", _item(0)))
    reader = RolloutReader()
    first = reader.read(tmp_path, "s1")
    with path.open("a") as fh:
        fh.write(_line("response_item", _item(1)) + _compacted(2, [_item(1)]))
    later = reader.read(tmp_path, "s1")
    assert first.history == [_item(0)] and first.summarised == {}
    assert [i.get("id") for i in later.history] == [None, "cmp_2"]
    assert later.summarised["cmp_2"] == [[_item(0), _item(1)]]


def _stamped(stamp: str, numbers) -> str:
    return "".join(json.dumps({"timestamp": stamp, "type": "response_item", "payload": _item(n)}) + "\n"
                   for n in numbers)


@pytest.mark.parametrize("how", ["rewritten in place", "rewritten, same line ends", "replaced",
                                 "replaced, same size and time", "cut short"])
def test_a_file_that_did_not_just_grow_is_read_again_from_the_start(tmp_path, how):
    path = _session_file(tmp_path)
    path.write_text(_stamped("2026-12-01T10:00:00", range(5)))
    reader = RolloutReader()
    assert len(reader.read(tmp_path, "s1").history) == 5
    if how == "rewritten in place":  # same inode, longer, different from the first byte on
        path.write_text("".join(_line("response_item", _item(n + 100)) for n in range(8)))
    elif how == "rewritten, same line ends":  # every line where it was, only its start (the time) differs
        path.write_text(_stamped("2026-12-01T11:00:00", [9, 1, 2, 3, 4, 5]))
    elif how == "replaced":
        other = tmp_path / "new.jsonl"
        other.write_text("".join(_line("response_item", _item(n + 100)) for n in range(8)))
        os.replace(other, path)
    elif how == "replaced, same size and time":  # a restored copy that keeps its time
        before = path.stat()
        other = tmp_path / "new.jsonl"
        other.write_text(_stamped("2026-12-01T10:00:00", [9, 1, 2, 3, 4]))
        os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(other, path)
    else:
        path.write_text(_line("response_item", _item(100)))
    assert _same(reader.read(tmp_path, "s1"), _fresh(tmp_path))
    assert reader.read(tmp_path, "s1").history[0] in (_item(100), _item(9))


def test_a_newer_file_of_the_session_takes_over_at_the_next_search(tmp_path, monkeypatch):
    _session_file(tmp_path).write_text(_line("response_item", _item(0)))
    reader = RolloutReader()
    assert reader.read(tmp_path, "s1").history == [_item(0)]
    newer = _session_file(tmp_path, day="2026/12/02")
    newer.write_text(_line("response_item", _item(1)))
    os.utime(newer, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert reader.read(tmp_path, "s1").history == [_item(0)]  # not searched again on every request
    monkeypatch.setattr(sessions, "SEARCH_AGAIN_SECONDS", 0.0)
    assert reader.read(tmp_path, "s1").history == [_item(1)]


def test_a_session_file_that_moves_is_found_again_and_one_that_goes_is_gone(tmp_path):
    path = _session_file(tmp_path)
    path.write_text(_line("response_item", _item(0)))
    reader = RolloutReader()
    assert reader.read(tmp_path, "s1").history == [_item(0)]
    moved = _session_file(tmp_path, day="2026/12/02")
    os.replace(path, moved)
    with moved.open("a") as fh:
        fh.write(_line("response_item", _item(1)))
    assert reader.read(tmp_path, "s1").history == [_item(0), _item(1)]
    moved.unlink()
    assert reader.read(tmp_path, "s1") is None
    assert reader.read(tmp_path, "other") is None


def test_the_reader_keeps_few_sessions_and_serves_threads(tmp_path, monkeypatch):
    for n in range(6):
        _session_file(tmp_path, session=f"s{n}").write_text(_line("response_item", _item(n)))
    reader = RolloutReader(keep=2)
    searched = []
    real = sessions.find_rollout
    monkeypatch.setattr(sessions, "find_rollout", lambda home, sid: searched.append(sid) or real(home, sid))
    results: list = []
    threads = [threading.Thread(target=lambda n=n: results.append(reader.read(tmp_path, f"s{n % 6}").history))
               for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == sorted(str([_item(n % 6)]) for n in range(24))
    searched.clear()
    reader.read(tmp_path, "s0"), reader.read(tmp_path, "s1"), reader.read(tmp_path, "s0"), reader.read(tmp_path, "s1")
    assert searched.count("s0") <= 1 and searched.count("s1") <= 1  # the two newest are kept
    assert len(reader._sessions) == 2


def test_sessions_not_read_for_a_while_are_let_go(tmp_path, monkeypatch):
    for n in range(2):
        _session_file(tmp_path, session=f"s{n}").write_text(_line("response_item", _item(n)))
    clock = [1000.0]
    monkeypatch.setattr(sessions, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    reader = RolloutReader()
    reader.read(tmp_path, "s0")
    clock[0] += 500
    reader.read(tmp_path, "s1")
    clock[0] += 200
    reader.expire(600)  # s0 idle 700 s, s1 200 s
    assert reader.kept == 1
    clock[0] += 400
    reader.expire(600)
    assert reader.kept == 0
    assert reader.read(tmp_path, "s1").history == [_item(1)]  # read again from the file


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_the_memory_a_let_go_session_held_goes_back_to_the_system(tmp_path):
    """A long session's history, parsed, is many small objects; let go, glibc keeps their pages unless asked
    to give them back — an app in the tray stayed at its largest session's size (389 MB, measured)."""
    import subprocess
    import textwrap

    path = _session_file(tmp_path)
    with path.open("w") as fh:
        for n in range(60_000):  # texts of 2 KB: each a block of the C allocator's own, not Python's
            fh.write(_line("response_item", {"type": "message", "role": "user",
                                             "content": [{"type": "input_text", "text": f"turn {n:6} " * 170}]}))
    script = textwrap.dedent(f"""
        import gc, sys
        from pathlib import Path
        from api_router import heap
        from api_router.codex.sessions import RolloutReader
        def rss():
            return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 >> 20
        base = rss()
        reader = RolloutReader()
        rollout = reader.read(Path({str(tmp_path)!r}), "s1")
        assert len(rollout.history) == 60_000
        survivors = [bytes(2048) for _ in range(200)]  # what the app went on to keep, above the history
        del rollout
        peak = rss()
        reader.expire(0)
        gc.collect()
        kept = rss()
        heap.give_back()
        print(base, peak, kept, rss())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    base, peak, kept, after = map(int, out.stdout.split())
    assert peak - base > 100, out.stdout  # the history took room
    assert after - base < (peak - base) / 3, out.stdout  # most of it is back with the system


def test_a_codex_session_is_looked_for_on_the_day_its_id_says_it_began(tmp_path, monkeypatch):
    """A UUIDv7 session id carries its creation time: that day's folder (or a day either side, for
    time zones) is searched instead of every session ever recorded; other ids search the tree."""
    created = time.mktime((2026, 11, 30, 23, 30, 0, 0, 0, -1))  # local time, late in the day
    sid = f"{int(created * 1000):012x}"
    sid = f"{sid[:8]}-{sid[8:]}-7abc-8def-0123456789ab"
    for day, name in (("2026/11/30", sid), ("2026/12/01", "older-than-v7"), ("2025/01/02", "other")):
        _session_file(tmp_path, session=name, day=day).write_text(_line("response_item", _item(0)))
    walked = []
    real_rglob = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: walked.append(pattern) or real_rglob(self, pattern))
    assert sessions.find_rollout(tmp_path, sid) == _session_file(tmp_path, session=sid, day="2026/11/30")
    assert walked == []
    assert sessions.find_rollout(tmp_path, "older-than-v7").parent.name == "01"
    assert len(walked) == 1
    moved = _session_file(tmp_path, session=sid, day="2026/06/01")  # a v7 id filed elsewhere: found all the same
    os.replace(_session_file(tmp_path, session=sid, day="2026/11/30"), moved)
    assert sessions.find_rollout(tmp_path, sid) == moved


def test_a_session_id_that_ends_another_sessions_id_finds_no_file(tmp_path):
    """``rollout-*-<id>.jsonl`` also matches a longer id ending in ``-<id>``: another session's history,
    never to be replayed as this one's."""
    other = "019a0000-0000-7000-861e-133c187c160c"
    _session_file(tmp_path, session=other).write_text(_line("response_item", _item(0)))
    for tail in ("133c187c160c", "861e-133c187c160c", "c187c160c"):
        assert sessions.find_rollout(tmp_path, tail) is None, tail
    assert sessions.find_rollout(tmp_path, other) == _session_file(tmp_path, session=other)
    own = _session_file(tmp_path, session="133c187c160c", day="2026/12/02")
    own.write_text(_line("response_item", _item(1)))
    assert sessions.find_rollout(tmp_path, "133c187c160c") == own


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_session_file_replaced_by_a_pipe_is_no_session_file_and_holds_nothing_up(tmp_path):
    """Opened to read on, a FIFO would wait for a writer — and every request of the session with it."""
    path = tmp_path / "sessions" / "2026" / "12" / "01" / "rollout-2026-12-01T10-00-00-s.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"type": "response_item", "payload": {"type": "message", "role": "user",
                                                                     "content": "hi"}}) + "\n")
    reader = RolloutReader()
    assert reader.read(tmp_path, "s").history
    path.unlink()
    os.mkfifo(path)
    result = []
    worker = threading.Thread(target=lambda: result.append(reader.read(tmp_path, "s")), daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # let the stuck reader go before failing
        os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        pytest.fail("reading the session blocked on the pipe")
    assert result == [None]


def test_history_items_of_any_json_shape_can_be_compared():
    """Client input and session files may hold odd values where ids and roles belong: comparing them
    (to find where a replayed history and the request's own items meet) must not fail on them."""
    from api_router.continuity import rewrite

    odd = [[1, 2], {"type": ["x"]}, {"type": "message", "role": ["user"], "content": []},
           {"type": "function_call", "call_id": {"a": 1}}, {"type": "reasoning", "id": [1]}, 5, None, "text"]
    # (what expanding a compaction does: the items the expansion repeats, looked up in a set)
    assert len({rewrite._signature(i) for i in odd}) == len(odd)
    assert rewrite.rebuild_input(odd, odd[-3:]) == odd


def _paginated(folder: Path, sid: str, texts: list[str], parent: tuple[str, int, int] | None,
               start: int = 0) -> tuple[int, int]:
    """A session file as Codex 0.169 writes it; ``parent``: (id, its line count, its size) at the fork.
    Returns (line count, size)."""
    meta: dict = {"id": sid, "history_mode": "paginated"}
    if parent is not None:
        meta |= {"forked_from_id": parent[0],
                 "history_base": {"thread_id": parent[0], "end_ordinal_exclusive": parent[1], "end_byte_offset": parent[2]}}
    lines = [{"timestamp": "t", "ordinal": start, "type": "session_meta", "payload": meta}]
    lines += [{"timestamp": "t", "ordinal": n, "type": "response_item",
               "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}
              for n, text in enumerate(texts, start + 1)]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / f"rollout-2026-11-24T10-00-00-{sid}.jsonl").write_text(text)
    return start + len(lines), len(text.encode())


def test_a_fork_of_a_fork_written_paginated_starts_from_each_ancestors_history_at_its_fork(tmp_path):
    folder = tmp_path / "sessions" / "2026" / "11" / "24"
    folder.mkdir(parents=True)
    lines, size = _paginated(folder, "grand", ["g1", "g2"], None)
    at_fork = lines, size
    _paginated(folder, "grand", ["g1", "g2", "grand went on after the fork"], None)  # appended since
    lines, size = _paginated(folder, "mid", ["m1"], ("grand", *at_fork), start=at_fork[0])
    _paginated(folder, "leaf", ["l1"], ("mid", lines, size), start=lines)
    rollout = RolloutReader().read(tmp_path, "leaf")
    assert [i["content"][0]["text"] for i in rollout.history] == ["g1", "g2", "m1", "l1"]
    assert rollout.forked_from == "mid"


def test_a_fork_of_itself_written_by_hand_ends_the_search(tmp_path):
    folder = tmp_path / "sessions" / "2026" / "11" / "24"
    folder.mkdir(parents=True)
    _paginated(folder, "loop", ["x"], ("loop", 2, 10_000))
    assert [i["content"][0]["text"] for i in RolloutReader().read(tmp_path, "loop").history][-1] == "x"


def test_a_chain_of_five_forks_brings_every_ancestors_history(tmp_path):
    folder = tmp_path / "sessions" / "2026" / "11" / "24"
    folder.mkdir(parents=True)
    parent, start = None, 0
    for n in range(5):
        lines, size = _paginated(folder, f"s{n}", [f"t{n}"], parent, start=start)
        parent, start = (f"s{n}", lines, size), lines
    rollout = RolloutReader().read(tmp_path, "s4")
    assert [i["content"][0]["text"] for i in rollout.history] == ["t0", "t1", "t2", "t3", "t4"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the other systems' libraries are absent here")
@pytest.mark.parametrize("platform", ["darwin", "win32", "freebsd14"])
def test_where_the_allocator_call_is_missing_giving_back_memory_is_a_quiet_no(monkeypatch, platform):
    """macOS and Windows have their own call (malloc_zone_pressure_relief, the UCRT's _heapmin); on a system
    without it, or without the library to open, the expiry of a session's history goes on without one."""
    from api_router import heap

    monkeypatch.setattr(heap.sys, "platform", platform)
    assert heap.give_back() is False  # none of those libraries exists on this Linux machine
