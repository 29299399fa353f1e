"""The validation rules the UI and the backend share: the same cases, read from one file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api_router.config import DISPLAY_NAME_MAX, is_http_url
from tests.support.harness import ApiError

CASES = json.loads((Path(__file__).resolve().parents[1] / "frontend" / "src" / "logic" / "validation-cases.json")
                   .read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES["base_url"], ids=lambda c: repr(c["value"]))
def test_base_url_rule(case: dict) -> None:
    assert is_http_url(case["value"].strip()) is case["valid"]


async def test_display_name_rule_through_the_control_api(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for case in CASES["display_name"]:
        if case["valid"]:
            cfg = await gw.api("upsert_provider", provider="p1", display_name=case["value"])
            assert cfg["providers"]["p1"]["display_name"] == case["value"].strip()
            assert len(case["value"].strip()) <= DISPLAY_NAME_MAX
        else:
            with pytest.raises(ApiError) as err:
                await gw.api("upsert_provider", provider="p1", display_name=case["value"])
            assert err.value.status == 400 and "display_name" in err.value.message
