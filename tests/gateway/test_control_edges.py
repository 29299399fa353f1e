"""Control calls at their edges: a token rotation reaches Codex's auth.json; a rename onto a taken id changes nothing."""
import json

import pytest


async def test_a_rotation_follows_into_codexs_auth_json(fakes, gateway, codex_home):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.api("apply_codex_setup")
    new = (await gw.api("rotate_gateway_token"))["token"]
    assert json.loads((codex_home / "auth.json").read_text())["OPENAI_API_KEY"] == new


async def test_a_rename_onto_an_existing_id_is_refused_and_changes_nothing(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    before = gw.services.paths.config.read_text()
    with pytest.raises(Exception) as caught:
        await gw.api("rename_provider", provider="p1", new_id="p2")
    assert "already exists" in str(caught.value)
    assert gw.services.paths.config.read_text() == before
