"""What each provider has left: persisted usage snapshots, token ledgers, and the signal that makes
automatic routing skip a provider known to be empty.

The usage package (httpx, adapters) is imported only when a refresh is first needed: background
refreshes only run after the gateway has served a request. On the proxy's hot path are only
``skip_reason`` (a dict lookup per routable provider as a request is planned) and ``record_tokens``
(a ledger update; ``activity`` saves changed ledgers once per few seconds of traffic).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from api_router.config import Config
from api_router.proxyenv import ProxyRoutes
from api_router.records import Activity, EventSink, Kind, Level, now_ms
from api_router.secrets import Redactor, Secrets
from api_router.store import Store
from api_router.tls import ClientTrust

if TYPE_CHECKING:
    import httpx

    from api_router.usage import UsageRefresher, UsageSnapshot, UsageTarget

log = logging.getLogger(__name__)
LEDGER_SAVE_SECONDS = 5.0  # counted tokens reach the store at most this late (a crash loses at most that)
_FINGERPRINT = "fingerprint"  # the stored reading's key for what it is of (see Quota._fingerprint)
RECENT_MS = 5 * 60 * 1000  # how far back a ledger remembers when its tokens came: past any usage check's length


@dataclass
class Ledger:
    """Tokens served by a provider since its last successful usage check."""

    tokens: int = 0
    since_ms: int | None = None  # the last successful usage check (None: never checked)
    # (unix ms, tokens) of the last few minutes: a check's reading is of the moment it began, and what
    # was served while it ran must stay counted after it.
    recent: deque[tuple[int, int]] = field(default_factory=deque)

    def add(self, tokens: int, at_ms: int) -> None:
        self.tokens += tokens
        self.recent.append((at_ms, tokens))
        while self.recent and self.recent[0][0] < at_ms - RECENT_MS:
            self.recent.popleft()

    def checked(self, since_ms: int) -> Ledger:
        """The ledger after a check that began at ``since_ms``: what was served from then on."""
        kept = deque((at, n) for at, n in self.recent if at >= since_ms)
        return Ledger(sum(n for _, n in kept), since_ms, kept)


class Quota:
    def __init__(self, store: Store, config: Callable[[], Config], secrets: Callable[[], Secrets],
                 emit: EventSink, redact: Redactor, activity: Activity, trust: ClientTrust,
                 proxies: ProxyRoutes) -> None:
        self._store = store
        self._config = config
        self._secrets = secrets
        self._emit = emit
        # A usage panel's words may quote any secret (a panel shared by several providers): the usage
        # layer hides the checked provider's own, this every other one the app knows.
        self._redact = redact
        self._activity = activity
        self._trust = trust
        self._proxies = proxies
        self._entries: dict[str, dict[str, Any]] = {}  # UsageEntry.to_json() per provider
        self._hints: dict[str, str] = {}
        self._ledgers: dict[str, Ledger] = {}
        self._exhausted: dict[str, str] = {}  # provider -> reason
        self.on_quota_back: Callable[[str], None] = lambda provider: None  # a reading shows quota again
        # The refresher is the loop's: only code on the gateway's loop reads or changes it (see _on_refresher).
        self._refresher: UsageRefresher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._building: asyncio.Lock | None = None
        self._dirty: set[str] = set()  # providers whose ledger changed since it was last saved
        self._save_later: asyncio.TimerHandle | None = None
        # The maps above are written on the gateway's loop and read by control threads.
        self._lock = threading.Lock()

    # --- state restored at start-up --------------------------------------------------------------

    def load(self) -> None:
        void: dict[str, str | None] = {}  # provider -> why it was out, for readings of another account
        for provider, raw, hint, tokens, since in self._store.load_usage():
            if tokens or since is not None:  # a row only a failed check left has no ledger (as before the restart)
                self._ledgers[provider] = Ledger(tokens, since)
            entry = _parsed_entry(provider, raw)
            if entry is None:
                continue
            stored = entry.pop(_FINGERPRINT, None)
            # Set by hand while the app was stopped: the reading is of the old account (None: stored
            # before readings had a fingerprint, nothing to tell).
            if stored is not None and stored != self._fingerprint(provider):
                void[provider] = _exhausted_reason(entry)
                continue
            self._entries[provider] = entry
            if hint:
                self._hints[provider] = hint
        for provider, entry in self._entries.items():
            reason = _exhausted_reason(entry)
            if reason:
                self._exhausted[provider] = reason
        for provider, was_out in void.items():
            self._store.forget_reading(provider)
            if was_out is not None:
                self._say_void(provider, was_out)

    def _fingerprint(self, provider: str) -> str | None:
        """A digest of what a reading is of (address, key, usage token and settings), stored with the
        reading so one taken with another key is known at start; the secrets themselves never are."""
        p = self._config().providers.get(provider)
        if p is None:
            return None
        secrets = self._secrets()
        parts = (p.base_url, secrets.provider_keys.get(provider, ""), secrets.usage_tokens.get(provider, ""),
                 p.usage_adapter, p.usage_base_url)
        return hashlib.sha256("\0".join(("api-router-usage-reading", *parts)).encode()).hexdigest()

    # --- routing and the gateway's hot path ----------------------------------------------------------

    def skip_reason(self, provider: str) -> str | None:
        """Why automatic routing should skip ``provider`` (its last snapshot says it is empty)."""
        return self._exhausted.get(provider)

    def record_tokens(self, provider: str, tokens: int) -> None:
        if tokens <= 0:
            return
        with self._lock:
            ledger = self._ledgers.get(provider)
            if ledger is None:
                ledger = self._ledgers[provider] = Ledger()
            ledger.add(tokens, now_ms())
            self._dirty.add(provider)

    def _save_ledgers(self) -> None:
        self._save_later = None
        with self._lock:
            rows = [(p, self._ledgers[p].tokens, self._ledgers[p].since_ms) for p in self._dirty if p in self._ledgers]
            self._dirty.clear()
        for provider, tokens, since in rows:
            self._store.save_ledger(provider, tokens, since)

    # --- reporting -----------------------------------------------------------------------------------

    def quota_json(self) -> dict[str, Any]:
        with self._lock:
            shown = {pid: {**entry, "skipped": pid in self._exhausted, "adapter_hint": self._hints.get(pid)}
                     for pid, entry in self._entries.items()}
        return self._redact.in_value(shown)

    def left_percent(self, provider: str) -> float | None:
        """The share of quota or budget left according to the last reading, when it says."""
        with self._lock:
            entry = self._entries.get(provider)
        snapshot = entry.get("snapshot") if entry else None
        if not isinstance(snapshot, dict):
            return None
        if "left_percent" not in snapshot:  # a reading stored before this field existed
            from api_router.usage.model import UsageSnapshot, left_percent

            return left_percent(UsageSnapshot.from_json(snapshot))
        value = snapshot["left_percent"]
        return float(value) if isinstance(value, (int, float)) else None

    def ledgers_json(self) -> dict[str, Any]:
        with self._lock:
            return {pid: {"tokens_since_check": ledger.tokens, "since_unix_ms": ledger.since_ms}
                    for pid, ledger in self._ledgers.items()}

    # --- refreshing -------------------------------------------------------------------------------------

    def _targets(self) -> list[UsageTarget]:
        from api_router.usage import UsageTarget

        secrets = self._secrets()
        everything = self._redact.hidden()
        out = []
        for pid, p in self._config().providers.items():
            key, token = secrets.provider_keys.get(pid, ""), secrets.usage_tokens.get(pid, "")
            if p.routable and (key or token):
                out.append(UsageTarget(pid, p.base_url, p.usage_base_url, p.usage_adapter, key, token,
                                       also_hidden=everything))
        return out

    async def _ready_refresher(self) -> UsageRefresher:
        """The refresher, built on first use in a worker thread: importing httpx and loading its
        CA certificates takes tens of milliseconds that must not stall the gateway's loop."""
        if self._building is None:
            self._building = asyncio.Lock()
        async with self._building:
            if self._refresher is None:
                self._loop = asyncio.get_running_loop()
                client, refresher = await asyncio.to_thread(self._build_refresher)
                self._client, self._refresher = client, refresher
                with self._lock:
                    pids = list(self._entries)
                for pid in pids:
                    self._seed(refresher, pid)
        assert self._refresher is not None
        return self._refresher

    def _build_refresher(self) -> tuple[httpx.AsyncClient, UsageRefresher]:
        from api_router.usage import UsageRefresher, make_client

        client = make_client(verify=self._trust.context(), proxies=self._proxies)
        refresher = UsageRefresher(client, self._targets, self._on_result, last_activity=lambda: self._activity.last_ms)
        return client, refresher

    def _seed(self, refresher: UsageRefresher, pid: str) -> None:
        from api_router.usage import UsageEntry, UsageSnapshot

        with self._lock:
            entry, hint = self._entries.get(pid), self._hints.get(pid)
        if not entry:
            return
        snapshot = UsageSnapshot.from_json(entry["snapshot"]) if entry.get("snapshot") else None
        refresher.seed(pid, UsageEntry(snapshot, entry.get("error"), entry.get("error_at_unix_ms")), hint)

    def _on_refresher(self, change: Callable[[UsageRefresher], None]) -> None:
        """Apply ``change`` to the refresher on the gateway's loop. Renames, deletes and new keys come
        from control threads, while the refresher's own passes run on the loop and iterate over the
        same maps."""
        refresher, loop = self._refresher, self._loop
        if refresher is None or loop is None:
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            change(refresher)
            return
        try:
            loop.call_soon_threadsafe(change, refresher)
        except RuntimeError:  # the loop is closed: the gateway stopped, the refresher with it
            pass

    def served(self) -> None:
        """Called on the gateway's loop when a request was served: background refreshes run only
        while requests keep coming (the schedule itself checks the last 10 minutes), and counted
        tokens are saved once per few seconds of traffic rather than with every request."""
        if self._dirty and self._save_later is None:
            self._save_later = asyncio.get_running_loop().call_later(LEDGER_SAVE_SECONDS, self._save_ledgers)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._background(), name="usage-refresh")

    async def _background(self) -> None:
        await (await self._ready_refresher()).run()

    async def refresh(self, providers: list[str] | None = None) -> dict[str, Any]:
        """Refresh now (manual); providers sharing one account are fetched once."""
        await (await self._ready_refresher()).refresh_all(providers)
        return {"quota": self.quota_json(), "ledgers": self.ledgers_json()}

    async def stop(self) -> None:
        if self._save_later is not None:
            self._save_later.cancel()
        self._save_ledgers()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception:  # it ended with an error earlier: say so, but stop the rest all the same
                log.exception("the usage refresher had stopped with an error")
            self._task = None
        if self._refresher is not None:
            await self._refresher.cancel_fetches()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._refresher = None

    def _on_result(self, provider_id: str, snapshot: UsageSnapshot | None, error: str | None) -> None:
        if self._refresher is None:  # the gateway stopped while this check was under way
            return
        if provider_id not in self._config().providers:  # renamed or deleted while it was under way
            return
        entry = self._refresher.entry(provider_id)
        if entry is None:
            return
        # Masked before it is kept: a panel's error may quote any secret, and once a key is replaced and the
        # app restarted, the stored text would show the old one in clear (nothing knows to mask it then).
        as_json = self._redact.in_value(entry.to_json())
        hint = self._refresher.hint(provider_id)
        since = (snapshot.fetched_at_unix_ms or now_ms()) if snapshot is not None else None
        with self._lock:
            self._entries[provider_id] = as_json
            if hint:
                self._hints[provider_id] = hint
            if since is not None:
                ledger = self._ledgers[provider_id] = self._ledgers.get(provider_id, Ledger()).checked(since)
        self._store.save_usage_entry(provider_id, json.dumps({**as_json, _FINGERPRINT: self._fingerprint(provider_id)}),
                                     hint)
        if since is not None:
            self._store.save_ledger(provider_id, ledger.tokens, since)
            self._update_exhausted(provider_id, _exhausted_reason(as_json))
        else:
            shown = "showing the last good reading" if as_json.get("snapshot") else "no reading yet"
            self._emit(Level.WARNING, Kind.USAGE,
                       f"Usage check failed for {self._config().name_of(provider_id)}: {error} ({shown})",
                       provider_id)

    def _update_exhausted(self, provider: str, reason: str | None) -> None:
        with self._lock:
            before = self._exhausted.get(provider)
            if reason:
                self._exhausted[provider] = reason
            else:
                self._exhausted.pop(provider, None)
        name = self._config().name_of(provider)
        if reason and not before:
            self._emit(Level.WARNING, Kind.QUOTA,
                       f"{name} is out of quota ({reason}); automatic routing skips it "
                       "until a usage check shows quota again", provider)
        elif before and not reason:
            self._emit(Level.INFO, Kind.QUOTA, f"{name} has quota again; back in automatic routing", provider)
            self.on_quota_back(provider)

    # --- provider changes ---------------------------------------------------------------------------

    def invalidate(self, provider: str) -> None:
        """Its key, address, usage token or usage settings changed: the old reading no longer applies.
        Dropped at once, and again on the loop once the refresher has forgotten the provider: a reading
        of the old account applied in between would otherwise stay."""
        with self._lock:
            was_out = self._exhausted.get(provider)
        self._drop_reading(provider)
        if was_out is not None:
            self._say_void(provider, was_out)
            self.on_quota_back(provider)  # no spent reading holds it back any more

        def forget(refresher: UsageRefresher) -> None:
            refresher.forget(provider)
            self._drop_reading(provider)

        self._on_refresher(forget)

    def _say_void(self, provider: str, was_out: str) -> None:
        self._emit(Level.INFO, Kind.QUOTA,
                   f"{self._config().name_of(provider)}: its quota reading ({was_out}) no longer applies after "
                   "the change; automatic routing uses it again until the next check", provider)

    def _drop_reading(self, provider: str) -> None:
        with self._lock:
            self._entries.pop(provider, None)
            self._hints.pop(provider, None)
            self._exhausted.pop(provider, None)
        self._store.forget_reading(provider)

    def rename(self, old: str, new: str) -> None:
        with self._lock:
            for table in self._tables():
                if old in table:
                    table[new] = table.pop(old)
            if old in self._dirty:  # tokens counted but not yet saved are saved under the new id
                self._dirty.discard(old)
                self._dirty.add(new)

        self._on_refresher(lambda refresher: refresher.rename(old, new))

    def readdressed(self, provider: str) -> None:
        self.invalidate(provider)

    def usage_changed(self, provider: str) -> None:
        self.invalidate(provider)

    def forget(self, provider: str) -> None:
        with self._lock:
            for table in self._tables():
                table.pop(provider, None)
            self._dirty.discard(provider)
        self._on_refresher(lambda r: r.forget(provider))

    def _tables(self) -> tuple[dict[str, Any], ...]:
        """Every map keyed by provider id."""
        return self._entries, self._hints, self._ledgers, self._exhausted


def _parsed_entry(provider: str, raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        log.warning("ignoring an unreadable stored usage entry for %s", provider)
        return None
    return entry


def _exhausted_reason(entry: dict[str, Any]) -> str | None:
    snapshot = entry.get("snapshot") if isinstance(entry, dict) else None
    if isinstance(snapshot, dict) and snapshot.get("exhausted"):
        return str(snapshot.get("exhausted_reason") or "quota exhausted")
    return None

