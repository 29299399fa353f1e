"""Composition root: everything the app is made of, wired once from a user-data folder.

``open_services`` loads config and secrets, opens the store and builds the router, continuity and
quota on top of them; ``make_control`` gives the UI's control API over those services. Serving them
is ``gateway.server``'s job.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from api_router.config import ConfigFile
from api_router.control import Control
from api_router.gateway.continuity import Continuity
from api_router.gateway.proxy import REJECTS_PREVIOUS_ID_META
from api_router.paths import Paths, codex_home
from api_router.quota import Quota
from api_router.routing import Router
from api_router.secrets import Redactor, SecretsFile
from api_router.services import Services
from api_router.store import Store

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
    for problem in (*config_report.problems, *secrets_report.problems):
        store.add_event("error", "config", problem)
    if secrets_report.migrated:
        store.add_event("info", "config", "The gateway token was moved out of the provider keys (legacy secrets.json)")
    rejecting = set(json.loads(store.get_meta(REJECTS_PREVIOUS_ID_META) or "[]"))
    home = codex_home()
    continuity = Continuity(home, store.response_owner, store.reasoning_owners, rejecting)
    quota = Quota(store, lambda: config.current, lambda: secrets.current, store.add_event)
    quota.load()
    router = Router(store.add_event, clock, skip=quota.skip_reason, redact=redactor)
    return Services(paths, config, secrets, redactor, store, router, continuity, quota, home)


def run_on_loop(rt: Services, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on the gateway's loop from another thread and wait for its result."""
    if rt.loop is None:
        coro.close()
        raise RuntimeError("the gateway is not running")
    return asyncio.run_coroutine_threadsafe(coro, rt.loop).result(timeout)


def make_control(rt: Services) -> Control:
    return Control(rt, lambda coro: run_on_loop(rt, coro))


