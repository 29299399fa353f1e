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


# created, in_progress, reasoning added + done, message added, part added, …deltas…, text done, part
# done, message done, completed: a Codex turn's stream carries a sealed reasoning item before the text.
_DELTAS = STREAM_EVENTS - 10
_WORDS = [f"word{i % 17} " for i in range(_DELTAS)]
_TEXT = "".join(_WORDS)


def json_response() -> bytes:
    """A complete (non-streamed) response; its id is RID_PLACEHOLDER."""
    return orjson.dumps(_response("completed", [_message_item(_TEXT)], _USAGE))


def learn_response(reasoning_ids: list[str], size: int | None = None) -> bytes:
    """A response whose output holds reasoning items with these ids and their sealed content (so the gateway
    learns who sealed them); ``size``: as ``sealed_for``."""
    output: list[Any] = [{"id": rid, "type": "reasoning", "summary": [], "encrypted_content": sealed_for(rid, size)}
                         for rid in reasoning_ids]
    output.append(_message_item("ok"))
    return orjson.dumps(_response("completed", output, _USAGE))


def _reasoning_item() -> dict[str, Any]:
    """The sealed reasoning item a Codex turn's answer starts with; its id is unique per response
    (``rs_`` + the response id), as a real provider's is, so the gateway learns a new owner each time."""
    sealed = "gAAAAAB" + base64.urlsafe_b64encode(random.Random(7).randbytes(1500)).decode()
    return {"id": "rs_" + RID_PLACEHOLDER.decode(), "type": "reasoning", "summary": [],
            "encrypted_content": sealed}


def stream_events() -> list[bytes]:
    """The 50 SSE events of one streamed response, each ``event: …\\ndata: …\\n\\n``."""
    events: list[dict[str, Any]] = []
    shell = _response("in_progress", [], None)
    reasoning = _reasoning_item()
    item = _message_item(_TEXT)
    events.append({"type": "response.created", "response": shell})
    events.append({"type": "response.in_progress", "response": shell})
    events.append({"type": "response.output_item.added", "output_index": 0,
                   "item": {"id": reasoning["id"], "type": "reasoning", "summary": []}})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": reasoning})
    events.append({"type": "response.output_item.added", "output_index": 1,
                   "item": {**item, "status": "in_progress", "content": []}})
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    common = {"item_id": item["id"], "output_index": 1, "content_index": 0}
    events.append({"type": "response.content_part.added", **common, "part": part})
    for word in _WORDS:
        events.append({"type": "response.output_text.delta", **common, "delta": word, "logprobs": [],
                       "obfuscation": "Xq3kP0z"})
    events.append({"type": "response.output_text.done", **common, "text": _TEXT, "logprobs": []})
    events.append({"type": "response.content_part.done", **common, "part": {**part, "text": _TEXT}})
    events.append({"type": "response.output_item.done", "output_index": 1, "item": item})
    events.append({"type": "response.completed", "response": _response("completed", [reasoning, item], _USAGE)})
    assert len(events) == STREAM_EVENTS
    out = []
    for seq, raw in enumerate(events):
        ev = {"type": raw["type"], "sequence_number": seq, **{k: v for k, v in raw.items() if k != "type"}}
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


def sealed_for(rid: str, size: int | None = None) -> str:
    """The sealed content of reasoning item ``rid``, the same wherever it is written (the answer that seals
    it, every request that carries it back): the gateway knows an item's producer by that content."""
    rng = random.Random(rid)
    return _sealed(rng, size if size is not None else rng.randint(2500, 5000))


def _codex_turn_options(session: str) -> dict[str, Any]:
    """The fields every streamed Codex turn carries besides its model, input and tools."""
    return {"tool_choice": "auto", "parallel_tool_calls": False, "reasoning": {"effort": "medium", "summary": "auto"},
            "store": False, "stream": True, "include": ["reasoning.encrypted_content"], "prompt_cache_key": session}


def codex_request(session: str, *, target_bytes: int = 2_000_000,
                  reasoning_prefix: str = "rs_") -> tuple[bytes, list[str]]:
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
                {"type": "summary_text",
                 "text": f"**Inspecting module_{turn % 13}.py**\n\nLooking for the failing assertion."}],
                "content": None, "encrypted_content": sealed_for(rid)})
            call = f"call_{turn:04d}_{step}"
            items.append({"type": "function_call", "id": f"fc_{turn:04d}{step}", "name": "shell",
                          "arguments": orjson.dumps({"command": ["bash", "-lc", f"sed -n 1,120p module_{turn % 13}.py"],
                                                     "workdir": "/work/project", "timeout_ms": 120000}).decode(),
                          "call_id": call})
            out = orjson.dumps({"output": _code(rng, rng.randint(40, 90)),
                                "metadata": {"exit_code": 0, "duration_seconds": 0.1}}).decode()
            items.append({"type": "function_call_output", "call_id": call, "output": out})
        items.append({"type": "message", "role": "assistant", "content": [
            {"type": "output_text",
             "text": f"I fixed the assertion in module_{turn % 13}.py: the expected value was off by one. " * 4}]})
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
        **_codex_turn_options(session),
    }
    return orjson.dumps(payload), ids


def learn_request(session: str, reasoning_ids: list[str], size: int | None = None) -> bytes:
    """A request the fake upstream answers with reasoning items carrying ``reasoning_ids`` (sealed content of
    ``size``, as ``sealed_for``)."""
    metadata = {"reasoning_ids": reasoning_ids, "sealed_size": size}
    return orjson.dumps({"model": LEARN_MODEL, "input": "hi", "stream": False, "store": False,
                         "metadata": metadata, "prompt_cache_key": session})


CODEX_TURN_SEALED_SIZE = 1800


# --- a Codex turn as Codex 0.169 sends it (captured from the real CLI) -----------------------------------

_TOOL_NAMES = ["shell", "read_file", "list_dir", "grep_files", "view_image", "update_plan", "write_stdin",
               "exec_command", "list_mcp_resources", "read_mcp_resource"]


def _function_tool(rng: random.Random, name: str) -> dict[str, Any]:
    props = {f"arg_{i}": {"type": rng.choice(["string", "number", "boolean"]),
                          "description": f"Parameter {i} of {name}: " + "what it means and when to pass it. " * 3}
             for i in range(rng.randint(3, 6))}
    return {"type": "function", "name": name, "strict": False,
            "description": f"{name}: " + "Runs the named operation in the workspace and returns its output. " * 6,
            "parameters": {"type": "object", "properties": props, "required": sorted(props)[:1],
                           "additionalProperties": False}}


def codex_turn(session: str, sealed_ids: list[str]) -> bytes:
    """The second turn of a Codex session (~40 KB, like a trivial real turn): the system prompt as
    the first developer message, the environment, the first turn's items with its reasoning sealed
    (``encrypted_content``) under ``sealed_ids``, the new user message, ~12 tools, ``store: false``,
    ``include: [reasoning.encrypted_content]``, ``prompt_cache_key`` = session id; no
    ``instructions``, no ``previous_response_id``."""
    rng = random.Random(20260105)
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": _INSTRUCTIONS * 60}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": (
            "<environment_context>\n  <cwd>/work/project</cwd>\n  <approval_policy>on-request</approval_policy>\n"
            "  <sandbox_mode>workspace-write</sandbox_mode>\n  <shell>bash</shell>\n</environment_context>")}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Why does test_parse fail?"}]},
    ]
    for n, rid in enumerate(sealed_ids):
        call = f"call_bench_{n}"
        items.append({"type": "reasoning", "id": rid, "summary": [
            {"type": "summary_text", "text": "**Reading the test**\n\nThe failing assertion compares two dicts."}],
            "content": None, "encrypted_content": sealed_for(rid, CODEX_TURN_SEALED_SIZE)})
        items.append({"type": "function_call", "id": f"fc_bench_{n}", "name": "shell", "call_id": call,
                      "arguments": orjson.dumps({"command": ["bash", "-lc", "sed -n 1,80p tests/test_parse.py"],
                                                 "workdir": "/work/project"}).decode()})
        items.append({"type": "function_call_output", "call_id": call,
                      "output": orjson.dumps({"output": _code(rng, 40), "metadata": {"exit_code": 0}}).decode()})
    items.append({"type": "message", "role": "assistant", "content": [
        {"type": "output_text",
         "text": "The expected dict lists its keys in another order; the test compares strings."}]})
    items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix it, please."}]})
    tools: list[dict[str, Any]] = [_function_tool(rng, name) for name in _TOOL_NAMES]
    tools.append({"type": "custom", "name": "apply_patch", "description": "Edits files with a patch. " * 20,
                  "format": {"type": "grammar", "syntax": "lark",
                             "definition": "start: begin_patch hunk+ end_patch\n" * 10}})
    tools.append({"type": "web_search"})
    return orjson.dumps({
        "model": MODEL,
        "input": items,
        "tools": tools,
        **_codex_turn_options(session),
        "text": {"verbosity": "medium"},
        "client_metadata": {},
    })


def codex_headers(session: str) -> dict[str, str]:
    """The headers Codex 0.169 sends with every request of a session (besides Authorization)."""
    return {"Content-Type": "application/json", "Accept": "text/event-stream", "originator": "codex_exec",
            "user-agent": "codex_exec/0.169.0 (Debian 12; x86_64) bench", "session-id": session, "thread-id": session,
            "x-client-request-id": session, "x-codex-window-id": f"{session}:0",
            "x-codex-turn-metadata": orjson.dumps({"request_kind": "turn", "turn_id": "0199-bench-turn",
                                                   "sandbox": "workspace-write"}).decode(),
            "x-codex-beta-features": ""}
