"""The provider test behind the Test button: can this provider serve Codex?

Three calls with the provider's own key: ``GET /models`` (the model list, and a model to ask for
when none was used yet), a minimal streamed ``POST /responses`` (does it stream Responses events
through to ``response.completed``, and how fast is the first event), and the same with one function
tool (does it call tools). Each call may cost a few tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from api_router.config import ProviderConfig
from api_router.gateway import classify, sse
from api_router.gateway.checks import DEFAULT_MODEL, ProbeResult, probe_responses
from api_router.gateway.explain import path_hint
from api_router.gateway.models import MODELS_TIMEOUT_SECONDS, ModelList, fetch_models
from api_router.gateway.response_objects import closes_an_answer, ending_response
from api_router.gateway.upstream import Upstream
from api_router.records import now_ms

TOOL = {"type": "function", "name": "get_current_time", "description": "Returns the current time.",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}


# The whole test, within the 60 s a control call may take (a provider that hangs fails it in time).
TEST_SECONDS = 50.0


def _model_to_ask(provider: ProviderConfig, models: ModelList) -> str:
    """With nothing sent to the provider yet (else that model, in its own naming, is asked for): a name
    from its ``model_map`` (what requests will send: a list's first model may be no chat model), else the
    first one it lists."""
    if provider.model_map:
        mapped = provider.model_for(DEFAULT_MODEL)
        return mapped if mapped and mapped != DEFAULT_MODEL else next(iter(provider.model_map.values()))
    return models.models[0] if models.models else DEFAULT_MODEL


def _stream_body(model: str, *, tool: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "stream": True, "store": False, "max_output_tokens": 64,
                            "input": "Call get_current_time." if tool else "Reply with the single word: pong"}
    if tool:
        body.update(tools=[TOOL], tool_choice="required")
    return orjson.dumps(body)


@dataclass(frozen=True)
class _Answer:
    """What one of the test's streamed requests got back."""

    done: bool  # it answered: a complete (or incomplete: out of output tokens) response
    types: frozenset[str]  # the types of the items it gave
    incomplete: bool = False  # ended with response.incomplete (its output-token budget spent, say)
    why: str = ""  # why it is no answer, when it says it is one but reports a failure


# What a provider that answered the plain streamed request says to the same request with one tool when
# it cannot call tools: the request refused as such (a rate limit or a server error says nothing of it).
REFUSES_TOOLS = frozenset({400, 422})


def _answer(result: ProbeResult) -> _Answer:
    """What ``result`` answered. Its items are those ``response.output_item.done`` announced (what Codex
    takes: many relays end with an empty output list) and the final response's. An answer cut short by
    its output-token budget (``response.incomplete``) is an answer: the provider streamed it through."""
    if result.answer is not None:
        return _Answer(True, _types(result.answer["output"]), result.answer.get("status") == "incomplete")
    announced: list[Any] = []
    for ev in result.events or []:
        if ev.type == "response.output_item.done":
            payload = ev.json()
            announced.append(payload.get("item") if isinstance(payload, dict) else None)
        elif ev.type in sse.ANSWER_END:
            payload = ev.json()
            response, failed = ending_response(payload)
            if failed:
                return _Answer(False, frozenset(), why="answered a failed response: "
                                                       + classify.error_message_of_event(payload))
            if not closes_an_answer(response):
                return _Answer(False, frozenset())
            output = response.get("output")
            incomplete = ev.type == "response.incomplete" or response.get("status") == "incomplete"
            return _Answer(True, _types(announced) | _types(output if isinstance(output, list) else []), incomplete)
        elif ev.type in sse.FAILURE_END:  # what the provider said, as a request's failure says it
            return _Answer(False, frozenset(), why=f"stream reported {ev.type}: "
                                                   + classify.error_message_of_event(ev.json()))
    return _Answer(False, frozenset())


def _tool_error(result: ProbeResult, got: _Answer) -> str:
    """Why the tool step failed ("": it called the tool, or the request's own error says why)."""
    if "function_call" in got.types or not result.ok:
        return ""
    if not got.done:
        return got.why or "the stream did not reach response.completed"
    if got.incomplete:  # a model that reasons first may spend a small budget before any call
        return "its output-token budget ran out before any tool call"
    return "answered without calling the tool"


def _types(items: list[Any]) -> frozenset[str]:
    return frozenset(i["type"] for i in items if isinstance(i, dict) and isinstance(i.get("type"), str))


def _step(provider: ProviderConfig, name: str, result: ProbeResult | ModelList, ok: bool,
          error: str = "") -> dict[str, Any]:
    error = error or ("" if ok else result.error + path_hint(provider, result.status))
    return {"name": name, "ok": ok, "status": result.status, "latency_ms": round(result.latency_ms, 1),
            "error": error}


async def run_test(upstream: Upstream, provider: ProviderConfig, key: str | None, model: str | None,
                   timeout: float) -> dict[str, Any]:
    """Each step waits at most ``timeout`` (the model list at most MODELS_TIMEOUT_SECONDS), and the whole
    test at most TEST_SECONDS: a provider that hangs gets a failed result, not a control call cut off."""
    started = time.perf_counter()

    def within(limit: float) -> float:
        return max(0.001, min(limit, TEST_SECONDS - (time.perf_counter() - started)))

    # First: it may name the model to ask for.
    models = await fetch_models(upstream, provider, key, within(min(timeout, MODELS_TIMEOUT_SECONDS)),
                                asked_as=upstream.client_identity.headers)
    steps = []
    chosen = model or _model_to_ask(provider, models)
    stream = await probe_responses(upstream, provider, key, _stream_body(chosen, tool=False), within(timeout),
                                   read_all=True)
    said = _answer(stream)
    answered = stream.ok and said.done
    streaming = answered and stream.answer is None  # a JSON answer serves too, but without streaming
    steps.append(_step(provider, "stream", stream, answered, "" if answered or not stream.ok else
                       said.why or "the stream did not reach response.completed"))
    tool_calls: bool | None = None
    if stream.timed_out:  # it would only wait as long again
        # A step not run passed and failed nothing (ok null), as the tool_calls it would have judged stays null.
        steps.append({"name": "tool", "ok": None, "status": None, "latency_ms": None,
                      "error": "not asked: the provider did not answer the streamed request in time"})
    else:
        tool = await probe_responses(upstream, provider, key, _stream_body(chosen, tool=True), within(timeout),
                                     read_all=True)
        got = _answer(tool)
        called = "function_call" in got.types
        # Cut short by its output-token budget before any call (a model that reasons first): not known.
        tool_calls = called if got.done and (called or not got.incomplete) else None
        if answered and tool.status in REFUSES_TOOLS:  # the same request without the tool was answered
            tool_calls = False
        steps.append(_step(provider, "tool", tool, called, _tool_error(tool, got)))
    steps.append(_step(provider, "models", models, models.ok))  # listed last, as docs/control-api.md lists them
    error = next((s["error"] for s in steps if not s["ok"] and s["name"] == "stream"), "")
    return {
        "provider": provider.id, "unix_ms": now_ms(), "ok": answered, "model": chosen,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "first_event_ms": round(stream.first_event_ms, 1) if stream.first_event_ms is not None else None,
        "streaming": streaming, "tool_calls": tool_calls, "models": models.models, "steps": steps, "error": error,
    }
