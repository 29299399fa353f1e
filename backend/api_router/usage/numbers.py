"""Tolerant parsing of the numbers relay panels put in their usage JSON.

Relay panels are inconsistent: the same field can be ``12.5``, ``"12.5"``, ``"1,234.5"``,
``"$3.20"``, ``"85%"``, ``"1.2M"`` or ``"unlimited"`` depending on the panel and on whether it is
the ``*_display`` twin of a raw field. Every adapter reads numbers through :func:`parse_number` so
the rules live in one place and are tested once.

Accepted forms (surrounding whitespace ignored):

* JSON numbers (``bool`` is *not* a number: ``true`` is refused, not read as 1).
  ``float("inf")`` reads as unlimited; NaN is refused.
* An optional sign, then an optional currency sign or code (``$ ¥ € £ ￥`` / ``USD CNY RMB EUR``),
  the sign may also follow the currency (``"-$3"`` and ``"$-3"``), then digits.
* Thousands separators: one of ``,`` ``_`` ``'`` space, no-break or narrow no-break space,
  used consistently between groups of exactly three digits (``"1,234,567.8"``, ``"1 234"``).
  A single ``,`` that is *not* followed by exactly three digits is a decimal comma
  (``"12,5"`` -> 12.5). Anything else ambiguous (``"1,23,4"``, ``"1 2 3"``) is refused rather
  than guessed.
* An optional magnitude suffix ``K`` (1e3), ``M`` (1e6), ``B``/``G`` (1e9), case-insensitive.
* An optional trailing ``%`` (the value is kept as written, 85 for ``"85%"``, with ``percent``).
* An optional currency sign after the figure instead of before it (``"5 €"``, ``"5.00 元"``), and an
  optional trailing currency code or unit word (``"12 USD"``, ``"1,000 tokens"``); the unit is
  reported in ``unit`` for notes, it never changes the value. A figure in another currency (``"1000 JPY"``,
  ``"5 chf"``, ``"CHF 5"``) holds no number API Router can read: it is never taken for dollars.
* ``"unlimited"``, ``"infinite"``, ``"infinity"``, ``"inf"``, ``"∞"``, ``"no limit"``,
  ``"无限"``, ``"无限制"``, ``"不限"`` -> unlimited (``value`` is ``None``).

Anything else (empty strings, ``"-"``, ``"N/A"``, dicts, lists) is ``None``: "no number here", so
the caller can fall back to another field instead of inventing a zero.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["CURRENCIES_READ", "ParsedNumber", "parse_number"]

_UNLIMITED_WORDS = frozenset(
    {"unlimited", "infinite", "infinity", "inf", "∞", "no limit", "nolimit", "无限", "无限制", "不限"}
)
_CURRENCY_SIGNS = {"$": "USD", "¥": "CNY", "￥": "CNY", "€": "EUR", "£": "GBP", "元": "CNY"}
_CURRENCY_CODES = frozenset({"USD", "CNY", "RMB", "EUR", "GBP"})
# The currencies read, as a message names them ("$, ¥, ￥, €, £, 元 or CNY, EUR, GBP, RMB, USD").
CURRENCIES_READ = f"{', '.join(_CURRENCY_SIGNS)} or {', '.join(sorted(_CURRENCY_CODES))}"
_MULTIPLIERS = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}

_NUMBER_RE = re.compile(
    r"""^
    (?P<sign1>[-+])?\s*
    (?P<cur>[$¥￥€£]|USD|CNY|RMB|EUR|GBP)?\s*
    (?P<sign2>[-+])?\s*
    (?P<num>\d[\d,_'\u00a0\u202f ]*(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)
    \s*(?P<mult>[kKmMbBgG](?![A-Za-z]))?
    \s*(?P<pct>%)?
    \s*(?P<cur2>[$¥￥€£元])?  # a sign after the figure, as "5 €" and "5.00 元" are written
    \s*(?P<unit>[A-Za-z][A-Za-z ]{0,19})?
    $""",
    re.VERBOSE,
)
_SEPARATOR_RE = re.compile(r"[,_'\u00a0\u202f ]")
_DECIMAL_COMMA_RE = re.compile(r"^\d+,(?!\d{3}$)\d+$")


@dataclass(frozen=True)
class ParsedNumber:
    """One parsed value. ``value`` is ``None`` only when ``unlimited`` is set."""

    value: float | None
    percent: bool = False
    unlimited: bool = False
    currency: str = ""  # "USD" when a "$" (or "USD") was written, "" when none was
    unit: str = ""  # a trailing unit word such as "tokens", lower-cased


def parse_number(raw: object) -> ParsedNumber | None:
    """Read ``raw`` as a number per the module rules, or ``None`` when it holds no number."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (int, float)):
        try:
            return _from_float(float(raw))
        except OverflowError:  # an integer beyond any float: as large as infinity
            return _from_float(math.inf if raw > 0 else -math.inf)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text:
        return None
    if text.lower() in _UNLIMITED_WORDS:
        return ParsedNumber(value=None, unlimited=True)
    return _from_text(text)


def _from_float(value: float) -> ParsedNumber | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return ParsedNumber(value=None, unlimited=value > 0) if value > 0 else None
    return ParsedNumber(value=value)


def _from_text(text: str) -> ParsedNumber | None:
    match = _NUMBER_RE.match(text)
    if match is None:
        return None
    if (match["sign1"] and match["sign2"]) or (match["cur"] and match["cur2"]):
        return None
    digits = _strip_separators(match["num"])
    if digits is None:
        return None
    try:
        value = float(digits)
    except ValueError:
        return None
    if match["sign1"] == "-" or match["sign2"] == "-":
        value = -value
    if match["mult"]:
        value *= _MULTIPLIERS[match["mult"].lower()]
    if not math.isfinite(value):  # "1e400": read like the infinity it is
        return _from_float(value)
    unit = (match["unit"] or "").strip()
    if _other_currency(unit):  # "1000 JPY" is no 1000 dollars (nor quota units): no number API Router can read
        return None
    currency = _currency(match["cur"] or match["cur2"], unit)
    if unit.upper() in _CURRENCY_CODES:
        unit = ""
    return ParsedNumber(
        value=value,
        percent=bool(match["pct"]),
        currency=currency,
        unit=unit.lower(),
    )


# Other currencies panels write a figure in, known in lower case too; any other code in capitals counts as well.
_OTHER_CURRENCY_CODES = frozenset({"JPY", "KRW", "CHF", "INR", "HKD", "TWD", "SGD", "AUD", "CAD", "NZD", "RUB", "BRL",
                                   "MXN", "TRY", "SEK", "NOK", "DKK", "PLN", "THB", "VND", "IDR", "PHP", "MYR", "ZAR"})


def _other_currency(word: str) -> bool:
    """Whether a word after a figure is a currency code other than the ones read (ISO 4217: three letters)."""
    code = word.upper()
    return (len(code) == 3 and code.isalpha() and code not in _CURRENCY_CODES
            and (word.isupper() or code in _OTHER_CURRENCY_CODES))


def _strip_separators(num: str) -> str | None:
    """Remove thousands separators, turn a lone decimal comma into a dot; refuse ambiguity.

    One kind of separator per number, between groups of exactly three digits.
    """
    num = num.strip()
    separators = set(_SEPARATOR_RE.findall(num))
    if not separators:
        return num
    if len(separators) > 1:
        return None
    sep = separators.pop()
    grouped = rf"\d{{1,3}}(?:{re.escape(sep)}\d{{3}})+(?:\.\d+)?(?:[eE][-+]?\d+)?"
    if re.fullmatch(grouped, num):
        return num.replace(sep, "")
    if sep == "," and _DECIMAL_COMMA_RE.match(num):
        return num.replace(",", ".")
    return None


def _currency(prefix: str | None, unit: str) -> str:
    if prefix:
        code = _CURRENCY_SIGNS.get(prefix, prefix.upper())
        return "CNY" if code == "RMB" else code
    if unit.upper() in _CURRENCY_CODES:
        return "CNY" if unit.upper() == "RMB" else unit.upper()
    return ""
