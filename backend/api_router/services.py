"""The app's long-lived parts, wired once by ``composition.py`` and handed to whoever needs them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from api_router.config import Config, ConfigFile, ProviderConfig
from api_router.continuity.rewrite import Continuity
from api_router.desktop.autostart import Autostart
from api_router.paths import Paths
from api_router.provider_tests import ProviderTests
from api_router.proxyenv import ProxyRoutes
from api_router.quota import Quota
from api_router.records import Activity, Kind, Level, steady_ms
from api_router.routing import Router
from api_router.secrets import Redactor, Secrets, SecretsFile
from api_router.store import Store
from api_router.tls import ClientTrust
from api_router.watch import FileWatcher

if TYPE_CHECKING:
    from api_router.gateway.upstream import Upstream


class ProviderState(Protocol):
    """Anything that keeps state per provider id."""

    def rename(self, old: str, new: str) -> None: ...

    def forget(self, provider: str) -> None: ...

    def readdressed(self, provider: str) -> None:
        """Its base URL or key changed: what was learnt through the old ones no longer says anything."""


class UsageState(Protocol):
    """Anything that keeps a provider's usage reading, which depends on more than its address and key."""

    def usage_changed(self, provider: str) -> None:
        """Its usage adapter, usage address or usage token changed: its reading no longer says anything."""


@dataclass(eq=False, slots=True, weakref_slot=True)
class ProviderIdentity:
    """One provider over its life: ``id`` follows its renames and is None once it is deleted. What is
    learnt from a request that was under way meanwhile lands where the provider went — never on a
    provider added later under the same id, which is another one. ``instance`` tells them apart where
    only data goes (the status the tray compares poll by poll). ``last_id``: the id it went by last —
    once deleted, the one history names it by."""

    id: str | None
    instance: int  # numbered by ProviderStates, unique for the life of the app
    last_id: str = ""

    def __post_init__(self) -> None:
        self.last_id = self.id or ""


def id_now(who: ProviderIdentity | str) -> str | None:
    """The id a provider goes by now (None: deleted); an id with no identity (the provider was added after
    the snapshot that names it) stands for itself."""
    return who if isinstance(who, str) else who.id


def id_last(who: ProviderIdentity | str) -> str:
    """The id a provider goes by now, or, deleted, the one it went by last (see ``id_now``)."""
    return who if isinstance(who, str) else who.id or who.last_id


def identity_of(identities: Mapping[str, ProviderIdentity], provider: str) -> ProviderIdentity | str:
    """What stands for ``provider`` through renames and deletes: its identity in ``identities``, or the id
    itself when it has none there (see ``id_now``)."""
    return identities.get(provider) or provider


class ProviderStates:
    """The one interface through which renames, deletes and new addresses reach every piece of state kept
    per provider id (the members listed in ``composition.py``); what outlives a call — a request, a test,
    a check still running — holds the provider's identity instead of its id."""

    def __init__(self, members: Sequence[ProviderState], usage: Sequence[UsageState] = (),
                 files: Sequence[ProviderState] = ()) -> None:
        self._members = tuple(members)
        self._usage = tuple(usage)
        # Members kept in a user's file (a write, an fsync): told after the others, outside ``moving``, so no
        # request's record waits on a disk. (A rename has put the key under the new id already.)
        self._files = tuple(files)
        self._lock = threading.Lock()  # renames and deletes come from the control thread
        # Held from a rename's edit of the files to the move of each member's state (``renaming``), and by
        # whoever resolves a request's provider or records what it learnt under its id now (the proxy, the
        # OutcomeRecorder): they see the rename before it began or after it ended, never halfway.
        self.moving = threading.RLock()
        # Replaced, never changed, so that a request takes it with one read, before its config.
        self.identities: Mapping[str, ProviderIdentity] = {}
        self._numbers = itertools.count(1)
        # Every identity a request may still hold: a rename's new id is in the config (and so gets an
        # identity) a moment before the rename reaches here, and both must follow what comes next.
        self._every: weakref.WeakSet[ProviderIdentity] = weakref.WeakSet()
        # How each provider is reached, as last told — in the app or by hand in its files: a change of its
        # address or key is a new address; of its usage settings or token, a new usage reading. A table cut
        # from config.toml by hand is kept here (as its state is) until it is deleted: pasted back with
        # another address, it is a new address too.
        self._addresses: Mapping[str, str] = {}
        self._usage_settings: Mapping[str, tuple[str, str]] = {}
        self._secrets: Secrets | None = None  # None: not told yet (the files at start are no change)
        self._deleting: set[str] = set()  # providers whose delete is editing the files (see ``deleting``)
        # Where each id renamed since start-up went in the end (old → current id; a delete drops what led
        # to it): a view that still holds an old id (a filter in the address bar) follows it from here.
        self._renamed: dict[str, str] = {}

    def who(self, provider: str) -> ProviderIdentity | str:
        """The provider configured as ``provider`` now, followed through what comes next."""
        return identity_of(self.identities, provider)

    @property
    def renamed(self) -> Mapping[str, str]:
        with self._lock:
            return dict(self._renamed)

    def note_config(self, cfg: Config) -> None:
        """Every provider configured has its identity (told of each config change)."""
        with self._lock:
            new = {pid: ProviderIdentity(pid, next(self._numbers))
                   for pid in cfg.providers if pid not in self.identities}
            if new:
                self._every.update(new.values())
                self.identities = {**self.identities, **new}
                # An old id taken by a provider of its own leads nowhere any more, even once that one goes.
                self._renamed = {old: now for old, now in self._renamed.items() if old not in new}
            addresses = {**self._addresses, **{pid: p.base_url for pid, p in cfg.providers.items()}}
            usage = {**self._usage_settings,
                     **{pid: (p.usage_adapter, p.usage_base_url) for pid, p in cfg.providers.items()}}
            moved = _changed(self._addresses, addresses)
            usage_moved = _changed(self._usage_settings, usage)
            self._addresses, self._usage_settings = addresses, usage
        self._tell(moved, usage_moved)

    def note_secrets(self, secrets: Secrets) -> None:
        """Told of each change of secrets.json. A key or usage token that comes with a new id (the first
        step of a rename) is no change: only a known provider's own that changed is (see ``_addresses``)."""
        with self._lock:
            before, self._secrets = self._secrets, secrets
            if before is None:
                return
            told = [pid for pid in self._addresses if pid not in self._deleting]
            moved = [pid for pid in told if secrets.provider_keys.get(pid) != before.provider_keys.get(pid)]
            usage_moved = [pid for pid in told if secrets.usage_tokens.get(pid) != before.usage_tokens.get(pid)]
        self._tell(moved, usage_moved)

    @contextlib.contextmanager
    def deleting(self, provider: str) -> Iterator[None]:
        """A delete: the body of the ``with`` edits the files, the key first. The key's going is no new key
        for the provider: it goes as well — or, when the edit fails and the key is put back, it stays as it
        was, with all that was learnt of it."""
        with self._lock:
            self._deleting.add(provider)
        try:
            yield
        finally:
            with self._lock:
                self._deleting.discard(provider)

    @contextlib.contextmanager
    def renaming(self, old: str, new: str) -> Iterator[None]:
        """A rename: the body of the ``with`` edits the files (puts ``new`` in the config, the key under
        it); then every state moves. From the edit to the move nobody resolving an id or recording under
        one (``moving``) goes on — a request would take the new id for a provider new to it, and what it
        recorded the move would write over. (It waits for the config.toml write; secrets.json's own rename
        comes after.) A table cut by hand under ``new`` is replaced: its address is not the renamed one's.
        When the edit fails, nothing is renamed."""
        with self.moving:
            with self._lock:
                cut = self._addresses.get(new), self._usage_settings.get(new)
                self._unnote(new)
            try:
                yield
            except BaseException:
                with self._lock:  # still there to be pasted back
                    self._note(new, *cut)
                raise
            self._move(old, new)
        for member in self._files:
            member.rename(old, new)

    def rename(self, old: str, new: str) -> None:
        with self.renaming(old, new):
            pass

    def _move(self, old: str, new: str) -> None:
        with self._lock:
            self._follow(old, new)
            self._unnote(old)
            identities = dict(self.identities)
            identity = identities.pop(old, None)
            if identity is not None:
                identities[new] = identity
            self.identities = identities
            self._renamed = _renamed_on(self._renamed, old, new)
        for member in self._members:
            member.rename(old, new)

    def forget(self, provider: str) -> None:
        with self._lock:
            self._follow(provider, None)
            self._unnote(provider)
            self.identities = {pid: i for pid, i in self.identities.items() if pid != provider}
            self._renamed = {old: now for old, now in self._renamed.items() if now != provider}
        for member in (*self._members, *self._files):
            member.forget(provider)

    def readdressed(self, provider: str) -> None:
        for member in (*self._members, *self._files):
            member.readdressed(provider)

    def _tell(self, moved: Sequence[str], usage_moved: Sequence[str]) -> None:
        for pid in moved:
            self.readdressed(pid)
        for pid in usage_moved:
            if pid not in moved:  # a new address voids the usage reading already
                for member in self._usage:
                    member.usage_changed(pid)

    def _note(self, provider: str, address: str | None, usage: tuple[str, str] | None) -> None:
        if address is not None:
            self._addresses = {**self._addresses, provider: address}
        if usage is not None:
            self._usage_settings = {**self._usage_settings, provider: usage}

    def _unnote(self, provider: str) -> None:
        self._addresses = {pid: a for pid, a in self._addresses.items() if pid != provider}
        self._usage_settings = {pid: u for pid, u in self._usage_settings.items() if pid != provider}

    def _follow(self, old: str, new: str | None) -> None:
        for identity in list(self._every):
            if identity.id == old:
                identity.id = new
                identity.last_id = new or old


MAX_RENAMES_KEPT = 256


def _renamed_on(renamed: Mapping[str, str], old: str, new: str) -> dict[str, str]:
    """``renamed`` after ``old`` became ``new``: what led to ``old`` leads on to ``new``; an id taken
    again is no longer a way to another provider. The oldest renames go first past the bound."""
    out = {was: (new if now == old else now) for was, now in renamed.items() if was != new}
    out.pop(old, None)
    out[old] = new  # last, as the newest
    return dict(list(out.items())[-MAX_RENAMES_KEPT:])


def _changed(before: Mapping[str, object], now: Mapping[str, object]) -> list[str]:
    """The providers in both whose value differs (a new id, e.g. a rename's, is no change)."""
    return [pid for pid, value in now.items() if before.get(pid, value) != value]


@dataclass(frozen=True, slots=True)
class Asked:
    """What a background check, provider test or probe asked: the provider as configured then, with its
    key, and which provider it was (its identity, which a later provider under the same id does not share)."""

    pid: str
    provider: ProviderConfig
    key: str | None
    identity: ProviderIdentity | None


@dataclass
class ServingState:
    """What the server knows about serving right now: the server sets ``shutting_down``, the proxy counts
    the requests under way in ``inflight``, lists how to answer at once each request whose body is still
    arriving in ``receiving``, and reads ``shutting_down``."""

    shutting_down: bool = False
    # The grace is over: what is still under way is cut off by the gateway (its upstream connections
    # closed), no fault of the provider's or the client's.
    grace_over: bool = False
    inflight: int = 0  # proxy requests being served; shutdown waits for them, background checks see use
    # Control calls and export downloads being served: shutdown waits for them too, but they are the UI's
    # polling, no use of the providers (background checks do not count them).
    other_inflight: int = 0
    receiving: set[Callable[[], None]] = field(default_factory=set)

    def end_grace(self) -> None:
        """Shutdown's grace is over: a request whose body is still arriving is answered now."""
        self.grace_over = True
        for answer in list(self.receiving):
            answer()


@dataclass(frozen=True)
class Serving:
    """What exists while the gateway serves: its loop, its upstream client, its address and state."""

    loop: asyncio.AbstractEventLoop
    upstream: Upstream
    host: str
    port: int
    state: ServingState


class NotServing(RuntimeError):
    pass


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
    tests: ProviderTests
    providers: ProviderStates
    watcher: FileWatcher
    autostart: Autostart  # the OS login item behind [ui] autostart
    activity: Activity  # when a request was last served (Quota reads the same one)
    trust: ClientTrust  # the certificates outgoing HTTPS calls trust (Quota's usage client shares it)
    proxies: ProxyRoutes  # the proxy each outgoing call goes through (Quota's usage client shares it)
    serving: Serving | None = None  # set by the gateway server while it listens

    def name_shown(self, provider: str) -> str:
        """``provider``'s display name as an answer shows it: a key pasted into it masked."""
        return self.redactor(self.config.current.name_of(provider))

    def emit(self, level: Level, kind: Kind, message: str, provider: str | None = None) -> None:
        self.store.add_event(level, kind, message, provider)

    def asking(self, provider: str) -> Asked | None:
        """What a check, test or probe of ``provider`` asks now; None when it is not configured."""
        config = self.config.current.providers.get(provider)
        if config is None:
            return None
        return Asked(provider, config, self.provider_key(provider), self.providers.identities.get(provider))

    def answered_for(self, asked: Asked) -> str | None:
        """The id of the provider an answer to ``asked`` still says something about: followed through a
        rename; None once it was deleted (a provider later given its id is another one) or given a new
        address or key (the answer was about the old ones)."""
        now = asked.identity.id if asked.identity is not None else asked.pid
        current = self.config.current.providers.get(now) if now is not None else None
        if now is None or current is None or current.base_url != asked.provider.base_url \
                or self.provider_key(now) != asked.key:
            return None
        return now

    def provider_key(self, provider: str) -> str | None:
        return self.secrets.current.provider_keys.get(provider)

    def touch(self) -> None:
        self.activity.last_ms = steady_ms()
        self.quota.served()

    def require_serving(self) -> Serving:
        if self.serving is None:
            raise NotServing("the gateway is not running")
        return self.serving

    @property
    def gateway_url(self) -> str:
        listen, serving = self.config.current.listen, self.serving  # serving read once: it may stop meanwhile
        host = serving.host if serving else listen.host
        port = serving.port if serving else listen.port
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/v1"

    def close(self) -> None:
        """Stop watching files and close the store (the gateway has stopped serving)."""
        self.watcher.stop()
        self.router.close()
        self.store.close()
