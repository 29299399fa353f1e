"""Routing decisions with an injected clock (contract §5)."""

from types import MappingProxyType, SimpleNamespace

import pytest

from api_router.config import Config, ProviderConfig, RoutingConfig
from api_router.routing import Failure, Router
from api_router.routing.hedging import FirstEventTimes


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def make(ids=("a", "b", "c"), **routing):
    providers = MappingProxyType({pid: ProviderConfig(pid, pid, f"http://{pid}.test/v1") for pid in ids})
    return Config(routing=RoutingConfig(**{"preferred_provider": ids[0], **routing}), providers=providers)


def router():
    events = []
    clock = Clock()
    r = Router(lambda level, kind, message, provider=None: events.append((level, kind, message)), clock, wall=clock)
    return r, clock, events


def test_preferred_first_then_provider_order():
    r, _, _ = router()
    assert r.plan(make(ids=("a", "b", "c"), preferred_provider="b")) == ["b", "a", "c"]


def test_threshold_starts_cooldown_and_cooldown_ends():
    r, clock, events = router()
    cfg = make(failure_threshold=2, cooldown_seconds=30, preferred_stable_seconds=0)
    r.record_failure(cfg, "a", "HTTP 500")
    assert r.plan(cfg)[0] == "a"
    r.record_failure(cfg, "a", "HTTP 500")
    assert "a" not in r.plan(cfg)
    assert r.health_json(cfg)["a"]["status"] == "cooldown"
    clock.now += 30
    assert r.plan(cfg)[0] == "a"
    assert ("warning", "cooldown") in [(lvl, kind) for lvl, kind, _ in events]  # routine: a warning


def test_failure_after_cooldown_cools_down_again_immediately():
    r, clock, _ = router()
    cfg = make(failure_threshold=2, cooldown_seconds=10, preferred_stable_seconds=0)
    r.record_failure(cfg, "a", "x")
    r.record_failure(cfg, "a", "x")
    clock.now += 10
    r.record_failure(cfg, "a", "x")
    assert r.health_json(cfg)["a"]["status"] == "cooldown"


def test_retry_after_wins_when_longer_and_is_capped():
    r, clock, _ = router()
    cfg = make(cooldown_seconds=30)
    r.record_failure(cfg, "a", "429", retry_after=5)
    assert r.health_json(cfg)["a"]["cooldown_until_unix_ms"] == int((clock.now + 30) * 1000)
    r.record_failure(cfg, "b", "429", retry_after=10_000)
    assert r.health_json(cfg)["b"]["cooldown_until_unix_ms"] == int((clock.now + 3600) * 1000)


def test_sticky_fallback_then_return_after_stable_window_without_ping_pong():
    r, clock, events = router()
    cfg = make(failure_threshold=1, cooldown_seconds=5, preferred_stable_seconds=20)
    r.record_failure(cfg, "a", "HTTP 503")
    r.record_success(cfg, "b", [Failure("a", "HTTP 503")])
    clock.now += 6  # a's cooldown is over but it has not been stable for 20 s
    assert r.plan(cfg) == ["b", "c", "a"]
    r.record_failure(cfg, "b", "HTTP 500")  # b fails too: c takes over, b cools down
    r.record_success(cfg, "c", [Failure("b", "HTTP 500")])
    clock.now += 1
    assert r.plan(cfg) == ["c", "a"]  # stays on c, b cooling, a still not stable
    clock.now += 14  # 21 s since a's failure
    assert r.plan(cfg)[0] == "a"
    r.record_success(cfg, "a")
    messages = [m for _, kind, m in events if kind == "route"]
    assert messages == ["Failover from a to b: HTTP 503", "Failover from b to c: HTTP 500",
                        "Back to preferred provider a from c (no failure for 20 s)"]


def test_auto_return_off_keeps_fallback_until_user_picks():
    r, clock, _ = router()
    cfg = make(auto_return_to_preferred=False, preferred_stable_seconds=0, failure_threshold=5)
    r.record_failure(cfg, "a", "x")
    r.record_success(cfg, "b", [Failure("a", "x")])
    clock.now += 3600
    assert r.plan(cfg)[0] == "b"
    r.preferred_changed(cfg)
    assert r.plan(cfg)[0] == "a"


def test_lock_disabled_and_missing_url():
    r, _, _ = router()
    cfg = make(manual_override="c")
    assert r.plan(cfg) == ["c"]
    providers = dict(cfg.providers)
    providers["c"] = ProviderConfig("c", "c", "http://c/v1", disabled=True)
    providers["b"] = ProviderConfig("b", "b", "")
    cfg2 = Config(routing=cfg.routing, providers=MappingProxyType(providers))
    assert r.plan(cfg2) == ["a"]  # a lock on a disabled provider is ignored
    assert r.health_json(cfg2)["c"]["status"] == "disabled"


def test_a_new_preferred_provider_under_a_lock_changes_no_serving_provider():
    """Locked to b, which serves: picking another preferred provider leaves b serving — no "Serving from b"
    event at the next request, as if the serving provider had changed."""
    r, _, events = router()
    cfg = make(manual_override="b")
    r.lock_changed(cfg, "b")
    r.record_success(cfg, "b")
    r.preferred_changed(make(manual_override="b", preferred_provider="c"))
    served = len([m for _, kind, m in events if kind == "route" and m.startswith("Serving")])
    r.record_success(cfg, "b")
    assert len([m for _, kind, m in events if kind == "route" and m.startswith("Serving")]) == served, events
    assert r.active(cfg, str)[0] == "b"


def test_all_cooling_tries_earliest_end():
    r, _, _ = router()
    cfg = make(cooldown_seconds=10)
    r.record_failure(cfg, "a", "x", retry_after=300)
    r.record_failure(cfg, "b", "x", retry_after=100)
    r.record_failure(cfg, "c", "x", retry_after=200)
    assert r.plan(cfg) == ["b"]


def test_a_cooling_provider_failing_again_as_the_last_resort_is_told_once():
    """While every provider is down, each request asks the one whose cooldown ends first: its failures
    are events, and its cooldown starts over, but "cooling down" is said when a cooldown begins, not
    again with every request of the outage."""
    r, clock, events = router()
    cfg = make(ids=("a",), failure_threshold=1, cooldown_seconds=30)
    for _ in range(5):
        assert r.plan(cfg) == ["a"]
        r.record_failure(cfg, "a", "HTTP 503")
        clock.now += 2
    assert [kind for _, kind, _ in events].count("cooldown") == 1
    assert [kind for _, kind, _ in events].count("provider_failure") == 5
    assert r.cooldown_left("a") == 28  # started over at the last failure
    clock.now += 30
    r.record_failure(cfg, "a", "HTTP 503")  # a new cooldown after the last one ended: told again
    assert [kind for _, kind, _ in events].count("cooldown") == 2
    r.record_failure(cfg, "a", "HTTP 429", retry_after=3600)  # much longer than it was said to be: told
    assert events[-1][2] == "a cooling down for 60 min (Retry-After)"


def test_with_no_cooldown_of_its_own_a_last_resort_failing_under_the_same_retry_after_is_told_once():
    r, clock, events = router()
    cfg = make(ids=("a",), failure_threshold=1, cooldown_seconds=0)
    for _ in range(5):
        assert r.plan(cfg) == ["a"]
        r.record_failure(cfg, "a", "HTTP 429", retry_after=60)
        clock.now += 2
    assert [kind for _, kind, _ in events].count("cooldown") == 1
    r.record_failure(cfg, "a", "HTTP 429", retry_after=3600)  # much longer than it was said to be: told
    assert [kind for _, kind, _ in events].count("cooldown") == 2


def test_a_cooldown_made_longer_by_small_steps_is_told_again_once_it_is_much_longer_than_said():
    """Retry-After 100, 125, 150, 175 a second apart: each step is under 30 s, but at 150 s left the
    cooldown is 50 s longer than the event said; one more event says so, and no more until it grows
    as much again."""
    r, clock, events = router()
    cfg = make(ids=("a",), failure_threshold=1, cooldown_seconds=30)
    told = []
    for wait in (100, 125, 150, 175):
        r.record_failure(cfg, "a", "HTTP 429", retry_after=wait)
        told.append(sum(kind == "cooldown" for _, kind, _ in events))
        clock.now += 1
    assert told == [1, 1, 2, 2], told
    # one step: told "60 s", and 55 s later a Retry-After of 80 s ends it 75 s later than said
    r, clock, events = router()
    r.record_failure(cfg, "a", "HTTP 429", retry_after=60)
    clock.now += 55
    r.record_failure(cfg, "a", "HTTP 429", retry_after=80)
    assert sum(kind == "cooldown" for _, kind, _ in events) == 2


def test_failing_since_is_the_first_failure_since_the_provider_last_answered():
    """Checks it fails later move last_fail_at, not when its failing began; an answer ends it."""
    r, clock, _ = router()
    cfg = make(ids=("a",), failure_threshold=1, cooldown_seconds=30)
    r.record_failure(cfg, "a", "HTTP 500")
    began = r.health_json(cfg)["a"]["failing_since_unix_ms"]
    clock.now += 5
    r.record_check(cfg, "a", False, "background check", error="HTTP 500")
    health = r.health_json(cfg)["a"]
    assert health["failing_since_unix_ms"] == began and health["last_fail_at_unix_ms"] > began
    r.record_check(cfg, "a", True, "background check")
    assert r.health_json(cfg)["a"]["failing_since_unix_ms"] is None


def test_a_check_asked_before_the_latest_answer_changes_nothing_when_it_fails():
    """Checks overlap while a provider hangs: one asked before a later check's answer, timing out after
    it, is older news — the answer's state (no error, no failing, its stable window) stands."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), preferred_stable_seconds=10)
    r.record_failure(cfg, "a", "no Responses event within 5 s", unresponsive=True)
    clock.now += 3
    r.record_check(cfg, "a", True, "background check", took_s=0.2)  # asked after the fix
    answered = r.health_json(cfg)["a"]
    assert answered["status"] == "healthy" and answered["failing_since_unix_ms"] is None
    clock.now += 0.5
    r.record_check(cfg, "a", False, "background check", error="no Responses event within 5 s", took_s=5)
    assert r.health_json(cfg)["a"] == answered
    clock.now += 0.5
    r.record_check(cfg, "a", False, "background check", error="HTTP 500", took_s=0.3)  # asked after it: news
    failed = r.health_json(cfg)["a"]
    assert failed["last_error"] == "HTTP 500" and failed["failing_since_unix_ms"] is not None


def test_a_check_asked_before_the_latest_failure_does_not_clear_it_when_it_answers():
    """The mirror case: a check asked while the provider still answered, whose OK arrives after a
    Responses request failed, is older news than that failure — the cooldown and the error stand."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=30)
    clock.now += 1  # the check is asked now; a request fails 1 s later
    r.record_failure(cfg, "a", "HTTP 503")
    clock.now += 1
    r.record_check(cfg, "a", True, "background check", took_s=2)
    health = r.health_json(cfg)["a"]
    assert health["last_error"] == "HTTP 503" and health["failing_since_unix_ms"] is not None
    assert r.plan(cfg)[0] == "b"
    clock.now += 1
    r.record_check(cfg, "a", True, "background check", took_s=0.5)  # asked after the failure: news
    assert r.health_json(cfg)["a"]["failing_since_unix_ms"] is None


def test_what_counts_is_when_the_failing_question_was_asked_not_when_it_timed_out():
    """Overlapping checks: one asked at 0 times out at 10, one asked at 8 answers at 11 — the answer is the
    newer news (its question came after the failing one), whichever finishes last."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=30)
    r.record_failure(cfg, "a", "no Responses event within 10 s", unresponsive=True)
    clock.now += 10
    r.record_check(cfg, "a", False, "background check", error="no Responses event within 10 s", took_s=10)
    clock.now += 1
    r.record_check(cfg, "a", True, "background check", took_s=3)
    assert r.health_json(cfg)["a"]["status"] == "healthy"
    # A request that failed after a long wait was asked when it was sent, too.
    clock.now += 1
    r.record_failure(cfg, "a", "HTTP 503", took_s=6)
    clock.now += 1
    r.record_check(cfg, "a", True, "background check", took_s=4)  # asked after the request was sent
    assert r.health_json(cfg)["a"]["status"] == "healthy"
    # And a request's answer the same way: asked at 8, after a request asked at 0 that failed at 10.
    clock.now += 10
    r.record_failure(cfg, "a", "no Responses event within 10 s", unresponsive=True, took_s=10)
    clock.now += 1
    r.record_success(cfg, "a", took_s=3)
    assert r.health_json(cfg)["a"]["status"] == "healthy"


@pytest.mark.parametrize("answer", ["probe", "stream asked before the failure"])
def test_only_a_responses_answer_since_the_failure_makes_an_older_check_old_news(answer):
    """A probe only lists models (a relay hanging on every request still does), and a stream asked before
    the latest failure says nothing of the provider since: neither makes a check asked before it news
    that no longer counts."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=30, preferred_stable_seconds=10)
    r.record_failure(cfg, "a", "HTTP 500")
    clock.now += 3  # a check asked 1 s after the failure is still waiting
    if answer == "probe":
        r.record_check(cfg, "a", True, "probe", responses=False)
    else:
        r.record_success(cfg, "a", took_s=8)
    clock.now += 8
    r.record_check(cfg, "a", False, "background check", error="no Responses event within 10 s", took_s=10)
    assert r.health_json(cfg)["a"]["last_error"] == "no Responses event within 10 s"


def test_a_provider_added_during_an_outage_is_asked_first_also_once_the_cooldowns_are_over():
    """The outage is no verdict on a provider that took no part in it: it is where the next request goes —
    not after the ones that failed in it, whose cooldowns ended with no answer since."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=5)
    r.record_failure(cfg, "a", "HTTP 503")
    r.record_failure(cfg, "b", "HTTP 401")
    r.record_all_failed([Failure("a", "HTTP 503"), Failure("b", "HTTP 401")], "all providers failed")
    added = make(ids=("a", "b", "n"), failure_threshold=1, cooldown_seconds=5)
    assert r.plan(added)[0] == "n"  # the others still cooling
    clock.now += 8
    assert r.plan(added) == ["n", "a", "b"]
    assert r.plan(cfg) == ["a", "b"]  # without it, the outage's providers as ever


def test_rename_carries_health():
    r, _, _ = router()
    cfg = make()
    r.record_failure(cfg, "a", "x", retry_after=60)
    r.rename("a", "z")
    cfg2 = make(ids=("z", "b", "c"))
    assert r.health_json(cfg2)["z"]["status"] == "cooldown"


def test_the_rest_is_what_the_latest_answer_asks_and_not_answering_asks_none():
    """A provider that asked for 600 s and then answers a 500, a shorter Retry-After, or does not answer at
    all (locked, or the last resort): what it asks now counts — a provider not answering is checked as
    every such one is, whatever it once asked."""
    r, clock, events = router()
    cfg = make(failure_threshold=1, cooldown_seconds=5)
    for then in ({"error": "HTTP 500"}, {"error": "HTTP 429", "retry_after": 10, "status": 429},
                 {"error": "did not answer", "unresponsive": True}):
        r.record_failure(cfg, "a", "HTTP 429", retry_after=600, status=429)
        clock.now += 1
        r.record_failure(cfg, "a", **then)
        clock.now += 15
        assert [pid for pid, _ in r.needing_check(cfg, interval=15)] == ["a"], then
        r.record_check(cfg, "a", True, "background check")
    # A check's own Retry-After begins a cooldown, told as a request's is.
    r.record_failure(cfg, "a", "HTTP 500")
    clock.now += 1
    r.record_check(cfg, "a", False, "background check", error="HTTP 429: slow down", status=429, retry_after=120)
    assert [m for _, kind, m in events if kind == "cooldown"][-1] == "a cooling down for 2 min (Retry-After)"


OLDER_FAILURES = ({"error": "HTTP 500", "status": 500}, {"error": "did not answer", "unresponsive": True}, "check")


def a_429_then_an_older_failure(older):
    """A question asked at 0 and one at 1: the second's 429 (Retry-After 600) comes at 1, the first fails
    at 3 as ``older`` says (a request's failure, or a check's)."""
    r, clock, _ = router()
    cfg = make(failure_threshold=1, cooldown_seconds=5)
    clock.now += 1
    r.record_failure(cfg, "a", "HTTP 429", retry_after=600, status=429)
    clock.now += 2
    if older == "check":
        r.record_check(cfg, "a", False, "background check", error="no answer", took_s=3)
    else:
        r.record_failure(cfg, "a", took_s=3, **older)
    return r, clock, cfg


def test_an_answer_to_an_older_question_leaves_the_rest_a_newer_429_set():
    """A request (or a check) asked before the 429 that set the rest, failing after it — a 500, a hang —
    answers an older question: the rest stands. A cooldown of 0 s a check's Retry-After: 0 asks is no news."""
    for older in OLDER_FAILURES:
        r, clock, cfg = a_429_then_an_older_failure(older)
        r.want_checks()
        clock.now += 20
        assert r.needing_check(cfg, interval=15) == [], older
    r, _, events = router()
    cfg = make(failure_threshold=1, cooldown_seconds=0)
    r.record_failure(cfg, "a", "did not answer", unresponsive=True)
    r.record_check(cfg, "a", False, "background check", error="HTTP 429", status=429, retry_after=0)
    assert not [m for _, kind, m in events if kind == "cooldown"], events


def test_a_success_older_than_a_429_clears_nothing_though_an_older_failure_ended_between():
    """Asked at 0 (hangs), at 0.5 (a long stream), at 1 (429, Retry-After 600): the hang ends at 3, the
    stream well at 4. The stream's success is older news than the 429 — the hang, older still, must not make
    it pass for news and wipe the rest and the cooldown."""
    for older in OLDER_FAILURES:
        r, clock, cfg = a_429_then_an_older_failure(older)
        clock.now += 1
        r.record_success(cfg, "a", took_s=3.5)
        assert r.plan(cfg) == ["b", "c"] and r.needing_check(cfg, interval=1) == [], older


def test_the_last_resort_is_one_whose_own_retry_after_is_over():
    """Both cool down for cooldown_seconds (30 s), longer than either Retry-After: the client, told to come
    back after the soonest one (5 s), is sent to the provider that asked for 5 s — not to the first in
    order, which asked for 25 s and would only say 429 again."""
    r, clock, _ = router()
    cfg = make(("a", "b"), cooldown_seconds=30)
    r.record_failure(cfg, "a", "HTTP 429", retry_after=25, status=429)
    clock.now += 1
    r.record_failure(cfg, "b", "HTTP 429", retry_after=5, status=429)
    clock.now += 6
    assert r.plan(cfg) == ["b"]
    clock.now += 20  # both Retry-Afters over: the cooldown that ends first (a's, a second before b's)
    assert r.plan(cfg) == ["a"]


def test_providers_out_of_quota_are_skipped_but_remain_a_last_resort():
    empty = {"a": "quota exhausted: remaining 0"}
    clock = Clock()
    r = Router(lambda *a, **k: None, clock, skip=empty.get, wall=clock)
    cfg = make()
    assert r.plan(cfg) == ["b", "c", "a"]  # asked when the others failed this request
    r.record_failure(cfg, "b", "x", retry_after=60)
    r.record_failure(cfg, "c", "x", retry_after=60)
    assert r.plan(cfg) == ["a"]  # everything else is cooling down: try the stale "empty" one
    locked = make(manual_override="a")
    assert r.plan(locked) == ["a"]


@pytest.mark.parametrize("failed_once", [False, True])
def test_a_move_away_from_a_provider_out_of_quota_says_so(failed_once):
    """The preferred provider was not asked (its reading says it is spent): the route change and the
    serving provider's reason name the quota, not an old failure or a bare "unavailable"."""
    empty: dict[str, str] = {}
    events = []
    clock = Clock()
    r = Router(lambda level, kind, message, provider=None: events.append((kind, message)), clock,
               skip=empty.get, wall=clock)
    cfg = make(preferred_stable_seconds=1, failure_threshold=5)
    if failed_once:  # long since recovered: not the reason
        r.record_failure(cfg, "a", "HTTP 500")
        r.record_success(cfg, "b", [Failure("a", "HTTP 500")])
        clock.now += 5
    r.record_success(cfg, "a")
    empty["a"] = "quota exhausted: remaining 0"
    assert r.plan(cfg)[0] == "b"
    r.record_success(cfg, "b")
    assert events[-1] == ("route", "Failover from a to b: a: quota exhausted: remaining 0")
    assert r.active(cfg, cfg.name_of) == ("b", "a: quota exhausted: remaining 0")
    del empty["a"]  # a usage check shows quota again: no longer the reason
    r.quota_back(cfg, "a")
    assert r.active(cfg, cfg.name_of) == ("b", "a can serve again")
    assert r.plan(cfg)[0] == "a"


def test_a_wall_clock_set_back_neither_stretches_a_cooldown_nor_holds_checks_back():
    """Cooldowns and check intervals run on a monotonic clock; the wall clock only dates them."""
    mono, wall = Clock(), Clock()
    wall.now = 1_750_000_000.0
    r = Router(lambda *a, **k: None, mono, wall=wall)
    cfg = make(failure_threshold=1, cooldown_seconds=60)
    r.record_failure(cfg, "a", "x")
    r.check_started("a")
    wall.now -= 3600  # NTP (or the user) sets the clock back an hour
    assert r.health_json(cfg)["a"]["cooldown_until_unix_ms"] == int((wall.now + 60) * 1000)
    mono.now += 30
    wall.now += 30
    assert [pid for pid, _ in r.needing_check(cfg, interval=20)] == ["a"]
    mono.now += 31
    assert "a" in r.available(cfg)


def test_a_provider_that_sent_retry_after_is_not_checked_before_it_passes():
    """A 429's Retry-After is honoured: a background check is one more request to a provider that is
    rate-limiting, and its answer would end the cooldown early. A cooldown longer than the Retry-After
    (cooldown_seconds) is checked once it has passed."""
    r, clock, _ = router()
    cfg = make(failure_threshold=1, cooldown_seconds=60)
    r.record_failure(cfg, "a", "HTTP 429", retry_after=120, status=429)
    r.record_failure(cfg, "b", "HTTP 429", retry_after=20, status=429)
    clock.now += 15
    assert r.needing_check(cfg, interval=15) == []
    clock.now += 6
    assert [pid for pid, _ in r.needing_check(cfg, interval=15)] == ["b"]
    clock.now += 60
    assert [pid for pid, _ in r.needing_check(cfg, interval=15)] == []  # b's cooldown is over: back already
    assert r.health_json(cfg)["a"]["status"] == "cooldown"
    clock.now += 0.5
    r.record_check(cfg, "a", True, "background check")  # asked by hand (a provider test): it answers
    assert "a" in r.available(cfg)


def test_an_answer_ends_a_retry_after_rest_and_a_checks_retry_after_starts_one():
    """The rest is the provider's rate limit: once it answers (a test, a last-resort request) the rest is
    over — a later stop of answering is checked as usual, not held up by an old Retry-After. A check a
    provider rate-limits with a Retry-After rests it (and cools it down) as a request's 429 does."""
    r, clock, _ = router()
    cfg = make(failure_threshold=1, cooldown_seconds=5)
    r.record_failure(cfg, "a", "HTTP 429", retry_after=600, status=429)
    clock.now += 1
    r.record_check(cfg, "a", True, "provider test")
    r.record_failure(cfg, "a", "did not answer", unresponsive=True)
    clock.now += 15
    assert [pid for pid, _ in r.needing_check(cfg, interval=15)] == ["a"]
    r.check_started("a")
    r.record_check(cfg, "a", False, "background check", error="HTTP 429: slow down", status=429, retry_after=60)
    clock.now += 30
    assert r.needing_check(cfg, interval=15) == [] and r.health_json(cfg)["a"]["status"] != "healthy"
    clock.now += 31
    assert [pid for pid, _ in r.needing_check(cfg, interval=15)] == ["a"]


def test_a_provider_that_left_rotation_is_first_checked_an_interval_later():
    r, clock, _ = router()
    cfg = make(failure_threshold=1, cooldown_seconds=60)
    r.record_failure(cfg, "a", "stalled after output")
    r.record_failure(cfg, "b", "x", unresponsive=True)
    assert r.needing_check(cfg, interval=15) == []
    clock.now += 15
    assert sorted(pid for pid, _ in r.needing_check(cfg, interval=15)) == ["a", "b"]
    r.check_started("a")
    r.record_failure(cfg, "b", "x", unresponsive=True)  # already out: its checks keep their rhythm
    assert [pid for pid, _ in r.needing_check(cfg, interval=15)] == ["b"]
    r.record_check(cfg, "b", True, "background check")
    r.record_failure(cfg, "b", "x", unresponsive=True)  # back, then out again: a new interval
    assert r.needing_check(cfg, interval=15) == []


def test_the_v1_hint_puts_v1_where_the_path_goes():
    from api_router.config import ProviderConfig
    from api_router.gateway.explain import path_hint

    relay = ProviderConfig(id="r", base_url="https://u:secret@relay.example.com:8443?tenant=1")
    hint = path_hint(relay, 404)
    assert hint.endswith("(e.g. https://u:••••@relay.example.com:8443/v1?tenant=1)") and "secret" not in hint
    assert path_hint(relay, 500) == "" and path_hint(ProviderConfig(id="r", base_url="http://h/api"), 404) == ""


def test_back_to_preferred_names_the_stable_window_only_when_it_was_the_reason():
    """The preferred provider served again without having failed (a session bound to it, a hedge it
    won): "no failure for 20 s" would claim a wait that never happened."""
    r, clock, events = router()
    cfg = make(failure_threshold=5, preferred_stable_seconds=20)
    r.record_success(cfg, "b", [Failure("c", "HTTP 500")])  # b served (a was not asked)
    r.record_success(cfg, "a")
    assert [m for _, kind, m in events if kind == "route"][-1] == "Back to preferred provider a from b"


def test_a_failed_background_check_restarts_the_preferred_providers_stable_window():
    """A preferred provider that fails its checks has not been stable: traffic stays on the fallback
    until the whole window has passed since the last check it failed (not since the last request)."""
    r, clock, events = router()
    cfg = make(failure_threshold=1, cooldown_seconds=5, preferred_stable_seconds=20)
    r.record_failure(cfg, "a", "HTTP 503")
    r.record_success(cfg, "b", [Failure("a", "HTTP 503")])
    clock.now += 15
    r.record_check(cfg, "a", False, "background check")  # still failing 15 s after the request did
    clock.now += 10  # 25 s since the request's failure, 10 s since the check's
    assert r.plan(cfg)[0] == "b"
    clock.now += 10
    assert r.plan(cfg)[0] == "a"
    r.record_success(cfg, "a")
    assert [m for _, kind, m in events if kind == "route"][-1] == \
        "Back to preferred provider a from b (no failure for 20 s)"


def test_an_answer_clears_the_old_error_shown_beside_the_health():
    r, _, _ = router()
    cfg = make(failure_threshold=3)
    r.record_failure(cfg, "b", "HTTP 503: upstream overloaded")
    assert r.health_json(cfg)["b"]["last_error"] == "HTTP 503: upstream overloaded"
    r.record_success(cfg, "b")
    health = r.health_json(cfg)["b"]
    assert health["status"] == "healthy" and health["last_error"] == "" and health["consecutive_failures"] == 0


def test_a_long_cooldown_is_told_in_units_a_person_reads():
    from api_router.routing.router import for_a_person

    assert [for_a_person(s) for s in (1.5, 30, 300, 7200, 1e9)] == ["1.5 s", "30 s", "5 min", "2 h", "11,574 days"]
    events = []
    clock = Clock()
    r = Router(lambda level, kind, message, provider=None: events.append((kind, message)), clock, wall=clock)
    cfg = make(failure_threshold=1, cooldown_seconds=1e9)
    r.record_failure(cfg, "a", "HTTP 500")
    assert ("cooldown", "a cooling down for 11,574 days (1 failure in a row)") in events
    assert r.out_of_rotation(cfg)["a"] == "cooling down for 11,574 days more"


def test_the_serving_reason_keeps_an_upstream_error_as_written_and_follows_a_new_id():
    """Braces or a NUL in what a provider said are its words, not places for names; the providers named
    are shown under the names they have when the reason is read, after a change of id too."""
    r, _, events = router()
    cfg = make(failure_threshold=1)
    said = "HTTP 500: template {} failed \x00b\x00"
    r.record_failure(cfg, "a", said)
    r.record_success(cfg, "b", failures=[Failure("a", said)])
    assert r.active(cfg, cfg.name_of) == ("b", f"a: {said}")
    assert events[-1][2] == f"Failover from a to b: {said}"
    r.rename("a", "alpha")
    assert r.active(cfg, lambda pid: {"alpha": "Relay Alpha"}.get(pid or "", "?")) == ("b", f"Relay Alpha: {said}")


def test_the_hedge_delay_is_three_times_the_nearest_rank_95th_percentile():
    """Of 20 first-event times (0.1 s … 2.0 s) the 95th percentile is the 19th, 1.9 s — not the slowest."""
    times = FirstEventTimes()
    for tenth in range(1, 21):
        times.record("a", tenth / 10)
    routing = RoutingConfig(hedge_min_seconds=0.1, hedge_max_seconds=100)
    assert times.delay(routing, "a") == pytest.approx(3 * 1.9)


def test_a_check_that_ends_an_outage_hands_serving_on_but_keeps_a_lock():
    """All down: a check of another provider that answers hands serving to routing's next pick (the one
    served last failed too) — unless routing is locked: the lock stays who serves, and says why."""
    for locked in (False, True):
        r, _, _ = router()
        cfg = make(manual_override="b" if locked else "", failure_threshold=1)
        r.record_success(cfg, "b")
        if locked:
            r.lock_changed(cfg, "b")
        r.record_failure(cfg, "b", "HTTP 500")
        r.record_all_failed([Failure("b", "HTTP 500")], "all failed")
        assert r.down
        r.record_check(cfg, "a", True, "background check")
        assert not r.down
        active, reason = r.active(cfg, str)
        assert (active, reason) == (("b", "locked by user") if locked else (None, "")), (locked, active, reason)


def test_a_fallbacks_check_that_ends_an_outage_makes_it_serve_until_the_preferred_one_is_stable():
    """All down; then the fallback's check answers while the preferred provider's checks still fail. The
    fallback serves, as after any failover: the preferred provider's cooldown ending proves nothing (it
    would be reported serving, and a recovery announced, with its last check failed), so traffic returns
    to it by the stable window."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=10, preferred_stable_seconds=30)
    r.record_failure(cfg, "a", "HTTP 500")
    r.record_failure(cfg, "b", "HTTP 500")
    r.record_all_failed([Failure("a", "HTTP 500"), Failure("b", "HTTP 500")], "all failed")
    clock.now += 3
    r.record_check(cfg, "b", True, "background check")
    r.record_check(cfg, "a", False, "background check")
    active, reason = r.active(cfg, str)
    assert not r.down and active == "b" and "a" in reason, (active, reason)
    clock.now += 10  # a's cooldown has ended; its last check failed 10 s ago
    assert r.plan(cfg)[0] == "b"
    clock.now += 20  # 30 s without a failure: a is tried first again
    assert r.plan(cfg)[0] == "a"


def test_a_switched_off_provider_answering_a_probe_in_an_outage_does_not_become_the_serving_one():
    """Disabled providers are never candidates: a probe of one that answers ends nothing it could serve."""
    r, clock, events = router()
    cfg = make(ids=("a", "b", "c"), failure_threshold=1, cooldown_seconds=10)
    cfg = Config(routing=cfg.routing, providers=MappingProxyType(
        {**cfg.providers, "c": ProviderConfig("c", "c", "http://c.test/v1", disabled=True)}))
    r.record_failure(cfg, "a", "HTTP 500")
    r.record_failure(cfg, "b", "HTTP 500")
    r.record_failure(cfg, "c", "HTTP 500")  # switched off since
    r.record_all_failed([Failure("a", "HTTP 500"), Failure("b", "HTTP 500")], "all failed")
    r.record_check(cfg, "c", True, "probe")
    assert r.active(cfg, str)[0] is None
    assert [m for _, kind, m in events if kind == "recovered"] == ["c answers again (probe)"]  # not "back in rotation"
    clock.now += 10
    assert r.plan(cfg)[0] == "a"


@pytest.mark.parametrize("answered", ["check", "request kept on it"])
def test_the_serving_reason_follows_the_preferred_providers_evidence(answered):
    """A fallback serves because the preferred provider failed: once a probe, test or check gets an answer
    from it — or it serves a request only it takes (its conversation is held there; a session kept on it) —
    the reason no longer quotes that error (the provider shows healthy beside it), though traffic stays on
    the fallback until the stable window is over; a new failure of it is what the reason says then."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=1, preferred_stable_seconds=30)
    r.record_failure(cfg, "a", "HTTP 503: upstream overloaded")
    r.record_success(cfg, "b", [Failure("a", "HTTP 503: upstream overloaded")])
    assert r.active(cfg, str) == ("b", "a: HTTP 503: upstream overloaded")
    clock.now += 2
    if answered == "check":
        r.record_check(cfg, "a", True, "probe")
    else:
        r.record_success(cfg, "a", passed_by=True)
    assert r.active(cfg, str) == ("b", "a not yet stable after its last failure")
    r.record_failure(cfg, "a", "no first event within 10 s")
    assert r.active(cfg, str) == ("b", "a: no first event within 10 s")
    r.record_failure(cfg, "b", "HTTP 500")  # the serving one's own failure is no reason for it to serve
    assert r.active(cfg, str) == ("b", "a: no first event within 10 s")


AUTO_RETURN_OFF = "a answers again; automatic return to the preferred provider is off"


def back_with_automatic_return_off(ids):
    """a (preferred) failed and b took over; a answered a check since, 30 s ago."""
    r, clock, _ = router()
    cfg = make(ids=ids, failure_threshold=1, cooldown_seconds=10, preferred_stable_seconds=5,
               auto_return_to_preferred=False)
    r.record_failure(cfg, "a", "HTTP 503: upstream overloaded")
    r.record_success(cfg, "b", [Failure("a", "HTTP 503: upstream overloaded")])
    clock.now += 2
    r.record_check(cfg, "a", True, "background check")
    clock.now += 30
    return r, cfg


def test_with_automatic_return_off_the_reason_says_so_once_the_preferred_provider_answers():
    """Not "not yet stable": however long it stays stable, it does not serve until the user picks it."""
    r, cfg = back_with_automatic_return_off(("a", "b"))
    assert r.plan(cfg)[0] == "b"
    assert r.active(cfg, str) == ("b", AUTO_RETURN_OFF)
    assert r.why_not(cfg, "a", str) == AUTO_RETURN_OFF


def test_the_serving_reason_follows_automatic_return_switched_and_a_new_key():
    """The reason is what the preferred provider's state says now: switched on again, automatic return says
    it can serve again (not that the return is off); a new key or address voids the failure it quoted."""
    r, cfg = back_with_automatic_return_off(("a", "b"))
    assert r.active(cfg, str) == ("b", AUTO_RETURN_OFF)
    on = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=10, preferred_stable_seconds=5,
              auto_return_to_preferred=True)
    r.evidence_changed()
    assert r.active(on, str) == ("b", "a can serve again")
    r2, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=3, cooldown_seconds=10, preferred_stable_seconds=5)
    r2.record_failure(cfg, "a", "HTTP 401: Incorrect API key provided")
    r2.record_success(cfg, "b", [Failure("a", "HTTP 401: Incorrect API key provided")])
    assert r2.active(cfg, str) == ("b", "a: HTTP 401: Incorrect API key provided")
    r2.readdressed("a")  # a new key
    r2.rename("b", "b2")  # a rename before the reason is read again changes nothing of that
    assert r2.active(cfg.with_ids({"b": "b2"}), str) == ("b2", "a can serve again")


def test_the_status_says_the_same_when_the_next_pick_is_another_fallback():
    """The status names the next request's pick when the provider that served stopped answering: its
    reason is still why the preferred one does not serve, worded as routing words it."""
    from api_router.status import serving_summary

    r, cfg = back_with_automatic_return_off(("a", "b", "c"))
    r.record_failure(cfg, "b", "no response within 60 s", unresponsive=True)
    summary = serving_summary(SimpleNamespace(config=SimpleNamespace(current=cfg), router=r))
    assert (summary["provider"], summary["reason"]) == ("c", AUTO_RETURN_OFF)


def test_the_serving_reason_names_the_preferred_provider_through_a_second_failover():
    """a fails, b serves; b fails, c serves: the reason is still why a (the preferred one) does not serve.
    The route event names what this request met."""
    r, clock, events = router()
    cfg = make(ids=("a", "b", "c"), failure_threshold=1, cooldown_seconds=30)
    r.record_failure(cfg, "a", "HTTP 500: a boom")
    r.record_success(cfg, "b", [Failure("a", "HTTP 500: a boom")])
    r.record_failure(cfg, "b", "HTTP 500: b boom")
    r.record_success(cfg, "c", [Failure("b", "HTTP 500: b boom")])
    assert r.active(cfg, str) == ("c", "a: HTTP 500: a boom; b: HTTP 500: b boom")
    assert [m for _, kind, m in events if kind == "route"][-1] == "Failover from b to c: HTTP 500: b boom"


def test_failed_checks_say_what_the_provider_fails_with_now():
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=30)
    r.record_failure(cfg, "a", "HTTP 500: boom")
    r.record_success(cfg, "b", [Failure("a", "HTTP 500: boom")])
    r.record_failure(cfg, "a", "HTTP 404: not found", status=404)
    r.record_check(cfg, "a", False, "background check", error="HTTP 503: under maintenance", status=503)
    assert r.health_json(cfg)["a"]["last_error"] == "HTTP 503: under maintenance"
    assert r.last_failure("a") == ("HTTP 503: under maintenance", 503)  # a /v1 hint follows its own status
    assert r.active(cfg, str) == ("b", "a: HTTP 503: under maintenance")
    r.record_failure(cfg, "b", "HTTP 500")
    r.record_all_failed([Failure("b", "HTTP 500")], "all failed")
    r.record_check(cfg, "b", False, "background check", error="HTTP 502: bad gateway")
    assert [f.error for f in r.down] == ["HTTP 502: bad gateway"]


def test_the_fallback_made_preferred_serves_as_the_preferred_provider():
    r, _, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1)
    r.record_failure(cfg, "a", "HTTP 500")
    r.record_success(cfg, "b", [Failure("a", "HTTP 500")])
    r.preferred_changed(make(ids=("a", "b"), preferred_provider="b", failure_threshold=1))
    assert r.active(cfg, str) == ("b", "preferred provider")


def test_a_success_older_than_the_latest_failure_leaves_health_alone_and_binds_no_session_against_a_choice():
    """A long stream asked before its provider's latest failure (a 429 to another request) succeeds after
    it: the cooldown stands; its session is bound to it — unless the user chose since, which released every
    session (the stream was planned before the choice)."""
    from api_router.routing.affinity import SessionAffinity
    from tests.support.stores import AffinityStore

    clock = Clock()
    sessions = SessionAffinity(AffinityStore(), 600, "|a")  # type: ignore[arg-type]
    r = Router(lambda *a, **k: None, clock, affinity=sessions, wall=clock)
    cfg = make(cooldown_seconds=5)
    choice = r.choice
    r.record_failure(cfg, "a", "HTTP 429: slow down", retry_after=30)
    clock.now += 1
    r.record_success(cfg, "a", session_id="s1", choice=choice, took_s=2)  # asked 1 s before the 429
    assert "a" not in r.available(cfg) and sessions.provider_for("s1", 600) == "a"
    r.lock_changed(cfg, "b")
    r.record_success(cfg, "a", session_id="s2", choice=choice, took_s=2)
    assert sessions.provider_for("s2", 600) is None
    r.record_success(cfg, "a", choice=r.choice, took_s=0.5)  # asked after it: it answers again
    assert "a" in r.available(cfg)


def test_in_an_outage_a_check_that_timed_out_holds_the_next_one_up_by_nothing():
    """Every provider down: a hanging one's checks each end at their 10 s timeout, and the next starts an
    interval after the last one started (they came every 25 s); the first, an interval after the request
    that found it down failed."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=0)
    r.record_failure(cfg, "a", "no answer", unresponsive=True, took_s=60)
    r.record_failure(cfg, "b", "HTTP 500")
    r.record_all_failed([Failure("a", "no answer"), Failure("b", "HTTP 500")], "all failed")
    clock.now += 14
    assert r.needing_check(cfg, interval=15) == []
    clock.now += 1
    assert sorted(pid for pid, _ in r.needing_check(cfg, interval=15)) == ["a", "b"]
    for pid in ("a", "b"):
        r.check_started(pid)
    clock.now += 0.01
    r.record_check(cfg, "b", False, "background check", error="HTTP 500", took_s=0.01)
    clock.now += 10
    r.record_check(cfg, "a", False, "background check", error="timed out", took_s=10)
    assert r.down
    clock.now += 4.99  # 15 s after both checks started
    assert sorted(pid for pid, _ in r.needing_check(cfg, interval=15)) == ["a", "b"]


@pytest.mark.parametrize(("asked", "failed", "check_fails"), [
    (14.0, 29.0, 15.0),   # asked before the check started, failing after it
    (15.5, 29.5, 15.0),   # asked just after the check started
    (17.0, 18.0, 25.0),   # the check (hung) fails after the request did
])
def test_in_an_outage_a_client_requests_failure_still_waits_an_interval(asked, failed, check_fails):
    """Whatever the order of a check and a client request, the next check comes an interval after the
    request's failure — it is what the user paid for last."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=3, cooldown_seconds=0)
    start = clock.now
    r.record_failure(cfg, "a", "HTTP 500")
    r.record_failure(cfg, "b", "HTTP 500")
    r.record_all_failed([Failure("a", "HTTP 500"), Failure("b", "HTTP 500")], "all failed")
    clock.now = start + 15
    assert sorted(pid for pid, _ in r.needing_check(cfg, interval=15)) == ["a", "b"]
    r.check_started("a")
    events = sorted([(check_fails, "check"), (failed, "request")])
    for at, what in events:
        clock.now = start + at
        if what == "check":
            r.record_check(cfg, "a", False, "background check", error="HTTP 500", took_s=at - 15)
        else:
            r.record_failure(cfg, "a", "HTTP 500", took_s=failed - asked)
    clock.now = start + max(30.0, failed + 14.9)
    assert "a" not in [pid for pid, _ in r.needing_check(cfg, interval=15)]
    clock.now = start + max(30.0, failed + 15)
    assert "a" in [pid for pid, _ in r.needing_check(cfg, interval=15)]


def test_no_ping_pong_between_fallbacks_when_the_earlier_one_is_available_again():
    """README: 'While traffic has moved away from the preferred
    provider, it stays on the provider now serving (no ping-pong between fallbacks)'."""
    r, clock, _ = router()
    cfg = make(failure_threshold=2, cooldown_seconds=30, preferred_stable_seconds=60)
    r.record_failure(cfg, "a", "HTTP 503", retry_after=5)   # a cools down
    r.record_failure(cfg, "b", "HTTP 500")                  # b failed once (below the threshold: not cooling)
    r.record_success(cfg, "c", [Failure("a", "HTTP 503"), Failure("b", "HTTP 500")])  # c serves now
    clock.now += 31  # a's cooldown over, not stable; b available
    assert r.plan(cfg)[0] == "c"  # stays on c, not back to b


def test_locked_provider_that_stopped_answering_is_not_asked():
    """router.plan docstring / issue 12: a provider that
    stopped answering is never a candidate, locked to or not."""
    r, _, _ = router()
    cfg = make(manual_override="b")
    r.record_failure(cfg, "b", "no answer within 60 s", unresponsive=True)
    assert r.plan(cfg) == []


def test_a_probe_answer_does_not_bring_back_a_provider_that_hangs_on_requests():
    """README/issue 12: a relay can list its
    models and still hang on every request; only a Responses answer puts it back."""
    r, _, _ = router()
    cfg = make()
    r.record_failure(cfg, "a", "no answer", unresponsive=True)
    r.record_check(cfg, "a", True, "probe", responses=False)
    assert "a" not in r.available(cfg)


def test_hedge_delay_never_above_hedge_max_with_slow_history():
    """README: 'never below hedge_min_seconds (3 s) nor above
    hedge_max_seconds (10 s)'."""
    times = FirstEventTimes()
    for _ in range(10):
        times.record("a", 8.0)
    assert times.delay(RoutingConfig(), "a") == 10


def test_hedge_delay_is_the_maximum_until_five_streams():
    """README: '10 s until a provider has five streams behind it'."""
    times = FirstEventTimes()
    for _ in range(4):
        times.record("a", 0.5)
    assert times.delay(RoutingConfig(), "a") == 10
    times.record("a", 0.5)
    assert times.delay(RoutingConfig(), "a") == 3


def test_once_the_stable_window_passes_without_traffic_the_reason_says_the_preferred_can_serve_again():
    """README: "Relay A not yet stable after its last failure until its stable window has passed, then Relay A
    can serve again until traffic returns to it" — with no request meanwhile too (the dashboard said "not yet
    stable" for minutes after the window)."""
    r, clock, _ = router()
    cfg = make(ids=("a", "b"), failure_threshold=1, cooldown_seconds=1, preferred_stable_seconds=30)
    r.record_failure(cfg, "a", "HTTP 503: upstream overloaded")
    r.record_success(cfg, "b", [Failure("a", "HTTP 503: upstream overloaded")])
    clock.now += 2
    r.record_check(cfg, "a", True, "background check")
    assert r.active(cfg, str) == ("b", "a not yet stable after its last failure")
    clock.now += 27  # 29 s after its failure
    assert r.active(cfg, str) == ("b", "a not yet stable after its last failure")
    clock.now += 1.5
    assert r.active(cfg, str) == ("b", "a can serve again")  # the serving provider changes with the next request
    assert r.plan(cfg)[0] == "a"
