"""Snapshot JSON, exhaustion rules, redaction and the secret-free repr of targets."""

from __future__ import annotations

import json

import pytest

from api_router.usage.model import (
    UsageError,
    UsageSnapshot,
    UsageTarget,
    exhaustion_reason,
    left_percent,
    redact,
    strip_query,
)

SNAPSHOT_KEYS = {
    "left_percent",
    "adapter",
    "base_url",
    "fetched_at_unix_ms",
    "detected",
    "remaining",
    "unlimited",
    "today_used",
    "today_added",
    "daily_spent_usd",
    "daily_budget_usd",
    "weekly_spent_usd",
    "weekly_budget_usd",
    "monthly_spent_usd",
    "monthly_budget_usd",
    "granted",
    "used",
    "available",
    "expires_at_unix_ms",
    "unit",
    "budget_unit",
    "percent_fields",
    "notes",
    "exhausted",
    "exhausted_reason",
}


def snap(**kw: object) -> UsageSnapshot:
    return UsageSnapshot(adapter="new_api", base_url="https://r.example.com", **kw)  # type: ignore[arg-type]


def test_to_json_shape_and_round_trip() -> None:
    s = snap(remaining=5.0, percent_fields=("remaining",), notes=("n",), fetched_at_unix_ms=7)
    data = s.to_json()
    assert set(data) == SNAPSHOT_KEYS
    assert data["percent_fields"] == ["remaining"] and data["notes"] == ["n"]
    assert data["exhausted"] is False and data["exhausted_reason"] is None
    assert data["left_percent"] == 5.0  # remaining was given as a percentage
    json.dumps(data)  # JSON-able
    assert UsageSnapshot.from_json(json.loads(json.dumps(data))) == s


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"remaining": 0.0}, "quota exhausted: remaining 0"),
        ({"remaining": -1.5}, "quota exhausted: remaining -1.5"),
        ({"remaining": -999999999999.0}, "quota exhausted: remaining -999,999,999,999"),  # an overdraft, readable
        ({"remaining": -12345.25}, "quota exhausted: remaining -12,345.25"),
        ({"remaining": 0.0, "percent_fields": ("remaining",)}, "quota exhausted: remaining 0%"),
        ({"monthly_spent_usd": 50.0, "monthly_budget_usd": 50.0}, "monthly budget spent: $50.00 of $50.00"),
        ({"daily_spent_usd": 5.5, "daily_budget_usd": 5.0}, "daily budget spent: $5.50 of $5.00"),
        (
            {"weekly_spent_usd": 1200.0, "weekly_budget_usd": 1000.0},
            "weekly budget spent: $1,200.00 of $1,000.00",
        ),
        ({"daily_spent_usd": 120.0, "daily_budget_usd": 100.0, "budget_unit": "CNY"},
         "daily budget spent: ¥120.00 of ¥100.00"),
        ({"daily_spent_usd": 7.0, "daily_budget_usd": 7.0, "budget_unit": "EUR"}, "daily budget spent: €7.00 of €7.00"),
        ({"daily_spent_usd": 7.0, "daily_budget_usd": 7.0, "budget_unit": "GBP"}, "daily budget spent: £7.00 of £7.00"),
    ],
)
def test_exhausted(kwargs: dict, reason: str) -> None:
    s = snap(**kwargs)
    assert s.exhausted
    assert exhaustion_reason(s) == reason
    assert s.to_json()["exhausted_reason"] == reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"remaining": 0.01},
        {"remaining": 0.0, "unlimited": True},  # new-api reports 0 available on unlimited tokens
        {"monthly_spent_usd": 10.0, "monthly_budget_usd": 0.0},  # budget 0 = none set
        {"daily_spent_usd": 4.99, "daily_budget_usd": 5.0},
        {"daily_spent_usd": 10.0},
        {"today_used": 1e9, "today_added": 0.0},
    ],
)
def test_not_exhausted(kwargs: dict) -> None:
    s = snap(**kwargs)
    assert not s.exhausted and exhaustion_reason(s) is None


def test_target_repr_hides_secrets() -> None:
    t = UsageTarget(
        "p1", "https://r.example.com/v1", provider_key="sk-secret-key-123", usage_token="tok-456789"
    )
    assert "sk-secret" not in repr(t) and "tok-456789" not in repr(t)
    assert t.secrets() == ("sk-secret-key-123", "tok-456789")


def test_strip_query() -> None:
    text = 'GET http://h:1/api/token-stats?token_key=sk-abc "HTTP/1.1 200" and https://x/y#frag done'
    assert strip_query(text) == 'GET http://h:1/api/token-stats "HTTP/1.1 200" and https://x/y done'


def test_redact_hides_secrets_with_and_without_sk_prefix() -> None:
    text = "bad token sk-abcdef123456 (abcdef123456) at https://h/p?token_key=sk-abcdef123456 tok-9999"
    out = redact(text, ["sk-abcdef123456", "tok-9999", ""])
    assert "abcdef123456" not in out and "tok-9999" not in out and "token_key" not in out
    assert out.startswith("bad token [redacted] ([redacted]) at https://h/p")


def test_usage_error_carries_kind() -> None:
    e = UsageError("nope", "timeout")
    assert str(e) == "nope" and e.message == "nope" and e.kind == "timeout"


@pytest.mark.parametrize(
    ("kwargs", "left"),
    [
        ({}, None),
        ({"remaining": 12.0}, None),  # an amount without a total says nothing about the share
        ({"remaining": 63.0, "percent_fields": ("remaining",)}, 63.0),
        ({"granted": 400.0, "available": 100.0}, 25.0),
        ({"granted": 400.0, "remaining": 300.0}, 75.0),
        ({"daily_spent_usd": 9.5, "daily_budget_usd": 10.0, "monthly_spent_usd": 10.0, "monthly_budget_usd": 100.0}, 5.0),
        ({"remaining": 0.0}, 0.0),
        ({"granted": 500000.0, "available": 200.0}, 0.04),  # a sliver is not nothing
        ({"granted": 100000.0, "available": 9960.0}, 9.96),  # nor is it rounded up to a threshold
        ({"daily_spent_usd": 2.7, "daily_budget_usd": 3.0}, 10.0),  # float noise is not rounded down
        ({"granted": 11.3, "available": 1.13}, 10.0),
        ({"granted": 100.0, "available": 0.57}, 0.57),
        ({"daily_spent_usd": 0.02, "daily_budget_usd": 50.0}, 99.96),
        ({"granted": 400.0, "available": 500.0}, 100.0),
        ({"unlimited": True, "granted": 1.0, "available": 0.0}, None),
        ({"granted": 1000.0, "available": 80.0, "percent_fields": ("available",)}, None),  # % of 1000 units
        ({"granted": 50.0, "available": 10.0, "percent_fields": ("granted",)}, None),
    ],
)
def test_left_percent(kwargs: dict, left: float | None) -> None:
    assert left_percent(snap(**kwargs)) == left
