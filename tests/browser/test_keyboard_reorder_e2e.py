"""Keyboard reordering and gone providers in a real browser at 720 x 480
(``frontend/e2e/keyboardReorder.e2e.mjs``), against the real backend: with a first provider whose long
name wraps its row, moving the second one up and then down with the arrow keys keeps its focused
handle wholly in view below the sticky header (scrolled the least distance), right after the move and
once the saved order is shown; after every provider is deleted, the Events and Requests provider
filters say that no provider has the chosen id now, for an id never configured too."""

from __future__ import annotations

import json

import pytest

from tests.support.browser import FRONTEND, require_browser, run_script

pytestmark = pytest.mark.browser

# In the configured order: the long name first, so that its row wraps at 720 px.
NAMES = {
    "long": "Relay Gamma — Überlänge Anbieter mit sehr langem Namen, der nicht aufhört und weitergeht",
    "beta": "Relay Beta",
    "c": "Relay C",
    "d": "Relay D",
    "e": "Relay E",
}


async def test_keyboard_reorder_keeps_the_handle_in_view_and_gone_filters_say_so(fakes, gateway) -> None:
    require_browser()
    upstreams = await fakes(*NAMES)
    gw = await gateway({pid: {"base_url": fake.base_url, "display_name": name}
                        for (pid, name), fake in zip(NAMES.items(), upstreams, strict=True)})

    out = await run_script(FRONTEND / "e2e" / "keyboardReorder.e2e.mjs", {
        "E2E_GATEWAY": gw.base + "/", "E2E_TOKEN": gw.token, "E2E_NAMES": json.dumps(NAMES)},
        name="keyboard-reorder-720")
    assert "PASS" in out
    assert (await gw.api("get_config"))["provider_order"] == []
