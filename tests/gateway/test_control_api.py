"""The control API over POST /api/<method> (contract §8), against real files."""

import asyncio
import json
import os
import stat
import tomllib

import pytest
import tomlkit
from aiohttp import web

from tests.support import fake_provider as fp
from tests.support.harness import ApiError
from tests.support.usage import new_api


async def test_get_config_and_status_never_reveal_keys(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-very-secret-key-0001"})
    cfg = await gw.api("get_config")
    assert cfg["providers"]["p1"]["key_preview"] == "sk-v…0001" and cfg["providers"]["p1"]["has_key"]
    status = await gw.api("get_status")
    dumped = json.dumps([cfg, status])
    assert "sk-very-secret-key-0001" not in dumped and gw.token not in dumped


async def test_upsert_creates_updates_and_validates(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1})
    cfg = await gw.api("upsert_provider", provider="p2", display_name="Second", base_url=p2.base_url)
    assert cfg["provider_order"] == ["p1", "p2"] and cfg["providers"]["p2"]["display_name"] == "Second"
    cfg = await gw.api("upsert_provider", provider="p2", display_name="Renamed label")
    assert cfg["providers"]["p2"]["base_url"] == p2.base_url
    saved = tomlkit.parse(gw.services.paths.config.read_text())
    assert saved["providers"]["p2"]["display_name"] == "Renamed label"
    for kwargs, fragment in [
        ({"provider": "p3"}, "unknown provider 'p3'; to add it, give its base_url"),
        ({"provider": "p3", "create": True}, "base_url is required"),
        ({"provider": "p3", "base_url": "not a url"}, "http"),
        ({"provider": "bad id!", "base_url": p2.base_url}, "provider id"),
        ({"provider": "", "base_url": p2.base_url}, "must not be empty"),
        ({"provider": "p1", "usage_adapter": "nope"}, "usage_adapter"),
        ({"provider": "p1", "disabled": "yes"}, "true or false"),
        ({"provider": "p1", "colour": "red"}, "bad arguments"),
    ]:
        with pytest.raises(ApiError) as err:
            await gw.api("upsert_provider", **kwargs)
        assert err.value.status == 400 and fragment in err.value.message, kwargs


async def test_new_provider_serves_immediately(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1})
    await gw.api("upsert_provider", provider="p2", base_url=p2.base_url)
    await gw.api("set_provider_key", provider="p2", key="sk-p2-key-000000")
    await gw.api("set_manual_override", provider="p2")
    reply = await gw.responses()
    assert reply.headers["X-API-Router-Provider"] == "p2"
    assert p2.requests[0].headers["Authorization"] == "Bearer sk-p2-key-000000"


async def test_update_routing_takes_the_lock_as_one_of_the_routing_values(fakes, gateway):
    """``manual_override`` is a [routing] value: the routing settings read from get_config and sent back
    with one change save that change (they were refused whole), and the lock set there locks."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    routing = (await gw.api("get_config"))["routing"]
    cfg = await gw.api("update_routing", **{**routing, "cooldown_seconds": 12})
    assert cfg["routing"]["cooldown_seconds"] == 12 and not (await gw.api("get_status"))["manual_override"]
    await gw.api("update_routing", manual_override="p2")
    reply = await gw.responses()
    assert reply.headers["X-API-Router-Provider"] == "p2"
    messages = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert any(m.startswith("Routing locked to P2") for m in messages), messages
    with pytest.raises(ApiError, match="manual_override: unknown provider 'nope'"):
        await gw.api("update_routing", manual_override="nope", cooldown_seconds=13)
    cfg = await gw.api("get_config")
    assert cfg["routing"]["cooldown_seconds"] == 12 and cfg["routing"]["manual_override"] == "p2"
    await gw.api("update_routing", manual_override="")
    assert (await gw.api("get_status"))["manual_override"] is None
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    with pytest.raises(ApiError, match="manual_override: cannot lock to P2: it is disabled"):
        await gw.api("update_routing", manual_override="p2", cooldown_seconds=14, preferred_provider="p2")
    cfg = await gw.api("get_config")
    assert cfg["routing"]["cooldown_seconds"] == 12 and cfg["routing"]["preferred_provider"] != "p2"
    await gw.api("set_manual_override", provider="p1")
    for falsy in (False, 0, []):
        with pytest.raises(ApiError, match="manual_override must be a provider id"):
            await gw.api("update_routing", manual_override=falsy)
    assert (await gw.api("get_status"))["manual_override"] == "p1"


async def test_rename_carries_key_metrics_history_order_and_references(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p1"}, keys={"p1": "sk-p1-key-00000"})
    await gw.responses()
    await gw.api("set_manual_override", provider="p1")
    cfg = await gw.api("rename_provider", provider="p1", new_id="main")
    assert cfg["provider_order"] == ["main", "p2"]
    assert cfg["providers"]["main"]["has_key"] and "p1" not in cfg["providers"]
    status = await gw.api("get_status")
    assert status["preferred_provider"] == "main" and status["manual_override"] == "main"
    assert status["metrics"]["main"]["ok_requests"] == 1
    assert status["providers"]["main"]["status"] == "healthy"
    assert gw.services.store.request_log()[0]["provider"] == "main"
    secrets = json.loads(gw.services.paths.secrets.read_text())
    assert secrets["providers"] == {"main": "sk-p1-key-00000"}
    reply = await gw.responses()
    assert reply.headers["X-API-Router-Provider"] == "main"
    assert p1.requests[-1].headers["Authorization"] == "Bearer sk-p1-key-00000"
    with pytest.raises(ApiError, match="already exists"):
        await gw.api("rename_provider", provider="main", new_id="p2")


async def test_status_says_where_each_renamed_id_went(fakes, gateway):
    """A view holding an old id (a filter in the address bar) follows it by data, not by an event's text."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3})
    assert (await gw.api("get_status"))["renamed"] == {}
    await gw.api("rename_provider", provider="p1", new_id="a")
    await gw.api("rename_provider", provider="a", new_id="b")
    await gw.api("rename_provider", provider="p2", new_id="c")
    assert (await gw.api("get_status"))["renamed"] == {"p1": "b", "a": "b", "p2": "c"}
    await gw.api("delete_provider", provider="c")  # nothing leads to a deleted provider
    await gw.api("upsert_provider", provider="a", base_url=p3.base_url)  # an old id taken again is its own
    assert (await gw.api("get_status"))["renamed"] == {"p1": "b"}
    await gw.api("rename_provider", provider="b", new_id="p1")  # back where it began: no way from p1
    assert (await gw.api("get_status"))["renamed"] == {"b": "p1"}
    # An old id taken by a provider of its own leads nowhere, even once that provider is deleted.
    await gw.api("upsert_provider", provider="b", base_url=p3.base_url)
    await gw.api("delete_provider", provider="b")
    assert (await gw.api("get_status"))["renamed"] == {}


async def test_delete_removes_everything_and_clears_references(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p2"})
    await gw.api("set_manual_override", provider="p2")
    cfg = await gw.api("delete_provider", provider="p2")
    assert cfg["provider_order"] == ["p1"] and "p2" not in cfg["providers"]
    status = await gw.api("get_status")
    assert status["manual_override"] is None and status["preferred_provider"] == "p1"
    assert "p2" not in json.loads(gw.services.paths.secrets.read_text())["providers"]
    assert "p2" not in tomlkit.parse(gw.services.paths.config.read_text())["providers"]
    with pytest.raises(ApiError, match="unknown provider"):
        await gw.api("delete_provider", provider="p2")


@pytest.mark.parametrize("locked", [False, True], ids=["unlocked", "locked to it"])
@pytest.mark.parametrize("preferred", ["", "p1"])
async def test_deleting_the_preferred_provider_says_which_one_is_preferred_now(fakes, gateway, preferred, locked):
    """"First in list" (or the one chosen) deleted: the preferred provider moves, and never silently —
    also when routing was locked to it (the lock's release is said too)."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3}, routing={"preferred_provider": preferred})
    if locked:
        await gw.api("set_manual_override", provider="p1")
    await gw.api("delete_provider", provider="p1")
    if locked:
        messages = [e["message"] for e in (await gw.api("list_events"))["events"]]
        assert "Routing lock released; automatic routing resumed" in messages, messages
    assert (await gw.api("get_status"))["preferred_provider"] == "p2"
    events = [(e["kind"], e["message"]) for e in (await gw.api("list_events"))["events"]]
    assert ("route", "Preferred provider set to P2 (P1 was deleted)") in events, events
    await gw.api("delete_provider", provider="p3")  # not the preferred one: nothing to say of it
    events = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert sum(m.startswith("Preferred provider set to") for m in events) == 1, events


async def test_the_first_provider_added_is_preferred_because_it_was_added(fakes, gateway):
    """Not "it can serve again": it never served."""
    (p1,) = await fakes("p1")
    gw = await gateway({})
    await gw.api("upsert_provider", provider="p1", display_name="Relay Alpha", base_url=p1.base_url, create=True)
    events = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert "Preferred provider set to Relay Alpha (it was added)" in events, events
    assert not any("serve again" in m for m in events), events


async def test_deleting_a_provider_already_gone_says_it_is_unknown(fakes, gateway):
    """Two deletes at once (a double click), or one right after the table was removed by hand (before
    the app looked): the second finds nothing to delete, as with an unknown id."""
    p1, p2 = await fakes("p1", "p2")
    for _ in range(3):
        gw = await gateway({"p1": p1, "p2": p2})
        replies = await asyncio.gather(*(gw.request("POST", "/api/delete_provider", body={"provider": "p2"})
                                         for _ in range(2)))
        assert sorted(r.status for r in replies) == [200, 400], [r.body for r in replies]
        assert "unknown provider 'p2'" in next(r for r in replies if r.status == 400).json["error"]["message"]
        assert list(gw.services.config.current.providers) == ["p1"]

    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.watcher.stop()  # the app has not seen the hand edit yet
    cfg = gw.services.paths.config
    text = cfg.read_text()
    cfg.write_text(text[:text.index("[providers.p2]")])  # p2 was the last table
    with pytest.raises(ApiError, match="unknown provider 'p2'") as err:
        await gw.api("delete_provider", provider="p2")
    assert err.value.status == 400


async def test_an_update_of_a_provider_deleted_meanwhile_does_not_bring_back_a_table_without_its_url(
        fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.watcher.stop()  # the app has not seen the hand edit (or the other delete) yet
    cfg = gw.services.paths.config
    text = cfg.read_text()
    cfg.write_text(text[:text.index("[providers.p2]")])  # p2 was the last table
    with pytest.raises(ApiError, match="unknown provider 'p2'") as err:
        await gw.api("upsert_provider", provider="p2", display_name="Renamed in a dialog")
    assert err.value.status == 400 and "[providers.p2]" not in cfg.read_text()


async def test_a_new_provider_added_twice_at_once_is_added_once(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    body = {"provider": "p2", "base_url": "http://127.0.0.1:9/v1", "display_name": "Relay Two", "create": True}
    replies = await asyncio.gather(*(gw.request("POST", "/api/upsert_provider", body=body) for _ in range(2)))
    assert sorted(r.status for r in replies) == [200, 400], [r.body for r in replies]
    assert "already exists" in next(r for r in replies if r.status == 400).json["error"]["message"]
    order = tomllib.loads(gw.services.paths.config.read_text())["provider_order"]
    assert order == ["p1", "p2"]


async def test_a_rename_onto_an_id_with_a_hand_written_key_is_refused_and_the_key_kept(fakes, gateway):
    """secrets.json holds a key, written by hand, for an id no provider has: renaming a provider onto that
    id replaced it with the renamed provider's — the user's key gone, with no copy and no word."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("delete_provider", provider="p2")
    path = gw.services.paths.secrets
    data = json.loads(path.read_text())
    data["providers"]["p2"] = "sk-HANDWRITTEN-0123456789"
    path.write_text(json.dumps(data))
    for _ in range(50):
        if gw.services.secrets.current.provider_keys.get("p2"):
            break
        await asyncio.sleep(0.1)
    with pytest.raises(ApiError, match=r"secrets.json holds a key for .p2., which no provider has"):
        await gw.api("rename_provider", provider="p1", new_id="p2")
    assert json.loads(path.read_text())["providers"]["p2"] == "sk-HANDWRITTEN-0123456789"
    assert set(gw.services.config.current.providers) == {"p1"}


async def test_a_rename_applied_again_over_a_hand_edit_saved_meanwhile_keeps_its_key(fakes, gateway, monkeypatch):
    """The rename is applied again on a hand edit saved while it was being written: its own key copy
    (made by the first pass) was taken for a key written by hand, and the rename refused."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    config = gw.services.config
    write = type(config)._write
    saved_by_hand = []

    def hand_edit_first(self, value, *, unless_changed=None):
        if not saved_by_hand:  # between the app's read of the file and its write
            saved_by_hand.append(True)
            self.path.write_text(self.path.read_text() + "\n# a note saved by hand meanwhile\n")
        return write(self, value, unless_changed=unless_changed)

    monkeypatch.setattr(type(config), "_write", hand_edit_first)
    await gw.api("rename_provider", provider="p1", new_id="main")
    assert set(config.current.providers) == {"main", "p2"}
    assert gw.services.provider_key("main") == "sk-test-p1-0123456789"
    assert "# a note saved by hand meanwhile" in config.path.read_text()


async def test_an_empty_compressed_control_body_sent_chunked_is_refused(fakes, gateway):
    """Nothing at all is no gzip stream either: read as no arguments, the call unlocked routing."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write((f"POST /api/set_manual_override HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer "
                  f"{gw.token}\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert (await gw.api("get_status"))["manual_override"] == "p2"


async def test_two_renames_of_one_provider_at_once_leave_no_orphan_key(fakes, gateway):
    """A double submit of the rename dialog: one rename wins, the other finds no provider to rename, and
    secrets.json holds the key under the winner's id only (a provider added later under the loser's id,
    maybe at another host, must not be sent it)."""
    (p1,) = await fakes("p1")
    for _ in range(5):
        gw = await gateway({"r0": p1}, keys={"r0": "sk-r0-secret-0123456789"})
        replies = await asyncio.gather(
            gw.request("POST", "/api/rename_provider", body={"provider": "r0", "new_id": "ra"}),
            gw.request("POST", "/api/rename_provider", body={"provider": "r0", "new_id": "rb"}))
        assert sorted(r.status for r in replies) == [200, 400], [r.body for r in replies]
        (winner,) = gw.services.config.current.providers
        assert json.loads(gw.services.paths.secrets.read_text())["providers"] == {winner: "sk-r0-secret-0123456789"}
        assert gw.services.provider_key(winner) == "sk-r0-secret-0123456789"


async def test_renames_leave_the_rest_of_the_file_as_it_was(fakes, gateway):
    """Each rename used to add a blank line before the first provider table."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    await gw.api("update_routing", cooldown_seconds=31)  # saved by the app once, as it would lay it out
    before = path.read_text()
    for i in range(10):
        await gw.api("rename_provider", provider=["p1", "main"][i % 2], new_id=["main", "p1"][i % 2])
        if i == 0:
            assert path.read_text() == before.replace("[providers.p1]", "[providers.main]").replace('"p1"', '"main"')
    assert path.read_text() == before


async def test_comments_stay_where_they_were_written_through_every_provider_edit(fakes, gateway):
    """A commented model_map, a provider_order written over several lines with a comment per id, and a
    comment above each table header: an edit of the map, an added, switched-off and deleted provider keep
    every comment beside what it describes (the map became one line, the list was rewritten, a delete
    took the next table's comment with it, a new key went under it)."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    path.write_text(f"""provider_order = [
  "p1", # cheapest
  "p2", # backup
]

[providers.p1]
base_url = "{p1.base_url}"

[providers.p1.model_map]
# names this relay uses
"gpt-5" = "openai/gpt-5" # the main one
"o3" = "openai/o3"

# p2: the backup relay
[providers.p2]
base_url = "{p2.base_url}"

# tuned after the March outage
[routing]
cooldown_seconds = 5
""")
    await gw.api("upsert_provider", provider="p1", model_map={"gpt-5": "openai/gpt-5", "o3": "openai/o3", "o4": "x/o4"})
    await gw.api("upsert_provider", provider="p3", base_url=p3.base_url, create=True)
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    text = path.read_text()
    for kept in ('"p1", # cheapest', '"p2", # backup', "# names this relay uses", '"openai/gpt-5" # the main one'):
        assert kept in text, kept
    assert "# p2: the backup relay\n[providers.p2]" in text
    assert "# tuned after the March outage\n[routing]" in text
    assert text.index("disabled = true") < text.index("# tuned after")
    await gw.api("delete_provider", provider="p1")
    text = path.read_text()
    assert "# names this relay uses" not in text and "# cheapest" not in text
    assert "# p2: the backup relay\n[providers.p2]" in text and '"p2", # backup' in text
    await gw.api("delete_provider", provider="p3")
    text = path.read_text()
    assert "# tuned after the March outage\n[routing]" in text and "[providers.p3]" not in text
    assert tomllib.loads(text)["provider_order"] == ["p2"]


async def test_a_lock_or_preferred_provider_is_written_inside_routing_above_the_next_tables_comment(
        fakes, gateway):
    """``[routing]`` ends with a blank line and the comment over the next table: the lock and the preferred
    provider go under its last setting, the comment stays over its table. A rename or delete in a file
    with no ``[routing]`` adds none."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    layout = f"""provider_order = ["p1", "p2"]

[routing]
cooldown_seconds = 30

# Relay two: the backup
[providers.p2]
base_url = "{p2.base_url}"

[providers.p1]
base_url = "{p1.base_url}"
"""
    path.write_text(layout)
    await gw.api("set_manual_override", provider="p1")
    assert path.read_text() == layout.replace("cooldown_seconds = 30\n", 'cooldown_seconds = 30\nmanual_override = "p1"\n')
    await gw.api("set_manual_override", provider=None)
    await gw.api("set_preferred_provider", provider="p2")
    assert path.read_text() == layout.replace(
        "cooldown_seconds = 30\n", 'cooldown_seconds = 30\nmanual_override = ""\npreferred_provider = "p2"\n')
    without = layout.replace("[routing]\ncooldown_seconds = 30\n\n", "")
    path.write_text(without)
    await gw.api("rename_provider", provider="p1", new_id="main")
    await gw.api("delete_provider", provider="p2")
    assert "[routing]" not in path.read_text()


async def test_a_file_without_provider_order_gets_none_from_an_add_rename_or_delete(fakes, gateway):
    """The tables' places say the order: adding, renaming and deleting a provider keep them so, and write no
    provider_order (a rename wrote one, with two blank lines, into a file that had none)."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    layout = f'[providers.p1]\nbase_url = "{p1.base_url}"\n\n[providers.p2]\nbase_url = "{p2.base_url}"\n'
    path.write_text(layout)
    await gw.api("upsert_provider", provider="p3", base_url=p2.base_url, create=True)
    await gw.api("rename_provider", provider="p1", new_id="main")
    await gw.api("delete_provider", provider="p3")
    assert path.read_text() == layout.replace("[providers.p1]", "[providers.main]")
    assert (await gw.api("get_config"))["provider_order"] == ["main", "p2"]


# Hand-written layouts a rename used to rearrange: the renamed table moved after the others (with the
# comment over the next header), inline tables were written again (the comments between them moved).
RENAME_LAYOUTS = {
    "tables split by another table": """[providers.p1]
base_url = "{p1}" # first

# tuned by hand
[routing]
cooldown_seconds = 30

# the backup
[providers.p2]
base_url = "{p2}"
""",
    "a model_map table written apart": """[providers.p1]
base_url = "{p1}"

[providers.p2]
base_url = "{p2}"

# p1's own names
[providers.p1.model_map]
"gpt-5" = "openai/gpt-5"
""",
    "inline tables under [providers]": """[providers]
# the main relay
p1 = {{ base_url = "{p1}" }}
# the backup
p2 = {{ base_url = "{p2}" }}
""",
    "dotted keys under [providers]": """[providers]
p1.base_url = "{p1}" # main
p2.base_url = "{p2}"
p1.display_name = "Main relay"
""",
    "dotted keys at the top": """providers.p1.base_url = "{p1}"

# the backup
providers.p2.base_url = "{p2}"
""",
    "quoted headers": """[providers."p1"]
base_url = "{p1}"

[providers."p1".model_map]
"gpt-5" = "openai/gpt-5"
""",
}


@pytest.mark.parametrize("layout", RENAME_LAYOUTS, ids=list(RENAME_LAYOUTS))
async def test_a_rename_changes_only_the_providers_key_in_any_layout(fakes, gateway, layout):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    text = RENAME_LAYOUTS[layout].format(p1=p1.base_url, p2=p2.base_url)
    path.write_text(text)
    await gw.api("rename_provider", provider="p1", new_id="main")
    renamed = path.read_text()
    expected = (text.replace('[providers."p1"]', "[providers.main]")
                .replace('[providers."p1".model_map]', "[providers.main.model_map]")
                .replace("providers.p1", "providers.main").replace("p1 = {", "main = {").replace("p1.", "main."))
    assert renamed == expected
    before = tomllib.loads(text)["providers"]
    assert tomllib.loads(renamed)["providers"] == {("main" if k == "p1" else k): v for k, v in before.items()}
    assert "main" in (await gw.api("get_config"))["provider_order"]


async def test_a_provider_added_to_split_tables_goes_after_the_last_and_leaves_no_trace_when_deleted(
        fakes, gateway):
    """Provider tables split by another table: the new one went after the first provider's table, between
    the next table's comment and its header, and its delete left a blank line there."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2})
    path = gw.services.paths.config
    layout = f"""[providers.p1]
base_url = "{p1.base_url}"

# tuned by hand
[routing]
cooldown_seconds = 30

# the backup
[providers.p2]
base_url = "{p2.base_url}"

# quotas
[quota]
"""
    path.write_text(layout)
    await gw.api("upsert_provider", provider="p3", base_url=p3.base_url, create=True)
    added = path.read_text()
    assert added == layout.replace(
        "\n# quotas", f'\n[providers.p3]\nbase_url = "{p3.base_url}"\ndisplay_name = "p3"\n\n# quotas')
    await gw.api("delete_provider", provider="p3")
    assert path.read_text() == layout


async def test_provider_order_must_be_a_permutation(fakes, gateway):
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2, "p3": p3})
    cfg = await gw.api("set_provider_order", order=["p3", "p1", "p2"])
    assert cfg["provider_order"] == ["p3", "p1", "p2"]
    assert tomlkit.parse(gw.services.paths.config.read_text())["provider_order"] == ["p3", "p1", "p2"]
    saved = gw.services.paths.config.read_text()
    for bad, wrong in ((["p1", "p2"], "P3 is not in it"),
                       (["p1", "p1", "p2", "p3"], "it names P1 2 times"),
                       (["p1", "p2", "p9"], "it names a provider there is none of now (renamed or deleted since "
                                            "the list was read?)"),
                       (["p1", "x1", "x2"], "it names 2 providers there are none of now (renamed or deleted "
                                            "since the list was read?)"),
                       (["p3", "p1", "p2", "p2"], "it names P2 2 times"),
                       ([], "P3 is not in it; P1 is not in it; P2 is not in it")):
        with pytest.raises(ApiError) as err:
            await gw.api("set_provider_order", order=bad)
        # What is wrong, and the order as it stands, by the providers' names.
        assert err.value.message == (f"order must list every provider exactly once: {wrong} (the providers are now "
                                     "P3, P1, P2; the list may have changed since it was read: try again)")
    with pytest.raises(ApiError, match="must be"):
        await gw.api("set_provider_order", order="p1")
    assert gw.services.paths.config.read_text() == saved


async def test_create_only_never_overwrites_a_provider_added_meanwhile(fakes, gateway):
    """Add provider in one window while another added the same id a moment ago: refused, nothing changed."""
    p1, other = await fakes("p1", "other")
    gw = await gateway({"p1": p1})
    await gw.api("upsert_provider", provider="p2", base_url=other.base_url, display_name="Theirs")
    saved = gw.services.paths.config.read_text()
    with pytest.raises(ApiError, match="a provider named 'p2' already exists"):
        await gw.api("upsert_provider", provider="p2", base_url=p1.base_url, display_name="Mine", create=True)
    assert gw.services.paths.config.read_text() == saved
    cfg = await gw.api("upsert_provider", provider="p3", base_url=p1.base_url, create=True)
    assert cfg["providers"]["p3"]["base_url"] == p1.base_url


@pytest.mark.parametrize("method", ["set_provider_key", "set_usage_token"])
async def test_a_key_longer_than_any_header_carries_is_refused(fakes, gateway, method):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    argument = "key" if method == "set_provider_key" else "token"
    with pytest.raises(ApiError, match="at most 4,096"):
        await gw.api(method, provider="p1", **{argument: "k" * 300_000})
    await gw.api(method, provider="p1", **{argument: "k" * 4096})


@pytest.mark.parametrize("which", ["config", "secrets"])
async def test_a_file_the_user_made_read_only_is_not_replaced(fakes, gateway, which):
    """chmod 0400 says "leave it": the change is refused naming the file, which keeps its content and mode."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    path = getattr(gw.services.paths, which)
    before = path.read_text()
    path.chmod(0o400)
    try:
        with pytest.raises(ApiError) as err:
            if which == "config":
                await gw.api("upsert_provider", provider="p1", display_name="Renamed")
            else:
                await gw.api("set_provider_key", provider="p1", key="sk-another-key-000000")
        assert err.value.message == (f"API Router did not save the change: {path} is read-only; make it writable "
                                     "if API Router should change it")
        assert path.read_text() == before and stat.S_IMODE(path.stat().st_mode) == 0o400
    finally:
        path.chmod(0o600)
    await gw.api("upsert_provider", provider="p1", display_name="Renamed")  # writable again: saved


async def test_codex_files_that_cannot_be_written_are_named_in_words(fakes, gateway, tmp_path, monkeypatch):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(gw.services, "codex_home", blocker / "codex")
    with pytest.raises(ApiError) as err:
        await gw.api("apply_codex_setup")
    assert err.value.status == 400 and err.value.message.startswith("Codex's files were not changed: cannot write ")
    assert "[Errno" not in err.value.message and str(blocker) in err.value.message


async def test_keys_set_and_clear(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={})
    await gw.responses()
    assert "Authorization" not in p1.requests[0].headers
    cfg = await gw.api("set_provider_key", provider="p1", key="  sk-fresh-key-42424242 ")
    assert cfg["providers"]["p1"]["key_preview"] == "sk-f…4242"
    assert stat.S_IMODE(os.stat(gw.services.paths.secrets).st_mode) == 0o600
    await gw.responses()
    assert p1.requests[1].headers["Authorization"] == "Bearer sk-fresh-key-42424242"
    cfg = await gw.api("clear_provider_key", provider="p1")
    assert not cfg["providers"]["p1"]["has_key"]
    for bad in ("", "sk with space", 5):
        with pytest.raises(ApiError):
            await gw.api("set_provider_key", provider="p1", key=bad)


@pytest.mark.parametrize("method", ["set_provider_key", "set_usage_token"])
@pytest.mark.parametrize("bad", ["sk-a\x00b", "sk-a\x01b", "sk-a\x7fb", "sk-a\x9bb", "sk-a\u200bb", "sk-ключ", "tök"])
async def test_a_key_with_a_control_character_is_refused(fakes, gateway, method, bad):
    """No HTTP client sends such a key in a header: saved, it would fail every request to its provider."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, keys={"p1": "sk-good-key-0123456789"})
    argument = "key" if method == "set_provider_key" else "token"
    with pytest.raises(ApiError) as err:
        await gw.api(method, provider="p1", **{argument: bad})
    assert err.value.status == 400 and "control characters" in err.value.message
    saved = json.loads(gw.services.paths.secrets.read_text())
    assert saved["providers"] == {"p1": "sk-good-key-0123456789"} and saved["usage_tokens"] == {}


@pytest.mark.parametrize(("url", "why"), [("http://127.0.0.1:99999/v1", "port"), ("http://h:abc/v1", "port"),
                                          ("http://[zz]/v1", "IPv6"), ("http://a..b/v1", "empty part"),
                                          ("http://" + "a" * 64 + ".example/v1", "longer than 63"),
                                          ("http://h.example/" + "a" * 200_000, "at most 2,048")])
@pytest.mark.parametrize("field", ["base_url", "usage_base_url"])
async def test_a_url_no_client_can_use_is_refused(fakes, gateway, url, why, field):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    with pytest.raises(ApiError) as err:
        await gw.api("upsert_provider", provider="p2", **{"base_url": p1.base_url, field: url})
    assert err.value.status == 400 and field in err.value.message and why in err.value.message
    assert len(err.value.message) < 400  # a huge paste is not echoed whole
    assert "p2" not in (await gw.api("get_config"))["providers"]
    cfg = await gw.api("upsert_provider", provider="p2", base_url="http://[::1]:8080/v1")  # still accepted
    assert cfg["providers"]["p2"]["base_url"] == "http://[::1]:8080/v1"


async def test_disable_enable_and_lock_rules(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    cfg = await gw.api("set_provider_disabled", provider="p2", disabled=True)
    assert cfg["providers"]["p2"]["disabled"] is True
    status = await gw.api("get_status")
    assert status["manual_override"] is None and status["providers"]["p2"]["status"] == "disabled"
    with pytest.raises(ApiError, match="disabled"):
        await gw.api("set_manual_override", provider="p2")
    await gw.api("set_provider_disabled", provider="p2", disabled=False)
    assert (await gw.api("set_manual_override", provider="p2"))["manual_override"] == "p2"
    # Disabling it through the provider form ends the lock the same way.
    await gw.api("upsert_provider", provider="p2", disabled=True)
    status = await gw.api("get_status")
    assert status["manual_override"] is None and status["summary"]["line"] == "P1 · serving"


async def test_a_control_call_too_large_names_its_own_limit(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.request("POST", "/api/update_ui", body={"padding": "x" * (2 * 1024 * 1024)})
    assert reply.status == 413
    message = reply.json["error"]["message"]
    assert "the fixed limit of a control call" in message and "max_body_mb" not in message


async def test_update_routing_validates_and_saves(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    cfg = await gw.api("update_routing", cooldown_seconds=12, failure_threshold=4, auto_return_to_preferred=False)
    assert cfg["routing"]["cooldown_seconds"] == 12 and cfg["routing"]["failure_threshold"] == 4
    saved = tomlkit.parse(gw.services.paths.config.read_text())["routing"]
    assert saved["cooldown_seconds"] == 12 and saved["auto_return_to_preferred"] is False
    for kwargs in ({"failure_threshold": 0}, {"cooldown_seconds": -1}, {"request_timeout_seconds": 0},
                   {"stream_idle_timeout_seconds": "5"}, {"auto_return_to_preferred": 1},
                   {"preferred_provider": "nope"}, {"manual_override": "nope"}, {"manual_override": 1}, {"bogus": 1}, {}):
        with pytest.raises(ApiError) as err:
            await gw.api("update_routing", **kwargs)
        assert err.value.status == 400, kwargs
        assert all(name in str(err.value) for name in kwargs), (kwargs, str(err.value))  # names the argument


async def test_update_routing_refuses_a_hedge_range_upside_down(fakes, gateway):
    """The UI refuses it beside the field; the control API says why too, and the file keeps its range."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for kwargs in ({"hedge_min_seconds": 20}, {"hedge_max_seconds": 2}, {"hedge_min_seconds": 8, "hedge_max_seconds": 5}):
        with pytest.raises(ApiError) as err:
            await gw.api("update_routing", **kwargs)
        assert err.value.status == 400 and "hedge_max_seconds" in str(err.value) and "hedge_min_seconds" in str(err.value)
    assert "hedge_min_seconds" not in gw.services.paths.config.read_text()
    cfg = await gw.api("update_routing", hedge_min_seconds=5, hedge_max_seconds=5)  # equal: a fixed delay
    assert (cfg["routing"]["hedge_min_seconds"], cfg["routing"]["hedge_max_seconds"]) == (5, 5)


async def test_a_hedge_range_written_upside_down_by_hand_does_not_block_other_routing_changes(fakes, gateway):
    """A form saved whole resends both bounds as the file has them: that changes neither, and the call
    saves what it does change."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"hedge_min_seconds": 8, "hedge_max_seconds": 5})
    cfg = await gw.api("update_routing", hedge_min_seconds=8, hedge_max_seconds=5, cooldown_seconds=12)
    assert cfg["routing"]["cooldown_seconds"] == 12
    with pytest.raises(ApiError):
        await gw.api("update_routing", hedge_max_seconds=6)
    await gw.api("update_routing", hedge=False)
    with pytest.raises(ApiError) as err:  # switched on again: the range is judged
        await gw.api("update_routing", hedge=True, hedge_min_seconds=8, hedge_max_seconds=5)
    assert "hedge_max_seconds (5) must be at least hedge_min_seconds (8)" in str(err.value)
    warnings = [e["message"] for e in (await gw.api("list_events", level="warning"))["events"]]
    assert "config.toml: [routing] hedge_max_seconds (5) is below hedge_min_seconds (8); a hedge waits 8 s " \
           "for every provider" in warnings  # said at start: the file runs, not as written


async def test_an_id_named_twice_in_provider_order_by_hand_is_warned_about(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    gw.services.watcher.stop()  # looked at by hand below, at once
    path = gw.services.paths.config
    doc = tomlkit.parse(path.read_text())
    doc["provider_order"] = ["p2", "p1", "p2"]
    path.write_text(tomlkit.dumps(doc))
    gw.services.config.reload(), gw.services.config.reload()  # used once it held still between two looks
    assert (await gw.api("get_config"))["provider_order"] == ["p2", "p1"]
    warnings = [e["message"] for e in (await gw.api("list_events", level="warning"))["events"]]
    assert "config.toml: provider_order names p2 2 times; its first place counts" in warnings


async def test_choosing_a_switched_off_provider_as_preferred_says_who_is_preferred_meanwhile(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": {"base_url": p2.base_url, "disabled": True}})
    status = await gw.api("set_preferred_provider", provider="p2")
    assert status["preferred_provider"] == "p1" and status["routing"]["preferred_provider"] == "p2"
    events = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert "Preferred provider set to P2, which is switched off: P1 is preferred until it can serve" in events
    assert not any(e.startswith("Preferred provider set to P1") for e in events)


@pytest.mark.parametrize("first", ["p1", "p2"])
async def test_choosing_a_switched_off_provider_as_preferred_by_hand_says_so_too(fakes, gateway, first):
    """By hand, with "first in list" preferring p1 before (nothing preferred moves) or p2 (the disabled
    one's place is taken by p1: what is preferred moves)."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p3": p3, "p1": p1, "p2": p2})
    await gw.api("set_provider_order", order=[first, *(p for p in ("p1", "p2", "p3") if p != first)])
    await gw.api("set_provider_disabled", provider="p3", disabled=True)
    gw.services.watcher.stop()  # looked at by hand below, at once
    path = gw.services.paths.config
    doc = tomlkit.parse(path.read_text())
    doc["providers"]["p2"]["disabled"] = True
    doc["routing"]["preferred_provider"] = "p3"
    path.write_text(tomlkit.dumps(doc))
    gw.services.config.reload(), gw.services.config.reload()  # used once it held still between two looks
    events = [e["message"] for e in (await gw.api("list_events"))["events"]]
    assert "Preferred provider set to P3, which is switched off: P1 is preferred until it can serve" in events


async def test_rotating_the_token_takes_effect_at_once(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    old = (await gw.api("get_gateway_token"))["token"]
    new = (await gw.api("rotate_gateway_token"))["token"]
    assert new != old and new.startswith("ao_") and len(new) == 35
    refused = await gw.request("POST", "/v1/responses", body={"input": "x"}, token=old)
    assert refused.status == 401
    ok = await gw.request("POST", "/v1/responses", body={"input": "x"}, token=new)
    assert ok.status == 200
    assert json.loads(gw.services.paths.secrets.read_text())["gateway_token"] == new


async def test_a_token_changed_by_hand_is_the_token_at_once_for_the_control_api(fakes, gateway):
    """Before the watcher sees the edit: the old token must not be let in to a call that would then
    answer with the new one."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    gw.services.watcher.stop()  # the edit below is seen only by the call itself
    old, new = gw.token, "ao_" + "5" * 32
    path = gw.services.paths.secrets
    path.write_text(json.dumps({**json.loads(path.read_text()), "gateway_token": new}))
    refused = await gw.request("POST", "/api/get_gateway_token", body={}, token=old)
    assert refused.status == 401 and new not in refused.body.decode()
    assert (await gw.api_as(new, "get_gateway_token"))["token"] == new


async def held_control_call(gw, token: str, method: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A control call whose headers (and token) are in, its body held back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write((f"POST /api/{method} HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nAuthorization: Bearer {token}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n").encode())
    await writer.drain()
    await asyncio.sleep(0.3)  # the token check passed at the headers
    return reader, writer


async def finish_held_call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"{}")
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("how", ["rotated", "by hand"])
async def test_a_control_call_whose_token_changed_while_its_body_was_held_is_refused(fakes, gateway, how):
    """The token is asked again once the body is in: the old one never gets the new one."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reader, writer = await held_control_call(gw, gw.token, "get_gateway_token")
    if how == "rotated":
        new = (await gw.api("rotate_gateway_token"))["token"]
    else:
        new, path = "ao_" + "5" * 32, gw.services.paths.secrets
        path.write_text(json.dumps({**json.loads(path.read_text()), "gateway_token": new}))
    answer = await finish_held_call(reader, writer)
    assert answer.startswith(b"HTTP/1.1 401 ") and new.encode() not in answer, answer[:200]


async def test_removing_the_token_from_secrets_json_by_hand_is_refused(fakes, gateway):
    """A fresh token in its place, saved nowhere, would lock every client out (Codex included)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    gw.services.watcher.stop()  # looked at by hand below, at once
    token = gw.token
    path = gw.services.paths.secrets
    data = json.loads(path.read_text())
    del data["gateway_token"]
    path.write_text(json.dumps(data))
    gw.services.secrets.reload(), gw.services.secrets.reload()  # used once it held still between two looks
    assert gw.token == token
    assert (await gw.request("POST", "/api/get_status", body={}, token=token)).status == 200
    events = (await gw.api("list_events", level="error"))["events"]
    assert any("has no gateway_token" in e["message"] for e in events)


async def test_a_hand_edited_key_that_names_no_setting_is_reported_with_what_it_probably_meant(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1}, routing={"cooldown_seconds": 30})
    gw.services.watcher.stop()  # looked at by hand below, at once
    path = gw.services.paths.config
    text = path.read_text()
    edited = "colour = 'blue'\n" + text.replace("cooldown_seconds = 30", "cooldown_second = 5", 1) \
        .replace("[providers.p1]\n", "[providers.p1]\nmodel_mapp = {}\n", 1)
    assert edited.count("cooldown_second =") == 1 and "model_mapp" in edited
    path.write_text(edited)
    gw.services.config.reload(), gw.services.config.reload()  # used once it held still between two looks
    assert gw.services.config.current.routing.cooldown_seconds != 5
    warnings = [e["message"] for e in (await gw.api("list_events", level="warning"))["events"]]
    assert "config.toml: [routing] cooldown_second is not a setting API Router knows; it is ignored " \
           "(did you mean cooldown_seconds?)" in warnings
    assert any("[providers.p1] model_mapp" in w and "model_map?" in w for w in warnings)
    assert any(w.startswith("config.toml: colour is not a setting") for w in warnings)

    # A hand edit the watcher has not picked up yet, that a change in the app is then applied on: told too.
    path.write_text(path.read_text().replace("colour = 'blue'", "color = 'blue'"))
    await gw.api("update_routing", failure_threshold=4)
    warnings = [e["message"] for e in (await gw.api("list_events", level="warning"))["events"]]
    assert any(w.startswith("config.toml: color is not a setting") for w in warnings)


async def test_a_hand_edit_of_secrets_json_with_an_entry_nothing_uses_is_warned_about_and_kept(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    gw.services.watcher.stop()  # looked at by hand below, at once
    path = gw.services.paths.secrets
    data = json.loads(path.read_text())
    data["usage_tokns"] = {"p1": "ut-p1-usage-token-0123"}
    path.write_text(json.dumps(data))
    gw.services.secrets.reload(), gw.services.secrets.reload()  # used once it held still between two looks
    warnings = [e["message"] for e in (await gw.api("list_events", level="warning"))["events"]]
    assert "secrets.json: usage_tokns is not an entry API Router knows; it is kept in the file but not used " \
           "(did you mean usage_tokens?)" in warnings
    await gw.api("set_provider_key", provider="p1", key="sk-p1-another-key-0123")
    assert json.loads(path.read_text())["usage_tokns"] == {"p1": "ut-p1-usage-token-0123"}


async def test_a_provider_added_under_an_id_secrets_json_holds_a_key_for_says_it_uses_that_key(fakes, gateway):
    """A key written ahead by hand, or left by a provider table removed by hand, goes to the new
    provider's address from its first request: the added event says so."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1})
    gw.services.watcher.stop()  # looked at by hand below, at once
    path = gw.services.paths.secrets
    data = json.loads(path.read_text())
    data["providers"]["p2"] = "sk-written-ahead-0123"
    path.write_text(json.dumps(data))
    gw.services.secrets.reload(), gw.services.secrets.reload()  # used once it held still between two looks
    await gw.api("upsert_provider", provider="p2", base_url=p2.base_url, create=True)
    await gw.api("upsert_provider", provider="p3", base_url=p2.base_url, create=True)
    added = [e["message"] for e in (await gw.api("list_events"))["events"] if " added" in e["message"]]
    assert "Provider p2 added; secrets.json already held a key for 'p2', in use until another is set in the " \
           "provider's settings" in added
    assert "Provider p3 added" in added  # nothing held for it: nothing said


async def test_probe_reports_models_or_the_error(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    ok = await gw.api("probe_provider", provider="p1")
    assert ok["ok"] and ok["status"] == 200 and ok["models"] == ["p1-model-a", "p1-model-b"]
    p2.models_behaviour = fp.status(401, "invalid api key")
    bad = await gw.api("probe_provider", provider="p2")
    assert not bad["ok"] and bad["status"] == 401 and "invalid api key" in bad["error"]


async def test_events_filter_page_and_mark_seen(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    p1.queue(fp.status(500))
    await gw.responses()
    warnings = (await gw.api("list_events", level="warning"))["events"]
    assert warnings and all(e["level"] == "warning" for e in warnings)
    mine = (await gw.api("list_events", provider="p1"))["events"]
    assert mine and all(e["provider"] == "p1" for e in mine)
    everything = (await gw.api("list_events"))["events"]
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    older = (await gw.api("list_events", before_id=everything[0]["id"]))["events"]
    assert older == everything[1:]
    assert (await gw.api("get_status"))["unseen_events"] >= len(everything)
    await gw.api("mark_events_seen")
    assert (await gw.api("get_status"))["unseen_events"] == 0
    assert all(e["seen"] for e in (await gw.api("list_events"))["events"])
    with pytest.raises(ApiError):
        await gw.api("list_events", level="debug")


async def test_unknown_method_and_private_methods_are_404(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for name in ("nope", "_existing", "_probe"):
        reply = await gw.request("POST", f"/api/{name}", body={})
        assert reply.status == 404, name


async def test_cross_origin_control_calls_are_refused(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    evil = await gw.request("POST", "/api/rotate_gateway_token", body={}, headers={"Origin": "https://evil.example"})
    assert evil.status == 403
    own = await gw.request("POST", "/api/get_status", body={}, headers={"Origin": gw.base})
    assert own.status == 200


async def test_codex_setup_merges_backs_up_and_restores(fakes, gateway, codex_home):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    config = codex_home / "config.toml"
    original = '# my codex settings\nmodel = "gpt-5.5"\n\n[model_providers.other]\nname = "Other" # keep me\n'
    config.write_text(original)
    (codex_home / "auth.json").write_text('{"tokens": {"id_token": "x"}}')
    info = await gw.api("get_codex_setup")
    assert info["codex_home"] == str(codex_home) and not info["configured"] and not info["has_backup"]
    assert f'base_url = "{gw.base}/v1"' in info["config_block"]
    assert json.loads(info["auth_json"]) == {"OPENAI_API_KEY": gw.token}
    info = await gw.api("apply_codex_setup")
    assert info["configured"] and info["has_backup"]
    text = config.read_text()
    assert "# my codex settings" in text and "# keep me" in text and 'model = "gpt-5.5"' in text
    doc = tomlkit.parse(text)
    assert doc["model_provider"] == "api_router"
    assert doc["model_providers"]["api_router"]["base_url"] == f"{gw.base}/v1"
    assert doc["model_providers"]["api_router"]["requires_openai_auth"] is True
    raw_auth = (codex_home / "auth.json").read_bytes()
    assert not raw_auth.startswith(b"\xef\xbb\xbf") and json.loads(raw_auth) == {"OPENAI_API_KEY": gw.token}
    info = await gw.api("restore_codex_backup")
    assert not info["has_backup"] and not info["configured"]
    assert config.read_text() == original
    assert json.loads((codex_home / "auth.json").read_text()) == {"tokens": {"id_token": "x"}}


async def test_codex_setup_on_empty_home_and_unparseable_config(fakes, gateway, codex_home):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    info = await gw.api("apply_codex_setup")
    assert info["configured"]
    info = await gw.api("restore_codex_backup")
    assert not (codex_home / "config.toml").exists() and not (codex_home / "auth.json").exists()
    (codex_home / "config.toml").write_text("model = [broken")
    with pytest.raises(ApiError, match="could not be parsed"):
        await gw.api("apply_codex_setup")
    assert (codex_home / "config.toml").read_text() == "model = [broken"


@pytest.mark.parametrize("shape", ['model_providers = "oops"', "model_providers = [1, 2]", "model_providers = 3",
                                   '[model_providers]\napi_router = "oops"'])
async def test_codex_setup_refuses_a_config_it_cannot_merge_into(fakes, gateway, codex_home, shape):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    config = codex_home / "config.toml"
    config.write_text(shape + "\n")
    with pytest.raises(ApiError, match=r"config\.toml: model_providers.* is not a table") as info:
        await gw.api("apply_codex_setup")
    assert info.value.status == 400
    assert config.read_text() == shape + "\n" and not (codex_home / "auth.json").exists()


async def test_codex_setup_backs_up_a_login_in_a_codex_pointed_here_by_hand(fakes, gateway, codex_home):
    """config.toml set up by hand (the README's way), auth.json still the user's ChatGPT login: it is
    the user's file, backed up before the token replaces it."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    info = await gw.api("get_codex_setup")
    (codex_home / "config.toml").write_text(info["config_block"])
    login = '{"tokens": {"id_token": "mine"}}'
    (codex_home / "auth.json").write_text(login)
    assert info["state"] == "not_connected"
    assert (await gw.api("get_codex_setup"))["state"] == "token_out_of_date"
    info = await gw.api("apply_codex_setup")
    assert info["state"] == "connected" and info["has_backup"]
    await gw.api("restore_codex_backup")
    assert (codex_home / "auth.json").read_text() == login


async def test_connecting_again_after_pointing_codex_elsewhere_keeps_the_users_login(fakes, gateway, codex_home):
    """Connected, then pointed at another provider by hand (auth.json still holds the gateway token):
    connecting again backs up the user's config.toml, but the token API Router wrote is not backed
    up over the login the backup holds."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    config, auth = codex_home / "config.toml", codex_home / "auth.json"
    config.write_text('model = "gpt-5.5"\n')
    login = '{"tokens": {"id_token": "mine"}}'
    auth.write_text(login)
    await gw.api("apply_codex_setup")
    config.write_text(config.read_text().replace('model_provider = "api_router"', 'model_provider = "openai"')
                      + "# changed by hand\n")
    assert (await gw.api("get_codex_setup"))["state"] == "not_connected"
    await gw.api("apply_codex_setup")
    await gw.api("restore_codex_backup")
    assert auth.read_text() == login
    assert "# changed by hand" in config.read_text()  # the config as the user last had it


async def test_codex_setup_writes_through_links_and_leaves_protected_files_alone(fakes, gateway, codex_home, tmp_path):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "codex.toml").write_text('model = "gpt-5.5"\n')
    config = codex_home / "config.toml"
    config.symlink_to(dotfiles / "codex.toml")
    await gw.api("apply_codex_setup")
    assert config.is_symlink() and 'model_provider = "api_router"' in (dotfiles / "codex.toml").read_text()
    await gw.api("restore_codex_backup")
    assert config.is_symlink() and (dotfiles / "codex.toml").read_text() == 'model = "gpt-5.5"\n'

    config.unlink()
    config.write_text('model = "gpt-5.5"\n')
    config.chmod(0o444)
    with pytest.raises(ApiError, match="is read-only"):
        await gw.api("apply_codex_setup")
    assert config.read_text() == 'model = "gpt-5.5"\n' and not (codex_home / "auth.json").exists()
    config.chmod(0o644)
    (codex_home / "auth.json").mkdir()
    with pytest.raises(ApiError, match=r"auth\.json is a folder"):
        await gw.api("apply_codex_setup")
    assert config.read_text() == 'model = "gpt-5.5"\n'  # not half connected


async def test_concurrent_requests_during_config_changes(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.always(fp.stream_ok("from p1", delay=0.005))
    p2.always(fp.stream_ok("from p2", delay=0.005))

    async def traffic():
        replies = []
        for _ in range(15):
            replies.append(await gw.responses(stream=True))
        return replies

    async def churn():
        for i in range(10):
            await gw.api("set_manual_override", provider="p2" if i % 2 else "p1")
            await gw.api("update_routing", cooldown_seconds=10 + i)
            await gw.api("upsert_provider", provider=f"extra{i}", base_url=p2.base_url)
            await gw.api("delete_provider", provider=f"extra{i}")

    results = await asyncio.gather(*(traffic() for _ in range(6)), churn())
    replies = [r for batch in results[:-1] for r in batch]
    assert len(replies) == 90
    for reply in replies:
        assert reply.status == 200 and reply.event_types[-1] == "response.completed"
        assert reply.text in ("from p1", "from p2")
    assert tomlkit.parse(gw.services.paths.config.read_text())["routing"]["cooldown_seconds"] == 19
    gw.services.store.flush()
    assert len(gw.services.store.request_log(limit=1000)) == 90


async def asked(fake, seconds: float = 2.0) -> None:
    """Until ``fake`` has received a request (the one a test then acts on while it runs)."""
    for _ in range(int(seconds / 0.01)):
        if fake.requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{fake.name} was not asked within {seconds:g} s")


@pytest.mark.parametrize("change", ["base_url", "key"])
async def test_failures_of_requests_sent_before_a_new_address_or_key_do_not_count_against_it(fakes, gateway, change):
    """Replacing a dead relay or a bad key while Codex is mid-turn: the requests already sent fail, but
    their failures are about the old address or key, not the provider as it is now."""
    p1, p2, p3 = await fakes("p1", "p2", "p3")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 2, "cooldown_seconds": 60,
                                                      "preferred_stable_seconds": 0})

    async def late_failure(request, fake):  # well after the change below lands, even on a busy machine
        await asyncio.sleep(1.5)
        return web.json_response({"error": {"message": "invalid key", "type": "x"}}, status=401)

    p1.always(late_failure)
    pending = [asyncio.create_task(gw.responses()) for _ in range(4)]
    await asked(p1)
    if change == "base_url":
        await gw.api("upsert_provider", provider="p1", base_url=p3.base_url)
    else:
        await gw.api("set_provider_key", provider="p1", key="sk-the-right-key-0123456789")
        p1.always(fp.json_ok("from p1"))
    replies = await asyncio.gather(*pending)
    assert all(r.status == 200 and r.headers["X-API-Router-Provider"] == "p2" for r in replies)
    health = gw.services.router.health_json(gw.services.config.current)["p1"]
    assert health["status"] != "cooldown" and health["consecutive_failures"] == 0, health
    reply = await gw.responses()
    assert reply.headers["X-API-Router-Provider"] == "p1"


def another_change_first(monkeypatch, config, first) -> None:
    """The next edit of ``config`` finds ``first`` made already, as when another control call (or a hand
    edit) gets to the file between the caller's look and its edit."""
    real_edit = config.edit

    def edit(change, check=None):
        monkeypatch.setattr(config, "edit", real_edit)
        real_edit(first)
        return real_edit(change, check)

    monkeypatch.setattr(config, "edit", edit)


def deleted(pid):
    def change(doc):
        del doc["providers"][pid]
        if "provider_order" in doc:
            doc["provider_order"] = [p for p in doc["provider_order"] if p != pid]
    return change


@pytest.mark.parametrize(("method", "argument"), [("set_manual_override", "provider"),
                                                ("set_preferred_provider", "provider"),
                                                ("update_routing", "preferred_provider")])
async def test_a_lock_or_preferred_provider_racing_a_delete_is_refused_not_left_behind(fakes, gateway, monkeypatch,
                                                                                        method, argument):
    """Left in config.toml, the id would lock routing to (or prefer) a provider added later under it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    config = gw.services.config
    another_change_first(monkeypatch, config, deleted("p1"))
    with pytest.raises(ApiError, match="deleted or renamed meanwhile") as refused:
        await gw.api(method, **{argument: "p1"})
    assert refused.value.status == 400
    routing = tomllib.loads(gw.services.paths.config.read_text()).get("routing", {})
    assert routing.get("manual_override", "") == "" and routing.get("preferred_provider", "") == ""
    assert list(config.current.providers) == ["p2"]


@pytest.mark.parametrize("method", ["set_provider_disabled", "upsert_provider"])
async def test_disabling_a_provider_ends_a_lock_set_on_it_meanwhile(fakes, gateway, monkeypatch, method):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    config = gw.services.config
    another_change_first(monkeypatch, config, lambda doc: doc["routing"].__setitem__("manual_override", "p1"))
    await gw.api(method, provider="p1", disabled=True)
    assert config.current.routing.manual_override == ""
    assert (await gw.api("get_status"))["manual_override"] is None


async def test_a_provider_order_racing_a_delete_is_refused(fakes, gateway, monkeypatch):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    config = gw.services.config
    another_change_first(monkeypatch, config, deleted("p1"))
    with pytest.raises(ApiError, match=r"order must list every provider exactly once: it names a provider there "
                                       r"is none of now \(renamed or deleted since the list was read\?\) "
                                       r"\(the providers are now P2;") as err:
        await gw.api("set_provider_order", order=["p2", "p1"])
    assert "'p1'" not in err.value.message  # no internal id: the toast says it to the user
    assert "p1" not in tomllib.loads(gw.services.paths.config.read_text()).get("provider_order", [])


async def test_a_request_still_running_when_its_provider_is_deleted_brings_none_of_its_state_back(fakes, gateway):
    """The request stays in the log, but a provider added later under the same id starts clean: no
    failures, no metrics, and the gateway is not "down" because of a provider that is gone."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"preferred_provider": "p1", "failure_threshold": 1})
    await gw.api("set_manual_override", provider="p2")

    async def late_failure(request, fake):  # well after the delete below lands, even on a busy machine
        await asyncio.sleep(1.5)
        return web.json_response({"error": {"message": "overloaded", "type": "server_error"}}, status=503)

    p2.queue(late_failure)
    pending = asyncio.create_task(gw.responses())
    await asked(p2)
    await gw.api("delete_provider", provider="p2")
    reply = await pending
    # The lock ended with p2: the request is served where routing sends it now.
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p1"
    assert gw.services.store.request_log()[0]["providers_tried"] == ["p2", "p1"]
    assert "p2" not in gw.services.store.metrics()
    await gw.api("upsert_provider", provider="p2", base_url=p2.base_url)
    status = await gw.api("get_status")
    assert (status["providers"]["p2"]["status"], status["providers"]["p2"]["consecutive_failures"]) == ("unknown", 0)
    assert status["summary"]["state"] == "serving"


async def test_deleting_or_renaming_the_provider_that_made_the_gateway_down(fakes, gateway):
    """"All down" names what failed: a rename carries the failure to the new id, and deleting the provider
    (here the locked one, which also ends the lock) ends it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1})
    await gw.api("set_manual_override", provider="p2")
    p2.always(fp.status(503, "p2 broken"))
    assert (await gw.responses()).status == 502
    assert (await gw.api("get_status"))["summary"]["state"] == "down"
    await gw.api("upsert_provider", provider="p2", display_name="Relay Two")
    await gw.api("rename_provider", provider="p2", new_id="relay")
    summary = (await gw.api("get_status"))["summary"]
    assert summary["state"] == "down" and "Relay Two: HTTP 503" in summary["reason"]
    await gw.api("delete_provider", provider="relay")
    summary = (await gw.api("get_status"))["summary"]
    assert (summary["state"], summary["provider"]) == ("serving", "p1")
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"


async def test_a_provider_test_that_outlives_its_provider_leaves_no_result_behind(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p2.always(fp.hang(0.5))
    testing = asyncio.create_task(gw.api("test_provider", provider="p2"))
    await asked(p2)
    await gw.api("delete_provider", provider="p2")
    await testing
    await gw.api("upsert_provider", provider="p2", base_url=p2.base_url)
    assert (await gw.api("get_status"))["providers"]["p2"]["last_test"] is None


async def test_a_renamed_providers_last_test_names_it_by_the_new_id_after_a_restart(fakes, gateway):
    from tests.support.harness import start_harness

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.api("test_provider", provider="p1")
    await gw.api("rename_provider", provider="p1", new_id="main")
    assert (await gw.api("get_status"))["providers"]["main"]["last_test"]["provider"] == "main"
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        assert (await again.api("get_status"))["providers"]["main"]["last_test"]["provider"] == "main"
    finally:
        await again.close()


async def test_a_test_of_an_old_address_is_not_recorded_as_the_new_ones(fakes, gateway):
    p1, other = await fakes("p1", "other")
    gw = await gateway({"p1": p1})
    p1.always(fp.stream_ok("the old address works", delay=0.5))
    other.always(fp.status(500, "the new address is broken"))
    testing = asyncio.create_task(gw.api("test_provider", provider="p1"))
    await asked(p1)
    await gw.api("upsert_provider", provider="p1", base_url=other.base_url)
    assert (await testing)["ok"] is True  # the caller hears what its test found...
    assert (await gw.api("get_status"))["providers"]["p1"]["last_test"] is None  # ...but it is not the badge


async def test_a_probe_of_a_provider_deleted_before_it_starts_names_it_unknown(fakes, gateway, monkeypatch):
    """The id is checked on the caller's thread and used on the loop: a delete can come in between.
    Events force that order (the probe's check, then the delete, then the loop), so that a slow disk
    under the delete's save cannot reorder it."""
    import threading

    from api_router.control import Registry
    from api_router.desktop.bridge import BridgeError, make_desktop_api

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    window = make_desktop_api(Registry(gw.control))
    checked, deleted = threading.Event(), threading.Event()
    check = type(gw.control)._existing

    def existing(self, provider):
        pid = check(self, provider)
        checked.set()
        return pid

    monkeypatch.setattr(type(gw.control), "_existing", existing)
    answer: dict[str, str] = {}

    def probe() -> None:
        try:
            window.probe_provider({"provider": "p1"})
            answer["error"] = ""
        except BridgeError as exc:
            answer["error"] = str(exc)

    def delete() -> None:
        assert checked.wait(10)
        window.delete_provider({"provider": "p1"})
        deleted.set()

    asyncio.get_running_loop().call_soon(deleted.wait, 10)  # the loop held until the delete is saved
    probing = threading.Thread(target=probe)
    probing.start()
    await asyncio.to_thread(delete)
    await asyncio.to_thread(probing.join)
    assert answer["error"] == "unknown provider 'p1'"


async def test_control_calls_at_once_cannot_wait_on_each_other_for_good(fakes, gateway):
    """Each waits for work it hands to the gateway's loop, and that work needs a worker thread too."""
    (p1,) = await fakes("p1")
    p1.usage = new_api(100)
    gw = await gateway({"p1": p1})
    many = min(32, (os.cpu_count() or 1) + 4)  # the loop's default pool: all of it taken
    calls = [asyncio.create_task(gw.api("refresh_usage")) for _ in range(many)]
    await asyncio.wait_for(gw.api("get_status"), 10)
    await asyncio.wait_for(asyncio.gather(*calls), 20)


async def test_many_slow_usage_checks_at_once_do_not_hold_up_quick_calls(fakes, gateway):
    """A usage panel that takes seconds, asked by many tabs at once: the dashboard's status still comes
    at once (those calls wait apart from the quick ones)."""
    (p1,) = await fakes("p1")
    p1.usage = new_api(100)
    p1.usage_delay = 3
    gw = await gateway({"p1": p1})
    calls = [asyncio.create_task(gw.api("refresh_usage", provider="p1")) for _ in range(17)]  # > 16 threads
    await asyncio.sleep(0.3)  # all of them sent and waiting on the panel
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(gw.api("get_status"), 10)
    assert asyncio.get_running_loop().time() - started < 2
    await asyncio.wait_for(asyncio.gather(*calls), 60)


async def test_requests_during_renames_always_carry_the_key(fakes, gateway):
    import threading

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})

    def renames() -> None:
        ids = ["p1", "p1b"]
        for i in range(30):
            gw.control.rename_provider(ids[i % 2], ids[(i + 1) % 2])

    renaming = threading.Thread(target=renames)
    renaming.start()
    while renaming.is_alive():
        assert (await gw.responses()).status == 200
        await asyncio.sleep(0.001)  # a moment for the renaming thread: a busy loop can hold the GIL (uvloop: minutes)
    renaming.join()
    assert len(p1.requests) > 5
    assert [r.headers.get("Authorization") for r in p1.requests] == ["Bearer sk-test-p1-0123456789"] * len(p1.requests)


async def test_a_new_key_or_address_starts_fresh_and_other_edits_do_not(fakes, gateway):
    """What was learnt with the old key or address (health, the last test, the usage reading) goes;
    saving the form with only a new name keeps it."""
    p1, other = await fakes("p1", "other")
    p1.usage = new_api(0)
    gw = await gateway({"p1": p1}, routing={"failure_threshold": 1})

    async def learn() -> None:
        await gw.api("test_provider", provider="p1")
        await gw.api("refresh_usage", provider="p1")
        p1.always(fp.status(500, "down"))
        await gw.responses()
        p1.always(fp.json_ok())

    def learnt() -> tuple[bool, bool, str]:
        status = gw.services.router.health_json(gw.services.config.current)["p1"]["status"]
        return (gw.services.tests.last("p1") is not None, "p1" in gw.services.quota.quota_json(), status)

    await learn()
    assert learnt() == (True, True, "cooldown")
    await gw.api("upsert_provider", provider="p1", base_url=p1.base_url, display_name="Relay")  # same address
    assert learnt() == (True, True, "cooldown")
    await gw.api("set_provider_key", provider="p1", key="sk-another-key-0123456789")
    assert learnt() == (False, False, "unknown")
    await learn()
    await gw.api("upsert_provider", provider="p1", base_url=other.base_url)
    assert learnt() == (False, False, "unknown")


async def test_reasoning_sealed_by_a_provider_deleted_mid_stream_is_never_sent_on(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_manual_override", provider="p2")
    p2.always(fp.stream_ok("from p2", reasoning=True, delay=0.1))
    pending = asyncio.create_task(gw.responses(headers={"session-id": "s-del"}, stream=True))
    await asked(p2)
    await gw.api("delete_provider", provider="p2")
    reply = await pending
    item = reply.events[-1]["response"]["output"][0]
    assert item["type"] == "reasoning"
    # Codex sends it back with its next turn: p1 must not get it.
    p1.always(fp.json_ok("from p1"))
    again = await gw.responses({"model": "gpt-5.5", "input": [item, {"type": "message", "role": "user",
                                                                       "content": "go on"}]},
                               headers={"session-id": "s-del"})
    assert again.headers["X-API-Router-Provider"] == "p1"
    assert item["id"] not in p1.requests[-1].raw.decode()


@pytest.mark.parametrize(("field", "url"), [("base_url", "http://<host>/v1"),
                                            ("base_url", "https://<resource>.openai.azure.com/openai/v1"),
                                            ("usage_base_url", "https://relay.example/<token-api>")])
async def test_a_template_placeholder_left_in_a_url_is_refused(fakes, gateway, field, url):
    """The UI refuses it as it is typed; the control API (and config.toml) must too, or the provider
    is saved with a URL no request can reach."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    fields = {"base_url": p1.base_url, field: url}
    with pytest.raises(ApiError, match="no <placeholder> left in it") as err:
        await gw.api("upsert_provider", provider="relay", **fields)
    assert err.value.status == 400 and field in str(err.value)
    assert "relay" not in (await gw.api("get_config"))["providers"]


@pytest.mark.parametrize(("method", "args", "said"), [
    ("set_provider_disabled", {"provider": "p1", "disabled": None}, "disabled must be true or false (got null)"),
    ("list_requests", {"limit": True}, "(got true)"),
    ("upsert_provider", {"provider": "p1", "model_map": {"gpt-5": 1}}, '(got {"gpt-5": 1})'),
    ("set_provider_order", {"order": None}, "(got null)"),
])
async def test_a_wrong_argument_is_quoted_as_the_client_wrote_it(fakes, gateway, method, args, said):
    """A JSON client sent null, true, {"gpt-5": 1}: the message says so, not Python's None, True, {'gpt-5': 1}."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    with pytest.raises(ApiError) as err:
        await gw.api(method, **args)
    assert err.value.status == 400 and said in err.value.message, err.value.message
    assert not any(word in err.value.message for word in ("None", "True", "{'"))


async def test_a_model_name_with_a_space_is_refused_as_the_provider_dialog_refuses_it(fakes, gateway):
    """A map saved through the API that the dialog could not save again would leave the provider beyond
    editing in the UI (every row is checked on every save)."""
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for bad in ({"gpt 5": "my-model"}, {"gpt-5": "my model"}, {"gpt-5": "gpt\ufeff5"}, {"gpt\x1c5": "m"}):
        with pytest.raises(ApiError, match="model_map must be a table of model names") as err:
            await gw.api("upsert_provider", provider="p1", model_map=bad)
        assert err.value.status == 400
    cfg = await gw.api("upsert_provider", provider="p1", model_map={" gpt-5 ": " openai/gpt-5 "})  # edges trimmed
    assert cfg["providers"]["p1"]["model_map"] == {"gpt-5": "openai/gpt-5"}
