"""Quota in the running app: refresh, ledgers, quota-aware routing, persistence (usage issue)."""

import asyncio
import json

import pytest
import tomlkit

from api_router import quota
from tests.support import fake_provider as fp
from tests.support.harness import start_harness
from tests.support.usage import new_api


async def test_manual_refresh_detects_adapter_and_resets_ledger(fakes, gateway):
    (p1,) = await fakes("p1")
    p1.usage = new_api(5000)
    gw = await gateway({"p1": p1})
    await gw.responses()
    result = await gw.api("refresh_usage", provider="p1")
    entry = result["quota"]["p1"]
    assert entry["snapshot"]["adapter"] == "new_api" and entry["snapshot"]["detected"] is True
    assert entry["snapshot"]["available"] == 5000 and entry["snapshot"]["exhausted"] is False
    assert entry["error"] is None
    assert p1.usage_requests[-1].headers["Authorization"] == "Bearer sk-test-p1-0123456789"
    assert result["ledgers"]["p1"]["tokens_since_check"] == 0
    await gw.responses()
    await gw.responses()
    status = await gw.api("get_status")
    assert status["ledgers"]["p1"]["tokens_since_check"] == 30
    assert status["quota"]["p1"]["snapshot"]["available"] == 5000


async def test_tokens_served_while_a_usage_check_runs_stay_counted(fakes, gateway):
    """The panel's reading is of the moment the check began: a request that completes while the panel
    takes its time is not in it, so the ledger keeps it."""
    (p1,) = await fakes("p1")
    p1.usage = new_api(5000)
    p1.usage_delay = 1.0
    gw = await gateway({"p1": p1})
    await gw.responses()  # before the check: in the reading
    checking = asyncio.create_task(gw.api("refresh_usage", provider="p1"))
    for _ in range(100):
        if p1.usage_requests:
            break
        await asyncio.sleep(0.02)
    await gw.responses()  # while the panel answers
    ledger = (await checking)["ledgers"]["p1"]
    assert ledger["tokens_since_check"] == 15
    rows = gw.services.store.request_log()
    assert sum(r["total_tokens"] for r in rows if r["unix_ms"] >= ledger["since_unix_ms"]) == 15
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:  # as saved
        assert (await again.api("get_status"))["ledgers"]["p1"] == ledger
    finally:
        await again.close()


async def test_empty_provider_is_skipped_until_a_refresh_shows_quota(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(0)
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("upsert_provider", provider="p1", display_name="Relay One")
    await gw.api("refresh_usage", provider="p1")
    status = await gw.api("get_status")
    assert status["quota"]["p1"]["skipped"] is True
    reply = await gw.responses()
    assert reply.headers["X-API-Router-Provider"] == "p2" and p1.calls == 0
    events = [e["message"] for e in (await gw.api("list_events", provider="p1"))["events"]]
    assert any(m.startswith("Relay One is out of quota") and "remaining 0" in m for m in events)
    # the last resort when the others fail this request (the reading may be stale)
    p2.queue(fp.status(503, "p2 overloaded"))
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    # the user can still lock to it
    await gw.api("set_manual_override", provider="p1")
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    await gw.api("set_manual_override", provider=None)
    p1.usage = new_api(250)
    await gw.api("refresh_usage", provider="p1")
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    events = [e["message"] for e in (await gw.api("list_events", provider="p1"))["events"]]
    assert any(m.startswith("Relay One has quota again") for m in events)


async def test_the_state_line_follows_a_spent_quota_before_the_next_request(fakes, gateway):
    """p1 serves; a refresh finds it out of quota: the status (the tray's line and icon) says traffic goes
    to p2 now, as the next request will — not "p1 · serving" until then."""
    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(250)
    gw = await gateway({"p1": p1, "p2": p2})
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
    p1.usage = new_api(0)
    await gw.api("refresh_usage", provider="p1")
    summary = (await gw.api("get_status"))["summary"]
    assert summary["state"] == "fallback" and summary["provider"] == "p2", summary
    assert "quota" in summary["reason"], summary
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    p1.usage = new_api(250)  # topped up: the reason follows the new reading, before the next request
    await gw.api("refresh_usage", provider="p1")
    summary = (await gw.api("get_status"))["summary"]
    assert summary["reason"] == "P1 can serve again", summary
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"


@pytest.mark.parametrize("change", [("set_provider_key", "key"), ("set_usage_token", "token")])
async def test_a_spent_reading_voided_by_a_new_key_leaves_the_serving_reason_too(fakes, gateway, change):
    """The reading that made p2 serve no longer applies once p1's key (or usage token) changes: the reason stops
    quoting it."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    p1.usage = new_api(0)
    await gw.api("refresh_usage", provider="p1")
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    assert "quota" in (await gw.api("get_status"))["summary"]["reason"]
    method, argument = change
    await gw.api(method, provider="p1", **{argument: "sk-another-account-0123456789"})
    summary = (await gw.api("get_status"))["summary"]
    assert summary["reason"] == "P1 can serve again", summary


async def test_failed_refresh_keeps_the_last_good_snapshot(fakes, gateway):
    (p1,) = await fakes("p1")
    p1.usage = new_api(42)
    gw = await gateway({"p1": p1})
    await gw.api("refresh_usage", provider="p1")
    p1.usage_status = 500
    result = await gw.api("refresh_usage", provider="p1")
    entry = result["quota"]["p1"]
    assert entry["snapshot"]["available"] == 42
    assert entry["error"] and entry["error_at_unix_ms"]
    assert "sk-test-p1" not in entry["error"]
    events = [e["message"] for e in (await gw.api("list_events", provider="p1"))["events"]]
    assert any(m.startswith("Usage check failed for P1") and m.endswith("(showing the last good reading)")
               for m in events), events


async def test_a_failed_first_usage_check_does_not_claim_a_reading(fakes, gateway):
    (p1,) = await fakes("p1")  # no usage endpoint
    gw = await gateway({"p1": p1})
    await gw.api("refresh_usage", provider="p1")
    events = [e["message"] for e in (await gw.api("list_events", provider="p1"))["events"]]
    failed = [m for m in events if m.startswith("Usage check failed for P1")]
    assert failed and all(m.endswith("(no reading yet)") for m in failed), events


async def test_a_provider_only_a_failed_check_looked_at_has_no_ledger_after_a_restart_either(fakes, gateway):
    """Only providers checked (successfully) or that served tokens have a ledger: the same before a restart
    and after it, not one more made of the failed check's stored row."""
    p1, p2 = await fakes("p1", "p2")  # p2: no usage endpoint
    p1.usage = new_api(1000)
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("refresh_usage")
    before = await gw.api("get_usage")
    assert set(before["quota"]) == {"p1", "p2"} and before["quota"]["p2"]["error"]
    assert set(before["ledgers"]) == {"p1"}
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        after = await again.api("get_usage")
        assert set(after["quota"]) == {"p1", "p2"} and set(after["ledgers"]) == {"p1"}, after["ledgers"]
    finally:
        await again.close()


async def test_snapshots_ledgers_and_skips_survive_restart(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(0)
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("refresh_usage", provider="p1")
    await gw.api("set_manual_override", provider="p1")
    await gw.responses()
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        status = await again.api("get_status")
        assert status["quota"]["p1"]["snapshot"]["available"] == 0 and status["quota"]["p1"]["skipped"]
        assert status["ledgers"]["p1"]["tokens_since_check"] == 15
        await again.api("set_manual_override", provider=None)
        assert (await again.responses()).headers["X-API-Router-Provider"] == "p2"
    finally:
        await again.close()


async def test_a_ledger_outlives_a_new_key_across_a_restart(fakes, gateway, monkeypatch):
    """A new key voids the reading, not the tokens counted since the check: the ledger the UI shows after
    the change is the one the next start shows (the reading's row was deleted with the ledger in it)."""
    monkeypatch.setattr(quota, "LEDGER_SAVE_SECONDS", 0.2)
    (p1,) = await fakes("p1")
    p1.usage = new_api(500.0)
    gw = await gateway({"p1": p1})
    await gw.api("refresh_usage", provider="p1")
    await gw.responses()
    await gw.responses()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while {row[0]: row[3] for row in gw.services.store.load_usage()}.get("p1") != 30:
        assert loop.time() < deadline, "the counted tokens were not saved"
        await asyncio.sleep(0.05)
    await gw.api("set_provider_key", provider="p1", key="sk-another-key-0123456789")
    shown = (await gw.api("get_usage"))["ledgers"]["p1"]
    assert shown["tokens_since_check"] == 30 and "p1" not in (await gw.api("get_status"))["quota"]
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        assert (await again.api("get_usage"))["ledgers"]["p1"] == shown
        assert "p1" not in (await again.api("get_status"))["quota"]  # the reading stays void
    finally:
        await again.close()


async def test_tokens_counted_just_before_a_rename_are_kept_under_the_new_id(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.responses()
    await gw.responses()
    await gw.api("rename_provider", provider="p1", new_id="main")  # before the ledger was saved
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        assert (await again.api("get_status"))["ledgers"]["main"]["tokens_since_check"] == 30
    finally:
        await again.close()


@pytest.mark.parametrize("rename", [False, True])
async def test_a_rename_keeps_the_providers_place_in_the_usage_schedule(fakes, gateway, rename):
    """A renamed provider was due at once (a new id to the schedule): its panel was asked again right after
    a check, and the tokens counted since the check started over."""
    (p1,) = await fakes("p1")
    p1.usage = new_api(500.0)
    gw = await gateway({"p1": p1})
    await gw.api("refresh_usage", provider="p1")
    checked = len(p1.usage_requests)
    pid = "main" if rename else "p1"
    if rename:
        await gw.api("rename_provider", provider="p1", new_id="main")
    await gw.responses()  # the gateway is in use: the schedule runs
    await asyncio.sleep(1.5)
    assert len(p1.usage_requests) == checked
    usage = await gw.api("get_usage")
    assert usage["ledgers"][pid]["tokens_since_check"] == 15 and usage["quota"][pid]["snapshot"]["available"] == 500


async def slow_usage_check_under_way(gw, fake) -> asyncio.Task:
    """A usage check of ``fake`` started, and its (slow) panel asked: what the test changes next
    happens while the check runs."""
    checking = asyncio.create_task(gw.api("refresh_usage", provider=fake.name))
    for _ in range(200):
        if fake.usage_requests:
            break
        await asyncio.sleep(0.01)
    assert fake.usage_requests
    return checking


async def test_a_usage_check_that_outlives_its_provider_leaves_no_reading_behind(fakes, gateway):
    """An empty reading written back after the delete would make a provider added later under the same
    id "out of quota", and automatic routing would pass it by."""
    p1, p2 = await fakes("p1", "p2")
    p2.usage, p2.usage_delay = new_api(0), 0.5
    gw = await gateway({"p1": p1, "p2": p2})
    checking = await slow_usage_check_under_way(gw, p2)
    await gw.api("delete_provider", provider="p2")
    await checking
    await gw.api("upsert_provider", provider="p2", base_url=p2.base_url)
    status = await gw.api("get_status")
    assert "p2" not in status["quota"] and gw.services.quota.skip_reason("p2") is None
    user_data = gw.services.paths.user_data
    await gw.close()
    again = await start_harness(user_data)
    try:
        assert "p2" not in (await again.api("get_status"))["quota"]
    finally:
        await again.close()


async def test_a_usage_check_begun_with_the_old_key_is_not_applied_after_a_new_key_is_set(fakes, gateway):
    """The old account was empty; the new key's is not: its reading must not make routing skip it."""
    p1, p2 = await fakes("p1", "p2")
    p1.usage, p1.usage_delay = new_api(0), 0.5
    gw = await gateway({"p1": p1, "p2": p2})
    checking = await slow_usage_check_under_way(gw, p1)
    await gw.api("set_provider_key", provider="p1", key="sk-brand-new-key-0123456789")
    await checking
    assert "p1" not in (await gw.api("get_status"))["quota"]
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"


async def test_background_refresh_starts_only_after_the_gateway_is_used(fakes, gateway):
    (p1,) = await fakes("p1")
    p1.usage = new_api(10)
    gw = await gateway({"p1": p1})
    await asyncio.sleep(0.3)
    assert p1.usage_requests == []  # idle: no calls to a paid upstream's panel
    await gw.responses()
    for _ in range(50):
        if p1.usage_requests:
            break
        await asyncio.sleep(0.05)
    assert p1.usage_requests, "the first request should start the usage schedule"
    for _ in range(50):
        if (await gw.api("get_usage"))["quota"].get("p1"):
            break
        await asyncio.sleep(0.05)
    assert (await gw.api("get_usage"))["quota"]["p1"]["snapshot"]["available"] == 10


async def test_usage_token_and_settings_are_validated_and_invalidate_the_reading(fakes, gateway):
    (p1,) = await fakes("p1")
    p1.usage = new_api(7)
    gw = await gateway({"p1": p1})
    await gw.api("refresh_usage", provider="p1")
    cfg = await gw.api("set_usage_token", provider="p1", token="ut-secret-token-77777")
    assert cfg["providers"]["p1"]["has_usage_token"] is True
    assert "ut-secret-token-77777" not in str(cfg)
    assert "p1" not in (await gw.api("get_usage"))["quota"]  # a new credential: the old reading is gone
    cfg = await gw.api("upsert_provider", provider="p1", usage_adapter="new_api", usage_base_url=p1.base_url[:-3])
    assert cfg["providers"]["p1"]["usage_adapter"] == "new_api"
    result = await gw.api("refresh_usage", provider="p1")
    assert result["quota"]["p1"]["snapshot"]["detected"] is False
    await gw.api("clear_usage_token", provider="p1")
    assert (await gw.api("get_config"))["providers"]["p1"]["has_usage_token"] is False
    for bad in ("", "has space"):
        try:
            await gw.api("set_usage_token", provider="p1", token=bad)
        except Exception as exc:
            assert "400" in str(exc)
        else:
            raise AssertionError("expected a 400")


async def test_analytics_and_session_timeline_over_the_control_api(fakes, gateway):
    from tests.support import fake_provider as fp

    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.responses(headers={"session-id": "sess-A"})
    p1.always(fp.status(503))
    await gw.responses(headers={"session-id": "sess-A"})
    summary = await gw.api("get_analytics", window="hour")
    assert summary["overall"]["requests"] == 2 and summary["providers"]["p1"]["errors"] == 1
    sessions = (await gw.api("list_sessions"))["sessions"]
    assert sessions[0]["session_id"] == "sess-A" and sessions[0]["failovers"] == 1
    timeline = (await gw.api("get_session_timeline", session_id="sess-A"))["requests"]
    assert [t["provider"] for t in timeline] == ["p1", "p2"] and timeline[1]["failover"] is True
    reply = await gw.request("POST", "/api/get_analytics", body={"window": "year"})
    assert reply.status == 400 and "window" in reply.json["error"]["message"]


async def test_counted_tokens_reach_the_store_within_the_save_delay(fakes, gateway, monkeypatch):
    # The delay runs from the end of the first request: long enough for a slow second round trip to
    # end inside it on a loaded machine.
    monkeypatch.setattr(quota, "LEDGER_SAVE_SECONDS", 1.5)
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    await gw.responses()
    await gw.responses()

    def saved() -> int:
        return {row[0]: row[3] for row in gw.services.store.load_usage()}.get("p1", 0)

    assert saved() == 0  # not yet: saves are coalesced
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3  # room for a late timer, yet short of the unpatched 5 s delay
    while saved() != 30:  # without a stop or another request
        assert loop.time() < deadline, "the counted tokens were not saved within the delay"
        await asyncio.sleep(0.05)


async def test_a_key_change_says_when_it_brings_an_empty_provider_back_and_the_same_key_changes_nothing(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(0)
    gw = await gateway({"p1": p1, "p2": p2}, keys={"p1": "sk-test-p1-0123456789", "p2": "sk-test-p2-0123456789"})
    await gw.api("refresh_usage", provider="p1")
    await gw.api("set_provider_key", provider="p1", key="sk-test-p1-0123456789")  # the same key
    assert (await gw.api("get_status"))["quota"]["p1"]["skipped"] is True
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    await gw.api("set_provider_key", provider="p1", key="sk-other-p1-0123456789")
    assert "p1" not in (await gw.api("get_status"))["quota"]
    events = [e["message"] for e in (await gw.api("list_events", provider="p1"))["events"]]
    assert any("quota reading" in m and "no longer applies" in m for m in events), events


async def test_a_dead_provider_before_one_out_of_quota_costs_one_hedge_delay(fakes, gateway):
    """The last resort is asked once the others have failed — and a stream silent past its hedge delay
    has, as far as waiting on it goes: not a whole request timeout per request."""
    import time

    p1, p2 = await fakes("p1", "p2")
    p2.usage = new_api(0)
    gw = await gateway({"p1": p1, "p2": p2}, routing={"hedge_min_seconds": 0.3, "hedge_max_seconds": 0.3,
                                                      "request_timeout_seconds": 20})
    await gw.api("refresh_usage", provider="p2")
    p1.always(fp.hang())
    started = time.monotonic()
    reply = await gw.responses(stream=True)
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2"
    assert time.monotonic() - started < 10


async def until(predicate, seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


async def test_a_hand_edit_of_the_usage_address_or_token_voids_the_reading(fakes, gateway):
    """As the same change made in the app does: the provider is routed to again until its next check,
    and an event says so. Other hand edits leave the reading alone."""
    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(0)
    gw = await gateway({"p1": p1, "p2": p2})
    services = gw.services
    for edit in ("unrelated", "usage address", "usage token"):
        p1.usage = new_api(0)
        await gw.api("refresh_usage", provider="p1")
        assert (await gw.api("get_status"))["quota"]["p1"]["skipped"] is True
        if edit != "unrelated":
            # Once the gateway is in use, a voided reading is checked again at once: that check must not
            # make the provider "out of quota" again before this looks.
            p1.usage = new_api(5000)
        if edit == "usage token":
            secrets = json.loads(services.paths.secrets.read_text())
            secrets.setdefault("usage_tokens", {})["p1"] = "ut-typed-by-hand-0001"
            services.paths.secrets.write_text(json.dumps(secrets))
            await until(lambda: services.secrets.current.usage_tokens.get("p1"), 3, "the secrets edit")
        else:
            config = services.paths.config
            config.write_text(config.read_text() + ("\n# a comment\n" if edit == "unrelated" else ""))
            if edit == "usage address":
                doc = tomlkit.parse(config.read_text())
                doc["providers"]["p1"]["usage_base_url"] = p1.base_url.removesuffix("/v1")
                config.write_text(tomlkit.dumps(doc))
                await until(lambda: services.config.current.providers["p1"].usage_base_url, 3, "the config edit")
            else:
                await asyncio.sleep(1.5)  # picked up meanwhile (a comment changes no setting)
        skipped = (await gw.api("get_status"))["quota"].get("p1", {}).get("skipped")
        assert skipped is True if edit == "unrelated" else not skipped, (edit, skipped)
        if edit != "unrelated":
            assert (await gw.responses()).headers["X-API-Router-Provider"] == "p1"
            messages = [e["message"] for e in (await gw.api("list_events", provider="p1"))["events"]]
            assert any("no longer applies after the change" in m for m in messages)


async def test_a_usage_check_under_way_when_the_gateway_stops_ends_with_it(fakes, gateway):
    """A check is shared by whoever waits for it (shielded), so cancelling the refresh task at shutdown does
    not end it: left running, one not yet sent goes on into the closed HTTP client (logged as a crash of the
    usage fetch). Shutdown ends it before the client closes."""
    (p1,) = await fakes("p1")
    p1.usage, p1.usage_delay = new_api(5000), 5.0
    gw = await gateway({"p1": p1})
    await gw.responses()  # the gateway is in use: its background usage check starts
    for _ in range(100):
        if p1.usage_requests:
            break
        await asyncio.sleep(0.02)
    assert p1.usage_requests, "no usage check began"
    await gw.close()
    assert not [t for t in asyncio.all_tasks() if "_fetch_and_apply" in repr(t.get_coro()) and not t.done()]


@pytest.mark.parametrize("edit", ["key", "usage address"])
async def test_a_key_changed_by_hand_while_stopped_voids_the_reading_at_start(fakes, gateway, edit):
    """As a key (or usage address) changed while running does: the old reading's "out of quota" no longer
    applies, the provider is routed to again until its next check, and an event says so."""
    p1, p2 = await fakes("p1", "p2")
    p1.usage = new_api(0)
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("refresh_usage", provider="p1")
    assert (await gw.api("get_status"))["quota"]["p1"]["skipped"] is True
    paths = gw.services.paths
    await gw.close()
    if edit == "key":
        secrets = json.loads(paths.secrets.read_text())
        assert secrets["providers"]["p1"]
        secrets["providers"]["p1"] = "sk-typed-by-hand-0123456789"
        paths.secrets.write_text(json.dumps(secrets))
    else:
        doc = tomlkit.parse(paths.config.read_text())
        doc["providers"]["p1"]["usage_base_url"] = "http://127.0.0.1:9"
        paths.config.write_text(tomlkit.dumps(doc))
    again = await start_harness(paths.user_data)
    try:
        assert "p1" not in (await again.api("get_status"))["quota"]
        assert again.services.quota.skip_reason("p1") is None
        messages = [e["message"] for e in (await again.api("list_events", provider="p1"))["events"]]
        assert any("no longer applies after the change" in m for m in messages), messages
        stored = {row[0]: row[1] for row in again.services.store.load_usage()}
        assert "sk-typed-by-hand" not in str(stored) and "sk-test-p1" not in str(stored)
    finally:
        await again.close()


async def test_a_usage_panel_echoing_other_providers_secrets_has_them_masked(fakes, gateway):
    """A panel's refusal quotes the provider's own key and, as a shared panel may, another provider's key,
    usage token and the gateway token: none of them reaches the usage error shown anywhere."""
    p1, p2 = await fakes("p1", "p2")
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_usage_token", provider="p2", token="ut-second-token-0123456789")
    secrets = ["sk-test-p1-0123456789", "sk-test-p2-0123456789", "ut-second-token-0123456789", gw.token]
    p1.usage, p1.usage_status = {"error": {"message": "usage says: " + " ".join(secrets)}}, 401
    result = await gw.api("refresh_usage", provider="p1")
    assert "usage says" in result["quota"]["p1"]["error"]
    for shown in (result, await gw.api("get_usage"), await gw.api("get_status"), await gw.api("list_events")):
        text = json.dumps(shown)
        assert not [s for s in secrets if s in text], text
    # Nor the database: read back after a restart, when a key replaced meanwhile is no longer known to mask.
    await asyncio.to_thread(gw.services.store.flush)
    stored = json.dumps(gw.services.store.load_usage())
    assert "usage says" in stored and not [s for s in secrets if s in stored], stored


async def test_a_usage_panels_error_is_shown_without_its_control_characters(fakes, gateway):
    """A panel's message is outside words as a relay's error is: an OSC 52 clipboard write, a bell, a clear
    screen (ESC and C1 forms) and a NUL reached the event list and notifications as they came."""
    import re

    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    p1.usage, p1.usage_status = {"success": False,
                                 "message": "token expired\x1b]52;c;aGk=\x07\x1b[2J\x9b2J\x00 renew it"}, 401
    await gw.api("refresh_usage", provider="p1")
    events = (await gw.api("list_events", limit=50))["events"]
    said = [e["message"] for e in events if "Usage check failed" in e["message"]]
    assert said and all("renew it" in text and not re.search(r"[\x00-\x1f\x7f-\x9f]", text) for text in said), said


async def test_an_answer_no_parser_reads_from_a_usage_panel_is_shown_shortened(fakes, gateway):
    """The HTTP library quotes a status line it cannot read whole: 48 KB in an event, /status 122 KB a poll."""
    import asyncio

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 2\x1b[2J00 " + "\x9b".encode() * 12_000 + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        (p1,) = await fakes("p1")
        gw = await gateway({"p1": p1})
        await gw.api("upsert_provider", provider="p1", usage_adapter="new_api", usage_base_url=f"http://127.0.0.1:{port}")
        await gw.api("refresh_usage", provider="p1")
        events = (await gw.api("list_events", limit=50))["events"]
        said = [e["message"] for e in events if "Usage check failed" in e["message"]]
        assert said and all(len(text) < 1000 for text in said), [len(text) for text in said]
    finally:
        server.close()


async def test_a_switched_off_providers_usage_panel_is_not_checked(fakes, gateway):
    p1, p2 = await fakes("p1", "p2")
    p1.usage = p2.usage = new_api(5000)
    gw = await gateway({"p1": p1, "p2": p2})
    await gw.api("set_provider_disabled", provider="p2", disabled=True)
    await gw.api("refresh_usage")
    assert "p2" not in (await gw.api("get_status"))["quota"]
