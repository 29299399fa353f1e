"""Fetch one provider's usage (with detection), and fetch groups of providers that share it.

Detection: with ``usage_adapter`` empty, every adapter whose credential the target has is tried
in :data:`~.adapters.DETECTION_ORDER` (an ``adapter_hint`` — typically the adapter a previous
fetch detected, which the app remembers — goes first), each against every candidate base. The
first that answers with a usable shape wins and the snapshot says which adapter and base it
was (``adapter``, ``base_url``, ``detected=True``).

A base that timed out or could not be reached is not tried again within the same fetch: with
4 adapters a dead host would otherwise cost 4 timeouts.

Sharing: several provider entries often point at the same relay account (same panel, same key,
different model routes). :func:`share_key` says when two targets would make the exact same
requests, so the refresher (:mod:`.schedule`) asks once for the group :func:`group_shared` makes and
hands the answer to all of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from .adapters import ADAPTERS, DETECTION_ORDER, Adapter, AdapterCall, most_telling
from .bases import candidate_bases, panel_guess
from .client import UsageHttp, install_log_redaction
from .model import ErrorKind, UsageError, UsageSnapshot, UsageTarget

__all__ = ["ShareKey", "fetch_usage", "group_shared", "share_key", "wall_clock_ms"]

_ENDPOINT_MISSING = frozenset({ErrorKind.NOT_FOUND, ErrorKind.NOT_JSON, ErrorKind.NO_SHAPE})
# A base that cannot be reached is not asked again for the next adapter; one whose endpoint hangs may
# answer another adapter's (the check's total limit bounds the waits).
_BASE_UNREACHABLE = frozenset({ErrorKind.NETWORK})
TOTAL_SECONDS = 30  # one provider's whole check, detection included


def wall_clock_ms() -> int:
    """Unix time in ms; the default clock, injectable everywhere for tests."""
    return time.time_ns() // 1_000_000


async def fetch_usage(
    target: UsageTarget,
    client: httpx.AsyncClient,
    adapter_hint: str | None = None,
    *,
    clock_ms: Callable[[], int] = wall_clock_ms,
) -> UsageSnapshot:
    """Fetch ``target``'s usage with the shared ``client``, or raise :class:`UsageError`.

    ``adapter_hint`` only reorders detection; a configured ``usage_adapter`` is always obeyed.
    The client should come from :func:`~.client.make_client` (no redirects, ~10 s timeout);
    redirects to another origin are refused here whatever the client's settings.
    """
    install_log_redaction()
    bases = candidate_bases(target.base_url, target.usage_base_url)
    if not bases:
        raise UsageError(
            "no usable usage base URL (base URL is not an absolute http(s) URL)", ErrorKind.CONFIG
        )
    adapters, detecting = _adapters_to_try(target, adapter_hint)
    http = UsageHttp(client, target.secrets())
    errors: list[UsageError] = []
    unreachable: set[str] = set()
    try:
        async with asyncio.timeout(TOTAL_SECONDS):
            for adapter in adapters:
                for base in bases:
                    if base in unreachable:
                        continue
                    call = AdapterCall(http=http, base=base, target=target, now_ms=clock_ms())
                    try:
                        snapshot = await adapter.fetch(call)
                    except UsageError as exc:
                        errors.append(exc)
                        if exc.kind in _BASE_UNREACHABLE:
                            unreachable.add(base)
                        continue
                    return dataclasses.replace(snapshot, detected=detecting)
    except TimeoutError:
        # Each request has its own limits, but a slow panel tried at several addresses would add them up
        # past what the one asking (the app's Refresh, with its 60 s wait) can wait for.
        tried = f" (so far: {_final_error(errors, bases, detecting, target).message})" if errors else ""
        raise UsageError(f"the usage check took longer than {TOTAL_SECONDS} s in all{tried}",
                         ErrorKind.TIMEOUT) from None
    raise _final_error(errors, bases, detecting, target)


def _adapters_to_try(target: UsageTarget, hint: str | None) -> tuple[list[Adapter], bool]:
    """The configured adapter alone, or the detection order (hint first) filtered by credential."""
    name = target.usage_adapter.strip()
    if name:
        adapter = ADAPTERS.get(name)
        if adapter is None:
            raise UsageError(
                f"unknown usage adapter {name!r} (known: {', '.join(ADAPTERS)})", ErrorKind.CONFIG
            )
        if not adapter.has_credentials(target):
            needed = "usage token" if adapter.uses_usage_token else "provider key"
            raise UsageError(f"usage adapter {name} needs a {needed}, none is set", ErrorKind.CONFIG)
        return [adapter], False
    order = list(DETECTION_ORDER)
    if hint in ADAPTERS:
        order.remove(hint)
        order.insert(0, hint)
    adapters = [ADAPTERS[n] for n in order if ADAPTERS[n].has_credentials(target)]
    if not adapters:
        raise UsageError("no provider key or usage token to query usage with", ErrorKind.CONFIG)
    return adapters, True


def _final_error(errors: list[UsageError], bases: tuple[str, ...], detecting: bool,
                 target: UsageTarget) -> UsageError:
    """Say "no usage endpoint found" when nothing answered like a usage endpoint, else pick the most
    telling error. While detecting, an HTML page or a JSON without numbers also counts as "not
    here": panels answer unknown paths with their single-page app."""
    missing = _ENDPOINT_MISSING if detecting else frozenset({ErrorKind.NOT_FOUND})
    if errors and all(e.kind in missing for e in errors):
        guess = None if target.usage_base_url.strip() else panel_guess(target.base_url)
        hint = (f"; if the provider's panel is at {guess}, set that as the provider's Usage base URL "
                "(Usage settings)") if guess else ""
        return UsageError(f"no usage endpoint found at {', '.join(bases)}{hint}", ErrorKind.NOT_FOUND)
    return most_telling(errors)


# --------------------------------------------------------------------------- sharing


@dataclass(frozen=True)
class ShareKey:
    """What makes two fetches identical. The credential is a SHA-256 digest, so keys can be
    logged and kept in dicts without holding secrets."""

    bases: tuple[str, ...]
    adapter: str
    credential_digest: str


def share_key(target: UsageTarget) -> ShareKey:
    """Targets with equal keys send the same requests with the same secrets to the same bases.

    Only the secrets the adapter actually sends count: two budget_info providers with the same
    usage token share even when their API keys differ. Detection may send either secret, so
    both count then.
    """
    bases = candidate_bases(target.base_url, target.usage_base_url)
    adapter = target.usage_adapter.strip()
    spec = ADAPTERS.get(adapter)
    key = target.provider_key if spec is None or spec.uses_provider_key else ""
    token = target.usage_token if spec is None or spec.uses_usage_token else ""
    digest = hashlib.sha256(f"{key}\0{token}".encode()).hexdigest()
    return ShareKey(bases=bases, adapter=adapter, credential_digest=digest)


def group_shared(targets: Iterable[UsageTarget]) -> list[tuple[UsageTarget, ...]]:
    """Targets grouped by :func:`share_key`, groups and members in first-seen order."""
    groups: dict[ShareKey, list[UsageTarget]] = {}
    for target in targets:
        groups.setdefault(share_key(target), []).append(target)
    return [tuple(members) for members in groups.values()]
