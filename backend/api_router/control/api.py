"""Every operation the UI can perform, as one class (see docs/control-api.md).

Methods are synchronous and thread-safe: pywebview calls them from its own threads and the HTTP
transport runs them in an executor, so file writes never block the gateway's event loop. Only
methods marked ``@exposed`` are reachable; the registry checks argument types, and each method checks
values (raising ``ControlError`` with a message for the user) and saves what it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import Callable, Coroutine, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from api_router import analytics, request_log
from api_router.codex import setup as codex_setup
from api_router.config import (
    DISPLAY_NAME_MAX,
    PROVIDER_ID_RE,
    Config,
    ProviderConfig,
    RequestLogConfig,
    RoutingConfig,
    UiConfig,
    as_json,
    default_of,
    field_problem,
    follow_order,
    normalized_url,
    points_at_gateway,
    provider_table,
    remove_table,
    renamed_in_doc,
    section,
    set_order,
    set_value,
    settings_of,
    url_problem,
    written_order,
)
from api_router.control.diagnostics import open_fds, rss_bytes
from api_router.control.registry import ControlError, exposed, hands_out_the_token, made_in_pieces_by, waits_on_loop
from api_router.desktop.autostart import autostart_json
from api_router.fsutil import cannot_write
from api_router.gateway.explain import path_hint
from api_router.gateway.models import fetch_models
from api_router.gateway.provider_test import run_test
from api_router.records import Kind, Level
from api_router.secrets import Secrets, mask_refused, mask_url_secrets, new_gateway_token, secret_problem, unmask_url
from api_router.services import Asked, Services
from api_router.status import build_status, provider_settings
from api_router.texts import listed, quoted

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

T = TypeVar("T")
EventLevel = Literal["info", "warning", "error"]  # records.Level as a JSON argument (held together by a test)


def _set_routing(doc: TOMLDocument, key: str, value: str) -> None:
    """One ``[routing]`` setting, placed as every save places a key (see ``set_value``)."""
    set_value(section(doc, "routing"), key, value)


def _point_routing(doc: TOMLDocument, old: str, new: str) -> None:
    """The routing settings that name provider ``old`` name ``new`` instead ("": it was deleted). A file
    without a ``[routing]`` table names no provider there, and gets none."""
    routing = doc.get("routing")
    for key in ("preferred_provider", "manual_override"):
        if isinstance(routing, MutableMapping) and routing.get(key) == old:
            set_value(routing, key, new)


def _end_lock_on(doc: TOMLDocument, pid: str) -> bool:
    """Ends a lock on ``pid`` (a provider switched off cannot hold one), judged on the file as the edit finds
    it: a lock set since the caller looked ends too."""
    routing = doc.get("routing")
    if not isinstance(routing, MutableMapping) or routing.get("manual_override") != pid:
        return False
    set_value(routing, "manual_override", "")
    return True


def _text(name: str, value: str, *, empty_ok: bool = False) -> str:
    value = value.strip()
    if not value and not empty_ok:
        raise ControlError(f"{name} must not be empty")
    return value




def _filters(provider: str | None, outcome: request_log.OutcomeFilter | None, session_id: str | None,
             text: str | None) -> request_log.Filters:
    try:
        return request_log.filters_of(provider, outcome, session_id, text)
    except ValueError as exc:
        raise ControlError(str(exc)) from None


def _url(name: str, value: str, *, empty_ok: bool = False) -> str:
    value = _text(name, value, empty_ok=empty_ok)
    why = url_problem(value, password_mask=True) if value else None  # unmask_url restores a masked password
    if why:
        raise ControlError(f"{name} {mask_refused(value)!r} {why}")
    return normalized_url(value)


class Control:
    def __init__(self, services: Services, run_async: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self._services = services
        self._run_async = run_async
        # Renames and deletes one at a time, from their first secrets.json write to their last: each notes
        # its move there (``pending``) for a start after a crash to settle, and another's writes in between
        # would overwrite or clear that note — or delete the id a rename is moving a key to.
        self._key_moves = threading.Lock()

    def catch_up(self) -> None:
        """Before each call: hand edits of config.toml and secrets.json the watcher has not seen yet are
        in use, so the call decides on the files as they are (a lock written by hand a moment ago ends
        with the provider switched off now)."""
        self._services.config.catch_up()
        self._services.secrets.catch_up()

    # --- status and events ---------------------------------------------------------------------------

    @exposed
    def get_status(self) -> dict[str, Any]:
        return build_status(self._services)

    @exposed
    def list_events(self, level: EventLevel | None = None, provider: str | None = None, limit: int = 200,
                    before_id: int | None = None) -> dict[str, Any]:
        if not 1 <= limit <= 5000:
            raise ControlError("limit must be an integer from 1 to 5000")
        store = self._services.store
        events = store.list_events(level=level, provider=provider, limit=limit, before_id=before_id)
        return {"events": [e.to_json(store.seen_up_to) for e in events]}

    @exposed
    def mark_events_seen(self) -> dict[str, Any]:
        """Marks every event so far as seen (the "Clear seen" button)."""
        return {"seen_up_to": self._services.store.mark_events_seen()}

    @exposed
    @waits_on_loop
    def get_diagnostics(self) -> dict[str, Any]:
        """Process health for the curious (and for the soak test): tasks, descriptors, memory."""
        return self._run_async(self._diagnostics())  # type: ignore[no-any-return]

    async def _diagnostics(self) -> dict[str, Any]:
        serving = self._services.serving
        return {
            "tasks": len(asyncio.all_tasks()),
            "threads": threading.active_count(),
            "open_fds": open_fds(),
            "rss_bytes": rss_bytes(),
            "inflight_requests": serving.state.inflight if serving else 0,
            "open_upstream_responses": len(serving.upstream.open) if serving else 0,
        }

    # --- config and routing ----------------------------------------------------------------------------

    @exposed
    def get_config(self) -> dict[str, Any]:
        services = self._services
        cfg = services.config.current
        return {
            "listen": as_json(cfg.listen),
            "routing": as_json(cfg.routing),
            "provider_order": list(cfg.order),
            "providers": provider_settings(services),
            "ui": as_json(cfg.ui),
            "request_log": as_json(cfg.request_log),
            "autostart": autostart_json(services.autostart),
            "paths": {"user_data": str(services.paths.user_data), "config": str(services.paths.config),
                      "codex_home": str(services.codex_home)},
        }

    @exposed
    def update_routing(self, **values: Any) -> dict[str, Any]:
        # The lock, one of the [routing] values too, is set as ``set_manual_override`` sets it (its event, the
        # provider routable), after the rest; the one in force sent back with the others moves nothing.
        locking = "manual_override" in values
        lock = values.pop("manual_override", None)
        lock = "" if lock is None else lock
        if not isinstance(lock, str):
            raise ControlError("manual_override must be a provider id, or \"\" for automatic routing")
        config = self._services.config.current
        relock = locking and lock != config.routing.manual_override
        if relock and lock:  # refused before anything is saved
            if lock not in config.providers:
                raise ControlError(f"manual_override: unknown provider {quoted(lock)}")
            _lockable(config, lock, prefix="manual_override: ")
        if values or not locking:
            self._save_routing(values)
        if relock:
            self.set_manual_override(lock)
        return self.get_config()

    def _save_routing(self, values: dict[str, Any]) -> None:
        before = self._services.config.current.preferred_choice
        # Judged when a bound changes (a form saved whole resends both as the file has them), or hedging is
        # switched on: an upside-down range written by hand runs unnoticed only while nothing hedges.
        routing = self._services.config.current.routing
        moved = any(values[k] != getattr(routing, k) for k in _HEDGE_BOUNDS & values.keys()) \
            or (values.get("hedge") is True and not routing.hedge)
        hedge_range = _hedge_range_kept if moved else None
        self._update_section("routing", RoutingConfig, values, check=hedge_range)
        self._preferred_follows(before)
        if self._services.config.current.routing.auto_return_to_preferred != routing.auto_return_to_preferred:
            self._services.router.evidence_changed()

    def _preferred_follows(self, before: tuple[str | None, str | None]) -> None:
        """Routing (and every session) follows a new choice of preferred provider; the same one picked
        again (or saved with other settings) moves nothing."""
        config = self._services.config.current
        if config.preferred_choice != before:
            self._services.router.preferred_changed(config)

    @exposed
    def update_ui(self, **values: Any) -> dict[str, Any]:
        self._update_section("ui", UiConfig, values)
        if "autostart" in values:
            self._follow_autostart(bool(values["autostart"]))
        return self.get_config()

    def _follow_autostart(self, on: bool) -> None:
        """The OS login item follows the saved setting; one the OS refuses is reported, the setting stays."""
        item = self._services.autostart
        if not item.supported():
            if on:
                raise ControlError("starting with the system is not supported on this platform (the setting is saved)")
            return
        try:
            if on:
                item.enable()
            elif item.installed():
                item.disable()
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ControlError(f"could not {'add' if on else 'remove'} the login item at {item.location()}: "
                               f"{why} (the setting is saved)") from exc

    @exposed
    def update_request_log(self, **values: Any) -> dict[str, Any]:
        self._update_section("request_log", RequestLogConfig, values)
        return self.get_config()

    def _update_section(self, name: str, cls: type, values: dict[str, Any],
                        check: Callable[[Config], None] | None = None) -> None:
        """``check``: judges the section as the change leaves it (raises ControlError to refuse it)."""
        fields = {f.name: f for f in settings_of(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ControlError(f"unknown {name} setting(s): {listed(unknown)}")
        if not values:
            raise ControlError("nothing to update")
        preferred = values.get("preferred_provider")
        if preferred and isinstance(preferred, str) and preferred not in self._services.config.current.providers:
            raise ControlError(f"preferred_provider: unknown provider {quoted(preferred)}")
        for key, value in values.items():
            why = field_problem(fields[key], value)
            if why:
                raise ControlError(f"{key} {why}")

        before: dict[str, Any] = {}  # each value as the file the change lands on has it

        def change(doc: TOMLDocument) -> None:
            table = section(doc, name)
            before.clear()  # applied again when the file was saved by hand meanwhile
            for key, value in values.items():
                before[key] = _plain_value(table.get(key), default_of(fields[key]))
                set_value(table, key, value)

        def judged(cfg: Config) -> None:
            # Judged again on the file as the edit finds it: the provider may have been deleted since.
            if preferred:
                _still_there(cfg, preferred)
            if check is not None:
                check(cfg)

        config = self._services.config.edit(change, check=judged)
        after = getattr(config, name)
        # Only what changed is told: a value sent as it was (a form saved whole, the preferred provider
        # picked again) says nothing, and a call that changes nothing says nothing at all.
        shown = ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}{_named(config, k, v)}"  # as in config.toml
                          for k, v in values.items() if before[k] != getattr(after, k))
        if shown:
            self._services.emit(Level.INFO, Kind.CONFIG,
                                f"{name.replace('_', ' ').capitalize()} settings changed: {shown}")

    @exposed
    def set_preferred_provider(self, provider: str | None = None) -> dict[str, Any]:
        """``provider`` ""/null: the first provider in the list."""
        pid = self._existing(provider) if provider else ""
        services = self._services
        before = services.config.current.preferred_choice
        config = services.config.edit(lambda doc: _set_routing(doc, "preferred_provider", pid),
                                      check=lambda cfg: _still_there(cfg, pid) if pid else None)
        if config.preferred_choice == before and config.effective_lock is None \
                and not config.routing.auto_return_to_preferred and services.router.serving_a_fallback(config):
            # Picked again while a fallback serves with automatic return off: the user's pick is where traffic
            # goes now — there is no other way back. (With it on, traffic returns by itself once the preferred
            # one is stable, and picking it again moves no session off the provider its history is on.)
            services.router.preferred_changed(config, reason="picked again")
        else:
            self._preferred_follows(before)
        return self.get_status()

    @exposed
    def set_manual_override(self, provider: str | None = None) -> dict[str, Any]:
        services = self._services
        locked = services.config.current.effective_lock
        if not provider:
            services.config.edit(lambda doc: _set_routing(doc, "manual_override", ""))
            if locked is not None:  # "Automatic" while nothing is locked releases nothing
                services.router.lock_changed(services.config.current, None)
            return self.get_status()
        pid = self._existing(provider)

        def lockable(cfg: Config) -> None:
            _still_there(cfg, pid)
            _lockable(cfg, pid)

        config = services.config.edit(lambda doc: _set_routing(doc, "manual_override", pid),
                                      check=lockable)
        if config.effective_lock != locked:  # locked to it again: nothing moves
            services.router.lock_changed(config, pid)
        return self.get_status()

    # --- providers -----------------------------------------------------------------------------------

    @exposed
    def upsert_provider(self, provider: str, display_name: str | None = None, base_url: str | None = None,
                        usage_adapter: str | None = None, usage_base_url: str | None = None,
                        disabled: bool | None = None, model_map: dict[str, str] | None = None,
                        create: bool = False) -> dict[str, Any]:
        """Add a provider, or change one. ``create``: only add — an id that exists (another window may have
        added it since this one looked) is refused rather than changed."""
        services = self._services
        pid = _text("provider", provider)
        creating = pid not in services.config.current.providers
        if create and not creating:
            raise ControlError(f"a provider named {quoted(pid)} already exists")
        if creating:
            if base_url is None and not create:  # an edit of a provider deleted since (or never there)
                raise ControlError(f"unknown provider {quoted(pid)}; to add it, give its base_url")
            self._check_new_id(pid)
            if base_url is None:
                raise ControlError("base_url is required for a new provider")
        values: dict[str, Any] = {}
        if display_name is not None:
            values["display_name"] = _text("display_name", display_name)
            if len(values["display_name"]) > DISPLAY_NAME_MAX:
                raise ControlError(f"display_name must be at most {DISPLAY_NAME_MAX} characters")
        old = services.config.current.providers.get(pid)
        if base_url is not None:
            values["base_url"] = self._url_as_saved("base_url", base_url, old.base_url if old else None)
            serving = services.serving
            listen = services.config.current.listen
            if serving is not None and points_at_gateway(values["base_url"],
                                                         replace(listen, host=serving.host, port=serving.port)):
                raise ControlError(f"base_url {mask_url_secrets(values['base_url'])} is API Router itself; a provider "
                                   "must be another server")
        if usage_adapter is not None:
            values["usage_adapter"] = usage_adapter
        if usage_base_url is not None:
            values["usage_base_url"] = self._url_as_saved("usage_base_url", usage_base_url,
                                                          old.usage_base_url if old else None, empty_ok=True)
        if disabled is not None:
            values["disabled"] = disabled
        if model_map is not None:
            values["model_map"] = {k.strip(): v.strip() for k, v in model_map.items()}
        if creating:
            values.setdefault("display_name", pid)
        fields = {f.name: f for f in settings_of(ProviderConfig)}
        for key, value in values.items():
            why = field_problem(fields[key], value)
            if why:
                raise ControlError(f"{key} {why}")

        def change(doc: TOMLDocument) -> bool:
            # Checked again on the file as the edit finds it, another change may have got there first: an
            # update finds its provider still there (else it would make a table of just the fields it
            # changes, a provider without a URL), a new one finds its id still free (a double submit).
            if creating and pid in (doc.get("providers") or {}):
                raise ControlError(f"a provider named {quoted(pid)} already exists")
            table = provider_table(doc, pid, create=creating)
            for key, value in values.items():
                set_value(table, key, value)
            if creating:
                follow_order(doc, [*(p for p in written_order(doc, services.config.current.order) if p != pid), pid])
            return bool(disabled) and _end_lock_on(doc, pid)  # a provider switched off takes its lock along

        self._edit_provider(change, pid, _added(services.secrets.current, pid) if creating else "updated")
        # A new base URL reaches every per-provider state, and new usage settings the usage reading, with the
        # config (ProviderStates.note_config).
        return self.get_config()

    def _url_as_saved(self, name: str, value: str, saved: str | None, *, empty_ok: bool = False) -> str:
        """A URL from the provider form, checked: edited from the URL as the form showed it (``saved``, masked),
        the pieces still shown masked are those saved — for the same account only."""
        redactor = self._services.redactor
        if saved is not None:
            value = saved if value == redactor.shown_url(saved) else redactor.unmask_url_secrets(name, value, saved)
        return unmask_url(name, _url(name, value, empty_ok=empty_ok), saved or "")

    @exposed
    def rename_provider(self, provider: str, new_id: str) -> dict[str, Any]:
        with self._key_moves:
            return self._rename_provider(provider, new_id)

    def _rename_provider(self, provider: str, new_id: str) -> dict[str, Any]:
        services = self._services
        old = self._existing(provider)
        new = _text("new_id", new_id)
        if new == old:
            return self.get_config()
        self._check_new_id(new)

        copied = False

        def change(doc: TOMLDocument) -> TOMLDocument:
            nonlocal copied
            doc = renamed_in_doc(doc, old, new)  # refused if another change got there first (a second rename, a delete)
            if not copied:  # applied again (a hand edit saved meanwhile): the key under ``new`` is this rename's
                _refuse_hand_written_secrets(services.secrets.current, new)
            follow_order(doc, [new if p == old else p for p in written_order(doc, services.config.current.order)
                                if p != new])  # a listed id without a table gives way
            _point_routing(doc, old, new)
            # The key goes under the new id before the config says it exists (requests are routed to it as
            # soon as it does), and only once the rename is sure to be this one: checked under the config's
            # lock, so two renames of one provider at once leave no key under the loser's id.
            services.secrets.copy(old, new)
            copied = True
            return doc

        edited = False
        try:
            with services.providers.renaming(old, new):
                services.config.edit(change)
                edited = True
        except BaseException:
            if copied and not edited:
                with contextlib.suppress(OSError):  # the rename's own error is the one to report
                    services.secrets.forget(new)
            raise
        services.emit(Level.INFO, Kind.CONFIG, f"Provider id {old} renamed to {new}", new)
        return self.get_config()

    @exposed
    def delete_provider(self, provider: str) -> dict[str, Any]:
        with self._key_moves:
            return self._delete_provider(provider)

    def _delete_provider(self, provider: str) -> dict[str, Any]:
        services = self._services
        pid = self._existing(provider)
        name = services.config.current.name_of(pid)

        marked = False

        def change(doc: TOMLDocument) -> None:
            nonlocal marked
            provider_table(doc, pid)  # "unknown provider" if it went meanwhile (another delete, a hand edit)
            remove_table(doc, doc["providers"], pid)
            follow_order(doc, [p for p in written_order(doc, services.config.current.order) if p != pid])
            _point_routing(doc, pid, "")
            # secrets.json says first that the delete is on its way: one that cannot be written refuses the
            # delete before the config says the provider is gone, and a delete cut short after the config
            # write (the app killed) takes the key too at the next start — no key stays behind for a
            # provider added later under this id, and none goes while the provider stays.
            if not marked:
                services.secrets.deleting(pid)
                marked = True

        before = services.config.current
        was_locked = before.routing.manual_override == pid
        with services.providers.deleting(pid):
            try:
                cfg = services.config.edit(change)
            except BaseException:
                if marked:  # the config kept the provider, and its key stays
                    with contextlib.suppress(OSError):  # the delete's own error is the one to report
                        services.secrets.move_ended()
                raise
        services.providers.forget(pid)  # the key and usage token go with the rest
        services.emit(Level.INFO, Kind.CONFIG, f"Provider {name} deleted", pid)
        if was_locked:  # the lock went with it: automatic routing resumes, as after an unlock
            services.router.lock_changed(cfg, None)
        if cfg.effective_preferred != before.effective_preferred:  # it was the preferred one: never silently
            services.router.preferred_changed(cfg, reason=f"{name} was deleted")
        return self.get_config()

    @exposed
    def set_provider_order(self, order: list[str]) -> dict[str, Any]:
        services = self._services
        before = services.config.current

        def every_one(cfg: Config) -> None:  # judged under the config's lock: none added, renamed or deleted since
            if sorted(cfg.providers) != sorted(order):  # the ids are unique, so a repeated one fails here too
                now = [*(p for p in before.order if p in cfg.providers),
                       *(p for p in cfg.providers if p not in before.order)]
                raise ControlError(_order_problem(cfg, order, now))

        cfg = services.config.edit(lambda doc: set_order(doc, order), check=every_one)
        services.emit(Level.INFO, Kind.CONFIG, "Provider order: " + " → ".join(cfg.name_of(p) for p in order))
        self._note_preferred_moved(before, cfg)
        return self.get_config()

    @exposed
    def set_provider_key(self, provider: str, key: str) -> dict[str, Any]:
        # A new key reaches every per-provider state with secrets.json (ProviderStates.note_secrets).
        self._set_credential("provider_keys", provider, key, "key", "Key")
        return self.get_config()

    @exposed
    def clear_provider_key(self, provider: str) -> dict[str, Any]:
        self._set_credential("provider_keys", provider, None, "key", "Key")
        return self.get_config()

    @exposed
    def set_provider_disabled(self, provider: str, disabled: bool) -> dict[str, Any]:
        pid = self._existing(provider)

        def change(doc: TOMLDocument) -> bool:
            set_value(provider_table(doc, pid), "disabled", disabled)
            return disabled and _end_lock_on(doc, pid)

        self._edit_provider(change, pid, "disabled" if disabled else "enabled")
        return self.get_config()

    @exposed
    @waits_on_loop
    def probe_provider(self, provider: str) -> dict[str, Any]:
        """``GET {base_url}/models`` with the provider's key, now."""
        pid = self._existing(provider)
        return self._run_async(self._probe(pid))  # type: ignore[no-any-return]

    async def _probe(self, pid: str) -> dict[str, Any]:
        services = self._services
        cfg = services.config.current
        asked = self._asked(pid)
        provider, key = asked.provider, asked.key
        timeout = min(cfg.routing.request_timeout_seconds, 20)
        upstream = services.require_serving().upstream
        result = await fetch_models(upstream, provider, key, timeout, asked_as=upstream.client_identity.headers)
        if result.ok and self._still_asked(asked):
            # An answer is evidence: it clears a stale "unhealthy" (not "unresponsive").
            services.router.record_check(services.config.current, pid, True, "probe", responses=False)
        error = result.error + path_hint(provider, result.status) if not result.ok else result.error
        # All of it masked: a relay may echo the key anywhere, a model id included.
        return self._masked({"ok": result.ok, "status": result.status, "latency_ms": result.latency_ms,
                             "models": result.models, "error": error})

    @exposed
    @waits_on_loop
    def test_provider(self, provider: str) -> dict[str, Any]:
        """A streamed Responses call, one with a function tool, and /models: can it serve Codex?"""
        pid = self._existing(provider)
        return self._run_async(self._test(pid))  # type: ignore[no-any-return]

    @exposed
    @waits_on_loop
    def test_all_providers(self) -> dict[str, Any]:
        """``test_provider`` for every enabled provider with a base URL, at the same time."""
        return self._run_async(self._test_all())  # type: ignore[no-any-return]

    async def _test_all(self) -> dict[str, Any]:
        pids = list(self._services.config.current.routable)
        results = await asyncio.gather(*(self._test(pid) for pid in pids))
        return {"results": dict(zip(pids, results, strict=True))}

    def _masked(self, result: dict[str, Any]) -> dict[str, Any]:
        """What a provider told us, with every secret masked wherever in it a relay echoed one."""
        return self._services.redactor.in_value(result)

    async def _test(self, pid: str) -> dict[str, Any]:
        services = self._services
        cfg = services.config.current
        asked = self._asked(pid)
        provider, key = asked.provider, asked.key
        if not provider.base_url:
            raise ControlError(f"{cfg.name_of(pid)} has no base URL to test")
        result = await run_test(services.require_serving().upstream, provider, key,
                                provider.model_for(services.router.last_model(pid)),
                                min(cfg.routing.request_timeout_seconds, 30))
        shown: dict[str, Any] = self._masked(result)
        if not self._still_asked(asked):
            return shown  # what was tested is gone: the provider (or its address, or key) changed meanwhile
        services.tests.record(pid, shown)
        if shown["ok"]:  # a pass counts as a success for health
            services.router.record_check(services.config.current, pid, True, "provider test")
        return shown

    # --- request log -------------------------------------------------------------------------------------

    @exposed
    def list_requests(self, limit: int = 100, before_id: int | None = None, provider: str | None = None,
                      outcome: request_log.OutcomeFilter | None = None, session_id: str | None = None,
                      text: str | None = None, after_id: int | None = None, oldest: bool = False) -> dict[str, Any]:
        """Every client request, newest first, with filters; ``before_id`` pages backwards, ``after_id``
        forwards, ``oldest`` goes to the far end."""
        if not 1 <= limit <= 1000:
            raise ControlError("limit must be an integer from 1 to 1000")
        if (before_id is not None) + (after_id is not None) + oldest > 1:
            raise ControlError("before_id, after_id and oldest each name a page: give at most one of them")
        filters = _filters(provider, outcome, self._as_logged(session_id), self._as_logged(text))
        return request_log.page(self._services.store, filters, limit=limit, before_id=before_id, after_id=after_id,
                                oldest=oldest)

    @exposed
    def get_request(self, id: int) -> dict[str, Any]:
        """One request with its attempt chain."""
        found = request_log.detail(self._services.store, id, self._services.config.current.name_of)
        if found is None:
            raise ControlError(f"no request {id} in the request log")
        return found

    @exposed
    @made_in_pieces_by("request_export")
    def export_requests(self, format: request_log.ExportFormat = "csv", provider: str | None = None,
                        outcome: request_log.OutcomeFilter | None = None, session_id: str | None = None,
                        text: str | None = None) -> dict[str, Any]:
        """Every request that matches the filters, as CSV or JSON lines (in one answer: for a long log, the
        window's ``GET /api/export_requests`` download or the desktop's save_export writes it in pieces,
        made by ``request_export``)."""
        return request_log.export(self.request_export(format, provider, outcome, session_id, text))

    def request_export(self, format: request_log.ExportFormat = "csv", provider: str | None = None,
                       outcome: request_log.OutcomeFilter | None = None, session_id: str | None = None,
                       text: str | None = None) -> request_log.Export:
        """The export, to be made a piece at a time (not exposed: its pieces are no JSON)."""
        try:
            return request_log.export_of(self._services.store, self._services.name_shown, format,
                                         provider, outcome, self._as_logged(session_id), self._as_logged(text))
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    # --- usage, quota and analytics ----------------------------------------------------------------------

    @exposed
    def get_analytics(self, window: Literal["hour", "day", "month"] = "day") -> dict[str, Any]:
        """Requests, errors, tokens and latency percentiles per provider and overall, plus a time
        series for charts; ``window`` is hour, day or month (30 days)."""
        return analytics.summary(self._services.store, window)

    @exposed
    def list_sessions(self, limit: int = 50) -> dict[str, Any]:
        if not 1 <= limit <= 500:
            raise ControlError("limit must be an integer from 1 to 500")
        return {"sessions": analytics.sessions(self._services.store, limit, self._bound_to())}

    @exposed
    def get_session_timeline(self, session_id: str) -> dict[str, Any]:
        logged_as = self._services.redactor(_text("session_id", session_id))  # a key sent as one is kept masked
        return analytics.session_timeline(self._services.store, logged_as, self._bound_to())

    def _bound_to(self) -> Callable[[str], str | None]:
        """Which provider a session is bound to now, by the settings in use."""
        return functools.partial(self._services.router.session_binding, self._services.config.current)

    def _as_logged(self, searched: str | None) -> str | None:
        """A session id or searched text as the request log keeps it: a key a client sent as a session id
        or a model name is kept masked (and so is found by it, and never said back)."""
        return self._services.redactor(searched) if searched else searched

    @exposed
    def get_usage(self) -> dict[str, Any]:
        return {"quota": self._services.quota.quota_json(), "ledgers": self._services.quota.ledgers_json()}

    @exposed
    @waits_on_loop
    def refresh_usage(self, provider: str | None = None) -> dict[str, Any]:
        """Check usage now: one provider, or all of them (spaced ~120 ms apart)."""
        providers = None if provider is None else [self._existing(provider)]
        return self._run_async(self._services.quota.refresh(providers))  # type: ignore[no-any-return]

    @exposed
    def set_usage_token(self, provider: str, token: str) -> dict[str, Any]:
        self._set_credential("usage_tokens", provider, token, "token", "Usage token")
        return self.get_config()

    @exposed
    def clear_usage_token(self, provider: str) -> dict[str, Any]:
        self._set_credential("usage_tokens", provider, None, "token", "Usage token")
        return self.get_config()

    def _set_credential(self, field: str, provider: str, value: str | None, arg: str, what: str) -> str:
        """Set (or, with ``value`` None, clear) a provider's key or usage token; the old usage reading no
        longer applies."""
        services = self._services
        pid = self._existing(provider)
        if value is not None:
            value = _text(arg, value)
            why = secret_problem(value)
            if why:
                raise ControlError(f"{arg} {why} (check what was pasted)")

        def change(s: Secrets) -> Secrets:
            values = {k: v for k, v in getattr(s, field).items() if k != pid}
            if value is not None:
                values[pid] = value
            return s.with_changes(**{field: values})

        services.secrets.edit(change)
        # A provider key reaches every per-provider state with secrets.json, a usage token only the usage
        # reading (ProviderStates.note_secrets).
        verb = "set" if value is not None else "cleared"
        services.emit(Level.INFO, Kind.CONFIG, f"{what} {verb} for {services.config.current.name_of(pid)}", pid)
        return pid

    # --- gateway token ---------------------------------------------------------------------------------

    @exposed
    @hands_out_the_token
    def get_gateway_token(self) -> dict[str, Any]:
        return {"token": self._services.secrets.current.gateway_token}

    @exposed
    @hands_out_the_token
    def rotate_gateway_token(self) -> dict[str, Any]:
        """A new token; the old one is refused at once. Codex's auth.json follows when Connect Codex had
        connected it with the old token."""
        services = self._services
        old = services.secrets.current.gateway_token
        updated = services.secrets.edit(lambda s: s.with_changes(gateway_token=new_gateway_token()))
        try:
            codex_updated = codex_setup.update_token(services.codex_home, services.gateway_url, old,
                                                     updated.gateway_token)
        except (OSError, codex_setup.CodexSetupError) as exc:  # e.g. made read-only: left as it is
            codex_updated = False
            why = cannot_write(exc) if isinstance(exc, OSError) else str(exc)
            services.emit(Level.ERROR, Kind.CODEX, f"Could not update Codex's auth.json with the new token: {why}")
        if codex_updated:
            services.emit(Level.INFO, Kind.SECURITY,
                          f"Gateway token rotated; Codex's auth.json ({services.codex_home}) "
                          "now holds the new one. Other clients using the old token are refused.")
        else:
            services.emit(Level.WARNING, Kind.SECURITY,
                          "Gateway token rotated; clients using the old token are now refused. "
                          "Update Codex's auth.json (Connect Codex does it).")
        return {"token": updated.gateway_token}

    # --- Codex -------------------------------------------------------------------------------------------

    @exposed
    @hands_out_the_token
    def get_codex_setup(self) -> dict[str, Any]:
        services = self._services
        return codex_setup.describe(services.codex_home, services.gateway_url, services.secrets.current.gateway_token)

    @exposed
    @hands_out_the_token
    def apply_codex_setup(self) -> dict[str, Any]:
        return self._change_codex_files(codex_setup.apply, "Codex configured to use API Router")

    @exposed
    @hands_out_the_token
    def restore_codex_backup(self) -> dict[str, Any]:
        return self._change_codex_files(codex_setup.restore, "Codex files restored from the backup")

    def _change_codex_files(self, change: Callable[[Path, str, str], dict[str, Any]], done: str) -> dict[str, Any]:
        services = self._services
        try:
            result = change(services.codex_home, services.gateway_url, services.secrets.current.gateway_token)
        except codex_setup.CodexSetupError as exc:
            raise ControlError(str(exc)) from None
        except OSError as exc:
            raise ControlError(f"Codex's files were not changed: {cannot_write(exc)}") from None
        services.emit(Level.INFO, Kind.CODEX, f"{done} ({services.codex_home})")
        return result

    # --- helpers ---------------------------------------------------------------------------------------

    def _edit_provider(self, change: Callable[[TOMLDocument], bool], pid: str, verb: str) -> None:
        """Edits one provider's table in config.toml; ``change`` says whether it ended a lock on it."""
        services = self._services
        ended = False

        def edit(doc: TOMLDocument) -> None:
            nonlocal ended  # the last run of the edit is the one written
            ended = change(doc)

        before = services.config.current
        cfg = services.config.edit(edit)
        services.emit(Level.INFO, Kind.CONFIG, f"Provider {cfg.name_of(pid)} {verb}", pid)
        if ended:
            services.router.lock_changed(cfg, None)
        self._note_preferred_moved(before, cfg)

    def _note_preferred_moved(self, before: Config, after: Config) -> None:
        """The provider actually preferred moves when the list changes (reordered, the first one switched
        off or on) or the chosen one can no longer serve or can again: never silently, and as the user's
        own doing — routing follows at once rather than staying on the provider served until now, which
        would read as a failover (and its end as a recovery)."""
        was, now = before.effective_preferred, after.effective_preferred
        if was == now:
            return
        if now is not None and now not in before.providers:  # just added (the first one, say): it never served
            self._services.router.preferred_changed(after, reason="it was added")
            return
        if now is None or was is None:  # everything switched off, or one of them on again: nothing failed
            self._services.router.preferred_changed(after, reason="it can serve again" if now else "")
            return
        chosen = before.routing.preferred_provider or after.routing.preferred_provider
        if not chosen:
            reason = "it is now first in the list"
        else:
            reason = "it can serve again" if now == chosen else f"{after.name_of(chosen)} cannot serve"
        self._services.router.preferred_changed(after, reason=reason)

    def _asked(self, pid: str) -> Asked:
        """The provider a probe or test asks, and its key (it may have been deleted since the call came
        in: the check and this run on different threads)."""
        asked = self._services.asking(pid)
        if asked is None:
            raise ControlError(f"unknown provider {quoted(pid)}")
        return asked

    def _still_asked(self, asked: Asked) -> bool:
        """Whether an answer to ``asked`` still says something about the provider under the id it was asked
        by: a test or probe whose provider was renamed, deleted or given a new address or key meanwhile is
        only shown to whoever asked."""
        return self._services.answered_for(asked) == asked.pid

    def _existing(self, provider: str | None) -> str:
        pid = _text("provider", provider or "")
        if pid not in self._services.config.current.providers:
            raise ControlError(f"unknown provider {quoted(pid)}")
        return pid

    def _check_new_id(self, pid: str) -> None:
        if not PROVIDER_ID_RE.fullmatch(pid):
            raise ControlError(f"provider id {quoted(pid)} must start with a letter or digit and contain only letters, "
                               "digits, '.', '_' or '-' (at most 64)")
        if pid in self._services.config.current.providers:
            raise ControlError(f"a provider named {quoted(pid)} already exists")


def _held_for(secrets: Secrets, pid: str) -> list[str]:
    """What secrets.json holds under ``pid``: a key, a usage token."""
    return [what for what, mapping in (("key", secrets.provider_keys), ("usage token", secrets.usage_tokens))
            if pid in mapping]


def _added(secrets: Secrets, pid: str) -> str:
    """The verb of an added provider's event; a key written ahead for its id (or left by a table removed by
    hand) goes to its address from the first request, so the user is told it is in use."""
    held = _held_for(secrets, pid)
    if not held:
        return "added"
    return (f"added; secrets.json already held a {' and a '.join(held)} for {quoted(pid)}, in use until "
            "another is set in the provider's settings")


def _refuse_hand_written_secrets(secrets: Secrets, pid: str) -> None:
    """A key (or usage token) written by hand in secrets.json for an id no provider has yet is the user's: a
    rename onto that id would replace it with the renamed provider's."""
    held = _held_for(secrets, pid)
    if held:
        raise ControlError(f"secrets.json holds a {' and a '.join(held)} for {quoted(pid)}, which no provider has: "
                           f"it would be replaced by the renamed provider's; remove it from secrets.json first, or "
                           f"choose another id")


def _named(config: Config, key: str, value: object) -> str:
    """The display name beside a provider id in an event ("gamma" means little to whoever reads it)."""
    if key in _PROVIDER_KEYS and isinstance(value, str) and value and config.name_of(value) != value:
        return f" ({config.name_of(value)})"
    return ""


_PROVIDER_KEYS = frozenset({"preferred_provider", "manual_override"})


def _plain_value(item: Any, default: Any) -> Any:
    """A value as a TOML document holds it (a tomlkit item) as plain Python; ``default`` when absent."""
    if item is None:
        return default
    unwrap = getattr(item, "unwrap", None)
    return unwrap() if unwrap is not None else item


def _order_problem(cfg: Config, order: list[str], now: list[str]) -> str:
    """Why ``order`` is no order of the providers there are, by their names (the order as it stands,
    too: a list read before a provider was added, renamed or deleted meanwhile is the usual cause)."""
    named = set(order)
    unknown = [p for p in dict.fromkeys(order) if p not in cfg.providers]
    if unknown:  # renamed or deleted since the list was read (the ones it leaves out are likely the renamed)
        many = len(unknown) > 1
        wrong = [f"it names {len(unknown) if many else 'a'} provider{'s' if many else ''} there "
                 f"{'are' if many else 'is'} none of now (renamed or deleted since the list was read?)"]
    else:  # added since the list was read
        wrong = [f"{cfg.name_of(p)} is not in it" for p in now if p not in named]
    wrong += [f"it names {cfg.name_of(p)} {order.count(p)} times" for p in dict.fromkeys(order)
              if order.count(p) > 1 and p in cfg.providers]
    return (f"order must list every provider exactly once: {'; '.join(wrong)} (the providers are now "
            f"{', '.join(cfg.name_of(p) for p in now)}; the list may have changed since it was read: try again)")


def _still_there(cfg: Config, pid: str) -> None:
    """Refuses a change naming ``pid`` once it is gone (deleted or renamed since the caller looked)."""
    if pid not in cfg.providers:
        raise ControlError(f"unknown provider {quoted(pid)} (it was deleted or renamed meanwhile)")


def _lockable(cfg: Config, pid: str, *, prefix: str = "") -> None:
    """Refuses a lock on a provider that cannot serve (switched off, or no base URL)."""
    if not cfg.providers[pid].routable:
        raise ControlError(f"{prefix}cannot lock to {cfg.name_of(pid)}: it is disabled or has no base URL")


_HEDGE_BOUNDS = frozenset({"hedge_min_seconds", "hedge_max_seconds"})


def _hedge_range_kept(cfg: Config) -> None:
    """Refuses a change of a hedge bound that leaves the longest delay below the shortest."""
    low, high = cfg.routing.hedge_min_seconds, cfg.routing.hedge_max_seconds
    if high < low:
        raise ControlError(f"hedge_max_seconds ({high:g}) must be at least hedge_min_seconds ({low:g})")
