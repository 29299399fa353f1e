"""Composition root: everything the app is made of, wired once from a user-data folder.

``open_services`` loads config and secrets, opens the store and builds the router, continuity and
quota on top of them; ``make_control`` gives the UI's control API over those services. Serving them
is ``gateway.server``'s job.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from api_router.config import Config, ConfigFile
from api_router.continuity.index import ContinuityIndex
from api_router.continuity.rewrite import Continuity
from api_router.control import Control
from api_router.paths import Paths, codex_home
from api_router.quota import Quota
from api_router.routing import Router
from api_router.routing.affinity import SessionAffinity
from api_router.secrets import Redactor, SecretsFile
from api_router.services import NotServing, ProviderStates, Services
from api_router.store import Retention, Store
from api_router.watch import FileWatcher

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it exists (not on Windows), else asyncio's own loop."""
    if os.environ.get("API_ROUTER_LOOP") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def open_services(paths: Paths, *, clock: Callable[[], float] = time.time) -> Services:
    """Load (or create) everything in ``paths``; problems found become events, never crashes."""
    config, config_report = ConfigFile.load(paths.config)
    secrets, secrets_report = SecretsFile.load(paths.secrets)
    redactor = Redactor()
    redactor.update(secrets.current)
    secrets.listeners.append(redactor.update)
    store = Store(paths.store, redactor)
    store.open()
    _report_file_problems(config, secrets, store)
    for problem in (*config_report.problems, *secrets_report.problems):
        store.add_event("error", "config", problem)
    if secrets_report.migrated:
        store.add_event("info", "config", "The gateway token was moved out of the provider keys (legacy secrets.json)")
    store.set_retention(_retention(config.current))
    config.listeners.append(lambda cfg: store.set_retention(_retention(cfg)))
    home = codex_home()
    index = ContinuityIndex(store)
    continuity = Continuity(home, index)
    quota = Quota(store, lambda: config.current, lambda: secrets.current, store.add_event)
    quota.load()
    affinity = SessionAffinity(store, keep_seconds=config.current.routing.session_idle_return_seconds)
    router = Router(store.add_event, clock, skip=quota.skip_reason, redact=redactor, affinity=affinity)
    # Every piece of state kept per provider id; renames and deletes reach all of them.
    providers = ProviderStates([secrets, router, store, quota, index])
    watcher = FileWatcher([config.reload, secrets.reload])
    watcher.start()
    return Services(paths, config, secrets, redactor, store, router, continuity, quota, home, providers, watcher)


def _report_file_problems(config: ConfigFile, secrets: SecretsFile, store: Store) -> None:
    """Hand edits found while running, and files moved aside when the app next writes, become events."""
    for f in (config, secrets):
        f.on_problem = lambda message: store.add_event("error", "config", message)
        f.on_notice = lambda message: store.add_event("info", "config", message)


def _retention(cfg: Config) -> Retention:
    return Retention(days=cfg.request_log.retention_days, rows=cfg.request_log.max_rows)


def run_on_loop(services: Services, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on the gateway's loop from another thread and wait for its result."""
    serving = services.serving
    if serving is None:
        coro.close()
        raise NotServing("the gateway is not running")
    return asyncio.run_coroutine_threadsafe(coro, serving.loop).result(timeout)


def make_control(services: Services) -> Control:
    return Control(services, lambda coro: run_on_loop(services, coro))
