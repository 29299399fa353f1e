"""Long names and narrow dialogs in a real browser at 720 x 600 (``frontend/e2e/dialogs.e2e.mjs``):
200-character provider names, with and without spaces, never make the dashboard, Requests or Usage page scroll
sideways; a server refusal shows inside the dialog with no toast over it; Add provider whose key is
refused continues in the new provider's key dialog; a dialog whose provider is renamed elsewhere closes
and does not come back; the Usage charts have accessible names."""

from __future__ import annotations

import json

import pytest

from tests.support.browser import FRONTEND, require_browser, run_script

pytestmark = pytest.mark.browser

NAMES = {
    "p1": "R" + "x" * 199,  # no spaces at all
    "p2": " ".join(["Relay Two Azure"] * 13)[:200],  # spaces
}


async def test_long_names_refusals_and_dialogs(fakes, gateway) -> None:
    require_browser()
    assert all(len(n) == 200 for n in NAMES.values())
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"failure_threshold": 5})
    for pid, name in NAMES.items():
        await gw.api("upsert_provider", provider=pid, display_name=name)
    await gw.api("upsert_provider", provider="p3", display_name="Relay Three")
    for _ in range(2):
        assert (await gw.responses(headers={"session_id": "s-long"})).status == 200
    await gw.api("set_manual_override", provider="p2")
    assert (await gw.responses(headers={"session_id": "s-long-2"})).status == 200
    await gw.api("set_manual_override", provider=None)

    out = await run_script(FRONTEND / "e2e" / "dialogs.e2e.mjs", {
        "E2E_GATEWAY": gw.base + "/", "E2E_TOKEN": gw.token, "E2E_NAMES": json.dumps(NAMES)}, name="dialogs-720")
    assert "PASS" in out
