"""One function per usage API dialect, plus the registry used for detection.

Each adapter turns one provider's answer into a :class:`UsageSnapshot` or raises
:class:`UsageError`. "No usable shape" (``ErrorKind.NO_SHAPE``) means the JSON carried none of the
numbers the adapter reads, which detection treats like "not this dialect".

Keys accepted (every key also accepted with a ``_display`` suffix; numbers are read with
:func:`~.numbers.parse_number`). The display twins are read only when every field of the answer
has one, else the raw values are (a field written in one form only is read in that form): panels
write raw values in quota units and display twins in dollars, which must not be mixed.

``token_stats`` — ``GET {base}/api/token-stats?token_key=<provider key>``, then
``GET {base}/api/token-logs?token_key=<provider key>`` when the first 404s, answers non-JSON, or
has no numbers. Objects searched: shape (a) ``info`` and ``stats.today_stats`` (and ``stats``),
shape (b) ``token_info``; each under ``data.data``, ``data`` or the top level; then ``data`` and
the top level themselves.

* remaining: ``remain_quota``, ``remaining_quota``, ``remaining``, ``remain``, ``balance``
  (searched in info, token_info, today_stats, stats, data, top)
* today used: ``today_used_quota``, ``today_used``, ``used_quota``, ``used``
  (searched in today_stats, token_info, stats, info, data, top)
* today added: ``today_added_quota``, ``today_added``, ``added_quota``, ``added``
  (same order as today used)
* unlimited: ``unlimited_quota`` / ``unlimited`` true, or a remaining of ``"unlimited"``/``"∞"``
* expiry: ``expires_at``, ``expired_time``, ``expired_at``, ``expire_time`` (see ``_expiry_ms``)

``budget_info`` — ``GET {base}/api/backend/users/info`` with ``Authorization: Bearer <usage
token>``. Objects searched: ``data.user``, ``data.data``, ``data``, ``user``, the top level.
For each period ``p`` in daily, weekly, monthly:

* spent: ``p_spent``, ``p_spent_usd``, ``p_used``, ``p_used_usd``, ``p_usage``, ``p_cost``,
  or ``spent``/``used``/``usage``/``cost`` inside an object named ``p``
* budget: ``p_budget``, ``p_budget_usd``, ``p_limit``, ``p_limit_usd``,
  or ``budget``/``limit`` inside an object named ``p``
* remaining: ``remaining_quota``, ``remaining``, ``remain_quota``, ``balance``

Budgets keep their currency (``budget_unit``: the sign written, else USD); a period whose spent and
budget are in different currencies, or in another than the other periods', is left out with a note.

``new_api`` — ``GET {base}/api/usage/token`` with the provider key as bearer. Object searched:
``data``, then the top level. ``granted``: ``total_granted``, ``granted``, ``total_quota``;
``used``: ``total_used``, ``used_quota``, ``used``; ``available`` (also copied to remaining):
``total_available``, ``available``, ``remain_quota``, ``remaining``; unlimited:
``unlimited_quota``/``unlimited``; expiry: as token_stats. Values are new-api quota units
(``unit="quota"``) unless written with a currency sign.

``openai_billing`` — ``GET {base}/dashboard/billing/subscription`` (``hard_limit_usd``, else
``system_hard_limit_usd``; ``access_until`` as expiry) and ``GET {base}/dashboard/billing/usage``
(``total_usage``), both with the provider key as bearer. ``total_usage`` is in **US cents** (as
OpenAI's legacy endpoint and the one-api/new-api re-implementations report it) and is divided by
100. A hard limit ≥ 100,000,000 USD is the one-api/new-api sentinel for an unlimited token. The
usage call is optional: when it is missing, the snapshot has the limit only and a note.

A JSON answer with ``success: false``, ``code: false``, or a numeric ``code`` other than 0/200 next
to a message (``{"code": 401, "msg": "invalid token"}``) is a ``REJECTED`` error carrying the panel's
message (redacted), whatever numbers it also carries: panels answer a refused token with zeros.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api_router.texts import quoted

from .client import UsageHttp, upstream_message
from .model import ErrorKind, UsageError, UsageSnapshot, UsageTarget, redact
from .numbers import CURRENCIES_READ, ParsedNumber, parse_number

__all__ = [
    "ADAPTERS",
    "DETECTION_ORDER",
    "Adapter",
    "AdapterCall",
    "fetch_budget_info",
    "fetch_new_api",
    "fetch_openai_billing",
    "fetch_token_stats",
]

_UNLIMITED_HARD_LIMIT_USD = 100_000_000
_EXPIRY_KEYS = ("expires_at", "expired_time", "expired_at", "expire_time")


@dataclass(frozen=True)
class AdapterCall:
    """One adapter attempt against one candidate base."""

    http: UsageHttp
    base: str
    target: UsageTarget
    now_ms: int


AdapterFn = Callable[[AdapterCall], Awaitable[UsageSnapshot]]


@dataclass(frozen=True)
class Adapter:
    """A usage dialect: its fetch function and which secret it sends."""

    name: str
    fetch: AdapterFn
    uses_provider_key: bool = True
    uses_usage_token: bool = False

    def has_credentials(self, target: UsageTarget) -> bool:
        """Whether ``target`` carries the secret this dialect needs."""
        if self.uses_usage_token:
            return bool(target.usage_token)
        return bool(target.provider_key)


# --------------------------------------------------------------------------- field reading


def _dicts(*candidates: Any) -> list[Mapping[str, Any]]:
    """The mappings among ``candidates``, in order, without duplicates."""
    out: list[Mapping[str, Any]] = []
    for c in candidates:
        if isinstance(c, Mapping) and not any(c is seen for seen in out):
            out.append(c)
    return out


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _pick(dicts: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> ParsedNumber | None:
    """First parseable value: dicts in order, keys in order, ``key_display`` before ``key``."""
    raw, shown = _pick_pair(dicts, keys)
    return shown or raw


def _pick_pair(
    dicts: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> tuple[ParsedNumber | None, ParsedNumber | None]:
    """The raw value and its ``_display`` twin of the first key (dicts in order, keys in order)
    that has either in a parseable form."""
    for d in dicts:
        for key in keys:
            raw = parse_number(d[key]) if key in d else None
            shown = parse_number(d[f"{key}_display"]) if f"{key}_display" in d else None
            if raw is not None or shown is not None:
                return raw, shown
    return None, None


def _written(dicts: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> tuple[str, str] | None:
    """The first of ``keys`` (or its ``_display`` twin) written as text with a digit in it that
    ``_pick_pair`` could not read: a figure in a form API Router does not know, as written."""
    for d in dicts:
        for key in keys:
            for name in (key, f"{key}_display"):
                value = d.get(name)
                if isinstance(value, str) and any(c.isdigit() for c in value):
                    return name, value.strip()
    return None


def _flag(dicts: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> bool:
    for d in dicts:
        for key in keys:
            value = d.get(key)
            # 1 as a number too: panels backed by PHP or MySQL send their booleans so.
            if (isinstance(value, (int, float)) and value == 1) or (
                    isinstance(value, str) and value.strip().lower() in {"true", "1", "yes"}):
                return True
    return False


def _expiry_ms(dicts: Sequence[Mapping[str, Any]]) -> int | None:
    """Expiry as Unix ms. Numbers > 1e12 are already ms, positive smaller ones are seconds;
    0 and negatives mean "never" (new-api normalises -1 to 0). ISO-8601 strings are accepted."""
    for d in dicts:
        for key in _EXPIRY_KEYS:
            if key not in d:
                continue
            value = d[key]
            if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "").isdigit():
                return _iso_ms(value)
            number = parse_number(value)
            if number is None or number.value is None or number.value <= 0:
                return None
            return int(number.value) if number.value > 1e12 else int(number.value * 1000)
    return None


def _iso_ms(text: str) -> int | None:
    try:
        moment = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class _Found:
    """One field as the panel wrote it: raw, display twin, or both."""

    raw: ParsedNumber | None
    shown: ParsedNumber | None
    quota: bool
    group: str


@dataclass
class _Readings:
    """Accumulates the fields of one snapshot while remembering units and percent signs.

    Fields are gathered with :meth:`take`, then :meth:`settle` reads each group of fields in one
    form: the ``_display`` twins when every field of the group has one, else the raw values. Panels
    write raw fields in their own quota units and display twins in dollars, so a choice made field
    by field would put 0.50 dollars left beside a 500,000-unit grant.
    """

    values: dict[str, float] = field(default_factory=dict)
    percent_fields: list[str] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    field_currency: dict[str, str] = field(default_factory=dict)
    unlimited: bool = False
    found: dict[str, _Found] = field(default_factory=dict)
    # Fields the panel wrote in a form no number is read from ("CHF 5", "₩1,000,000"): (key, value as written).
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def take(
        self,
        name: str,
        dicts: Sequence[Mapping[str, Any]],
        keys: Sequence[str],
        *,
        quota: bool = True,
        group: str = "quota",
    ) -> bool:
        """Note one field (``quota`` fields may say "unlimited" and carry the snapshot's unit);
        whether the panel wrote it. Values are read by :meth:`settle`."""
        raw, shown = _pick_pair(dicts, keys)
        if raw is None and shown is None:
            if (written := _written(dicts, keys)) is not None:
                self.unreadable.append(written)
            return False
        self.found[name] = _Found(raw, shown, quota, group)
        return True

    def settle(self) -> None:
        """Read every noted field, one form per group (see the class doc)."""
        groups = {f.group for f in self.found.values()}
        shown_groups = {g for g in groups if all(f.shown is not None for f in self.found.values() if f.group == g)}
        for name, found in self.found.items():
            # A field written in one form only is read in that form: it is the only reading there is.
            parsed = (found.shown or found.raw) if found.group in shown_groups else (found.raw or found.shown)
            assert parsed is not None
            self._read(name, parsed, quota=found.quota)
        self.found.clear()

    def _read(self, name: str, parsed: ParsedNumber, *, quota: bool) -> None:
        if parsed.unlimited:
            self.unlimited = self.unlimited or quota
            return
        assert parsed.value is not None
        self.values[name] = parsed.value
        self.field_currency[name] = parsed.currency
        if parsed.percent:
            self.percent_fields.append(name)
        if quota and parsed.currency:
            self.currencies.append(parsed.currency)

    def same_unit(self, *names: str) -> bool:
        """Whether these fields (all read) are in one unit: the same currency, all or none in %."""
        percent = {n in self.percent_fields for n in names}
        return len(percent) == 1 and len({self.field_currency.get(n, "") for n in names}) == 1

    def has_numbers(self) -> bool:
        return bool(self.values) or self.unlimited

    def unit(self, default: str = "") -> str:
        return self.currencies[0] if self.currencies else default


def _snapshot(
    call: AdapterCall, adapter: str, readings: _Readings, *, unit: str, **extra: Any
) -> UsageSnapshot:
    values: dict[str, Any] = {**readings.values, **extra}
    return UsageSnapshot(
        adapter=adapter,
        base_url=call.base,
        fetched_at_unix_ms=call.now_ms,
        unlimited=readings.unlimited,
        unit=unit,
        percent_fields=tuple(readings.percent_fields),
        **values,
    )


def _no_shape(call: AdapterCall, endpoint: str, readings: _Readings | None = None) -> UsageError:
    """A JSON answer without numbers (every caller has already taken a rejection for what it is) — or
    with this adapter's fields written in a form no number is read from: that panel is found, and says
    so, where "no usage endpoint found" would send the user looking for another address."""
    if readings is not None and readings.unreadable:
        name, value = readings.unreadable[0]
        # Masked whole before it is cut: a key the cut fell in would no longer be found.
        shown = quoted(redact(value, call.target.secrets()), 40)
        return UsageError(redact(
            f"the usage panel at {endpoint} answered, but its figures are in a form API Router cannot read "
            f"({name}: {shown}); it reads plain numbers, and amounts in {CURRENCIES_READ}",
            call.target.secrets()), ErrorKind.UNREADABLE)
    return UsageError(
        redact(f"usage endpoint answered without usage numbers: {endpoint}", call.target.secrets()),
        ErrorKind.NO_SHAPE,
    )


def _rejection(call: AdapterCall, doc: Any, endpoint: str) -> UsageError | None:
    """A ``REJECTED`` error when the panel says the request failed, whatever numbers came with it:
    panels refusing a token often fill ``data`` with zeros, which read as "out of quota"."""
    if not isinstance(doc, Mapping):
        return None
    message = upstream_message(doc, call.target.secrets())
    if not (doc.get("success") is False or doc.get("code") is False or (message and _failure_code(doc.get("code")))):
        return None
    text = f"usage endpoint reported a failure{': ' + message if message else ''}: {endpoint}"
    return UsageError(redact(text, call.target.secrets()), ErrorKind.REJECTED)


def _failure_code(code: Any) -> bool:
    """A numeric ``code`` other than 0 or 200 (``401`` or ``"401"``) is a panel's failure code;
    ``true``/``"success"`` and the like are not numbers and say nothing."""
    if isinstance(code, bool):
        return False
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    return isinstance(code, (int, float)) and code not in (0, 200)


def _checked(call: AdapterCall, doc: Any, endpoint: str) -> Any:
    """``doc`` unless it is a rejection, which is raised before any of its numbers are read."""
    rejected = _rejection(call, doc, endpoint)
    if rejected is not None:
        raise rejected
    return doc


def _roots(doc: Any) -> list[Mapping[str, Any]]:
    """Where panels nest their payload: ``data.data``, ``data``, top level."""
    return _dicts(_get(doc, "data", "data"), _get(doc, "data"), doc)


# --------------------------------------------------------------------------- token_stats

_REMAIN_KEYS = ("remain_quota", "remaining_quota", "remaining", "remain", "balance")
_TODAY_USED_KEYS = ("today_used_quota", "today_used", "used_quota", "used")
_TODAY_ADDED_KEYS = ("today_added_quota", "today_added", "added_quota", "added")


def _read_token_stats(doc: Any) -> _Readings:
    roots = _roots(doc)
    info = _dicts(*(_get(r, "info") for r in roots))
    today = _dicts(*(_get(r, "stats", "today_stats") for r in roots))
    stats = _dicts(*(_get(r, "stats") for r in roots))
    token_info = _dicts(*(_get(r, "token_info") for r in roots))
    readings = _Readings()
    readings.take("remaining", info + token_info + today + stats + roots, _REMAIN_KEYS)
    daily = today + token_info + stats + info + roots
    readings.take("today_used", daily, _TODAY_USED_KEYS)
    readings.take("today_added", daily, _TODAY_ADDED_KEYS)
    readings.settle()
    if _flag(info + token_info + roots, ("unlimited_quota", "unlimited")):
        readings.unlimited = True
    return readings


async def fetch_token_stats(call: AdapterCall) -> UsageSnapshot:
    """token-stats first, token-logs when it has nothing; the key rides in the query string."""
    params = {"token_key": call.target.provider_key}
    errors: list[UsageError] = []
    for path in ("/api/token-stats", "/api/token-logs"):
        endpoint = call.base.rstrip("/") + path
        try:
            doc = await call.http.get_json(call.base, path, params=params)
        except UsageError as exc:
            if exc.kind not in (ErrorKind.NOT_FOUND, ErrorKind.NOT_JSON):
                raise
            errors.append(exc)
            continue
        rejected = _rejection(call, doc, endpoint)
        if rejected is not None:  # token-logs may still know the key; the rejection is kept if not
            errors.append(rejected)
            continue
        readings = _read_token_stats(doc)
        if readings.has_numbers():
            roots = _roots(doc)
            expiry = _expiry_ms(_dicts(*(_get(r, k) for r in roots for k in ("token_info", "info"))) + roots)
            return _snapshot(call, "token_stats", readings, unit=readings.unit(), expires_at_unix_ms=expiry)
        errors.append(_no_shape(call, endpoint, readings))
    raise most_telling(errors)


# --------------------------------------------------------------------------- budget_info

_PERIODS = ("daily", "weekly", "monthly")
_SPENT_SUFFIXES = ("spent", "spent_usd", "used", "used_usd", "usage", "cost")
_BUDGET_SUFFIXES = ("budget", "budget_usd", "limit", "limit_usd")
_BUDGET_REMAIN_KEYS = ("remaining_quota", "remaining", "remain_quota", "balance")


def _read_budget_info(doc: Any) -> tuple[_Readings, str, list[str]]:
    """The readings, the budgets' currency, and notes on periods left out."""
    roots = _dicts(
        _get(doc, "data", "user"), _get(doc, "data", "data"), _get(doc, "data"), _get(doc, "user"), doc
    )
    readings = _Readings()
    for period in _PERIODS:
        nested = _dicts(*(_get(r, period) for r in roots))
        spent = [f"{period}_{s}" for s in _SPENT_SUFFIXES]
        budget = [f"{period}_{s}" for s in _BUDGET_SUFFIXES]
        if not readings.take(f"{period}_spent_usd", roots, spent, quota=False, group=period):
            readings.take(f"{period}_spent_usd", nested, ("spent", "used", "usage", "cost"), quota=False, group=period)
        if not readings.take(f"{period}_budget_usd", roots, budget, quota=False, group=period):
            readings.take(f"{period}_budget_usd", nested, ("budget", "limit"), quota=False, group=period)
    readings.take("remaining", roots, _BUDGET_REMAIN_KEYS)
    readings.settle()
    budget_unit, notes = _one_budget_currency(readings)
    return readings, budget_unit, notes


def _one_budget_currency(readings: _Readings) -> tuple[str, list[str]]:
    """Keep the budgets of one currency (a figure without a sign is taken to be in its period's
    other figure's, else in the other periods' — one panel writes one currency — else in dollars); a
    period whose figures are in another, or in two, or written as a percentage, is left out with a note:
    ¥100 of budget says nothing about €5 or 20 % spent."""
    currencies: dict[str, dict[str, str]] = {}  # period -> figure ("spent", "budget") -> its currency
    notes = []
    for period in _PERIODS:
        names = {kind: f"{period}_{kind}_usd" for kind in ("spent", "budget")}
        found = {kind: name for kind, name in names.items() if name in readings.values}
        percent = [kind for kind, name in found.items() if name in readings.percent_fields]
        if percent:
            _leave_out(readings, names.values())
            notes.append(f"{period}: {' and '.join(percent)} written as a percentage, not an amount — left out")
        elif found:
            currencies[period] = {kind: readings.field_currency[name] for kind, name in found.items()}
    signed = [set(figures.values()) - {""} for figures in currencies.values()]
    unit = next((next(iter(c)) for c in signed if len(c) == 1), "USD")
    for period, figures in currencies.items():
        own = set(figures.values()) - {""}
        if own - {unit}:
            _leave_out(readings, [f"{period}_{kind}_usd" for kind in figures])
            if len(own) > 1:
                written = ", ".join(f"{kind} in {currency}" for kind, currency in figures.items())
                notes.append(f"{period}: {written} — left out")
            else:
                notes.append(f"{period}: in {next(iter(own))}, the other budgets in {unit} — left out")
    return unit, notes


def _leave_out(readings: _Readings, names: Iterable[str]) -> None:
    for name in names:
        readings.values.pop(name, None)
        if name in readings.percent_fields:
            readings.percent_fields.remove(name)


async def fetch_budget_info(call: AdapterCall) -> UsageSnapshot:
    """Budget panel: needs the separate usage token, never the provider key."""
    path = "/api/backend/users/info"
    doc = await call.http.get_json(call.base, path, bearer=call.target.usage_token)
    doc = _checked(call, doc, call.base.rstrip("/") + path)
    readings, budget_unit, notes = _read_budget_info(doc)
    if not readings.has_numbers() and not notes:  # figures left out are still a reading: the notes say why
        raise _no_shape(call, call.base.rstrip("/") + path, readings)
    return _snapshot(call, "budget_info", readings, unit=readings.unit(), budget_unit=budget_unit,
                     notes=tuple(notes))


# --------------------------------------------------------------------------- new_api


def _read_new_api(doc: Any) -> tuple[_Readings, list[str]]:
    """The readings and notes on figures left out."""
    dicts = _dicts(_get(doc, "data"), doc)
    readings = _Readings()
    readings.take("granted", dicts, ("total_granted", "granted", "total_quota"))
    readings.take("used", dicts, ("total_used", "used_quota", "used"))
    readings.take("available", dicts, ("total_available", "available", "remain_quota", "remaining"))
    readings.settle()
    notes = _one_quota_unit(readings, ("available", "granted", "used"))
    values = readings.values
    if "available" not in values and {"granted", "used"} <= values.keys() and readings.same_unit("granted", "used"):
        values["available"] = values["granted"] - values["used"]
        readings.field_currency["available"] = readings.field_currency["granted"]
        if "granted" in readings.percent_fields:
            readings.percent_fields.append("available")
    if "available" in values:
        values["remaining"] = values["available"]
        if "available" in readings.percent_fields:
            readings.percent_fields.append("remaining")
    if _flag(dicts, ("unlimited_quota", "unlimited")):
        readings.unlimited = True
    return readings, notes


def _one_quota_unit(readings: _Readings, figures: Sequence[str]) -> list[str]:
    """Keep the quota figures in the unit of the first of ``figures`` the panel wrote (what is left, as
    routing reads it); one in another currency, or a percentage beside an amount, is left out with a note:
    a share or difference of the two would mean nothing. The snapshot's unit is then the kept figures'."""
    written = [name for name in figures if name in readings.values]
    if not written:
        return []
    lead = written[0]
    apart = [name for name in written[1:] if not readings.same_unit(lead, name)]
    if not apart:
        return []

    def unit_of(name: str) -> str:
        return "%" if name in readings.percent_fields else readings.field_currency.get(name) or "quota units"

    note = f"{' and '.join(apart)} written in {unit_of(apart[0])}, {lead} in {unit_of(lead)} — left out"
    _leave_out(readings, apart)
    readings.currencies = [readings.field_currency[lead]] if readings.field_currency[lead] else []
    return [note]


async def fetch_new_api(call: AdapterCall) -> UsageSnapshot:
    """new-api's per-token usage endpoint."""
    path = "/api/usage/token"
    doc = await call.http.get_json(call.base, path, bearer=call.target.provider_key)
    doc = _checked(call, doc, call.base.rstrip("/") + path)
    readings, notes = _read_new_api(doc)
    if not readings.has_numbers():
        raise _no_shape(call, call.base.rstrip("/") + path, readings)
    expiry = _expiry_ms(_dicts(_get(doc, "data"), doc))
    return _snapshot(call, "new_api", readings, unit=readings.unit("quota"), expires_at_unix_ms=expiry,
                     notes=tuple(notes))


# --------------------------------------------------------------------------- openai_billing


def _usage_window(now_ms: int) -> dict[str, str]:
    """OpenAI's legacy usage endpoint wanted a date window; relays ignore it. 100 days max."""
    today = _dt.datetime.fromtimestamp(now_ms / 1000, tz=_dt.UTC).date()
    start = today - _dt.timedelta(days=99)
    end = today + _dt.timedelta(days=1)
    return {"start_date": start.isoformat(), "end_date": end.isoformat()}


async def fetch_openai_billing(call: AdapterCall) -> UsageSnapshot:
    """Subscription (limit, required) then usage (cents, optional)."""
    key = call.target.provider_key
    sub_path = "/dashboard/billing/subscription"
    sub = _checked(call, await call.http.get_json(call.base, sub_path, bearer=key), call.base.rstrip("/") + sub_path)
    subs = _dicts(_get(sub, "data"), sub)
    readings = _Readings()
    readings.take("granted", subs, ("hard_limit_usd", "system_hard_limit_usd"))
    readings.settle()
    limit = readings.values.get("granted")
    if limit is None and not readings.unlimited:
        raise _no_shape(call, call.base.rstrip("/") + sub_path, readings)
    notes: list[str] = []
    # The limit is dollars, as its name says, unless the panel wrote a percentage or another currency.
    unit = readings.field_currency.get("granted") or "USD"
    if "granted" in readings.percent_fields:
        _leave_out(readings, ["granted"])
        limit = None
        notes.append("hard limit written as a percentage, not an amount — left out")
    if limit is not None and unit == "USD" and limit >= _UNLIMITED_HARD_LIMIT_USD:
        readings.unlimited = True
        del readings.values["granted"]
        limit = None
        notes.append("hard limit of 100,000,000 USD read as unlimited")
    used = await _billing_usage_usd(call, notes)
    if used is not None and unit != "USD":
        notes.append(f"usage is in USD, the hard limit in {unit} — usage left out")
    elif used is not None:
        readings.values["used"] = used
        if limit is not None:
            readings.values["available"] = readings.values["remaining"] = limit - used
    expiry = _expiry_ms([{"expires_at": s["access_until"]} for s in subs if "access_until" in s])
    return _snapshot(
        call, "openai_billing", readings, unit=unit, expires_at_unix_ms=expiry, notes=tuple(notes)
    )


async def _billing_usage_usd(call: AdapterCall, notes: list[str]) -> float | None:
    path = "/dashboard/billing/usage"
    try:
        doc = await call.http.get_json(
            call.base, path, params=_usage_window(call.now_ms), bearer=call.target.provider_key
        )
    except UsageError as exc:
        if exc.kind not in (ErrorKind.NOT_FOUND, ErrorKind.NOT_JSON):
            raise
        notes.append(f"billing usage unavailable ({exc.kind}); limit only")
        return None
    usage = _pick(_dicts(_get(doc, "data"), doc), ("total_usage",))
    if usage is None or usage.value is None:
        notes.append("billing usage had no total_usage; limit only")
        return None
    if usage.percent or usage.currency not in ("", "USD"):
        notes.append("billing usage written as a percentage or in another currency than USD; limit only")
        return None
    if usage.currency:  # written as dollars ("$25.50"), not in cents as OpenAI's number is
        return usage.value
    notes.append("total_usage is reported in US cents; shown in USD")
    return usage.value / 100


# --------------------------------------------------------------------------- registry and errors

ADAPTERS: dict[str, Adapter] = {
    "budget_info": Adapter("budget_info", fetch_budget_info, uses_provider_key=False, uses_usage_token=True),
    "token_stats": Adapter("token_stats", fetch_token_stats),
    "new_api": Adapter("new_api", fetch_new_api),
    "openai_billing": Adapter("openai_billing", fetch_openai_billing),
}
"""Every adapter by name."""

DETECTION_ORDER: tuple[str, ...] = ("budget_info", "token_stats", "new_api", "openai_billing")
"""Why this order: a usage token is only ever entered for budget panels, so it is the strongest
signal; token_stats and new_api have dialect-specific paths; the OpenAI billing pair is also
served by new-api/one-api sites and so is the least specific, tried last."""

_ERROR_RANK = {
    ErrorKind.UNAUTHORIZED: 0,
    ErrorKind.REJECTED: 1,
    ErrorKind.TIMEOUT: 2,
    ErrorKind.NETWORK: 3,
    ErrorKind.REDIRECT: 4,
    ErrorKind.TOO_LARGE: 5,
    ErrorKind.HTTP: 6,
    ErrorKind.UNREADABLE: 7,
    ErrorKind.NOT_JSON: 8,
    ErrorKind.NO_SHAPE: 9,
    ErrorKind.NOT_FOUND: 10,
    ErrorKind.CONFIG: 11,
}


def most_telling(errors: Iterable[UsageError]) -> UsageError:
    """The error most worth showing: a refused credential beats a timeout beats a 404."""
    ranked = sorted(errors, key=lambda e: _ERROR_RANK.get(e.kind, 6))
    if not ranked:
        return UsageError("usage fetch failed", ErrorKind.CONFIG)
    return ranked[0]
