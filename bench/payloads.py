"""Request and response bodies shared by the fake upstream and the load generators.

Everything is built once, deterministically (seeded), and serialised with orjson (no spaces), so
the fake upstream can recognise a stream request with a byte search instead of parsing it.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson

MODEL = "gpt-5-codex"
LEARN_MODEL = "bench-learn"  # asks the fake upstream to answer with the reasoning ids it is given
STREAM_EVENTS = 50  # events per streamed response, response.created … response.completed
RID_PLACEHOLDER = b"resp_XXXXXXXXXXXX"  # replaced by a unique id per response (same length)

_INSTRUCTIONS = (
    "You are Codex, a coding agent based on GPT-5. You and the user share the same workspace and "
    "collaborate to achieve the user's goals. Keep going until the query is completely resolved. "
)


def small_request(*, stream: bool, session: str = "bench-small") -> bytes:
    """A short Codex-like turn (one user message)."""
    return orjson.dumps({
        "model": MODEL,
        "instructions": _INSTRUCTIONS,
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "Explain what bench/run.py measures."}]}],
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "store": False,
        "stream": stream,
        "prompt_cache_key": session,
    })


def is_stream_request(body: bytes) -> bool:
    return b'"stream":true' in body


# --- responses (fake upstream) ------------------------------------------------------------------


def _message_item(text: str) -> dict[str, Any]:
    return {"id": "msg_bench_0001", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]}


_USAGE = {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1024}, "output_tokens": 84,
          "output_tokens_details": {"reasoning_tokens": 32}, "total_tokens": 1284}


def _response(status: str, output: list[Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": RID_PLACEHOLDER.decode(), "object": "response", "created_at": 1_760_000_000, "status": status,
            "background": False, "error": None, "incomplete_details": None, "instructions": None,
            "max_output_tokens": None, "model": MODEL, "output": output, "parallel_tool_calls": False,
            "previous_response_id": None, "reasoning": {"effort": "medium", "summary": "auto"}, "store": False,
            "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage,
            "user": None, "metadata": {}}


_DELTAS = STREAM_EVENTS - 8  # created, in_progress, item added, part added, …, text done, part done, item done, completed
_WORDS = [f"word{i % 17} " for i in range(_DELTAS)]
_TEXT = "".join(_WORDS)


def json_response() -> bytes:
    """A complete (non-streamed) response; its id is RID_PLACEHOLDER."""
    return orjson.dumps(_response("completed", [_message_item(_TEXT)], _USAGE))


def learn_response(reasoning_ids: list[str]) -> bytes:
    """A response whose output holds reasoning items with these ids (so the gateway learns who sealed them)."""
    output: list[Any] = [{"id": rid, "type": "reasoning", "summary": [], "encrypted_content": "gAAAA" + rid}
                         for rid in reasoning_ids]
    output.append(_message_item("ok"))
    return orjson.dumps(_response("completed", output, _USAGE))


def stream_events() -> list[bytes]:
    """The 50 SSE events of one streamed response, each ``event: …\\ndata: …\\n\\n``."""
    events: list[dict[str, Any]] = []
    shell = _response("in_progress", [], None)
    item = _message_item(_TEXT)
    events.append({"type": "response.created", "response": shell})
    events.append({"type": "response.in_progress", "response": shell})
    events.append({"type": "response.output_item.added", "output_index": 0,
                   "item": {**item, "status": "in_progress", "content": []}})
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    common = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    events.append({"type": "response.content_part.added", **common, "part": part})
    for word in _WORDS:
        events.append({"type": "response.output_text.delta", **common, "delta": word, "logprobs": [],
                       "obfuscation": "Xq3kP0z"})
    events.append({"type": "response.output_text.done", **common, "text": _TEXT, "logprobs": []})
    events.append({"type": "response.content_part.done", **common, "part": {**part, "text": _TEXT}})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    events.append({"type": "response.completed", "response": _response("completed", [item], _USAGE)})
    assert len(events) == STREAM_EVENTS
    out = []
    for seq, ev in enumerate(events):
        ev = {"type": ev["type"], "sequence_number": seq, **{k: v for k, v in ev.items() if k != "type"}}
        out.append(b"event: " + ev["type"].encode() + b"\ndata: " + orjson.dumps(ev) + b"\n\n")
    return out


# --- the 2 MB Codex request ---------------------------------------------------------------------------

_CODE_LINES = [
    "def handle(self, request: web.Request) -> web.StreamResponse:",
    "    started = time.perf_counter()",
    "    record = RequestRecord(unix_ms=now_ms(), path=request.path, stream=False)",
    '    raise GatewayError(400, f"request body is not valid JSON: {exc}") from None',
    "for pid in plan:  # candidates in order",
    '    body = b"".join(chunks)',
    "    return {\"ok\": True, \"version\": __version__}",
    "\tassert reply.status == 200, reply.body",
    "class StreamRelay:",
    "    async def run(self) -> StreamResult:",
    "// TODO(perf): keep-alive to the upstream",
    "    if seen.end == \"failed\":  # in-band failure",
]


def _code(rng: random.Random, lines: int) -> str:
    return "\n".join(f"{i + 1}:{rng.choice(_CODE_LINES)}" for i in range(lines))


def _sealed(rng: random.Random, size: int) -> str:
    return "gAAAAAB" + base64.urlsafe_b64encode(rng.randbytes(size * 3 // 4)).decode()


def codex_request(session: str, *, target_bytes: int = 2_000_000, reasoning_prefix: str = "rs_") -> tuple[bytes, list[str]]:
    """A Codex-shaped long-session request of about ``target_bytes`` and its reasoning item ids.

    developer + environment messages, then turns of user message → reasoning (sealed) →
    function_call → function_call_output (code with quotes and newlines) → … → assistant message;
    ``store: false``, ``stream: true``, ``include: [reasoning.encrypted_content]`` as Codex sends it.
    """
    rng = random.Random(20251124)
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": (
            "<permissions instructions>Filesystem sandboxing: workspace-write. Network access is restricted. "
            "Approval policy: on-request.</permissions instructions>\n" * 8)}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": (
            "<environment_context>\n  <cwd>/work/project</cwd>\n  <approval_policy>on-request</approval_policy>\n"
            "  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted</network_access>\n"
            "  <shell>bash</shell>\n</environment_context>")}]},
    ]
    ids: list[str] = []
    body_so_far = 4000
    turn = 0
    while body_so_far < target_bytes - 6000:
        turn += 1
        user = f"Turn {turn}: please fix the failing test in module_{turn % 13}.py and explain the change. " * 3
        items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": user}]})
        for step in range(3):
            rid = f"{reasoning_prefix}{turn:04d}{step}"
            ids.append(rid)
            items.append({"type": "reasoning", "id": rid, "summary": [
                {"type": "summary_text", "text": f"**Inspecting module_{turn % 13}.py**\n\nLooking for the failing assertion."}],
                "content": None, "encrypted_content": _sealed(rng, rng.randint(2500, 5000))})
            call = f"call_{turn:04d}_{step}"
            items.append({"type": "function_call", "id": f"fc_{turn:04d}{step}", "name": "shell",
                          "arguments": orjson.dumps({"command": ["bash", "-lc", f"sed -n 1,120p module_{turn % 13}.py"],
                                                     "workdir": "/work/project", "timeout_ms": 120000}).decode(),
                          "call_id": call})
            out = orjson.dumps({"output": _code(rng, rng.randint(40, 90)),
                                "metadata": {"exit_code": 0, "duration_seconds": 0.1}}).decode()
            items.append({"type": "function_call_output", "call_id": call, "output": out})
        items.append({"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": f"I fixed the assertion in module_{turn % 13}.py: the expected value was off by one. " * 4}]})
        body_so_far = len(orjson.dumps(items))
    payload = {
        "model": MODEL,
        "instructions": _INSTRUCTIONS * 40,
        "input": items,
        "tools": [{"type": "function", "name": "shell", "description": "Runs a shell command and returns its output.",
                   "strict": False, "parameters": {"type": "object", "properties": {
                       "command": {"type": "array", "items": {"type": "string"}},
                       "workdir": {"type": "string"}, "timeout_ms": {"type": "number"}},
                       "required": ["command"], "additionalProperties": False}}],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": session,
    }
    return orjson.dumps(payload), ids


def learn_request(session: str, reasoning_ids: list[str]) -> bytes:
    """A request the fake upstream answers with reasoning items carrying ``reasoning_ids``."""
    return orjson.dumps({"model": LEARN_MODEL, "input": "hi", "stream": False, "store": False,
                         "metadata": {"reasoning_ids": reasoning_ids}, "prompt_cache_key": session})
