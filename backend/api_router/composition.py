"""Composition root: everything the app is made of, wired once from a user-data folder.

``open_services`` loads config and secrets, opens the store and builds the router, continuity and
quota on top of them; ``make_control`` gives the UI's control API over those services. Serving them
is ``gateway.server``'s job.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from api_router.config import Config, ConfigFile, LoadReport
from api_router.continuity.index import ContinuityIndex
from api_router.continuity.rewrite import Continuity
from api_router.control import Control, ControlError, Registry
from api_router.desktop.autostart import ItemChange, SettingFollower, apply_setting, system_autostart
from api_router.fsutil import NotAFile, check_writable, private_dir, tighten_tree
from api_router.paths import Paths, codex_home
from api_router.provider_tests import ProviderTests
from api_router.proxyenv import ProxyRoutes, ProxySettings, proxy_secrets
from api_router.quota import Quota
from api_router.records import Activity, EventSink, Kind, Level
from api_router.routing import Router
from api_router.routing.affinity import SessionAffinity, routing_choice
from api_router.routing.router import chosen_cannot_serve
from api_router.running import api_router_version
from api_router.secrets import Redactor, SecretsFile, url_secrets
from api_router.services import NotServing, ProviderStates, Services
from api_router.store import Retention, Store
from api_router.store.schema import ForeignDatabase, NewerDatabase
from api_router.tls import ClientTrust
from api_router.watch import FileWatcher

log = logging.getLogger(__name__)

T = TypeVar("T")


class StartupError(Exception):
    """The user-data folder cannot be used; the message is one line naming the file and what to do."""

    @classmethod
    def of(cls, exc: OSError, paths: Paths) -> StartupError:
        return cls(_describe_os_error(exc, paths))


class EarlierVersionRunning(StartupError):
    """The folder is fine, but most likely still in use by an earlier version: the way out is to quit it."""


def open_services(paths: Paths, *, port: int | None = None, host: str | None = None,
                  clock: Callable[[], float] = time.monotonic, watch: Sequence[Callable[[], object]] = ()) -> Services:
    """Load (or create) everything in ``paths``. Problems in the files become events; a file or folder
    that cannot be read or written at all is a StartupError. ``port``, ``host``: a ``--port`` and ``--host``
    that override the config's (the port decides which provider URLs would point back at this gateway).
    ``watch``: more checks for the file watcher to run (the instance lock's ``keep``)."""
    try:
        return _open_services(paths, port, host, clock, watch)
    except OSError as exc:
        raise StartupError.of(exc, paths) from exc
    except sqlite3.OperationalError as exc:
        raise StartupError(f"cannot open the database {paths.store} ({exc}); {_database_advice(exc, paths)}") from exc
    except ForeignDatabase as exc:
        raise StartupError(f"cannot open the database {paths.store}: {_ANOTHER_PROGRAMS}") from exc
    except NewerDatabase as exc:
        raise StartupError(f"the database {paths.store} was written by a newer version of API Router ({exc}); "
                           "run that version, or move the file away to start with an empty history") from exc


def _config_edited(router: Router, emit: EventSink, before: Config, after: Config) -> None:
    """A hand edit of config.toml is in use. A lock or preferred provider set there is the user's choice
    as much as one made in the UI: every session follows it. A lock on a provider that cannot serve
    locks nothing, and the user is told."""
    lock = after.effective_lock
    chose = after.routing.preferred_provider != before.routing.preferred_provider
    if lock != before.effective_lock:
        router.lock_changed(after, lock)
    elif after.preferred_choice != before.preferred_choice:
        # Chosen by hand while it cannot serve: said as when chosen in the app.
        router.preferred_changed(after, reason="" if chose and chosen_cannot_serve(after) else "config.toml edited")
    wanted = after.routing.manual_override
    if wanted != before.routing.manual_override or before.effective_lock is not None:
        _warn_of_unusable_lock(emit, after)
    preferred = after.routing.preferred_provider
    if preferred != before.routing.preferred_provider or preferred in before.providers:
        _warn_of_unknown_preferred(emit, after)
    if after.routing.auto_return_to_preferred != before.routing.auto_return_to_preferred:
        router.evidence_changed()


def _warn_of_unusable_lock(emit: EventSink, cfg: Config) -> None:
    """A lock on a provider that cannot serve locks nothing; the user who wrote it is told (at start too:
    it may have been written while the app was not running)."""
    wanted = cfg.routing.manual_override
    if wanted and cfg.effective_lock is None:
        why = "no such provider" if wanted not in cfg.providers else "it is switched off or has no base URL"
        emit(Level.WARNING, Kind.CONFIG,
             f"config.toml locks routing to {wanted}, which cannot serve ({why}): routing is not locked", None)


def _warn_of_unknown_preferred(emit: EventSink, cfg: Config) -> None:
    """A preferred provider that names no provider (a typo, or its table cut by hand) prefers nothing;
    the user is told what is preferred instead. (One switched off is the user's own doing in the app.)"""
    wanted = cfg.routing.preferred_provider
    if wanted and wanted not in cfg.providers:
        instead = f"{cfg.name_of(cfg.effective_preferred)} is preferred instead" if cfg.effective_preferred \
            else "no provider can serve"
        emit(Level.WARNING, Kind.CONFIG, f"config.toml prefers {wanted}, which is no provider: {instead}", None)


# A readable SQLite file whose tables are another program's (or hand-made): not damaged, not ours to move.
_ANOTHER_PROGRAMS = ("it is an SQLite database of another program, not API Router's: move it away and API Router "
                     "creates its own, or start with --user-data pointing at another folder")


def _database_advice(exc: sqlite3.OperationalError, paths: Paths) -> str:
    if paths.store.is_dir():
        return "it is a folder where the database file should be; move it away and API Router creates the file"
    if "locked" in str(exc) or "busy" in str(exc):
        return ("another program holds it (a database tool, or a copy of API Router started another way): close "
                "that program, or start with --user-data pointing at another folder")
    if str(exc).startswith(("no such column", "no such table", "table ")) or "has no column named" in str(exc):
        return _ANOTHER_PROGRAMS  # its tables share names with ours
    # Short of room, SQLite often says only "disk I/O error" (its journal or shared memory could not grow).
    # (A read-only file system says it has no room at all: that is no full disk.)
    if "disk is full" in str(exc) or ("disk I/O error" in str(exc) and _nearly_full(paths.user_data)):
        return "the disk is full or nearly; free some space, or start with --user-data pointing at another disk"
    length = len(os.fsencode(paths.store.absolute()))
    if length + len("-journal") > SQLITE_PATH_MAX:
        return (f"its path is {length:,} bytes long, and SQLite opens no file whose path is longer than "
                f"{SQLITE_PATH_MAX} bytes (its journal's included): start with --user-data pointing at a folder "
                "with a shorter path")
    return "check that it and its folder are writable by you, or start with --user-data pointing at another folder"


SQLITE_PATH_MAX = 512  # SQLite's unix VFS: the longest path it opens a file by
NEARLY_FULL_BYTES = 1 << 20  # less room than this on the database's disk: too little for its journal to grow


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def _describe_os_error(exc: OSError, paths: Paths) -> str:
    where = exc.filename or paths.user_data
    why = exc.strerror or str(exc)
    if exc.errno == errno.EISDIR:
        advice = "it is a folder where a file should be; move it away and API Router creates the file"
    elif isinstance(exc, NotAFile):
        advice = "it is a pipe or a device where a file should be; move it away and API Router creates the file"
    elif exc.errno == errno.EEXIST:
        advice = "a file is where a folder should be; move it away and API Router creates the folder"
    elif exc.errno == errno.ENOSPC:
        advice = "the disk is full; free some space, or start with --user-data pointing at another disk"
    elif exc.errno == errno.EROFS:
        advice = "the folder is read-only; start with --user-data pointing at a writable folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        advice = "it must be readable and writable by you: fix its permissions, or start with --user-data " \
                 "pointing at another folder"
    else:
        advice = "check the file and its folder, or start with --user-data pointing at another folder"
    return f"cannot use {where} ({why}): {advice}"


def _refuse_under_an_earlier_version(paths: Paths, cfg: Config, port: int | None, host: str | None) -> None:
    """The database is an earlier version's, about to be upgraded: an API Router answering where this
    folder's settings (or the options) listen is most likely that version, still running on it (the first
    release held no instance lock) — once upgraded, its request rows would no longer fit, and be lost.
    Asked before anything changes."""
    for where in dict.fromkeys(p for p in (cfg.listen.port, port) if p):
        version = api_router_version(host or cfg.listen.host, where, timeout=1.0)
        if version is not None:
            raise EarlierVersionRunning(
                f"API Router {version} answers on port {where}: if it is an earlier version still running with this "
                "folder, quit it, then start this one (it upgrades the database, which the earlier one could no "
                f"longer write into); if it is another folder's, set another [listen] port in {paths.config}")


# The Usage page's percentiles rank with window functions (SQLite 3.25, 2018; Python's own builds carry newer).
SQLITE_NEEDED = (3, 25, 0)


def _check_sqlite() -> None:
    if sqlite3.sqlite_version_info < SQLITE_NEEDED:
        raise StartupError(
            f"API Router needs SQLite {'.'.join(map(str, SQLITE_NEEDED))} or later, and this Python has SQLite "
            f"{sqlite3.sqlite_version}: run it with a newer Python build (python.org's, or your system's current "
            "python3)")


def _open_services(paths: Paths, port: int | None, host: str | None, clock: Callable[[], float],
                   watch: Sequence[Callable[[], object]]) -> Services:
    _check_sqlite()  # before the settings and the database are touched
    private_dir(paths.user_data)
    check_writable(paths.user_data)
    if paths.data.is_dir():
        check_writable(paths.data)
    tighten_tree(paths.user_data)
    config, config_report = ConfigFile.load(paths.config, own_port=port)
    secrets, secrets_report = SecretsFile.load(paths.secrets)
    redactor = Redactor()
    # Told of new keys and URL passwords before a request can use them: an upstream echoing one back in the
    # first answer sent with it is masked (a listener is told only after the new version is in use).
    redactor.update(secrets.current)
    secrets.before_use = redactor.update
    proxy_settings = ProxySettings.read()  # once, for every client and the masking
    redactor.update_url_secrets(_url_secrets(config.current, proxy_settings))
    config.before_use = lambda loaded: redactor.update_url_secrets(_url_secrets(loaded.config, proxy_settings))
    store = Store(paths.store, redactor, _retention(config.current))
    if store.upgrade_pending():
        _refuse_under_an_earlier_version(paths, config.current, port, host)
        # Before the port opens: a long history takes seconds.
        log.info("store: bringing the database an earlier version left up to date (a large history takes a "
                 "few seconds)")
    store.open()
    # A key may be made of what a client once sent as its session id or model name: masked there too.
    store.mask_in_history(secrets.current.secret_values())
    secrets.listeners.append(lambda current: store.mask_in_history(current.secret_values()))
    _report_file_problems(config, secrets, store)
    _settle_key_moves(config, config_report, secrets, store)
    for problem in (*config_report.problems, *secrets_report.problems):
        store.add_event(Level.ERROR, Kind.CONFIG, problem)
    for message in (*config_report.ignored, *secrets_report.ignored):
        store.add_event(Level.WARNING, Kind.CONFIG, message)
    _warn_of_unusable_lock(store.add_event, config.current)
    _warn_of_unknown_preferred(store.add_event, config.current)
    if secrets_report.migrated:
        store.add_event(Level.INFO, Kind.CONFIG,
                        "The gateway token was moved out of the provider keys (legacy secrets.json)")
    config.listeners.append(lambda cfg: store.set_retention(_retention(cfg)))
    home = codex_home()
    index = ContinuityIndex(store)
    continuity = Continuity(home, index)
    activity = Activity()
    trust, proxies = ClientTrust(), ProxyRoutes(proxy_settings)
    quota = Quota(store, lambda: config.current, lambda: secrets.current, store.add_event, redactor, activity,
                  trust, proxies)
    quota.load()
    affinity = SessionAffinity(store, keep_seconds=config.current.routing.session_idle_return_seconds,
                               choice=routing_choice(config.current))
    config.listeners.append(lambda cfg: affinity.note_choice(routing_choice(cfg)))
    router = Router(store.add_event, clock, skip=quota.skip_reason, redact=redactor, affinity=affinity)
    for pid, model in store.last_asked_models().items():
        if pid in config.current.providers:
            router.note_model(pid, model)
    quota.on_quota_back = lambda provider: router.quota_back(config.current, provider)
    tests = ProviderTests(store)
    # Every piece of state kept per provider id: renames, deletes and new addresses reach each of them.
    providers = ProviderStates([router, store, quota, index, tests], usage=[quota], files=[secrets])
    providers.note_config(config.current)
    config.listeners.append(providers.note_config)
    providers.note_secrets(secrets.current)
    secrets.listeners.append(providers.note_secrets)
    config.on_hand_edit = lambda before, after: _config_edited(router, store.add_event, before.config, after.config)
    watcher = FileWatcher([config.reload, secrets.reload, *watch])
    watcher.start()
    services = Services(paths, config, secrets, redactor, store, router, continuity, quota, home, tests, providers,
                        watcher, system_autostart(user_data=paths.user_data), activity, trust, proxies)
    config.served_at = lambda: (s.host, s.port) if (s := services.serving) is not None else None
    return services


def _settle_key_moves(config: ConfigFile, report: LoadReport, secrets: SecretsFile, store: Store) -> None:
    """A rename or delete the last run was killed in is finished or undone by what config.toml says —
    only once it says what the user has: a config.toml that could not be used as it is (its providers
    left out for now) would read as every provider deleted."""
    if report.problems or report.moved_to is not None:
        return
    try:
        settled = secrets.settle(config.current.providers, finished=store.finish_move)
    except (OSError, ValueError) as exc:  # read-only, the disk full: the next start tries again
        settled = f"A rename or delete cut short could not be finished in secrets.json ({exc})"
    if settled:
        store.add_event(Level.WARNING, Kind.CONFIG, settled)


def _report_file_problems(config: ConfigFile, secrets: SecretsFile, store: Store) -> None:
    """Hand edits found while running, and files moved aside when the app next writes, become events."""
    def problem(message: str) -> None:
        store.add_event(Level.ERROR, Kind.CONFIG, message)

    def notice(message: str) -> None:
        store.add_event(Level.INFO, Kind.CONFIG, message)

    def ignored(message: str) -> None:
        store.add_event(Level.WARNING, Kind.CONFIG, message)

    for f in (config, secrets):
        f.on_problem, f.on_notice, f.on_ignored = problem, notice, ignored


def _url_secrets(cfg: Config, proxy_settings: ProxySettings) -> set[str]:
    """What provider URLs — and the proxy settings the requests to them go through — hold of a secret."""
    urls = [u for p in cfg.providers.values() for u in (p.base_url, p.usage_base_url) if u]
    return {secret for url in urls for secret in url_secrets(url)} | proxy_secrets(proxy_settings)


def _retention(cfg: Config) -> Retention:
    return Retention(days=cfg.request_log.retention_days, rows=cfg.request_log.max_rows)


def run_on_loop(services: Services, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on the gateway's loop from another thread and wait for its result."""
    serving = services.serving
    if serving is None:
        coro.close()
        raise NotServing("the gateway is not running")
    future = asyncio.run_coroutine_threadsafe(coro, serving.loop)
    try:
        return future.result(timeout)
    except TimeoutError:  # concurrent.futures' TimeoutError is the built-in one
        if future.done():  # the call's own error, not the wait's
            raise
        future.cancel()
        raise ControlError(f"this took longer than {timeout:g} s and was stopped; try again in a moment") from None


def make_control(services: Services) -> Control:
    return Control(services, lambda coro: run_on_loop(services, coro))


def make_registry(services: Services, control: Control) -> Registry:
    """The control methods by name, as the HTTP control API and the desktop bridge call them."""
    return Registry(control, control.catch_up, mask=services.redactor.in_value)


def follow_autostart(rt: Services) -> Callable[[], None]:
    """``[ui] autostart`` and the OS login item, in the window and headless alike: at start, ``true`` with
    the item missing (or pointing elsewhere) reinstalls it (``false`` leaves the OS alone: the UI's toggle
    removes the item, one the user made stays); while running, a change of the setting (a hand edit of
    config.toml, reloaded by the file watcher) installs or removes it (see ``SettingFollower``). Returns
    how to stop following."""
    item = rt.autostart
    try:
        done = apply_setting(item, rt.config.current.ui.autostart)
    except Exception as exc:  # OSError from the OS; the setting stays saved either way
        log.warning("start with the system: %s: %s", type(exc).__name__, exc)
    else:
        if done.written:
            log.info("start with the system: login item %s at %s", done, item.location())

    def report(done: ItemChange, wanted: bool) -> None:
        if done is ItemChange.UNSUPPORTED:
            if wanted:
                log.warning("start with the system: [ui] autostart = true, but this platform has no login item")
            return
        log.info("start with the system: [ui] autostart = %s; login item %s (%s)",
                 str(wanted).lower(), done, item.location())
        if done.written:
            rt.emit(Level.INFO, Kind.CONFIG, f"Start with the system is on: the login item is at {item.location()}")
        elif done is ItemChange.REMOVED:
            rt.emit(Level.INFO, Kind.CONFIG,
                    f"Start with the system is off: the login item {item.location()} was removed")

    def failed(exc: Exception, wanted: bool) -> None:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = (f"Start with the system: could not {'add' if wanted else 'remove'} the login item at "
                   f"{item.location()}: {why} ([ui] autostart = {str(wanted).lower()} stays saved)")
        log.warning("%s", message)
        rt.emit(Level.ERROR, Kind.CONFIG, message)

    follower = SettingFollower(item, rt.config.current.ui.autostart, report=report, failed=failed)
    rt.config.listeners.append(follower)
    return lambda: rt.config.listeners.remove(follower)
