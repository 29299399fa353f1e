"""Every operation the UI can perform, as one class (see docs/control-api.md).

Methods are synchronous and thread-safe: pywebview calls them from its own threads and the HTTP
transport runs them in an executor, so file writes never block the gateway's event loop. Each
method validates its arguments (raising ``ControlError`` with a message for the user) and saves
what it changes.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
import orjson

from api_router import analytics
from api_router.codex import setup as codex_setup
from api_router.config import (
    PROVIDER_ID_RE,
    ROUTING_KEYS,
    USAGE_ADAPTERS,
    ROUTING_FIELDS,
    ConfigError,
    field_problem,
    is_http_url,
    provider_table,
    rename_in_doc,
    section,
    set_order,
)
from api_router.gateway.upstream import describe_exception, error_text, upstream_headers
from api_router.services import Services
from api_router.secrets import new_gateway_token
from api_router.status import build_status, provider_settings, routing_json

T = TypeVar("T")


class ControlError(ConfigError):
    """A refused control call; the message is shown to the user as is."""


def _text(name: str, value: Any, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise ControlError(f"{name} must be a string")
    value = value.strip()
    if not value and not empty_ok:
        raise ControlError(f"{name} must not be empty")
    return value


def _url(name: str, value: Any, *, empty_ok: bool = False) -> str:
    value = _text(name, value, empty_ok=empty_ok)
    if value and not is_http_url(value):
        raise ControlError(f"{name} must be an absolute http:// or https:// URL (got {value!r})")
    return value


class Control:
    def __init__(self, rt: Services, run_async: Callable[[Coroutine[Any, Any, T]], T]) -> None:
        self._rt = rt
        self._run_async = run_async

    # --- status and events ---------------------------------------------------------------------------

    def get_status(self) -> dict[str, Any]:
        return build_status(self._rt)

    def list_events(self, level: str | None = None, provider: str | None = None, limit: int = 200,
                    before_id: int | None = None) -> dict[str, Any]:
        if level is not None and level not in ("info", "warning", "error"):
            raise ControlError("level must be info, warning or error")
        if not isinstance(limit, int) or not 1 <= limit <= 5000:
            raise ControlError("limit must be an integer from 1 to 5000")
        store = self._rt.store
        events = store.list_events(level=level, provider=provider, limit=limit, before_id=before_id)
        return {"events": [e.to_json(store.seen_up_to) for e in events]}

    def mark_events_seen(self) -> dict[str, Any]:
        return {"seen_up_to": self._rt.store.mark_events_seen()}

    def get_request_log(self, limit: int = 100, session_id: str | None = None) -> dict[str, Any]:
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ControlError("limit must be an integer from 1 to 1000")
        return {"requests": self._rt.store.request_log(limit, session_id)}

    def get_diagnostics(self) -> dict[str, Any]:
        """Process health for the curious (and for the soak test): tasks, descriptors, memory."""
        return self._run_async(self._diagnostics())

    async def _diagnostics(self) -> dict[str, Any]:
        rt = self._rt
        return {
            "tasks": len(asyncio.all_tasks()),
            "threads": threading.active_count(),
            "open_fds": _open_fds(),
            "rss_bytes": _rss_bytes(),
            "inflight_requests": rt.inflight,
            "open_upstream_responses": len(rt.upstreams),
        }

    # --- config and routing ----------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        rt = self._rt
        cfg = rt.config.current
        return {
            "listen": {"host": cfg.listen.host, "port": cfg.listen.port, "max_body_mb": cfg.listen.max_body_mb,
                       "allow_remote": cfg.listen.allow_remote},
            "routing": routing_json(rt),
            "provider_order": list(cfg.order),
            "providers": provider_settings(rt),
            "ui": {"start_hidden": cfg.ui.start_hidden},
            "paths": {"user_data": str(rt.paths.user_data), "config": str(rt.paths.config),
                      "codex_home": str(rt.codex_home)},
        }

    def update_routing(self, **values: Any) -> dict[str, Any]:
        # The lock has its own method (it emits its own event and checks the provider is routable).
        unknown = sorted(set(values) - (set(ROUTING_KEYS) - {"manual_override"}))
        if unknown:
            raise ControlError(f"unknown routing setting(s): {', '.join(unknown)}")
        if not values:
            raise ControlError("nothing to update")
        fields = {f.name: f for f in ROUTING_FIELDS}
        for key, value in values.items():
            why = field_problem(fields[key], value)
            if why:
                raise ControlError(f"{key} {why}")
        if "preferred_provider" in values:
            self._existing(values["preferred_provider"])

        def change(doc: Any) -> None:
            routing = section(doc, "routing")
            for key, value in values.items():
                routing[key] = value

        self._rt.config.edit(change)
        self._rt.emit("info", "config", "Routing settings changed: " + ", ".join(f"{k} = {v!r}" for k, v in values.items()))
        if "preferred_provider" in values:
            self._rt.router.preferred_changed(values["preferred_provider"])
        return self.get_config()

    def set_preferred_provider(self, provider: str) -> dict[str, Any]:
        pid = self._existing(provider)
        self._rt.config.edit(lambda doc: section(doc, "routing").__setitem__("preferred_provider", pid))
        self._rt.router.preferred_changed(pid)
        return self.get_status()

    def set_manual_override(self, provider: str | None = None) -> dict[str, Any]:
        if provider is None or provider == "":
            self._rt.config.edit(lambda doc: section(doc, "routing").__setitem__("manual_override", ""))
            self._rt.router.lock_changed(None)
            return self.get_status()
        pid = self._existing(provider)
        p = self._rt.config.current.providers[pid]
        if not p.routable:
            raise ControlError(f"cannot lock to {pid}: it is disabled or has no base URL")
        self._rt.config.edit(lambda doc: section(doc, "routing").__setitem__("manual_override", pid))
        self._rt.router.lock_changed(pid)
        return self.get_status()

    # --- providers -----------------------------------------------------------------------------------

    def upsert_provider(self, provider: str, display_name: str | None = None, base_url: str | None = None,
                        usage_adapter: str | None = None, usage_base_url: str | None = None,
                        disabled: bool | None = None) -> dict[str, Any]:
        pid = _text("provider", provider)
        creating = pid not in self._rt.config.current.providers
        if creating:
            self._check_new_id(pid)
            if base_url is None:
                raise ControlError("base_url is required for a new provider")
        values: dict[str, Any] = {}
        if display_name is not None:
            values["display_name"] = _text("display_name", display_name)
        if base_url is not None:
            values["base_url"] = _url("base_url", base_url)
        if usage_adapter is not None:
            if usage_adapter not in USAGE_ADAPTERS:
                raise ControlError("usage_adapter must be one of: " + ", ".join(repr(a) for a in USAGE_ADAPTERS))
            values["usage_adapter"] = usage_adapter
        if usage_base_url is not None:
            values["usage_base_url"] = _url("usage_base_url", usage_base_url, empty_ok=True)
        if disabled is not None:
            if not isinstance(disabled, bool):
                raise ControlError("disabled must be true or false")
            values["disabled"] = disabled
        if creating:
            values.setdefault("display_name", pid)

        def change(doc: Any) -> None:
            table = provider_table(doc, pid, create=True)
            for key, value in values.items():
                table[key] = value
            if creating:
                set_order(doc, [*self._rt.config.current.order, pid])

        self._rt.config.edit(change)
        verb = "added" if creating else "updated"
        self._rt.emit("info", "config", f"Provider {pid} {verb}", pid)
        if "base_url" in values and not creating:
            self._rt.router.reset_health(pid)  # a new address deserves a fresh start
        if not creating and values.keys() & {"base_url", "usage_adapter", "usage_base_url"}:
            self._rt.quota.invalidate(pid)
        return self.get_config()

    def rename_provider(self, provider: str, new_id: str) -> dict[str, Any]:
        old = self._existing(provider)
        new = _text("new_id", new_id)
        if new == old:
            return self.get_config()
        self._check_new_id(new)
        rt = self._rt

        def change(doc: Any) -> None:
            rename_in_doc(doc, old, new)
            set_order(doc, [new if p == old else p for p in rt.config.current.order])
            routing = section(doc, "routing")
            for key in ("preferred_provider", "manual_override"):
                if routing.get(key) == old:
                    routing[key] = new

        rt.config.edit(change)
        rt.secrets.edit(lambda s: s.with_changes(
            provider_keys=_renamed(s.provider_keys, old, new), usage_tokens=_renamed(s.usage_tokens, old, new)))
        rt.router.rename(old, new)
        rt.store.rename_provider(old, new)
        if old in rt.continuity.rejects_previous_id:
            rt.continuity.rejects_previous_id.discard(old)
            rt.continuity.rejects_previous_id.add(new)
        rt.quota.rename(old, new)
        rt.emit("info", "config", f"Provider {old} renamed to {new}", new)
        return self.get_config()

    def delete_provider(self, provider: str) -> dict[str, Any]:
        pid = self._existing(provider)
        rt = self._rt

        def change(doc: Any) -> None:
            del doc["providers"][pid]
            set_order(doc, [p for p in rt.config.current.order if p != pid])
            routing = section(doc, "routing")
            for key in ("preferred_provider", "manual_override"):
                if routing.get(key) == pid:
                    routing[key] = ""

        rt.config.edit(change)
        rt.secrets.edit(lambda s: s.with_changes(
            provider_keys=_without(s.provider_keys, pid), usage_tokens=_without(s.usage_tokens, pid)))
        rt.router.forget(pid)
        rt.store.forget_provider(pid)
        rt.quota.forget(pid)
        rt.emit("info", "config", f"Provider {pid} deleted", pid)
        return self.get_config()

    def set_provider_order(self, order: list[str]) -> dict[str, Any]:
        if not isinstance(order, list) or not all(isinstance(p, str) for p in order):
            raise ControlError("order must be a list of provider ids")
        current = list(self._rt.config.current.order)
        if sorted(order) != sorted(current) or len(set(order)) != len(order):
            raise ControlError(f"order must list every provider exactly once: {', '.join(current)}")
        self._rt.config.edit(lambda doc: set_order(doc, order))
        self._rt.emit("info", "config", "Provider order: " + " → ".join(order))
        return self.get_config()

    def set_provider_key(self, provider: str, key: str) -> dict[str, Any]:
        pid = self._existing(provider)
        key = _text("key", key)
        if any(c.isspace() for c in key):
            raise ControlError("key must not contain spaces or line breaks")
        self._rt.secrets.edit(lambda s: s.with_changes(provider_keys={**s.provider_keys, pid: key}))
        self._rt.router.reset_health(pid)
        self._rt.quota.invalidate(pid)
        self._rt.emit("info", "config", f"Key set for {pid}", pid)
        return self.get_config()

    def clear_provider_key(self, provider: str) -> dict[str, Any]:
        pid = self._existing(provider)
        self._rt.secrets.edit(lambda s: s.with_changes(provider_keys=_without(s.provider_keys, pid)))
        self._rt.quota.invalidate(pid)
        self._rt.emit("info", "config", f"Key cleared for {pid}", pid)
        return self.get_config()

    # --- usage, quota and analytics ----------------------------------------------------------------------

    def get_analytics(self, window: str = "day") -> dict[str, Any]:
        """Requests, errors, tokens and latency percentiles per provider and overall, plus a time
        series for charts; ``window`` is hour, day or month (30 days)."""
        if window not in analytics.WINDOWS:
            raise ControlError(f"window must be one of: {', '.join(analytics.WINDOWS)}")
        return analytics.summary(self._rt.store, window)

    def list_sessions(self, limit: int = 50) -> dict[str, Any]:
        if not isinstance(limit, int) or not 1 <= limit <= 500:
            raise ControlError("limit must be an integer from 1 to 500")
        return {"sessions": analytics.sessions(self._rt.store, limit)}

    def get_session_timeline(self, session_id: str) -> dict[str, Any]:
        return analytics.session_timeline(self._rt.store, _text("session_id", session_id))

    def get_usage(self) -> dict[str, Any]:
        return {"quota": self._rt.quota.quota_json(), "ledgers": self._rt.quota.ledgers_json()}

    def refresh_usage(self, provider: str | None = None) -> dict[str, Any]:
        """Check usage now: one provider, or all of them (spaced ~120 ms apart)."""
        providers = None if provider is None else [self._existing(provider)]
        return self._run_async(self._rt.quota.refresh(providers))

    def set_usage_token(self, provider: str, token: str) -> dict[str, Any]:
        pid = self._existing(provider)
        token = _text("token", token)
        if any(c.isspace() for c in token):
            raise ControlError("token must not contain spaces or line breaks")
        self._rt.secrets.edit(lambda s: s.with_changes(usage_tokens={**s.usage_tokens, pid: token}))
        self._rt.quota.invalidate(pid)
        self._rt.emit("info", "config", f"Usage token set for {pid}", pid)
        return self.get_config()

    def clear_usage_token(self, provider: str) -> dict[str, Any]:
        pid = self._existing(provider)
        self._rt.secrets.edit(lambda s: s.with_changes(usage_tokens=_without(s.usage_tokens, pid)))
        self._rt.quota.invalidate(pid)
        self._rt.emit("info", "config", f"Usage token cleared for {pid}", pid)
        return self.get_config()

    def set_provider_disabled(self, provider: str, disabled: bool) -> dict[str, Any]:
        pid = self._existing(provider)
        if not isinstance(disabled, bool):
            raise ControlError("disabled must be true or false")
        rt = self._rt
        unlock = disabled and rt.config.current.routing.manual_override == pid

        def change(doc: Any) -> None:
            provider_table(doc, pid)["disabled"] = disabled
            if unlock:
                section(doc, "routing")["manual_override"] = ""

        rt.config.edit(change)
        rt.emit("info", "config", f"Provider {pid} {'disabled' if disabled else 'enabled'}", pid)
        if unlock:
            rt.router.lock_changed(None)
        return self.get_config()

    def probe_provider(self, provider: str) -> dict[str, Any]:
        pid = self._existing(provider)
        return self._run_async(self._probe(pid))

    async def _probe(self, pid: str) -> dict[str, Any]:
        rt = self._rt
        assert rt.http is not None
        cfg = rt.config.current
        p = cfg.providers[pid]
        if not p.base_url:
            return {"ok": False, "status": None, "latency_ms": 0.0, "models": [], "error": "no base URL"}
        timeout = min(cfg.routing.request_timeout_seconds, 20)
        started = time.perf_counter()
        headers = upstream_headers({"Accept": "application/json"}, rt.secrets.current.provider_keys.get(pid))
        try:
            async with asyncio.timeout(timeout):
                async with rt.http.get(p.endpoint("/models"), headers=headers, allow_redirects=False) as resp:
                    body = await resp.read()
                    status = resp.status
                    ctype = resp.content_type
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            latency = (time.perf_counter() - started) * 1000
            return {"ok": False, "status": None, "latency_ms": latency, "models": [],
                    "error": rt.redactor(describe_exception(exc, timeout))}
        latency = (time.perf_counter() - started) * 1000
        if status != 200:
            return {"ok": False, "status": status, "latency_ms": latency, "models": [],
                    "error": rt.redactor(f"HTTP {status}: {error_text(body, ctype)}")}
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {"ok": False, "status": status, "latency_ms": latency, "models": [],
                    "error": f"answered {ctype or 'something'} that is not JSON"}
        items = data.get("data") if isinstance(data, dict) else data
        models = [m.get("id") for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)] if isinstance(items, list) else []
        return {"ok": True, "status": status, "latency_ms": latency, "models": models, "error": ""}

    # --- gateway token ---------------------------------------------------------------------------------

    def get_gateway_token(self) -> dict[str, Any]:
        return {"token": self._rt.secrets.current.gateway_token}

    def rotate_gateway_token(self) -> dict[str, Any]:
        updated = self._rt.secrets.edit(lambda s: s.with_changes(gateway_token=new_gateway_token()))
        self._rt.emit("warning", "security", "Gateway token rotated; clients using the old token are now refused. "
                                             "Update Codex's auth.json (Connect Codex does it).")
        return {"token": updated.gateway_token}

    # --- Codex -------------------------------------------------------------------------------------------

    def get_codex_setup(self) -> dict[str, Any]:
        rt = self._rt
        return codex_setup.describe(rt.codex_home, rt.gateway_url, rt.secrets.current.gateway_token)

    def apply_codex_setup(self) -> dict[str, Any]:
        rt = self._rt
        try:
            result = codex_setup.apply(rt.codex_home, rt.gateway_url, rt.secrets.current.gateway_token)
        except (codex_setup.CodexSetupError, OSError) as exc:
            raise ControlError(str(exc)) from None
        rt.emit("info", "codex", f"Codex configured to use API Router ({rt.codex_home})")
        return result

    def restore_codex_backup(self) -> dict[str, Any]:
        rt = self._rt
        try:
            result = codex_setup.restore(rt.codex_home, rt.gateway_url, rt.secrets.current.gateway_token)
        except (codex_setup.CodexSetupError, OSError) as exc:
            raise ControlError(str(exc)) from None
        rt.emit("info", "codex", f"Codex files restored from the backup ({rt.codex_home})")
        return result

    # --- helpers ---------------------------------------------------------------------------------------

    def _existing(self, provider: Any) -> str:
        pid = _text("provider", provider)
        if pid not in self._rt.config.current.providers:
            raise ControlError(f"unknown provider {pid!r}")
        return pid

    def _check_new_id(self, pid: str) -> None:
        if not PROVIDER_ID_RE.match(pid):
            raise ControlError(f"provider id {pid!r} must start with a letter or digit and contain only letters, "
                               "digits, '.', '_' or '-' (at most 64)")
        if pid in self._rt.config.current.providers:
            raise ControlError(f"a provider named {pid!r} already exists")


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux
        return None


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _renamed(mapping: Any, old: str, new: str) -> dict[str, str]:
    return {new if k == old else k: v for k, v in mapping.items()}


def _without(mapping: Any, pid: str) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if k != pid}

