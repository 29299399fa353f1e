"""The all-down advice under a lock, and the serving summary after renames and switch-offs."""
from __future__ import annotations

from tests.support import fake_provider as fp


async def summary(gw):
    return (await gw.request("GET", "/status")).json["summary"]


async def test_a_lock_that_is_down_names_no_switched_off_provider(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    await gw.api("set_manual_override", provider="p1")
    p1.always(fp.status(503, "overloaded"))
    assert (await gw.responses()).status >= 500
    s = await summary(gw)
    assert s["state"] == "down", s
    assert "Switched off" not in s["advice"], s  # unlocking, not enabling, is the way out
    assert s["advice"].startswith("P1 may serve again in 60 s"), s  # rounded up, as a 60 s cooldown just begun


async def test_the_lock_is_what_may_serve_again(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2}, routing={"failure_threshold": 1, "cooldown_seconds": 60})
    p2.always(fp.status(503, "p2 down"))
    await gw.api("set_manual_override", provider="p2")
    assert (await gw.responses()).status >= 500
    p1.always(fp.status(503, "p1 down"))
    await gw.api("set_manual_override", provider="p1")
    assert (await gw.responses()).status >= 500
    s = await summary(gw)
    assert s["state"] == "down" and s["advice"].startswith("P1 may serve again"), s


async def test_an_old_id_taken_again_leads_nowhere(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("rename_provider", provider="p1", new_id="p9")
    assert (await gw.api("get_status"))["renamed"] == {"p1": "p9"}
    await gw.api("upsert_provider", provider="p1", base_url=p2.base_url)
    assert (await gw.api("get_status"))["renamed"] == {}


async def test_a_switched_off_provider_is_not_the_active_one(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    await gw.api("set_provider_disabled", provider="p1", disabled=True)
    # control-api.md: null once it is switched off (who serves next is known after the next request)
    assert (await gw.api("get_status"))["active_provider"] is None
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    assert (await gw.api("get_status"))["active_provider"] == "p2"
