"""Provider dialogs' flows in a real browser at 720 x 600 (``frontend/e2e/dialogFlows.e2e.mjs``), against
the real backend: a 200-character display name with no space keeps each provider dialog's Close (x) in
view and the Delete text inside its dialog; keyboard focus ends on the providers heading after Delete
and on the renamed row after Rename, though the row goes or comes with a later status; Add provider
is refused at the id field when another window added that id meanwhile; Connect Codex says it wrote the
files inside the dialog, with no toast over it."""

from __future__ import annotations

import pytest

from tests.support.browser import FRONTEND, require_browser, run_script

pytestmark = pytest.mark.browser

LONG_NAME = "R" + "x" * 199  # no spaces at all


async def test_long_title_focus_after_delete_and_rename_add_race(fakes, gateway) -> None:
    require_browser()
    assert len(LONG_NAME) == 200
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3})
    await gw.api("upsert_provider", provider="p1", display_name=LONG_NAME)
    await gw.api("upsert_provider", provider="p2", display_name="Relay Two")
    await gw.api("upsert_provider", provider="p3", display_name="Relay Three")

    out = await run_script(FRONTEND / "e2e" / "dialogFlows.e2e.mjs", {
        "E2E_GATEWAY": gw.base + "/", "E2E_TOKEN": gw.token, "E2E_LONG_ID": "p1"}, name="dialog-flows-720")
    assert "PASS" in out
