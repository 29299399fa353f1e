"""The status document shared by ``GET /status``, the control API's ``get_status`` and the tray."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from api_router import __version__
from api_router.config import Config, as_json
from api_router.gateway.explain import out_of_rotation, path_hint, with_hint
from api_router.records import now_ms, wall_ms
from api_router.routing.router import LOCKED
from api_router.secrets import mask
from api_router.services import Services
from api_router.states import GatewayState
from api_router.store import Metrics


def provider_settings(services: Services) -> dict[str, dict[str, Any]]:
    """Per provider: its config values and key previews (never a key itself)."""
    secrets = services.secrets.current
    shown = services.redactor.shown_url
    return {
        pid: {
            **as_json(p),
            "base_url": shown(p.base_url),
            "usage_base_url": shown(p.usage_base_url),
            "has_key": pid in secrets.provider_keys,
            "key_preview": mask(secrets.provider_keys.get(pid, "")),
            "has_usage_token": pid in secrets.usage_tokens,
        }
        for pid, p in services.config.current.providers.items()
    }


def serving_summary(services: Services) -> dict[str, Any]:
    """One line on how the gateway serves right now, for the tray, the banner and the Gateway card."""
    cfg = services.config.current
    name = cfg.name_of
    router = services.router
    if not cfg.routable:
        return _nothing_to_route(cfg)
    lock = cfg.effective_lock or ""
    fresh = router.outside_the_outage(cfg)  # where the next request goes when the gateway was down
    down = router.down if not fresh else ()
    available = router.available(cfg)
    if down or not available or (lock and lock not in available):
        # What each provider the last request asked failed with; why the others are passed by (those of
        # the outage no longer passed by: what they failed with).
        asked = router.down_asked
        passed_by = out_of_rotation(cfg, router, asked=asked)
        routable = set(cfg.routable)  # one switched off since is no longer part of it
        failed = [f for f in down if f.provider in routable and (f.provider in asked or f.provider not in passed_by)]
        reason = "; ".join([*(f"{name(f.provider)}: {with_hint(cfg, f)}" for f in failed),
                            *(f"{name(pid)}: {why}" for pid, why in passed_by.items())])
        reason = reason or "every provider is cooling down"
        advice = (f"Routing is locked to {name(lock)}: unlock it or fix that provider." if lock else
                  "Check the providers' base URLs and keys (Test all), or add another provider.")
        switched_off = [name(pid) for pid, p in cfg.providers.items() if p.disabled]
        if switched_off and not lock:  # the 502 names them too: one of them may be the way out
            advice += f" Switched off: {', '.join(switched_off)} — enable one to let it serve."
        back = router.first_back([lock] if lock else cfg.routable)
        if back is not None:
            advice = f"{name(back[0])} may serve again in {math.ceil(back[1])} s (its cooldown ends). " + advice
        return _summary(GatewayState.DOWN, "all providers down", None, reason, advice)
    if lock:
        return _summary(GatewayState.SERVING, f"{name(lock)} · locked", lock, LOCKED)
    active, reason = router.active(cfg, name)
    # The next request's pick (none: the last available provider stopped answering since it was read) —
    # also when the one that served is passed by now (its usage reading says its quota is spent), or the
    # gateway was down and a provider that took no part in the outage is where the next request goes.
    passed_by = out_of_rotation(cfg, router)
    serving = active if active in available and active not in passed_by and not fresh else \
        next(iter(router.plan(cfg)), available[0])
    preferred = cfg.effective_preferred
    if serving != preferred:
        if serving != active:  # the next request's pick: the reason of the one that served last is not its own
            why = passed_by.get(preferred or "")
            reason = f"{name(preferred)}: {why}" if why else router.why_not(cfg, preferred, name)
        return _summary(GatewayState.FALLBACK, f"failover to {name(serving)}", serving, reason)
    return _summary(GatewayState.SERVING, f"{name(serving)} · serving", serving)


def _nothing_to_route(cfg: Config) -> dict[str, Any]:
    """No provider can be asked at all: none configured, all switched off, or none with a base URL."""
    none = GatewayState.NO_PROVIDERS
    if not cfg.providers:
        return _summary(none, "no provider configured", None, "add one with its base URL and key",
                        "Add a provider (base URL and key) in API Router.")
    if all(p.disabled for p in cfg.providers.values()):
        names = ", ".join(cfg.name_of(pid) for pid in cfg.providers)
        return _summary(none, "every provider is disabled", None, f"every provider is switched off: {names}",
                        "Enable a provider in API Router (or add one).")
    return _summary(none, "no provider has a base URL", None, "no enabled provider has a base URL",
                    "Give a provider its base URL in API Router, or enable one that has one.")


def _summary(state: GatewayState, line: str, provider: str | None, reason: str = "",
             advice: str = "") -> dict[str, Any]:
    return {"state": state, "line": line, "provider": provider, "reason": reason, "advice": advice}


def _instance(services: Services, pid: str) -> int | None:
    """Which provider the id names: the same through renames, another once it is deleted and added again."""
    identity = services.providers.identities.get(pid)
    return identity.instance if identity is not None else None


def _last_error(cfg: Config, pid: str, health: dict[str, Any]) -> str:
    """The row's last error, with the ``/v1`` hint a 502 gives for the same failure."""
    error: str = health["last_error"]
    return error + path_hint(cfg.providers[pid], health["last_status"]) if error else error


def build_status(services: Services) -> dict[str, Any]:
    cfg = services.config.current
    health = services.router.health_json(cfg)
    settings = provider_settings(services)
    metrics = services.store.metrics()
    active, reason = services.router.active(cfg, cfg.name_of)
    store = services.store
    serving = services.serving  # read once: the gateway may stop (set it to None) while this runs
    # Masked as a whole: the window, the browser and the tray all read it, and a key pasted where none
    # belongs (a display name) is not said back.
    return services.redactor.in_value({
        "version": __version__,
        "listen": {"host": serving.host if serving else cfg.listen.host,
                   "port": serving.port if serving else cfg.listen.port},
        "gateway_url": services.gateway_url,
        "provider_order": list(cfg.order),
        "renamed": {old: new for old, new in services.providers.renamed.items()
                    if old not in cfg.providers and new in cfg.providers},
        "preferred_provider": cfg.effective_preferred,
        "manual_override": cfg.effective_lock,
        "active_provider": active if active in cfg.routable else None,
        "active_reason": reason,
        "routing": as_json(cfg.routing),
        "providers": {pid: {**settings[pid], **health[pid],
                            "instance": _instance(services, pid),
                            "last_error": _last_error(cfg, pid, health[pid]),
                            "quota_left_percent": services.quota.left_percent(pid),
                            "last_test": services.tests.last(pid)}
                      for pid in cfg.providers},
        "summary": serving_summary(services),
        "requests_today": store.requests_today(),
        "metrics": {pid: asdict(metrics.get(pid, Metrics())) for pid in cfg.providers},
        "recent_events": [e.to_json(store.seen_up_to) for e in store.recent_events()],
        "unseen_events": store.unseen_count(),
        "quota": services.quota.quota_json(),
        "ledgers": services.quota.ledgers_json(),
        "last_activity_unix_ms": wall_ms(last) if (last := services.activity.last_ms) else None,
        "now_unix_ms": now_ms(),
    })
