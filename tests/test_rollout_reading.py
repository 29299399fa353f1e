"""Replaying a Codex session file: only the lines a replay needs are parsed, and none is misread."""

import json

from api_router.codex.sessions import read_rollout


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
    path = tmp_path / "rollout-x-s.jsonl"
    path.write_text("\n".join(lines))
    rollout = read_rollout(path)
    assert [i.get("call_id") or i["content"] for i in rollout.summarised["cmp_1"]] == [talk["content"], "c1"]
    assert rollout.history == [kept, cmp, {"type": "message", "role": "user", "content": "after"}]
