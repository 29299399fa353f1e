"""The provider test behind the Test button: can this provider serve Codex?

Three calls with the provider's own key: ``GET /models`` (the model list, and a model to ask for
when none was used yet), a minimal streamed ``POST /responses`` (does it stream Responses events
through to ``response.completed``, and how fast is the first event), and the same with one function
tool (does it call tools). Each call may cost a few tokens.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from api_router.config import ProviderConfig
from api_router.gateway import classify
from api_router.gateway.checks import DEFAULT_MODEL, ProbeResult, probe_responses
from api_router.gateway.explain import path_hint
from api_router.gateway.models import MODELS_TIMEOUT_SECONDS, ModelList, fetch_models
from api_router.gateway.response_objects import ending_response
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


def _completed(result: ProbeResult) -> tuple[bool, list[str], str]:
    """(the answer completed, the item types of its output, why not when it says it did but reports a
    failure: a 200 "completed" that carries an error is no answer)."""
    if result.answer is not None:
        return True, [i.get("type", "") for i in result.answer["output"] if isinstance(i, dict)], ""
    for ev in result.events or []:
        if ev.type == "response.completed":
            payload = ev.json()
            response, failed = ending_response(payload)
            if failed:
                return False, [], "answered a failed response: " + classify.error_message_of_event(payload)
            output = (response or {}).get("output")
            items = output if isinstance(output, list) else []
            return True, [i.get("type", "") for i in items if isinstance(i, dict)], ""
    return False, [], ""


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
    models = await fetch_models(upstream, provider, key, within(min(timeout, MODELS_TIMEOUT_SECONDS)))
    steps = []
    chosen = model or _model_to_ask(provider, models)
    stream = await probe_responses(upstream, provider, key, _stream_body(chosen, tool=False), within(timeout),
                                   read_all=True)
    completed, _, failed = _completed(stream)
    answered = stream.ok and completed
    streaming = answered and stream.answer is None  # a JSON answer serves too, but without streaming
    steps.append(_step(provider, "stream", stream, answered, "" if answered or not stream.ok else
                       failed or "the stream did not reach response.completed"))
    tool_calls: bool | None = None
    if stream.timed_out:  # it would only wait as long again
        steps.append({"name": "tool", "ok": False, "status": None, "latency_ms": 0.0,
                      "error": "not asked: the provider did not answer the streamed request in time"})
    else:
        tool = await probe_responses(upstream, provider, key, _stream_body(chosen, tool=True), within(timeout),
                                     read_all=True)
        tool_done, types, _ = _completed(tool)
        tool_calls = ("function_call" in types) if tool_done else None
        steps.append(_step(provider, "tool", tool, bool(tool_calls), "" if tool_calls or not tool_done else
                           "answered without calling the tool"))
    steps.append(_step(provider, "models", models, models.ok))  # listed last, as docs/control-api.md lists them
    error = next((s["error"] for s in steps if not s["ok"] and s["name"] == "stream"), "")
    return {
        "provider": provider.id, "unix_ms": now_ms(), "ok": answered, "model": chosen,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "first_event_ms": round(stream.first_event_ms, 1) if stream.first_event_ms is not None else None,
        "streaming": streaming, "tool_calls": tool_calls, "models": models.models, "steps": steps, "error": error,
    }
