"""Value types of the usage layer: the input target, the snapshot, the error, redaction.

The package depends on nothing else in the app: the app turns its provider config into a
:class:`UsageTarget`, and gets back a :class:`UsageSnapshot` (or a :class:`UsageError`) that it can
persist as JSON and show in the UI.

Secrets (the provider key and the usage token) travel only inside :class:`UsageTarget`, whose
``repr`` hides them, and every message this package produces goes through :func:`redact`.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from api_router.secrets import percent_tolerant

__all__ = [
    "ErrorKind",
    "UsageError",
    "UsageSnapshot",
    "UsageTarget",
    "exhaustion_reason",
    "redact",
    "strip_query",
]


@dataclass(frozen=True)
class UsageTarget:
    """Everything needed to fetch one provider's usage; built by the app from its config.

    ``usage_adapter`` empty means "detect"; ``usage_base_url`` empty means "the origin of
    ``base_url``". The two secrets are excluded from ``repr`` so a target can be logged.
    """

    provider_id: str
    base_url: str
    usage_base_url: str = ""
    usage_adapter: str = ""
    provider_key: str = field(default="", repr=False)
    usage_token: str = field(default="", repr=False)
    # The app's other secrets (its gateway token, other providers' keys): never sent, only masked — a
    # panel may quote one, and a message shortened after the app masked it would show a cut one in part.
    also_hidden: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def secrets(self) -> tuple[str, ...]:
        """The non-empty secrets of this target and those it must hide too, for :func:`redact`."""
        return tuple(s for s in (self.provider_key, self.usage_token, *self.also_hidden) if s)


class ErrorKind(enum.StrEnum):
    """Machine-readable classes of :class:`UsageError` (their values are stable for the app)."""

    UNAUTHORIZED = "unauthorized"  # 401/403
    NOT_FOUND = "not_found"  # 404/405/501: this endpoint does not exist here
    NOT_JSON = "not_json"  # 2xx but the body is not JSON (often a panel's HTML)
    NO_SHAPE = "no_shape"  # JSON, but none of the numbers this adapter reads
    UNREADABLE = "unreadable"  # JSON with this adapter's fields, but in a form no number can be read from
    REJECTED = "rejected"  # JSON saying success=false (bad token and the like)
    TIMEOUT = "timeout"
    NETWORK = "network"  # connection refused, DNS, TLS…
    REDIRECT = "redirect"  # a redirect to another origin, which we never follow
    HTTP = "http"  # any other non-2xx status
    TOO_LARGE = "too_large"
    CONFIG = "config"  # nothing to fetch with: no base URL, no credential, unknown adapter


class UsageError(Exception):
    """A usage fetch failed; ``message`` is a human sentence safe to log and show.

    It never contains a query string, the provider key or the usage token (callers build it
    with :func:`redact`).
    """

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.HTTP) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind

    def __repr__(self) -> str:
        return f"UsageError({self.message!r}, kind={self.kind!r})"


_URL_QUERY_RE = re.compile(r"(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]*)[?#][^\s\"'<>]*")
# Query parameters that carry a credential (token_stats sends the key as ``token_key``): a panel
# echoing its request path (no scheme, so not a URL strip_query sees) would show the value.
_KEY_PARAM_RE = re.compile(
    r"(?P<name>(?<![A-Za-z0-9_])(?:token_key|api_key|apikey|access_token|token|key)=)[^&\s\"'<>#]+",
    re.IGNORECASE,
)


def strip_query(text: str) -> str:
    """Drop the query string and fragment of every URL inside ``text``."""
    return _URL_QUERY_RE.sub(lambda m: m["url"], text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove URL query strings, key-carrying query values and every secret from ``text``.

    Each secret is hidden as written, without an ``sk-`` prefix (some panels echo it that way)
    and percent-encoded, whole or in part (a panel echoing its request's query sends ``+/=`` back as
    ``%2B%2F%3D``, or only some of them), matched regardless of case. Longest first, so a key that
    contains another secret is fully hidden.
    """
    out = strip_query(text)
    forms = {form for secret in secrets if secret for form in _secret_forms(secret)}
    if forms:  # before the query values: a key that holds "key=" is masked whole, not from there on
        pattern = "|".join(percent_tolerant(form) for form in sorted(forms, key=len, reverse=True))
        out = re.sub(pattern, "[redacted]", out, flags=re.IGNORECASE)
    return _KEY_PARAM_RE.sub(lambda m: m["name"] + "[redacted]", out)


def _secret_forms(secret: str) -> set[str]:
    """How ``secret`` may come back in a panel's text besides percent-encoded: as is, without ``sk-``,
    with "+" for a space (a form's encoding)."""
    bare = {secret}
    if secret.startswith("sk-") and len(secret) > 7:
        bare.add(secret[3:])
    return bare | {b.replace(" ", "+") for b in bare if " " in b}


_BUDGET_PERIODS = ("daily", "weekly", "monthly")
CURRENCY_SIGNS = {"USD": "$", "CNY": "¥", "EUR": "€", "GBP": "£"}
LAST_UNIX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True)
class UsageSnapshot:
    """One successful usage reading of one provider.

    Quantities are ``None`` when the upstream did not report them. ``unit`` says what the
    non-USD quantities (remaining, today_*, granted/used/available) are counted in: ``"USD"``
    when the upstream wrote dollars, ``"quota"`` for a panel's internal quota units (new-api:
    500,000 per USD by default, but configurable per site so it is not converted), ``""`` when
    unknown. Budget fields (named ``_usd`` for history) are in ``budget_unit``: ``"USD"`` unless
    the panel wrote another currency sign (``"¥100"`` -> ``"CNY"``). ``percent_fields`` lists the
    fields the upstream wrote as percentages (``"85%"`` -> 85.0).
    """

    adapter: str
    base_url: str
    fetched_at_unix_ms: int = 0
    detected: bool = False  # the adapter was found by detection, not configured
    remaining: float | None = None
    unlimited: bool = False
    today_used: float | None = None
    today_added: float | None = None
    daily_spent_usd: float | None = None
    daily_budget_usd: float | None = None
    weekly_spent_usd: float | None = None
    weekly_budget_usd: float | None = None
    monthly_spent_usd: float | None = None
    monthly_budget_usd: float | None = None
    granted: float | None = None
    used: float | None = None
    available: float | None = None
    expires_at_unix_ms: int | None = None
    unit: str = ""
    budget_unit: str = "USD"
    percent_fields: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        expiry = self.expires_at_unix_ms
        if expiry is not None and not (type(expiry) is int and 0 < expiry <= LAST_UNIX_MS):
            # No panel means a date past the year 9999, and such a number would not fit the 64-bit
            # integers of the status document (nor would it read as a date): no known expiry. Also
            # applied to a reading persisted before this check.
            object.__setattr__(self, "expires_at_unix_ms", None)

    @property
    def exhausted(self) -> bool:
        """Remaining ≤ 0 (unless unlimited) or a daily/weekly/monthly budget fully spent."""
        return exhaustion_reason(self) is not None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict for the UI and for persistence (see :meth:`from_json`)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["exhausted"] = self.exhausted
        out["exhausted_reason"] = exhaustion_reason(self)
        out["left_percent"] = left_percent(self)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageSnapshot:
        """Rebuild a snapshot persisted with :meth:`to_json`; unknown keys are ignored."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in data:
                value = data[f.name]
                kwargs[f.name] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)


def exhaustion_reason(snapshot: UsageSnapshot) -> str | None:
    """Why the provider is exhausted, e.g. ``"quota exhausted: remaining 0"``, else ``None``.

    A budget of 0 (or less) means "no budget set" on the panels we know, so it never counts as
    spent; an unlimited quota is never exhausted by its remaining value (new-api reports 0
    available on unlimited tokens).
    """
    if not snapshot.unlimited and snapshot.remaining is not None and snapshot.remaining <= 0:
        suffix = "%" if "remaining" in snapshot.percent_fields else ""
        return f"quota exhausted: remaining {_plain(snapshot.remaining)}{suffix}"
    for period in _BUDGET_PERIODS:
        spent = getattr(snapshot, f"{period}_spent_usd")
        budget = getattr(snapshot, f"{period}_budget_usd")
        if spent is not None and budget is not None and budget > 0 and spent >= budget:
            sign = CURRENCY_SIGNS.get(snapshot.budget_unit, "")
            code = "" if sign else f" {snapshot.budget_unit}"  # a currency without a sign: its code after
            return f"{period} budget spent: {sign}{spent:,.2f}{code} of {sign}{budget:,.2f}{code}"
    return None


def left_percent(snapshot: UsageSnapshot) -> float | None:
    """How much is left, in percent of what there was, when the reading says so (else ``None``).

    The tightest figure wins: a relay with 80 % of its quota left but a daily budget 95 % spent
    has 5 % left for today.
    """
    if snapshot.unlimited:
        return None
    shares: list[float] = []
    if exhaustion_reason(snapshot) is not None:
        shares.append(0.0)
    if snapshot.remaining is not None and "remaining" in snapshot.percent_fields:
        shares.append(snapshot.remaining)
    left_field = "available" if snapshot.available is not None else "remaining"
    left = getattr(snapshot, left_field)
    # A share of two numbers only when both are amounts: "80 %" of a 1,000-unit grant is no amount.
    in_percent = {left_field, "granted"} & set(snapshot.percent_fields)
    if snapshot.granted is not None and snapshot.granted > 0 and left is not None and not in_percent:
        shares.append(100.0 * left / snapshot.granted)
    for period in _BUDGET_PERIODS:
        spent = getattr(snapshot, f"{period}_spent_usd")
        budget = getattr(snapshot, f"{period}_budget_usd")
        if spent is not None and budget is not None and budget > 0:
            shares.append(100.0 * (budget - spent) / budget)
    if not shares:
        return None
    # Rounded down, and finely: rounded to 0.1 a sliver left read as nothing (and as "out of quota",
    # though routing still uses the provider), and 9.96 % as the 10 % it is not.
    share = min(100.0, max(0.0, min(shares)))
    # Float noise rounded away where it counts (in ten-thousandths): $2.70 of $3.00 is 10 %, not 9.9999.
    return math.floor(round(share * 10_000, 6)) / 10_000


def _plain(value: float) -> str:
    """``0`` for 0.0, ``-1.5`` for -1.5, ``-1,234,567`` for -1234567.0: short, grouped, no exponent."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6f}".rstrip("0").rstrip(".")
