"""``config.toml``: typed, validated settings that keep the user's comments across every save.

The file is the user's: a value of the wrong type falls back to its default (and the original file
is copied aside), a file that does not parse is moved aside, and every save is atomic.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomlkit
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from api_router.fsutil import atomic_write, copy_aside, move_aside, remove_stale_temp_files

PROVIDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
USAGE_ADAPTERS = ("", "token_stats", "budget_info", "new_api", "openai_billing")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class ConfigError(ValueError):
    """A requested change that would make the config invalid; the message is for the user."""


@dataclass(frozen=True)
class ListenConfig:
    host: str = "127.0.0.1"
    port: int = 4000
    max_body_mb: float = 256
    allow_remote: bool = False

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


@dataclass(frozen=True)
class RoutingConfig:
    preferred_provider: str = ""
    manual_override: str = ""
    auto_return_to_preferred: bool = True
    preferred_stable_seconds: float = 30
    failure_threshold: int = 2
    cooldown_seconds: float = 30
    request_timeout_seconds: float = 60
    stream_idle_timeout_seconds: float = 300


@dataclass(frozen=True)
class UiConfig:
    start_hidden: bool = True


@dataclass(frozen=True)
class ProviderConfig:
    id: str
    display_name: str = ""
    base_url: str = ""
    usage_adapter: str = ""
    usage_base_url: str = ""
    disabled: bool = False

    @property
    def routable(self) -> bool:
        return not self.disabled and bool(self.base_url)

    def endpoint(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


@dataclass(frozen=True)
class Config:
    listen: ListenConfig = field(default_factory=ListenConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    # In provider_order; ids missing from provider_order follow in file order.
    providers: Mapping[str, ProviderConfig] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(self.providers)

    @functools.cached_property
    def routable(self) -> tuple[str, ...]:
        """Providers that may serve (enabled, with a base URL), in order; computed once per snapshot."""
        return tuple(pid for pid, p in self.providers.items() if p.routable)

    @functools.cached_property
    def preferred_first(self) -> tuple[str, ...]:
        """``routable`` with the effective preferred provider moved to the front."""
        wanted = self.routing.preferred_provider
        preferred = wanted if wanted in self.routable else (self.routable[0] if self.routable else None)
        return tuple([preferred, *(p for p in self.routable if p != preferred)]) if preferred else ()


# --- schema -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # "str" | "bool" | "int" | "number"
    check: Callable[[Any], bool] | None = None
    rule: str = ""


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


_KIND_WORDS = {"str": "a string", "bool": "true or false", "int": "an integer", "number": "a number"}

_LISTEN = (
    _Field("host", "str", lambda v: bool(v.strip()), "a non-empty host name or address"),
    _Field("port", "int", lambda v: 0 <= v <= 65535, "an integer from 0 to 65535"),
    _Field("max_body_mb", "number", lambda v: v > 0, "a number above 0"),
    _Field("allow_remote", "bool"),
)
ROUTING_FIELDS = (
    _Field("preferred_provider", "str"),
    _Field("manual_override", "str"),
    _Field("auto_return_to_preferred", "bool"),
    _Field("preferred_stable_seconds", "number", lambda v: v >= 0, "a number of seconds, 0 or more"),
    _Field("failure_threshold", "int", lambda v: v >= 1, "an integer of 1 or more"),
    _Field("cooldown_seconds", "number", lambda v: v >= 0, "a number of seconds, 0 or more"),
    _Field("request_timeout_seconds", "number", lambda v: v > 0, "a number of seconds above 0"),
    _Field("stream_idle_timeout_seconds", "number", lambda v: v > 0, "a number of seconds above 0"),
)
_UI = (_Field("start_hidden", "bool"),)
_PROVIDER = (
    _Field("display_name", "str"),
    _Field("base_url", "str", lambda v: v == "" or is_http_url(v), "an http:// or https:// URL"),
    _Field("usage_adapter", "str", lambda v: v in USAGE_ADAPTERS, "one of " + ", ".join(repr(a) for a in USAGE_ADAPTERS)),
    _Field("usage_base_url", "str", lambda v: v == "" or is_http_url(v), "an http:// or https:// URL"),
    _Field("disabled", "bool"),
)
ROUTING_KEYS = tuple(f.name for f in ROUTING_FIELDS)


def is_http_url(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/?#]+[^\s]*$", value))


def field_problem(f: _Field, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``f``, or None."""
    if not _is_kind(value, f.kind):
        return f"must be {_KIND_WORDS[f.kind]}"
    if f.check is not None and not f.check(value):
        return f"must be {f.rule}"
    return None


def _read_section(data: Any, where: str, fields: tuple[_Field, ...], defaults: Any, problems: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if data is None:
        return values
    if not isinstance(data, Mapping):
        problems.append(f"{where} must be a table; using defaults")
        return values
    for f in fields:
        if f.name not in data:
            continue
        value = _plain(data[f.name])
        why = field_problem(f, value)
        if why:
            problems.append(f"{where} {f.name} {why} (found {value!r}); using {getattr(defaults, f.name)!r}")
        else:
            values[f.name] = value
    return values


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value


def parse(doc: Mapping[str, Any]) -> tuple[Config, list[str]]:
    """Turn a parsed TOML mapping into a Config; every problem found is reported, none is fatal."""
    problems: list[str] = []
    listen = ListenConfig(**_read_section(doc.get("listen"), "[listen]", _LISTEN, ListenConfig(), problems))
    routing = RoutingConfig(**_read_section(doc.get("routing"), "[routing]", ROUTING_FIELDS, RoutingConfig(), problems))
    ui = UiConfig(**_read_section(doc.get("ui"), "[ui]", _UI, UiConfig(), problems))

    providers: dict[str, ProviderConfig] = {}
    raw_providers = doc.get("providers")
    if raw_providers is not None and not isinstance(raw_providers, Mapping):
        problems.append("[providers] must be a table of provider tables; ignoring it")
        raw_providers = None
    for pid, table in (raw_providers or {}).items():
        if not isinstance(table, Mapping):
            problems.append(f"[providers.{pid}] must be a table; ignoring it")
            continue
        values = _read_section(table, f"[providers.{pid}]", _PROVIDER, ProviderConfig(pid), problems)
        values.setdefault("display_name", pid)
        providers[str(pid)] = ProviderConfig(id=str(pid), **values)

    order = _plain(doc.get("provider_order", []))
    if not isinstance(order, list) or not all(isinstance(x, str) for x in order):
        problems.append(f"provider_order must be a list of provider ids (found {order!r}); using file order")
        order = []
    ordered = [pid for pid in dict.fromkeys(order) if pid in providers]
    ordered += [pid for pid in providers if pid not in ordered]
    config = Config(listen, routing, ui, MappingProxyType({pid: providers[pid] for pid in ordered}))
    return config, problems


# --- document edits (used by the control API) -----------------------------------------------------


def provider_table(doc: TOMLDocument, pid: str, *, create: bool = False) -> Table:
    providers = doc.get("providers")
    if providers is None:
        if not create:
            raise ConfigError(f"unknown provider {pid!r}")
        providers = tomlkit.table(is_super_table=True)
        doc["providers"] = providers
    if pid not in providers:
        if not create:
            raise ConfigError(f"unknown provider {pid!r}")
        providers[pid] = tomlkit.table()
    return providers[pid]


def section(doc: TOMLDocument, name: str) -> Table:
    if name not in doc:
        doc[name] = tomlkit.table()
    return doc[name]


def set_order(doc: TOMLDocument, ids: list[str]) -> None:
    arr = tomlkit.array()
    arr.extend(ids)
    doc["provider_order"] = arr


def rename_in_doc(doc: TOMLDocument, old: str, new: str) -> None:
    providers = doc["providers"]
    # Rebuild the providers table so the renamed one keeps its place (and its comments).
    items = [(k, v) for k, v in providers.items()]
    for k, _ in items:
        del providers[k]
    for k, v in items:
        providers[new if k == old else k] = v


# --- the file ----------------------------------------------------------------------------------------

DEFAULT_TEMPLATE = """\
# API Router settings. Edit them here or in the app: your comments and key order are kept.
# Every key is optional; a missing key takes the value shown here.

# Providers are tried in this order after the preferred one.
provider_order = []

[listen]
host = "127.0.0.1"
port = 4000
max_body_mb = 256        # largest request body accepted; Codex re-sends the whole history
allow_remote = false     # must be true before host may be anything but a loopback address

[routing]
preferred_provider = ""
manual_override = ""               # lock every request to one provider ("" = automatic)
auto_return_to_preferred = true
preferred_stable_seconds = 30      # failure-free time before traffic returns to the preferred one
failure_threshold = 2              # consecutive failures that start a cooldown
cooldown_seconds = 30
request_timeout_seconds = 60       # connect + response headers / first stream event
stream_idle_timeout_seconds = 300  # longest silence allowed between two chunks of a stream

[ui]
start_hidden = true

# One table per upstream provider, for example:
# [providers.relay]
# display_name = "My relay"
# base_url = "https://relay.example.com/v1"   # the gateway appends /responses and /models
# usage_adapter = ""                          # "", token_stats, budget_info, new_api, openai_billing
# usage_base_url = ""                         # empty: derived from base_url
# disabled = false
"""


@dataclass(frozen=True)
class LoadReport:
    problems: tuple[str, ...] = ()
    moved_to: Path | None = None  # the unparseable file, kept for the user
    copied_to: Path | None = None  # the original of a file we repaired
    created: bool = False


class ConfigFile:
    """Owns ``config.toml``: one current snapshot for readers, serialised atomic edits for writers."""

    def __init__(self, path: Path, doc: TOMLDocument, config: Config) -> None:
        self.path = path
        self._doc = doc
        self._config = config
        self._lock = threading.Lock()

    @property
    def current(self) -> Config:
        return self._config

    @classmethod
    def load(cls, path: Path) -> tuple[ConfigFile, LoadReport]:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(path.parent, path.name)
        if not path.exists():
            doc = tomlkit.parse(DEFAULT_TEMPLATE)
            atomic_write(path, DEFAULT_TEMPLATE.encode())
            return cls(path, doc, parse(doc)[0]), LoadReport(created=True)
        raw = path.read_bytes()
        try:
            doc = tomlkit.parse(raw.decode("utf-8-sig"))
        except Exception as exc:  # tomlkit raises several error types; any of them means "unusable"
            moved = move_aside(path)
            doc = tomlkit.parse(DEFAULT_TEMPLATE)
            atomic_write(path, DEFAULT_TEMPLATE.encode())
            why = f"config.toml could not be read ({_one_line(exc)}); it was moved to {moved.name} and defaults are in use"
            return cls(path, doc, parse(doc)[0]), LoadReport(problems=(why,), moved_to=moved)
        config, problems = parse(doc)
        if not problems:
            return cls(path, doc, config), LoadReport()
        copied = copy_aside(path)
        _repair(doc, config)
        atomic_write(path, tomlkit.dumps(doc).encode())
        note = f"config.toml had invalid values; the original was copied to {copied.name}"
        return cls(path, doc, parse(doc)[0]), LoadReport(problems=(note, *problems), copied_to=copied)

    def edit(self, change: Callable[[TOMLDocument], None]) -> Config:
        """Apply ``change`` to a copy of the document; save and publish it only if it is valid."""
        with self._lock:
            doc = tomlkit.parse(tomlkit.dumps(self._doc))
            change(doc)
            config, problems = parse(doc)
            if problems:
                raise ConfigError("; ".join(problems))
            atomic_write(self.path, tomlkit.dumps(doc).encode())
            self._doc, self._config = doc, config
            return config


def _repair(doc: TOMLDocument, config: Config) -> None:
    """Replace each invalid value with the default that is in effect, so the file says what runs."""
    for name, fields, values in (
        ("listen", _LISTEN, config.listen),
        ("routing", ROUTING_FIELDS, config.routing),
        ("ui", _UI, config.ui),
    ):
        table = doc.get(name)
        if table is None:
            continue
        if not isinstance(table, Mapping):
            del doc[name]
            continue
        for f in fields:
            if f.name in table and field_problem(f, _plain(table[f.name])):
                table[f.name] = getattr(values, f.name)
    providers = doc.get("providers")
    if providers is not None and not isinstance(providers, Mapping):
        del doc["providers"]
    elif providers is not None:
        for pid in list(providers):
            table = providers[pid]
            if not isinstance(table, Mapping):
                del providers[pid]
                continue
            for f in _PROVIDER:
                if f.name in table and field_problem(f, _plain(table[f.name])):
                    table[f.name] = getattr(config.providers[pid], f.name)
    order = _plain(doc.get("provider_order", []))
    if not isinstance(order, list) or not all(isinstance(x, str) for x in order):
        set_order(doc, list(config.order))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
