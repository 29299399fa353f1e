"""What each provider has left: persisted usage snapshots, token ledgers, and the signal that makes
automatic routing skip a provider known to be empty.

The usage package (httpx, adapters) is imported only when a refresh is first needed: background
refreshes only run after the gateway has served a request, and nothing here is on the proxy's
hot path except ``record_tokens`` (a dict update and one queued write).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api_router.config import Config
from api_router.secrets import Secrets
from api_router.store import Store, now_ms

if TYPE_CHECKING:
    import httpx

    from api_router.usage import UsageRefresher, UsageSnapshot, UsageTarget

log = logging.getLogger(__name__)


@dataclass
class Ledger:
    tokens: int = 0
    since_ms: int | None = None  # the last successful usage check (None: never checked)


class Quota:
    def __init__(self, store: Store, config: Callable[[], Config], secrets: Callable[[], Secrets],
                 emit: Callable[..., Any]) -> None:
        self._store = store
        self._config = config
        self._secrets = secrets
        self._emit = emit
        self._last_activity_ms: int | None = None
        self._entries: dict[str, dict[str, Any]] = {}  # UsageEntry.to_json() per provider
        self._hints: dict[str, str] = {}
        self._ledgers: dict[str, Ledger] = {}
        self._exhausted: dict[str, str] = {}  # provider -> reason
        self._refresher: UsageRefresher | None = None
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    # --- state restored at start-up --------------------------------------------------------------

    def load(self) -> None:
        for provider, entry, hint, tokens, since in self._store.load_usage():
            if entry:
                try:
                    self._entries[provider] = json.loads(entry)
                except ValueError:
                    log.warning("ignoring an unreadable stored usage entry for %s", provider)
            if hint:
                self._hints[provider] = hint
            self._ledgers[provider] = Ledger(tokens, since)
        for provider, entry in self._entries.items():
            reason = _exhausted_reason(entry)
            if reason:
                self._exhausted[provider] = reason

    # --- routing and the gateway's hot path ----------------------------------------------------------

    def skip_reason(self, provider: str) -> str | None:
        """Why automatic routing should skip ``provider`` (its last snapshot says it is empty)."""
        return self._exhausted.get(provider)

    def record_tokens(self, provider: str, tokens: int) -> None:
        if tokens <= 0:
            return
        ledger = self._ledgers.setdefault(provider, Ledger())
        ledger.tokens += tokens
        self._store.save_ledger(provider, ledger.tokens, ledger.since_ms)

    # --- reporting -----------------------------------------------------------------------------------

    def quota_json(self) -> dict[str, Any]:
        return {pid: {**entry, "skipped": pid in self._exhausted, "adapter_hint": self._hints.get(pid)}
                for pid, entry in self._entries.items()}

    def ledgers_json(self) -> dict[str, Any]:
        return {pid: {"tokens_since_check": l.tokens, "since_unix_ms": l.since_ms} for pid, l in self._ledgers.items()}

    # --- refreshing -------------------------------------------------------------------------------------

    def _targets(self) -> list[UsageTarget]:
        from api_router.usage import UsageTarget

        secrets = self._secrets()
        out = []
        for pid, p in self._config().providers.items():
            key, token = secrets.provider_keys.get(pid, ""), secrets.usage_tokens.get(pid, "")
            if p.routable and (key or token):
                out.append(UsageTarget(pid, p.base_url, p.usage_base_url, p.usage_adapter, key, token))
        return out

    def _ensure_refresher(self) -> UsageRefresher:
        if self._refresher is None:
            from api_router.usage import UsageRefresher, make_client

            self._client = make_client()
            self._refresher = UsageRefresher(self._client, self._targets, self._on_result,
                                             last_activity=lambda: self._last_activity_ms)
            for pid in self._entries:
                self._seed(pid)
        return self._refresher

    def _seed(self, pid: str) -> None:
        from api_router.usage import UsageEntry, UsageSnapshot

        entry = self._entries.get(pid)
        if self._refresher is None or not entry:
            return
        snapshot = UsageSnapshot.from_json(entry["snapshot"]) if entry.get("snapshot") else None
        self._refresher.seed(pid, UsageEntry(snapshot, entry.get("error"), entry.get("error_at_unix_ms")),
                             self._hints.get(pid))

    def activity(self) -> None:
        """Called on the gateway's loop when a request was served: background refreshes run only
        while requests keep coming (the schedule itself checks the last 10 minutes)."""
        self._last_activity_ms = now_ms()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._ensure_refresher().run(), name="usage-refresh")

    async def refresh(self, providers: list[str] | None = None) -> dict[str, Any]:
        """Refresh now (manual); providers sharing one account are fetched once."""
        await self._ensure_refresher().refresh_all(providers)
        return {"quota": self.quota_json(), "ledgers": self.ledgers_json()}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._refresher = None

    def _on_result(self, provider: str, snapshot: UsageSnapshot | None, error: str | None) -> None:
        assert self._refresher is not None
        entry = self._refresher.entry(provider)
        if entry is None:
            return
        as_json = entry.to_json()
        self._entries[provider] = as_json
        hint = self._refresher.hint(provider)
        if hint:
            self._hints[provider] = hint
        self._store.save_usage_entry(provider, json.dumps(as_json), hint)
        if snapshot is not None:
            self._ledgers[provider] = Ledger(0, snapshot.fetched_at_unix_ms or now_ms())
            self._store.save_ledger(provider, 0, self._ledgers[provider].since_ms)
            self._update_exhausted(provider, _exhausted_reason(as_json))
        else:
            self._emit("warning", "usage", f"Usage check failed for {provider}: {error} (showing the last good reading)",
                       provider)

    def _update_exhausted(self, provider: str, reason: str | None) -> None:
        before = self._exhausted.get(provider)
        if reason and not before:
            self._exhausted[provider] = reason
            self._emit("warning", "quota", f"{provider} is out of quota ({reason}); automatic routing skips it "
                                           "until a usage check shows quota again", provider)
        elif reason:
            self._exhausted[provider] = reason
        elif before:
            del self._exhausted[provider]
            self._emit("info", "quota", f"{provider} has quota again; back in automatic routing", provider)

    # --- provider changes ---------------------------------------------------------------------------

    def invalidate(self, provider: str) -> None:
        """Its key, usage token or usage settings changed: the old reading no longer applies."""
        self._entries.pop(provider, None)
        self._hints.pop(provider, None)
        self._exhausted.pop(provider, None)
        if self._refresher is not None:
            self._refresher.forget(provider)
        self._store.forget_usage(provider)

    def rename(self, old: str, new: str) -> None:
        for table in (self._entries, self._hints, self._ledgers, self._exhausted):
            if old in table:
                table[new] = table.pop(old)  # type: ignore[index]
        if self._refresher is not None:
            self._refresher.forget(old)
            self._seed(new)

    def forget(self, provider: str) -> None:
        for table in (self._entries, self._hints, self._ledgers, self._exhausted):
            table.pop(provider, None)  # type: ignore[attr-defined]
        if self._refresher is not None:
            self._refresher.forget(provider)


def _exhausted_reason(entry: dict[str, Any]) -> str | None:
    snapshot = entry.get("snapshot") if isinstance(entry, dict) else None
    if isinstance(snapshot, dict) and snapshot.get("exhausted"):
        return str(snapshot.get("exhausted_reason") or "quota exhausted")
    return None
