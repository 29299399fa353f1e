"""Every setting of ``config.toml``, defined once.

Each section is a frozen dataclass whose fields carry their default, their rule and a comment
(``setting``). Validation, the commented template a new file starts from, the status document and
the control API's checks are all derived from these definitions.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yarl

PROVIDER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
USAGE_ADAPTERS = ("", "token_stats", "budget_info", "new_api", "openai_billing")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
DEFAULT_PORTS = {"http": 80, "https": 443}  # the port a URL without one reaches, by scheme
DISPLAY_NAME_MAX = 200
URL_MAX = 2048
# scheme, optional user@, a host (name, address or [IPv6]) that is not empty, optional :port, then
# path/query/fragment; no whitespace anywhere. frontend/src/logic/validation-cases.json holds the cases
# both this rule and the UI's are tested against; url_problem then checks the host and port themselves.
_HTTP_URL = re.compile(r"^https?://(?:[^\s/?#]*@)?(?P<host>\[[^\s/?#\]]+\]|[^\s/?#:@\[\]]+)(?::(?P<port>[^\s/?#]*))?"
                       r"(?:[/?#]\S*)?$", re.IGNORECASE)
_NUMERIC_HOST = re.compile(r"^[0-9.]+$")


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host; the scheme may be written in any case (RFC 3986)."""
    return url_problem(value) is None


def url_problem(value: str, *, password_mask: bool = False) -> str | None:
    """Why ``value`` is not an absolute http(s) URL the gateway's HTTP clients can connect to, or None.
    The reason completes "the URL …". A URL that passes the pattern but has a port, address or host name
    no client accepts would fail every request sent to it, so it is refused where it is entered."""
    if len(value) > URL_MAX:  # no provider's address is this long: a paste gone wrong, shown on every page
        return f"is {len(value):,} characters long: a URL is at most {URL_MAX:,}"
    m = _HTTP_URL.match(value)
    if m is None:
        return "is not an absolute http:// or https:// URL with a host"
    if not value.isprintable():
        return "contains a control or invisible character"
    # A preview copied from another provider's address (a masked password only where the control API restores
    # it: ``password_mask``).
    if "…" in value or "•" in (value.replace(":••••@", "", 1) if password_mask else value):
        return ("holds … or •, as a masked key or password shows: a mask stands for the secret saved with the "
                "address it was shown in, so type the secret itself (a real … or • in a path: write it "
                "percent-encoded, %E2%80%A6 or %E2%80%A2)")
    port, host = m["port"], m["host"]
    if "@" in value[m.end("port") if port is not None else m.end("host"):]:
        # user:pa/ss@host reads as the host "user" with the port "pa", then a path: neither is quoted,
        # as both are pieces of the password.
        return ('has an "@" after its host: in a user name or password, write "/", "?" and "#" as %2F, %3F '
                'and %23; in the path or query, write the "@" as %40')
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        return f"has port {port!r}: a port is a number from 1 to 65535"
    why = _host_problem(host)
    if why:
        return why
    try:
        yarl.URL(value)
    except ValueError as exc:  # anything else the client library would refuse (UnicodeError is one)
        return f"cannot be read as a URL ({exc})"
    return None


def _host_problem(host: str) -> str | None:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"has {host} as its host, which is not an IPv6 address"
        return None
    if _NUMERIC_HOST.match(host):  # all digits and dots: an IPv4 address or nothing
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"has {host} as its host, which is not an IPv4 address"
        return None
    try:
        host.encode("idna")  # what the resolver does with it: empty and over-long labels fail here
    except UnicodeError:
        return (f"has the host name {host!r}, which has an empty part between dots or a part longer than "
                "63 characters")
    return None


# A template's "<host>" or "<resource>" that was never replaced.
_PLACEHOLDER = re.compile(r"<[^<>]*>")
_PROVIDER_URL_RULE = "an http:// or https:// URL with no <placeholder> left in it"


def _provider_url_ok(value: str) -> bool:
    return value == "" or (is_http_url(value) and not _PLACEHOLDER.search(value))


def _provider_url_problem(value: str) -> str | None:
    """The particular reason a provider URL is refused, when there is more to say than the rule."""
    return url_problem(value) if _HTTP_URL.match(value) and not _PLACEHOLDER.search(value) else None


def normalized_url(value: str) -> str:
    """The URL with its scheme in lower case (``HTTPS://x`` → ``https://x``)."""
    scheme, sep, rest = value.partition("://")
    return scheme.lower() + sep + rest if sep else value


def setting(default: Any, *, check: Callable[[Any], bool] | None = None, rule: str = "", doc: str = "",
            why: Callable[[Any], str | None] | None = None, instead: str = "") -> Any:
    """A config field: its default, what makes a value acceptable (``rule`` says it in words; ``why``, if
    given, says what is wrong with a particular value, after its name), the comment the template shows
    beside it, and (``instead``) what is used in place of a refused value when that is not the default."""
    metadata = {"check": check, "rule": rule, "doc": doc, "default": default, "why": why, "instead": instead}
    if isinstance(default, Mapping):  # not hashable, so dataclasses want a factory
        return field(default_factory=lambda: default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _provider_id_or_none(value: Any) -> bool:
    return isinstance(value, str) and (value == "" or bool(PROVIDER_ID_RE.fullmatch(value)))


_PROVIDER_ID_RULE = 'a provider id (or "")'


def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: v >= low


def _above(low: float) -> Callable[[Any], bool]:
    return lambda v: v > low


def _between(low: float, high: float) -> Callable[[Any], bool]:
    return lambda v: low <= v <= high


@dataclass(frozen=True)
class ListenConfig:
    host: str = setting("127.0.0.1", check=lambda v: bool(v.strip()), rule="a non-empty host name or address",
                        doc="the address the gateway listens on (loopback unless allow_remote)")
    port: int = setting(4000, check=_between(0, 65535), rule="an integer from 0 to 65535",
                        doc="the base URL is http://127.0.0.1:<port>/v1 (0 = any free port)")
    max_body_mb: float = setting(256, check=_above(0), rule="a number above 0",
                                 doc="largest request body accepted; Codex re-sends the whole history")
    allow_remote: bool = setting(False, doc="must be true before host may be anything but a loopback address")
    max_connections: int = setting(1000, check=_between(1, 100_000), rule="an integer from 1 to 100000",
                                   doc="beyond this a new connection replaces an idle one, or is refused (logged)")
    header_timeout_seconds: float = setting(10, check=_above(0), rule="a number of seconds above 0",
                                            doc="a connection without complete request headers by then is closed")
    body_stall_timeout_seconds: float = setting(30, check=_above(0), rule="a number of seconds above 0",
                                                doc="a request body with no new bytes for this long is dropped")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def may_listen_on(self, host: str) -> bool:
        """Other machines reach the gateway only when the user said so (config.toml and ``--host`` alike)."""
        return is_loopback(host) or self.allow_remote


def is_loopback(host: str) -> bool:
    """Whether only this machine reaches ``host``: a loopback name, or an address of 127.0.0.0/8 or ::1."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_SECONDS = "a number of seconds, 0 or more"
_POSITIVE_SECONDS = "a number of seconds above 0"


@dataclass(frozen=True)
class RoutingConfig:
    preferred_provider: str = setting("", check=_provider_id_or_none, rule=_PROVIDER_ID_RULE,
                                      doc='"" = the first provider in provider_order')
    manual_override: str = setting("", check=_provider_id_or_none, rule=_PROVIDER_ID_RULE,
                                   doc='lock every request to one provider ("" = automatic)')
    auto_return_to_preferred: bool = setting(True, doc="go back to the preferred provider once it is healthy again")
    preferred_stable_seconds: float = setting(30, check=_at_least(0), rule=_SECONDS,
                                              doc="failure-free time before traffic returns to the preferred one")
    failure_threshold: int = setting(2, check=_at_least(1), rule="an integer of 1 or more",
                                     doc="consecutive failures that start a cooldown")
    cooldown_seconds: float = setting(30, check=_at_least(0), rule=_SECONDS,
                                      doc="how long a failing provider rests (a 429's Retry-After may say longer)")
    request_timeout_seconds: float = setting(
        60, check=_above(0), rule=_POSITIVE_SECONDS,
        doc="connect + response headers / first stream event / a whole JSON answer")
    stream_idle_timeout_seconds: float = setting(300, check=_above(0), rule=_POSITIVE_SECONDS,
                                                 doc="longest silence allowed between two events of a stream")
    hedge: bool = setting(True, doc="start the next provider when a stream's first event is late")
    hedge_min_seconds: float = setting(3, check=_above(0), rule=_POSITIVE_SECONDS,
                                       doc="the hedge delay is never shorter")
    hedge_max_seconds: float = setting(10, check=_above(0), rule=_POSITIVE_SECONDS,
                                       doc="nor longer (and it is this long until a provider has history)")
    check_interval_seconds: float = setting(15, check=_above(0), rule=_POSITIVE_SECONDS,
                                            doc="background checks of providers cooling down or not answering")
    session_idle_return_seconds: float = setting(600, check=_at_least(0), rule=_SECONDS,
                                                 doc="a session keeps its provider while its requests are this close")


@dataclass(frozen=True)
class UiConfig:
    start_hidden: bool = setting(True, doc="desktop: start in the tray (--show overrides once)")
    autostart: bool = setting(False, doc="start API Router when you log in")
    notify_failover: bool = setting(True, doc="notify when traffic fails over from the preferred provider")
    notify_all_down: bool = setting(True, doc="notify when no provider can serve")
    notify_recovery: bool = setting(True, doc="notify when serving recovers")
    notify_quota: bool = setting(True, doc="notify when a provider's quota runs low or out")
    notify_quota_percent: float = setting(10, check=_between(0, 100), rule="a percentage from 0 to 100",
                                          doc="what counts as low")
    notify_provider_back: bool = setting(True, doc="notify when a check brings a provider back")


@dataclass(frozen=True)
class RequestLogConfig:
    retention_days: float = setting(30, check=_between(1, 3650), rule="a number of days from 1 to 3650",
                                    doc="request-log rows older than this are pruned")
    max_rows: int = setting(200_000, check=_between(1, 10_000_000), rule="an integer from 1 to 10000000",
                            doc="and at most this many are kept")


def _display_name_ok(name: str) -> bool:
    """A name the tray, notifications and logs can show: at least one visible character (not only spaces
    or zero-width ones) and no control character — a NUL cuts the name short in the tray's D-Bus menu
    and in notifications, a bell or newline breaks a log line. The same rule as the UI's
    (``validation-cases.json``)."""
    return (len(name) <= DISPLAY_NAME_MAX and _CONTROL.search(name) is None and _DIRECTION.search(name) is None
            and _VISIBLE.search(name) is not None)


# Control characters (C0, DEL, C1) and lone surrogates; and what shows nothing by itself: white space,
# zero-width and other format characters (U+200B, U+200E, U+FEFF, …).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Direction embeddings, overrides and isolates: a name holding one reorders the text around it wherever it is
# shown ("\u202eB yaleR" reads "Relay B", and the event line after it backwards). A right-to-left name needs none.
_DIRECTION = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_VISIBLE = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff"
                      # soft hyphen, combining grapheme joiner, Arabic letter mark, Hangul fillers, Khmer inherent
                      # vowels, Mongolian selectors, zero-width and direction marks, word joiner and invisible
                      # operators, Braille blank, ideographic filler, variation selectors, BOM, halfwidth filler,
                      # interlinear annotation, shorthand format controls, musical formatting, tags and the
                      # variation selectors supplement: Unicode's default-ignorable code points, and blanks
                      r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                      r"\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
                      r"\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")


def _model_map_ok(value: Any) -> bool:
    """Model names on both sides, without white space (none has any; the UI refuses it too, so that every
    map the file holds can be edited there)."""
    return all(_model_name_ok(k) and _model_name_ok(v) for k, v in value.items())


def _model_name_ok(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and _SPACE_IN_A_NAME.search(name) is None


# White space as Python and the UI (JavaScript's \s) each know it, both: the dialog and the file must agree.
_SPACE_IN_A_NAME = re.compile(r"[\s\ufeff]")


@dataclass(frozen=True)
class ProviderConfig:
    id: str
    display_name: str = setting("", check=_display_name_ok,
                                rule=f"a name of at most {DISPLAY_NAME_MAX} characters, with at least one visible "
                                     "and no control character or direction override (U+202A–U+202E, U+2066–U+2069)",
                                instead="the provider's id")
    base_url: str = setting("", check=_provider_url_ok, rule=_PROVIDER_URL_RULE, why=_provider_url_problem,
                            doc="the gateway appends /responses and /models")
    usage_adapter: str = setting("", check=lambda v: v in USAGE_ADAPTERS,
                                 rule="one of " + ", ".join(repr(a) for a in USAGE_ADAPTERS),
                                 doc='"", token_stats, budget_info, new_api, openai_billing ("" = detect)')
    usage_base_url: str = setting("", check=_provider_url_ok, rule=_PROVIDER_URL_RULE, why=_provider_url_problem,
                                  doc="empty: the origin of base_url")
    disabled: bool = setting(False, doc="true: kept, but never routed to")
    model_map: Mapping[str, str] = setting(MappingProxyType({}), check=_model_map_ok,
                                           rule="a table of model names (strings without spaces)",
                                           doc='requested model = the name this provider uses ("*" = any other model)')

    @property
    def routable(self) -> bool:
        return not self.disabled and bool(self.base_url)

    def endpoint(self, path: str) -> str:
        """``base_url`` + ``path`` (built once per path for this config snapshot). A query the base URL
        carries (``?api-version=…``, as Azure-style relays want) stays after the path; a fragment is
        never sent."""
        url = self._endpoints.get(path)
        if url is None:
            base, _, query = self.base_url.partition("#")[0].partition("?")
            url = self._endpoints[path] = base.rstrip("/") + path + (f"?{query}" if query else "")
        return url

    @functools.cached_property
    def _endpoints(self) -> dict[str, str]:
        return {}

    def model_for(self, requested: str | None) -> str | None:
        """The model name this provider uses for what the client asked."""
        if requested is None or not self.model_map:
            return requested
        return self.model_map.get(requested) or self.model_map.get("*") or requested


SECTIONS: dict[str, type] = {
    "listen": ListenConfig,
    "routing": RoutingConfig,
    "ui": UiConfig,
    "request_log": RequestLogConfig,
}


@dataclass(frozen=True)
class Config:
    listen: ListenConfig = field(default_factory=ListenConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    request_log: RequestLogConfig = field(default_factory=RequestLogConfig)
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
        preferred = self.effective_preferred
        return (preferred, *(p for p in self.routable if p != preferred)) if preferred is not None else ()

    @property
    def effective_preferred(self) -> str | None:
        """The configured preferred provider when it can serve, else the first one that can."""
        wanted = self.routing.preferred_provider
        return wanted if wanted and wanted in self.routable else (self.routable[0] if self.routable else None)

    @property
    def preferred_choice(self) -> tuple[str | None, str | None]:
        """The provider the user chose as preferred (for "first in the list": whoever that is now) and who
        is preferred now (the chosen one may be unable to serve). Sessions follow a change of either,
        wherever it was made (app, tray, config.toml, also while stopped). Naming the provider "first in
        the list" stands for, or the other way round, is that provider picked again: no new choice."""
        return self.routing.preferred_provider or self.effective_preferred, self.effective_preferred

    @property
    def effective_lock(self) -> str | None:
        """The provider every request is locked to: ``manual_override`` when it names one that can
        serve. A lock on one that cannot (deleted or switched off by hand, no base URL) locks nothing."""
        lock = self.routing.manual_override
        return lock if lock and lock in self.routable else None

    def with_ids(self, renamed: Mapping[str, str], names: Config | None = None) -> Config:
        """These settings with providers called by new ids (``renamed``: old id to new, renames that
        happened at once — swaps too), wherever they name one, and by the display names ``names`` gives
        them (the config of now). A provider not renamed whose id another took is left out: it is gone
        (deleted, or renamed itself)."""
        taken = set(renamed.values())

        def called(p: ProviderConfig, new: str) -> ProviderConfig:
            now = names.providers.get(new) if names is not None else None
            name = now.display_name if now is not None else p.display_name
            return p if new == p.id and name == p.display_name else dataclasses.replace(p, id=new, display_name=name)

        providers = {new: called(p, new) for pid, p in self.providers.items() if pid in renamed or pid not in taken
                     for new in (renamed.get(pid, pid),)}
        routing = dataclasses.replace(
            self.routing, preferred_provider=renamed.get(self.routing.preferred_provider,
                                                          self.routing.preferred_provider),
            manual_override=renamed.get(self.routing.manual_override, self.routing.manual_override))
        return dataclasses.replace(self, routing=routing, providers=MappingProxyType(providers))

    def name_of(self, pid: str | None) -> str:
        """A provider's display name (its id when it has none, or is unknown)."""
        if pid is None:
            return "no provider"
        p = self.providers.get(pid)
        return (p.display_name or pid) if p is not None else pid


# --- validation --------------------------------------------------------------------------------------

LARGEST_NUMBER = 1_000_000_000  # about 31 years in seconds
_KIND_WORDS = {"str": "a string", "bool": "true or false", "int": "an integer", "float": "a number",
               "Mapping[str, str]": "a table"}


def settings_of(section: type) -> tuple[dataclasses.Field[Any], ...]:
    """The settings of a section dataclass, in declaration order (``ProviderConfig.id`` is not one)."""
    return tuple(f for f in dataclasses.fields(section) if "check" in f.metadata)


def field_problem(f: dataclasses.Field[Any], value: Any) -> str | None:
    """Why ``value`` is not acceptable for setting ``f``, or None."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if not _is_kind(value, kind):
        if kind == "int" and isinstance(value, float) and abs(value) > LARGEST_NUMBER:
            # too large for the setting whatever its type (a number past 64 bits comes from JSON as a float)
            return f"must be {f.metadata['rule'] or 'an integer'}, at most {LARGEST_NUMBER}"
        return f"must be {_KIND_WORDS.get(kind, kind)}"
    if kind in ("int", "float") and not -LARGEST_NUMBER <= value <= LARGEST_NUMBER:  # NaN fails too
        # Durations this long are "never" anyway, and a larger one (1e308, inf) overflows the clocks.
        return f"must be {f.metadata['rule'] or 'a number'}, at most {LARGEST_NUMBER}"
    check = f.metadata.get("check")
    if check is not None and not check(value):
        why = f.metadata["why"](value) if f.metadata.get("why") else None
        return why or f"must be {f.metadata['rule']}"
    return None


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind.startswith("Mapping"):
        return isinstance(value, Mapping)
    return isinstance(value, str)


def default_of(f: dataclasses.Field[Any]) -> Any:
    return f.metadata["default"]


def as_json(section: Any) -> dict[str, Any]:
    """A section's values as the status document and the control API show them."""
    return {f.name: _json_value(getattr(section, f.name)) for f in settings_of(type(section))}


def _json_value(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value
