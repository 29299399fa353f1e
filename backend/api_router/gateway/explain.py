"""The error a client gets when no provider could answer, written so a person knows what to do.

It names each provider (by display name) and what it said, the lock when one is set, the providers
that were passed by and why (cooling down, not answering, out of quota, disabled, the conversation
cannot be given to it), and suggests the
``/v1`` suffix when a 404 came from a base URL without a path. When every provider answered 429 the
status is 429 with ``Retry-After`` set to the soonest moment one of them may serve again.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from api_router.config import Config, ProviderConfig
from api_router.gateway import classify
from api_router.gateway.errors import GatewayError
from api_router.routing import Failure, Router
from api_router.secrets import mask_url

# A provider given up on because another request found it not answering (that request counted the failure).
FOUND_NOT_ANSWERING = "not answering (found by another request)"


def all_failed(cfg: Config, failures: Sequence[Failure], router: Router, plan: Sequence[str],
               passed_by: Mapping[str, str] | None = None) -> GatewayError:
    """``passed_by``: candidates this request could not be given (its conversation cannot be built for
    them), and why. ``error.providers`` lists every provider asked, then every one passed by (with
    ``skipped``: why)."""
    name = cfg.name_of
    details = _each(cfg, failures)
    lock = cfg.effective_lock
    # The others were not passed by: the lock leaves them out (no plan at all: the lock is not answering).
    locked = lock is not None and list(plan) in ([lock], [])
    if not locked:
        skipped, disabled = _not_asked(cfg, failures, router, passed_by)
    elif failures or lock is None:
        skipped, disabled = {}, []
    else:  # the lock is not answering: it is the one passed by
        skipped, disabled = {lock: out_of_rotation(cfg, router).get(lock, "not answering")}, []
    passed = _passed_by(cfg, [*skipped.items(), *((pid, "disabled") for pid in disabled)])
    shown = [f"{name(pid)} ({why})" for pid, why in skipped.items()]
    unlock = "Unlock it in API Router (Back to automatic) to let the other providers serve"
    headers: dict[str, str] = {}
    extra: dict[str, str] = {}
    # Each provider as its 429 (or quota) said it, then those not asked: the two 429s' wording.
    listed = "; ".join(f"{name(f.provider)}: {f.error}" for f in failures)
    also = f"; not asked: {', '.join(shown)}" if shown else ""
    every = f"every provider {'asked ' if shown else ''}"
    # A provider passed by as cooling down may serve before any of those asked (one not answering comes
    # back with a check, not with time) — and while one may, not every quota is used up.
    back = router.first_back(list(skipped))
    if failures and all(f.quota_spent for f in failures) and back is None:
        # Said as a provider says it (insufficient_quota): Codex then tells its user the quota is exceeded at
        # once, where a rate limit's 429 is retried, for nothing.
        status, extra["code"] = 429, _SPENT
        if locked:
            parts = [f"routing is locked to {name(lock)}, whose quota is used up: {failures[0].error}. {unlock}"]
        else:
            parts = [f"{every}has used up its quota — {listed}{also}"]
    elif failures and all(f.rate_limited or f.quota_spent for f in failures):
        # Each one's wait: what it asked for, else the cooldown it is in (one that named none, or none worth
        # waiting for — 0, a date gone by — cools down all the same); one in neither may be asked at once.
        # A used-up quota comes back with no wait: it sets none (nor is it one Codex should retry for).
        waits = {i: f.retry_after if f.retry_after is not None and f.retry_after > 0
                 else router.cooldown_left(f.provider) for i, f in enumerate(failures) if not f.quota_spent}
        soonest = max(1, math.ceil(min([*waits.values(), *([back[1]] if back is not None else [])])))
        for i, wait in waits.items():
            details[i]["retry_after_seconds"] = round(wait, 1)
        status, headers["Retry-After"] = 429, str(soonest)
        limiting = "is rate-limiting this request or has used up its quota" if len(waits) < len(failures) \
            else "is rate-limiting this request"
        if locked:
            parts = [f"routing is locked to {name(lock)}, which is rate-limiting this request: {failures[0].error}; "
                     f"it may serve again in {soonest} s. {unlock}"]
        else:
            parts = [f"{every}{limiting} — {listed}{also}; the soonest may serve again in {soonest} s"]
    elif not failures:
        status, parts = 502, [_nobody_to_ask(cfg, lock, skipped.get(lock or ""))]
    elif locked:
        why = "; ".join(with_hint(cfg, f) for f in failures) or "no answer"
        status, parts = 502, [f"routing is locked to {name(lock)}, which failed: {why}. {unlock}"]
    else:
        status, parts = 502, ["all providers failed — " + "; ".join(f"{name(f.provider)}: {with_hint(cfg, f)}"
                                                                    for f in failures)]
    if not locked:
        parts += _not_asked_said(cfg, skipped if status == 502 else {}, disabled)
    return GatewayError(status, ". ".join(parts), extra.get("code"), headers=headers or None,
                        extra={**extra, "providers": details + passed})


_SPENT = "insufficient_quota"  # the type and code OpenAI gives a used-up quota, which Codex knows


def _not_asked(cfg: Config, failures: Sequence[Failure], router: Router,
               passed_by: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The providers a request did not ask: those passed by, and why (see ``_skipped``), and those
    switched off."""
    skipped = _skipped(cfg, failures, router, passed_by)
    asked = {f.provider for f in failures}
    return skipped, [pid for pid, p in cfg.providers.items() if p.disabled and pid not in skipped and pid not in asked]


def _not_asked_said(cfg: Config, skipped: Mapping[str, str], disabled: Sequence[str]) -> list[str]:
    """The sentences of a 502 that name the providers not asked."""
    parts = []
    if skipped:
        parts.append("Skipped: " + ", ".join(f"{cfg.name_of(pid)} ({why})" for pid, why in skipped.items()))
    if disabled:
        parts.append("Disabled (switched off): " + ", ".join(cfg.name_of(pid) for pid in disabled)
                     + " — enable one in API Router to let it serve")
    return parts


def _nobody_to_ask(cfg: Config, lock: str | None, lock_is: str | None) -> str:
    """Why a request was sent to no provider: each one it could go to stopped answering (the rest, if
    any, are named as skipped after this); ``lock_is``: why the lock is passed by."""
    checks = (f"a background check asks a provider that is not answering every "
              f"{cfg.routing.check_interval_seconds:g} s while API Router is in use, and puts it back once it answers")
    if lock is not None:
        return (f"routing is locked to {cfg.name_of(lock)}, which is {lock_is or 'not answering'}; {checks}. "
                "Unlock it in API Router (Back to automatic) to let the other providers serve")
    return f"no provider can serve this request now; {checks}"


def nobody_routable(cfg: Config) -> GatewayError:
    """No provider can be asked at all: none configured, or each one switched off or without a base URL
    (each named, with why)."""
    if not cfg.providers:
        return GatewayError(502, "no provider is configured: add one (with its base URL and key) in API Router")
    why = {pid: "disabled" if p.disabled else "no base URL" for pid, p in cfg.providers.items()}
    shown = ", ".join(f"{cfg.name_of(pid)} ({reason})" for pid, reason in why.items())
    passed = _passed_by(cfg, why.items())
    return GatewayError(502, f"no provider can be asked: {shown}; enable one (with a base URL) in API Router",
                        extra={"providers": passed})


def none_available(cfg: Config, router: Router) -> GatewayError:
    """No provider was asked: each one routing could choose stopped answering."""
    return all_failed(cfg, [], router, [])


def _passed_by(cfg: Config, reasons: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """``error.providers`` entries of providers not asked, each with why (``skipped``)."""
    return [{"provider": pid, "name": cfg.name_of(pid), "status": None, "error": None, "skipped": why}
            for pid, why in reasons]


def refused_by_all(cfg: Config, refusals: Sequence[Failure], model: str | None, *,
                   lock: str | None = None) -> GatewayError:
    """Every provider asked refused what the request asks (``model``: a model none of them has; ``lock``: the
    one routing is locked to, while others could be asked): the client hears their refusal — each
    provider's, in ``error.providers`` too — with the first one's 4xx status, not a gateway error it would
    retry."""
    said = "; ".join(f"{cfg.name_of(f.provider)}: {f.error}" for f in refusals)
    if model is not None and lock is not None and set(cfg.routable) - {lock}:
        said = (f"routing is locked to {cfg.name_of(lock)}, which does not have the model {model} ({said}); "
                "check the model name, or unlock it in API Router (Back to automatic) to let the other providers "
                "serve")
    elif model is not None:
        said = f"no provider has the model {model} ({said})"
    first = refusals[0].status
    extra: dict[str, Any] = {"providers": _each(cfg, refusals)}
    if all(classify.mentions_context_length(f.error) for f in refusals):  # Codex then says it ran out of room
        extra["code"] = CONTEXT_LENGTH_EXCEEDED
    return GatewayError(first if first and 400 <= first < 500 else 400, said, extra=extra)


def too_long(cfg: Config, failure: Failure, lock: str | None = None) -> GatewayError:
    """A provider found the conversation too long even with its own summary of the earlier part, and no other
    candidate took it: its refusal, with the code the OpenAI API gives it (which Codex knows). Locked to it
    while others could be asked (the compaction's maker may hold the conversation whole): said how to let them."""
    said = f"{cfg.name_of(failure.provider)}: {failure.error}"
    if lock is not None and set(cfg.routable) - {lock}:
        said += (f" (routing is locked to {cfg.name_of(lock)}: unlock it in API Router — Back to automatic — to let "
                 "the other providers take the conversation)")
    return GatewayError(400, said, "invalid_request_error",
                        extra={"code": CONTEXT_LENGTH_EXCEEDED, "providers": _each(cfg, [failure])})


CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"  # the OpenAI API's code, which Codex reads


def _each(cfg: Config, failures: Sequence[Failure]) -> list[dict[str, Any]]:
    """``error.providers``: each provider asked, with what it answered."""
    return [{"provider": f.provider, "name": cfg.name_of(f.provider), "status": f.status, "error": f.error}
            for f in failures]


def _skipped(cfg: Config, failures: Sequence[Failure], router: Router,
             passed_by: Mapping[str, str] | None) -> dict[str, str]:
    """The providers passed by, and why: by automatic routing ("cooling down for 40 s more after HTTP
    503: …"), or by this request (``passed_by``)."""
    return {**out_of_rotation(cfg, router, asked={f.provider for f in failures}), **(passed_by or {})}


def out_of_rotation(cfg: Config, router: Router, asked: Collection[str] = ()) -> dict[str, str]:
    """Why each provider routing passes by is passed by, with what it last failed with (and the
    ``/v1`` hint when that was a 404 from a base URL without a path)."""
    out = {}
    for pid, why in router.out_of_rotation(cfg, asked=asked).items():
        last = router.last_failure(pid)
        out[pid] = why if last is None else f"{why} after {last[0]}{path_hint(cfg.providers.get(pid), last[1])}"
    return out


def no_model_list(cfg: Config, failures: Sequence[Failure], router: Router) -> GatewayError:
    """``GET /v1/models`` found no provider with a model list: each one's answer, with the same hints,
    and the providers not asked (passed by, switched off), as a request's 502 names them."""
    listed = "; ".join(f"{cfg.name_of(f.provider)}: {with_hint(cfg, f)}" for f in failures)
    lock = cfg.effective_lock
    if lock and [f.provider for f in failures] == [lock]:
        return GatewayError(502, f"routing is locked to {cfg.name_of(lock)}, which returned no model list: "
                                 f"{with_hint(cfg, failures[0])}. Unlock it in API Router (Back to automatic) to "
                                 "ask the other providers", extra={"providers": _each(cfg, failures)})
    skipped, disabled = _not_asked(cfg, failures, router)
    passed = _passed_by(cfg, [*skipped.items(), *((pid, "disabled") for pid in disabled)])
    return GatewayError(502, ". ".join(["no provider returned a model list — " + listed,
                                        *_not_asked_said(cfg, skipped, disabled)]),
                        extra={"providers": _each(cfg, failures) + passed})


def with_hint(cfg: Config, f: Failure) -> str:
    """What ``f`` says, with the ``/v1`` hint where it applies."""
    return f.error + path_hint(cfg.providers.get(f.provider), f.status)


def path_hint(provider: ProviderConfig | None, status: int | None) -> str:
    """What to append to a 404 from a base URL without a path ("" otherwise)."""
    if status != 404 or provider is None or urlsplit(provider.base_url).path.strip("/"):
        return ""
    shown = mask_url(provider.base_url)
    suggested = urlunsplit(urlsplit(shown)._replace(path="/v1"))  # a query stays after the path
    return f" — its base URL {shown} has no path; most providers expect one ending in /v1 (e.g. {suggested})"
