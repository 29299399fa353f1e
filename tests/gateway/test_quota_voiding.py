"""When a usage reading stops counting: a usage address changed by hand, a switched-off provider."""

import tomlkit

from tests.support.harness import start_harness
from tests.support.usage import new_api


async def test_a_usage_address_changed_by_hand_while_stopped_voids_the_reading(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(0)
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("refresh_usage", provider="p1")
    assert (await gw.api("get_status"))["quota"]["p1"]["skipped"] is True
    paths = gw.services.paths
    await gw.close()
    doc = tomlkit.parse(paths.config.read_text())
    doc["providers"]["p1"]["usage_base_url"] = "http://127.0.0.1:9"
    paths.config.write_text(tomlkit.dumps(doc))
    again = await start_harness(paths.user_data)
    try:
        assert "p1" not in (await again.api("get_status"))["quota"]
        assert again.services.quota.skip_reason("p1") is None
    finally:
        await again.close()


async def test_a_switched_off_provider_is_not_checked(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    p1.usage = p2.usage = new_api(5000)
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    await gw.api("refresh_usage")
    assert "p2" not in (await gw.api("get_status"))["quota"]
