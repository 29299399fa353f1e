"""The running app's shared parts, wired once by ``composition.py`` and handed to whoever needs them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from api_router.config import ConfigFile
from api_router.gateway.continuity import Continuity
from api_router.gateway.deadlines import Deadlines
from api_router.paths import Paths
from api_router.quota import Quota
from api_router.routing import Router
from api_router.secrets import Redactor, SecretsFile
from api_router.store import Store, now_ms


@dataclass
class Services:
    paths: Paths
    config: ConfigFile
    secrets: SecretsFile
    redactor: Redactor
    store: Store
    router: Router
    continuity: Continuity
    quota: Quota
    codex_home: Path
    # Set once the gateway runs on its loop.
    loop: asyncio.AbstractEventLoop | None = None
    http: aiohttp.ClientSession | None = None
    deadlines: Deadlines | None = None
    bound_host: str = ""
    bound_port: int = 0
    last_activity_ms: int | None = None
    shutting_down: bool = False
    inflight: int = 0  # proxy requests being served; shutdown waits for them
    # Upstream responses being read; shutdown closes them (closing the session alone does not
    # interrupt a body that is already streaming).
    upstreams: set[aiohttp.ClientResponse] = field(default_factory=set)

    def emit(self, level: str, kind: str, message: str, provider: str | None = None) -> None:
        self.store.add_event(level, kind, message, provider)

    def touch(self) -> None:
        now = self.last_activity_ms = now_ms()
        self.quota.activity(now)

    @property
    def gateway_url(self) -> str:
        host = self.bound_host or self.config.current.listen.host
        port = self.bound_port or self.config.current.listen.port
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/v1"
