"""Tolerant number parsing: every form relay panels were seen (or are likely) to write."""

from __future__ import annotations

import math

import pytest

from api_router.usage.numbers import ParsedNumber, parse_number


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0, 0.0),
        (12, 12.0),
        (12.5, 12.5),
        (-3, -3.0),
        ("12", 12.0),
        ("  12.5  ", 12.5),
        ("0", 0.0),
        ("0.00", 0.0),
        (".5", 0.5),
        ("+7", 7.0),
        ("-7", -7.0),
        ("1,234.5", 1234.5),
        ("1,234,567", 1234567.0),
        ("1,234", 1234.0),
        ("12,5", 12.5),  # a lone decimal comma
        ("1 234.5", 1234.5),
        ("1_234", 1234.0),
        ("1'234.5", 1234.5),
        ("1\u00a0234", 1234.0),
        ("1e6", 1_000_000.0),
        ("2.5E-1", 0.25),
        ("1.2K", 1200.0),
        ("1.2k", 1200.0),
        ("1.5M", 1_500_000.0),
        ("2B", 2e9),
        ("1,000 tokens", 1000.0),
    ],
)
def test_plain_values(raw: object, value: float) -> None:
    parsed = parse_number(raw)
    assert parsed is not None
    assert parsed.value == pytest.approx(value)
    assert not parsed.percent and not parsed.unlimited


@pytest.mark.parametrize(
    ("raw", "value", "currency"),
    [
        ("$3.20", 3.2, "USD"),
        ("$ 3.20", 3.2, "USD"),
        ("$1,234.56", 1234.56, "USD"),
        ("-$3", -3.0, "USD"),
        ("$-3", -3.0, "USD"),
        ("USD 12", 12.0, "USD"),
        ("12 USD", 12.0, "USD"),
        ("12.00 usd", 12.0, "USD"),
        ("¥100", 100.0, "CNY"),
        ("￥100", 100.0, "CNY"),
        ("100 RMB", 100.0, "CNY"),
        ("€5", 5.0, "EUR"),
        ("5 €", 5.0, "EUR"),  # the sign after the figure, as much of Europe writes it
        ("12,50 €", 12.5, "EUR"),
        ("5£", 5.0, "GBP"),
        ("5.00 元", 5.0, "CNY"),
    ],
)
def test_currency(raw: str, value: float, currency: str) -> None:
    parsed = parse_number(raw)
    assert parsed == ParsedNumber(value=pytest.approx(value), currency=currency)  # type: ignore[arg-type]
    assert parsed.unit == ""


@pytest.mark.parametrize(
    ("raw", "value"), [("85%", 85.0), ("85 %", 85.0), ("12.5%", 12.5), ("0%", 0.0), ("100.0%", 100.0)]
)
def test_percent_keeps_the_written_value(raw: str, value: float) -> None:
    parsed = parse_number(raw)
    assert parsed is not None and parsed.percent
    assert parsed.value == pytest.approx(value)


@pytest.mark.parametrize(
    "raw",
    ["unlimited", "Unlimited", " UNLIMITED ", "∞", "inf", "Infinity", "no limit", "无限", "不限", math.inf,
     "1e400", 10**400, "999e999k"],  # as large as infinity
)
def test_unlimited(raw: object) -> None:
    assert parse_number(raw) == ParsedNumber(value=None, unlimited=True)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        True,
        False,
        "",
        "   ",
        "-",
        "N/A",
        "abc",
        "1,23,4",
        "1234,567",
        "12..5",
        "$",
        "%",
        math.nan,
        -math.inf,
        -(10**400),
        "-1e400",
        [1],
        {"a": 1},
        "1 2 3 4 x y",
        "1 2 3",
        "1,234 567",
        "--5",
        "-$-5",
        "$5 €",  # two currencies: no guess which
        "1000 JPY",  # another currency's code after the figure: not dollars, nor quota units
        "5 chf",
        "CHF 5",
    ],
)
def test_no_number(raw: object) -> None:
    assert parse_number(raw) is None


def test_unit_word_is_reported_lower_case() -> None:
    parsed = parse_number("1,000 Tokens")
    assert parsed is not None and parsed.unit == "tokens" and parsed.value == 1000


def test_an_amount_unlimited_and_no_number_at_all_are_told_apart() -> None:
    dollars, unlimited = parse_number("$1,000"), parse_number("unlimited")
    assert dollars is not None and dollars.value == 1000
    assert unlimited is not None and (unlimited.value, unlimited.unlimited) == (None, True)
    assert parse_number("nope") is None
