"""The status document shared by ``GET /status`` and the control API's ``get_status``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from api_router import __version__
from api_router.routing import effective_preferred
from api_router.services import Services
from api_router.secrets import mask
from api_router.store import Metrics, now_ms


def provider_settings(rt: Services) -> dict[str, dict[str, Any]]:
    """Per provider: its config values and key previews (never a key itself)."""
    secrets = rt.secrets.current
    return {
        pid: {
            "display_name": p.display_name,
            "base_url": p.base_url,
            "usage_adapter": p.usage_adapter,
            "usage_base_url": p.usage_base_url,
            "disabled": p.disabled,
            "has_key": pid in secrets.provider_keys,
            "key_preview": mask(secrets.provider_keys.get(pid, "")),
            "has_usage_token": pid in secrets.usage_tokens,
        }
        for pid, p in rt.config.current.providers.items()
    }


def routing_json(rt: Services) -> dict[str, Any]:
    r = rt.config.current.routing
    return {
        "preferred_provider": r.preferred_provider,
        "auto_return_to_preferred": r.auto_return_to_preferred,
        "preferred_stable_seconds": r.preferred_stable_seconds,
        "failure_threshold": r.failure_threshold,
        "cooldown_seconds": r.cooldown_seconds,
        "request_timeout_seconds": r.request_timeout_seconds,
        "stream_idle_timeout_seconds": r.stream_idle_timeout_seconds,
    }


def serving_summary(rt: Services) -> dict[str, Any]:
    """One line on how the gateway serves right now, for the tray, the banner and the Gateway card."""
    cfg = rt.config.current

    def name(pid: str) -> str:
        p = cfg.providers.get(pid)
        return p.display_name or pid if p is not None else pid

    if not cfg.routable:
        return {"state": "no_providers", "line": "no provider configured", "provider": None,
                "reason": "no enabled provider has a base URL",
                "advice": "Add a provider (base URL and key) in API Router."}
    lock = cfg.routing.manual_override if cfg.routing.manual_override in cfg.routable else ""
    down = rt.router.down
    available = rt.router.available(cfg)
    if down or not available or (lock and lock not in available):
        reason = "; ".join(f"{name(f.provider)}: {f.error}" for f in down) or "every provider is cooling down"
        advice = ("Routing is locked to " + name(lock) + ": unlock it or fix that provider." if lock else
                  "Check the providers' base URLs and keys (Test all), or add another provider.")
        return {"state": "down", "line": "all providers down", "provider": None, "reason": reason, "advice": advice}
    active, reason = rt.router.active
    preferred = effective_preferred(cfg)
    serving = lock or (active if active in available else None) or (rt.router.plan(cfg) or [None])[0]
    if lock:
        return {"state": "serving", "line": f"{name(lock)} · locked", "provider": lock, "reason": "locked by user",
                "advice": ""}
    if serving is not None and serving != preferred:
        return {"state": "fallback", "line": f"failover to {name(serving)}", "provider": serving, "reason": reason,
                "advice": ""}
    return {"state": "serving", "line": f"{name(serving or '')} · serving", "provider": serving, "reason": "",
            "advice": ""}


def build_status(rt: Services) -> dict[str, Any]:
    cfg = rt.config.current
    health = rt.router.health_json(cfg)
    settings = provider_settings(rt)
    metrics = rt.store.metrics()
    active, reason = rt.router.active
    seen = rt.store.seen_up_to
    return {
        "version": __version__,
        "listen": {"host": rt.bound_host or cfg.listen.host, "port": rt.bound_port or cfg.listen.port},
        "gateway_url": rt.gateway_url,
        "provider_order": list(cfg.order),
        "preferred_provider": effective_preferred(cfg),
        "manual_override": cfg.routing.manual_override or None,
        "active_provider": active,
        "active_reason": reason,
        "routing": routing_json(rt),
        "providers": {pid: {**settings[pid], **health[pid], "quota_left_percent": rt.quota.left_percent(pid)}
                      for pid in cfg.providers},
        "summary": serving_summary(rt),
        "requests_today": rt.store.requests_today(),
        "metrics": {pid: asdict(metrics.get(pid, Metrics())) for pid in cfg.providers},
        "recent_events": [e.to_json(seen) for e in rt.store.recent_events()],
        "unseen_events": rt.store.unseen_count(),
        "quota": rt.quota.quota_json(),
        "ledgers": rt.quota.ledgers_json(),
        "last_activity_unix_ms": rt.last_activity_ms,
        "now_unix_ms": now_ms(),
    }
