"""config.toml: defaults, broken files moved aside, wrong types repaired, comments kept, atomic."""

import itertools
import os
import time
import tomllib

import pytest
import tomlkit

from api_router.config import (
    ConfigError,
    ConfigFile,
    default_template,
    follow_order,
    parse,
    provider_table,
    remove_table,
    renamed_in_doc,
    section,
    set_order,
    set_value,
)
from api_router.tomlfiles import document


def test_missing_file_is_created_with_commented_defaults(tmp_path):
    path = tmp_path / "config.toml"
    cf, report = ConfigFile.load(path)
    assert report.created and not report.problems
    assert path.read_text() == default_template()
    cfg = cf.current
    assert (cfg.listen.host, cfg.listen.port, cfg.listen.max_body_mb) == ("127.0.0.1", 4000, 256)
    r = cfg.routing
    assert (r.failure_threshold, r.cooldown_seconds, r.preferred_stable_seconds, r.request_timeout_seconds,
            r.stream_idle_timeout_seconds, r.auto_return_to_preferred) == (2, 30, 30, 60, 300, True)
    assert cfg.ui.start_hidden is True
    # A comment for every setting, on its line or the one above.
    lines = default_template().splitlines()
    for previous, line in itertools.pairwise(lines):
        if " = " in line and not line.startswith("#"):
            assert "#" in line or previous.startswith("#"), line


def test_missing_keys_take_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[providers.p1]\nbase_url = "https://a.example/v1"\n')
    cf, report = ConfigFile.load(path)
    assert not report.problems
    assert cf.current.listen.port == 4000
    assert cf.current.providers["p1"].display_name == "p1"
    assert cf.current.order == ("p1",)


def test_keys_that_name_no_setting_are_reported_at_start_and_left_alone(tmp_path):
    path = tmp_path / "config.toml"
    text = ('provider_ordr = ["p1"]\n[listen]\nprot = 4001\n[routing]\nhedge = false\n'
            '[providers.p1]\nbase_url = "https://a.example/v1"\nbase_ulr = "x"\n[extras]\nmine = 1\n')
    path.write_text(text)
    cf, report = ConfigFile.load(path)
    assert not report.problems and path.read_text() == text  # ignored, not repaired away
    assert report.ignored == (
        "config.toml: provider_ordr is not a setting API Router knows; it is ignored (did you mean provider_order?)",
        "config.toml: extras is not a setting API Router knows; it is ignored",
        "config.toml: [listen] prot is not a setting API Router knows; it is ignored (did you mean port?)",
        "config.toml: [providers.p1] base_ulr is not a setting API Router knows; it is ignored (did you mean base_url?)",
    )
    assert cf.current.listen.port == 4000 and cf.current.routing.hedge is False


def test_values_the_app_refuses_but_the_file_runs_otherwise_are_reported_and_left_alone(tmp_path):
    """An upside-down hedge range and an id named twice in provider_order: the app refuses both, the
    file runs them otherwise (a fixed delay; the first place) — said, and not repaired away."""
    path = tmp_path / "config.toml"
    text = ('provider_order = ["p2", "p1", "p2", "gone", "p2"]\n[routing]\nhedge_min_seconds = 8\n'
            'hedge_max_seconds = 5\n[providers.p1]\nbase_url = "https://a.example/v1"\n'
            '[providers.p2]\nbase_url = "https://b.example/v1"\n')
    path.write_text(text)
    cf, report = ConfigFile.load(path)
    assert not report.problems and path.read_text() == text
    assert report.ignored == (
        "config.toml: [routing] hedge_max_seconds (5) is below hedge_min_seconds (8); a hedge waits 8 s for "
        "every provider",
        "config.toml: provider_order names p2 3 times; its first place counts",
    )
    assert cf.current.order == ("p2", "p1")
    path.write_text(text.replace("hedge_min_seconds = 8\n", "hedge_min_seconds = 8\nhedge = false\n"))
    assert ConfigFile.load(path)[1].ignored == (report.ignored[1],)  # no hedging: no hedge waits


def test_unparseable_file_is_moved_aside_and_defaults_used(tmp_path):
    path = tmp_path / "config.toml"
    original = b'[listen\nport = "oops'
    path.write_bytes(original)
    cf, report = ConfigFile.load(path)
    assert report.moved_to is not None and report.moved_to.read_bytes() == original
    assert report.moved_to.name.startswith("config.toml.broken-")
    assert "could not be read" in report.problems[0]
    assert cf.current.listen.port == 4000
    assert tomlkit.parse(path.read_text())  # a valid file is in place again


def test_a_file_cut_short_is_said_so_not_as_an_unexpected_nul_character(tmp_path):
    """tomlkit names the end of the text '\\x00', at line 1 col 0 whatever the line: the user reads that
    the file ends before something it opened is closed."""
    path = tmp_path / "config.toml"
    path.write_text('[routing]\ncooldown_seconds = 30\nprovider_order = ["a", "b"\n')
    _, report = ConfigFile.load(path)
    said = report.problems[0]
    assert "the file ends before something it opened (a [, a { or a quote) is closed" in said, said
    assert "x00" not in said and "col 0" not in said, said


def test_a_remote_host_without_allow_remote_is_repaired_once(tmp_path):
    """The file says what runs (127.0.0.1); the next start finds nothing to complain about and copies
    nothing aside again."""
    path = tmp_path / "config.toml"
    original = '[listen]\nhost = "0.0.0.0"  # for the laptop\nport = 4123\n'
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    assert cf.current.listen.host == "127.0.0.1" and cf.current.listen.port == 4123
    assert any("is not a loopback address" in p for p in report.problems)
    assert report.copied_to is not None and report.copied_to.read_text() == original
    assert 'host = "127.0.0.1"  # for the laptop' in path.read_text()
    _, again = ConfigFile.load(path)
    assert not again.problems and again.copied_to is None
    assert len(list(tmp_path.glob("config.toml.broken-*"))) == 1


@pytest.mark.parametrize("table", ['[providers."bad id!"]', "[[providers.p1]]"])
def test_a_file_whose_only_provider_table_is_invalid_is_repaired_and_stays_editable(tmp_path, table):
    """The invalid table goes from the file (copied aside first); the [providers] it leaves empty goes
    too — kept, it could not be saved, the file was left as it was and every change in the app refused."""
    path = tmp_path / "config.toml"
    original = f'# my notes\n[routing]\ncooldown_seconds = 5\n{table}\nbase_url = "https://x.example/v1"\n'
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    assert report.copied_to is not None and report.copied_to.read_text() == original, report.problems
    assert not cf.current.providers and cf.current.routing.cooldown_seconds == 5
    cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 33))
    assert cf.current.routing.cooldown_seconds == 33 and path.read_text().startswith("# my notes\n")



@pytest.mark.parametrize("table", ['[providers."My Relay"]', '[providers.""]'])
def test_a_file_holding_nothing_but_an_invalid_provider_table_is_repaired_to_the_defaults_not_emptied(
        tmp_path, table):
    """With the table cut nothing is left: an empty config.toml would then read as a hand edit caught half
    done (an error event, and the next change in the app moving the app's own file aside again). It is
    written as a new one is."""
    path = tmp_path / "config.toml"
    original = f'{table}\nbase_url = "http://127.0.0.1:9/v1"\n'
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    assert report.copied_to is not None and report.copied_to.read_text() == original, report.problems
    assert path.read_text() == default_template() and not cf.current.providers
    cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 33))
    assert cf.current.routing.cooldown_seconds == 33
    assert len(list(tmp_path.glob("config.toml.broken-*"))) == 1


def test_the_repair_of_an_invalid_provider_table_keeps_the_notes_over_the_next_one(tmp_path):
    """The comments above ``[providers.p2]`` are about p2 (tomlkit keeps them at the end of the table before
    it): cutting the invalid table before it leaves them where they stand, as the app's delete does."""
    path = tmp_path / "config.toml"
    path.write_text('[listen]\nport = 4000\n\n[providers."p 1"]\nbase_url = "https://a.example/v1"\n\n'
                    '# Relay Two: the cheap one, keep it last\n[providers.p2]\nbase_url = "https://b.example/v1"\n')
    cf, report = ConfigFile.load(path)
    assert report.copied_to is not None and list(cf.current.providers) == ["p2"]
    assert '# Relay Two: the cheap one, keep it last\n[providers.p2]\n' in path.read_text(), path.read_text()


@pytest.mark.parametrize(("original", "repaired"), [
    ("[providers.p1.model_map]\ngpt-5 = 42\n", "[providers.p1]\n"),
    ('# mine\n[routing]\ncooldown_seconds = 5\n\n# the map\n[providers.p1.model_map]\ngpt-5 = 42\n\n'
     "# about the ui\n[ui]\nstart_hidden = true\n",
     "# mine\n[routing]\ncooldown_seconds = 5\n\n# the map\n[providers.p1]\n\n# about the ui\n[ui]\n"
     "start_hidden = true\n"),
    ('[providers.p1.model_map]\ngpt-5 = 42\n\n[providers.p2]\nbase_url = "https://b.example/v1"\n# the end\n',
     '[providers.p1]\n\n[providers.p2]\nbase_url = "https://b.example/v1"\n# the end\n'),
    ('[providers.p1.base_url]\nhost = "a.example"\n', '[providers.p1]\nbase_url = ""\n'),
])
def test_an_invalid_table_of_a_provider_written_only_through_it_is_repaired_and_stays_editable(
        tmp_path, original, repaired):
    """``[providers.p1.model_map]`` with no ``[providers.p1]`` of its own: its invalid values reset, p1 had
    nothing left to write, so the repair could not be saved — the file was left as it was, and every
    change in the app refused. The invalid table's lines go (the original copied aside first), the
    provider that runs gets a header of its own, and the comments around them stay."""
    path = tmp_path / "config.toml"
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    assert report.copied_to is not None and report.copied_to.read_text() == original, report.problems
    assert report.problems[0].startswith("config.toml had invalid values; the original was copied to")
    assert path.read_text() == repaired
    assert cf.current.providers["p1"].base_url == "" and not cf.current.providers["p1"].model_map
    cf.edit(lambda doc: set_value(provider_table(doc, "p1"), "base_url", "https://a.example/v1"))
    cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 33))
    assert cf.current.providers["p1"].base_url == "https://a.example/v1"
    assert cf.current.routing.cooldown_seconds == 33
    _, again = ConfigFile.load(path)
    assert not again.problems and again.copied_to is None


def test_a_repair_keeps_an_empty_providers_table_written_by_hand(tmp_path):
    """Only a [providers] the repair emptied goes; one the user left empty, with notes, stays."""
    path = tmp_path / "config.toml"
    path.write_text("[routing]\ncooldown_seconds = -5\n\n[providers]\n# add your relays here\n")
    cf, report = ConfigFile.load(path)
    assert report.copied_to is not None and cf.current.routing.cooldown_seconds == 30
    assert "[providers]\n# add your relays here\n" in path.read_text()


def test_wrong_types_fall_back_per_value_and_original_is_copied(tmp_path):
    path = tmp_path / "config.toml"
    original = ('provider_order = ["b", "a"]\n[listen]\nport = "abc"  # typo\nhost = "127.0.0.1"\n'
                '[routing]\nfailure_threshold = 0\ncooldown_seconds = 5\n'
                '[providers.a]\nbase_url = "ftp://nope"\n[providers.b]\nbase_url = "https://b.example/v1"\n'
                'disabled = "yes"\n')
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    cfg = cf.current
    assert cfg.listen.port == 4000 and cfg.routing.failure_threshold == 2 and cfg.routing.cooldown_seconds == 5
    assert cfg.providers["a"].base_url == "" and cfg.providers["b"].disabled is False
    assert cfg.order == ("b", "a")
    assert report.copied_to is not None and report.copied_to.read_text() == original
    text = "\n".join(report.problems)
    for fragment in ("[listen] port", "[routing] failure_threshold", "[providers.a] base_url",
                     "[providers.b] disabled"):
        assert fragment in text
    repaired = path.read_text()
    assert "# typo" in repaired and "port = 4000" in repaired
    # a second load finds nothing to complain about (no pile of broken copies)
    _, again = ConfigFile.load(path)
    assert not again.problems


def test_wrong_table_shapes_never_crash(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('listen = 5\nproviders = "x"\nprovider_order = "p1"\nrouting = []\n')
    cf, report = ConfigFile.load(path)
    assert cf.current.listen.port == 4000 and not cf.current.providers
    assert len(report.problems) >= 3


def test_edits_keep_comments_and_order(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('# my notes\nprovider_order = ["x"]\n\n[routing]\n# tuned by hand\ncooldown_seconds = 10 # short\n\n'
                    '[providers.x]\nbase_url = "https://x.example/v1" # relay\n')
    cf, _ = ConfigFile.load(path)

    def change(doc):
        section(doc, "routing")["failure_threshold"] = 4
        provider_table(doc, "y", create=True)["base_url"] = "https://y.example/v1"
        set_order(doc, ["x", "y"])

    cfg = cf.edit(change)
    text = path.read_text()
    for kept in ("# my notes", "# tuned by hand", "cooldown_seconds = 10 # short", "# relay"):
        assert kept in text
    assert text.index("provider_order") < text.index("[routing]")  # stays a top-level key
    assert cfg.order == ("x", "y") and cfg.routing.failure_threshold == 4


def test_invalid_edit_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "config.toml"
    cf, _ = ConfigFile.load(path)
    before = path.read_bytes()
    try:
        cf.edit(lambda doc: section(doc, "listen").__setitem__("port", "nope"))
    except ConfigError as exc:
        assert "port" in str(exc)
    else:
        raise AssertionError("expected ConfigError")
    assert path.read_bytes() == before and cf.current.listen.port == 4000


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path):
    path = tmp_path / "config.toml"
    cf, _ = ConfigFile.load(path)
    (tmp_path / ".config.toml.123.456.tmp").write_text("half-written by a crash")
    ConfigFile.load(path)  # start-up removes temp files of interrupted writes
    for i in range(20):
        cf.edit(lambda doc, i=i: section(doc, "routing").__setitem__("cooldown_seconds", i))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]
    assert cf.current.routing.cooldown_seconds == 19


def test_float_seconds_are_accepted(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[routing]\nrequest_timeout_seconds = 0.5\ncooldown_seconds = 1.5\n")
    cf, report = ConfigFile.load(path)
    assert not report.problems and cf.current.routing.request_timeout_seconds == 0.5


def test_reading_needs_no_tomlkit_only_a_change_does(tmp_path):
    """An idle gateway reads config.toml (and Codex's) with tomllib; tomlkit (~0.9 MB) is loaded by the
    first change, which keeps the user's comments."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from api_router.codex.setup import config_block, connection_state
        from api_router.config import ConfigFile, section
        path = Path({str(tmp_path / "config.toml")!r})
        path.write_text("[routing]\\ncooldown_seconds = 5\\n")
        cf, _ = ConfigFile.load(path)            # (only a first run writes the template, with tomlkit)
        path.write_text(path.read_text() + "# mine\\n")
        cf.reload(); cf.reload()               # (an edit is used once it held still between two looks)
        connection_state(Path({str(tmp_path)!r}), "http://127.0.0.1:4000/v1", "t")
        config_block("http://127.0.0.1:4000/v1")
        print("tomlkit" in sys.modules)
        cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 7))
        print("tomlkit" in sys.modules, "# mine" in path.read_text(), cf.current.routing.cooldown_seconds)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True", "7"]


def test_the_codex_block_is_valid_toml_for_any_url():
    import tomllib

    from api_router.codex.setup import PROVIDER_ID, config_block, provider_values

    for url in ("http://127.0.0.1:4000/v1", 'http://h/"quoted"\\back\x7fdel/é/\U0001f600/v1'):
        data = tomllib.loads(config_block(url))
        assert data == {"model_provider": PROVIDER_ID, "model_providers": {PROVIDER_ID: provider_values(url)}}


def test_toml_1_1_that_tomllib_cannot_read_still_loads_and_edits(tmp_path):
    """tomllib reads TOML 1.0 only; what tomlkit reads besides (an inline table over several lines with a
    trailing comma) is still a usable file, as it was when tomlkit read everything."""
    path = tmp_path / "config.toml"
    path.write_text('[providers.relay]\nbase_url = "https://relay.example.com/v1"\n'
                    'model_map = {\n  "gpt-5" = "openai/gpt-5",\n}\n# mine\n')
    cf, report = ConfigFile.load(path)
    assert not report.problems and report.moved_to is None
    assert dict(cf.current.providers["relay"].model_map) == {"gpt-5": "openai/gpt-5"}
    cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 9))
    assert "# mine" in path.read_text() and cf.current.routing.cooldown_seconds == 9


def test_a_file_too_deep_for_the_editor_never_crashes_start_up_or_a_change(tmp_path):
    deep = "[" * 150 + "]" * 150
    path = tmp_path / "config.toml"
    path.write_text(f"[listen]\nport = {deep}\n")  # a wrong type, so the file would be repaired
    cf, report = ConfigFile.load(path)
    assert report.moved_to is not None and "could not be read" in report.problems[0]
    path.write_text(f"extra = {deep}\n")  # valid settings in a file only tomllib reads
    cf, report = ConfigFile.load(path)
    assert not report.problems
    try:
        cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 9))
    except ConfigError as exc:
        assert "change it by hand" in str(exc)
    else:
        raise AssertionError("the change should have been refused")
    assert path.read_text() == f"extra = {deep}\n"  # nothing lost


def test_codex_connection_is_read_from_a_toml_1_1_codex_config(tmp_path):
    """Codex's own config.toml may use what only TOML 1.1 allows; after Connect Codex it must read as
    connected (or a second connect would back up our own files over the user's)."""
    from api_router.codex import setup

    (tmp_path / "config.toml").write_text('[mcp_servers.x]\ncommand = "x"\nenv = {\n  A = "1",\n}\n')
    url = "http://127.0.0.1:4000/v1"
    assert setup.connection_state(tmp_path, url, "tok") == "not_connected"
    setup.apply(tmp_path, url, "tok")
    assert setup.connection_state(tmp_path, url, "tok") == "connected"
    assert 'A = "1"' in (tmp_path / "config.toml").read_text()


def test_listeners_end_on_the_newest_version_when_two_changes_finish_together(tmp_path):
    """The app saves a change while another (the file watcher's reload, a second control call) is still
    telling the listeners about the one before: the listeners must end on the newest."""
    import threading
    import time

    cf, _ = ConfigFile.load(tmp_path / "config.toml")
    seen: list[int] = []
    second: list[threading.Thread] = []

    def set_threshold(n):
        cf.edit(lambda doc: section(doc, "routing").__setitem__("failure_threshold", n))

    def slow_listener(cfg):
        if not second:  # the first change: the second is saved while this one is being told
            second.append(threading.Thread(target=set_threshold, args=(7,)))
            second[0].start()
            deadline = time.monotonic() + 5
            while cf.current.routing.failure_threshold != 7 and time.monotonic() < deadline:
                time.sleep(0.005)
        seen.append(cfg.routing.failure_threshold)

    cf.listeners.append(slow_listener)
    set_threshold(4)
    second[0].join(5)
    assert cf.current.routing.failure_threshold == 7
    assert seen[-1] == 7


def test_a_listener_that_changes_the_file_leaves_every_listener_on_the_newest_version(tmp_path):
    cf, _ = ConfigFile.load(tmp_path / "config.toml")
    seen: list[int] = []

    def raise_low_thresholds(cfg):
        if cfg.routing.failure_threshold < 5:
            cf.edit(lambda doc: section(doc, "routing").__setitem__("failure_threshold", 7))

    cf.listeners += [raise_low_thresholds, lambda cfg: seen.append(cfg.routing.failure_threshold)]
    cf.edit(lambda doc: section(doc, "routing").__setitem__("failure_threshold", 4))
    assert cf.current.routing.failure_threshold == 7
    assert seen[-1] == 7


def test_numbers_too_large_for_the_clocks_are_refused_at_load_and_on_edit(tmp_path):
    """inf or 1e308 seconds once passed "0 or more" and then broke every start (affinity's clock)."""
    path = tmp_path / "config.toml"
    path.write_text("[routing]\nsession_idle_return_seconds = inf\ncooldown_seconds = 1e308\n"
                    "failure_threshold = 99999999999999999999\n")
    cf, report = ConfigFile.load(path)
    for name in ("session_idle_return_seconds", "cooldown_seconds", "failure_threshold"):
        assert any(f"[routing] {name} must be" in p and "at most 1000000000" in p for p in report.problems), name
    assert (cf.current.routing.session_idle_return_seconds, cf.current.routing.cooldown_seconds) == (600, 30)
    with pytest.raises(ConfigError, match="at most 1000000000"):
        cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 1e12))
    cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 1e9))  # the largest allowed
    assert cf.current.routing.cooldown_seconds == 1e9


UNUSABLE_URLS = [
    ("http://127.0.0.1:99999/v1", "port '99999'"),
    ("http://h:abc/v1", "port 'abc'"),
    ("http://h:0/v1", "port '0'"),
    ("http://[zz]/v1", "not an IPv6 address"),
    ("http://1.2.3.4.5/v1", "not an IPv4 address"),
    ("http://a..b/v1", "empty part between dots"),
    ("http://" + "a" * 64 + ".example.com/v1", "longer than 63 characters"),
    ("http://relay\x00.example.com/v1", "control or invisible character"),
]


@pytest.mark.parametrize(("url", "why"), UNUSABLE_URLS)
def test_a_url_no_http_client_can_use_is_refused_with_its_reason(url, why):
    """The shape of a URL, but a port, address or host name the gateway's HTTP clients refuse: every
    request to that provider would fail, so config.toml (and the control API) refuse it."""
    from api_router.config import parse, url_problem

    assert why in (url_problem(url) or "")
    for field in ("base_url", "usage_base_url"):
        cfg, problems = parse({"providers": {"p1": {"base_url": "https://ok.example/v1", field: url}}})
        assert getattr(cfg.providers["p1"], field) == "" and f"[providers.p1] {field}" in problems[0]
        assert why in problems[0]


@pytest.mark.parametrize("url", ["http://localhost", "http://127.0.0.1:8080/v1", "http://[::1]:8080/v1",
                                 "http://[fe80::1%25eth0]:8080/v1", "https://relay.example.com:443/openai/v1",
                                 "HTTPS://Relay.Example.com/v1?api-version=1", "https://user:p@ss@relay.example/v1",
                                 "http://relay.例え.jp/v1", "http://my_host.lan:65535/", "http://h:/v1",
                                 "http://relay.example.com./v1"])
def test_every_usable_url_is_still_accepted(url):
    from api_router.config import url_problem

    assert url_problem(url) is None


@pytest.mark.parametrize("header", ['[providers.""]', '[providers." spaced "]', '[providers."-dash"]', '[providers."p2\\n"]',
                                   '[providers."a/b"]'])
def test_a_provider_id_the_app_would_refuse_is_refused_in_the_file_too(tmp_path, header):
    """Read as is, an empty id made every request and /status fail; such a table is reported and left out
    at start (the original is copied aside), and a hand edit adding one is refused like any invalid value."""
    path = tmp_path / "config.toml"
    good = '[providers.p1]\nbase_url = "https://a.example/v1"\n'
    path.write_text(f'{good}\n{header}\nbase_url = "https://b.example/v1"\n')
    cf, report = ConfigFile.load(path)
    assert cf.current.order == ("p1",) and "is not a valid provider id" in report.problems[1]
    assert report.copied_to is not None and header in report.copied_to.read_text()
    assert header not in path.read_text() and tomlkit.parse(path.read_text())["providers"]["p1"]

    problems = []
    cf.on_problem = problems.append
    path.write_text(path.read_text() + f'\n{header}\nbase_url = "https://b.example/v1"\n')
    cf.reload(), cf.reload()  # (an edit is used once it held still between two looks)
    assert cf.current.order == ("p1",) and "is not a valid provider id" in problems[0]


def test_an_empty_preferred_provider_or_lock_means_none():
    """"" is "the first in the list", never a provider: even one whose id is "" (config.toml no longer
    yields one) must not leave the router an empty candidate list to take the first of."""
    from dataclasses import replace
    from types import MappingProxyType

    from api_router.config import ProviderConfig, parse

    for routing in ({"preferred_provider": ""}, {"preferred_provider": "", "manual_override": ""}, {}):
        cfg, problems = parse({"routing": routing, "providers": {"b": {"base_url": "https://b.example/v1"},
                                                                 "a": {"base_url": "https://a.example/v1"}}})
        assert not problems
        assert (cfg.effective_preferred, cfg.preferred_first, cfg.effective_lock) == ("b", ("b", "a"), None)
    nameless = replace(cfg, providers=MappingProxyType({"": ProviderConfig(id="", base_url="https://x.example/v1")}))
    assert (nameless.effective_preferred, nameless.preferred_first, nameless.effective_lock) == ("", ("",), None)


def test_settings_seen_with_the_ids_of_now_follow_renames_and_swaps():
    """What a request planned with the settings of its first byte asks routing after renames: the same
    settings, every provider called as it is now."""
    from api_router.config import parse

    cfg, problems = parse({"provider_order": ["a", "b", "c"], "routing": {"preferred_provider": "b",
                                                                         "manual_override": "a"},
                           "providers": {pid: {"base_url": f"https://{pid}.example/v1"} for pid in "abc"}})
    assert not problems
    swapped = cfg.with_ids({"a": "b", "b": "a"})
    assert swapped.order == ("b", "a", "c") and swapped.providers["b"].base_url == "https://a.example/v1"
    assert (swapped.routing.preferred_provider, swapped.effective_lock) == ("a", "b")
    assert swapped.providers["b"].id == "b"
    # named as they are called now: default display names follow ids, so after a swap each is its new id's
    now, _ = parse({"provider_order": ["a", "b", "c"], "providers": {
        pid: {"base_url": f"https://{other}.example/v1"} for pid, other in (("a", "b"), ("b", "a"), ("c", "c"))}})
    named = cfg.with_ids({"a": "b", "b": "a"}, names=now)
    assert [(pid, p.display_name, p.base_url) for pid, p in named.providers.items()] == [
        ("b", "b", "https://a.example/v1"), ("a", "a", "https://b.example/v1"), ("c", "c", "https://c.example/v1")]
    # c deleted and a renamed to c: the one called c now is a; the deleted one is left out
    taken = cfg.with_ids({"a": "c"})
    assert taken.order == ("c", "b") and taken.providers["c"].base_url == "https://a.example/v1"
    assert cfg.order == ("a", "b", "c")  # the snapshot itself is unchanged


@pytest.mark.parametrize("old", ["a", "b"])
def test_rename_works_when_hand_written_provider_tables_are_split_by_another_table(old):
    text = ('[providers.a]\nbase_url = "http://a.example/v1" # a\'s own\n\n[routing]\nhedge = true\n\n'
            '[providers.b]\nbase_url = "http://b.example/v1" # b\'s own\n')
    doc = document(text)
    renamed_in_doc(doc, old, "c")
    out = tomlkit.dumps(doc)
    config, problems = parse(tomllib.loads(out))
    assert not problems and set(config.providers) == {"a", "b", "c"} - {old}
    assert config.providers["c"].base_url == f"http://{old}.example/v1"
    assert f"# {old}'s own" in out and config.routing.hedge is True


@pytest.mark.parametrize(("line", "why"), [
    ('display_name = "   "', "display_name must be a name of at most 200 characters, with at least one visible "
                            "and no control character or direction override (U+202A–U+202E, U+2066–U+2069) "
                            "(found '   '); using the provider's id"),
    # a name that turns the text around it backwards ("Relay B" shown, the event line after it reversed)
    ('display_name = "\\u202eB yaleR"', "no control character or direction override"),
    ('display_name = "Relay\\u0000Two"', "display_name must be a name of at most 200 characters, with at least"),
    ('display_name = "\\u200b"', "(found '\\u200b'); using the provider's id"),
    ('model_map = { " " = "x" }', "model_map must be a table of model names (strings without spaces)"),
    ('model_map = { "gpt 5" = "my model" }', "model_map must be a table of model names (strings without spaces)"),
])
def test_a_blank_name_the_app_refuses_is_refused_in_the_file_too(tmp_path, line, why):
    """The file accepted what the app refuses: a provider shown by a blank name in the UI, the tray and events."""
    path = tmp_path / "config.toml"
    path.write_text(f'[providers.p1]\nbase_url = "https://a.example/v1"\n{line}\n')
    cf, report = ConfigFile.load(path)
    assert any(why in p for p in report.problems), report.problems
    p1 = cf.current.providers["p1"]
    assert p1.display_name == "p1" and not p1.model_map
    assert line not in path.read_text()  # repaired (the original copied aside)


def test_a_provider_added_next_to_providers_written_as_dotted_keys_goes_after_them(tmp_path):
    """Each dotted line is a part of the providers table of its own: the new table went into the first,
    in among them (the next dotted key would have landed in it), and the change was refused."""
    path = tmp_path / "config.toml"
    original = ('# my settings\nproviders.p1.base_url = "https://a.example.com/v1"\n'
                'providers.p1.display_name = "Relay A"\n')
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    assert not report.problems and cf.current.providers["p1"].display_name == "Relay A"
    cf.edit(lambda doc: provider_table(doc, "p2", create=True).__setitem__("base_url", "https://b.example.com/v1"))
    assert path.read_text() == original + '\n[providers.p2]\nbase_url = "https://b.example.com/v1"\n'
    assert cf.current.providers["p1"].display_name == "Relay A" and set(cf.current.providers) == {"p1", "p2"}


def test_a_provider_added_to_providers_written_as_one_inline_table_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "config.toml"
    original = 'providers = { p1 = { base_url = "https://a.example.com/v1" } }\n'
    path.write_text(original)
    cf, _ = ConfigFile.load(path)
    with pytest.raises(ConfigError, match=r"inline table \(providers = \{ … \}\).*\[providers.<id>\] tables"):
        cf.edit(lambda doc: provider_table(doc, "p2", create=True).__setitem__("base_url", "https://b.example/v1"))
    assert path.read_text() == original


def test_a_change_that_would_move_settings_written_as_dotted_keys_is_refused(tmp_path):
    """tomlkit writes a table added at the end of a file that ends in dotted keys of another table (here
    ``listen.port``) in among them, so that they would land in the new table: the file would no longer
    say what runs. Such a change is refused and the file left as it is."""
    path = tmp_path / "config.toml"
    original = 'providers.p1 = { base_url = "https://a.example.com/v1" }\nlisten.port = 4000\n'
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    assert not report.problems

    def add_p2(doc):
        provider_table(doc, "p2", create=True)["base_url"] = "https://b.example.com/v1"

    with pytest.raises(ConfigError, match="without moving other settings") as refused:
        cf.edit(add_p2)
    assert "(listen.port)" in str(refused.value) and "write them as a [listen] table" in str(refused.value)
    assert path.read_text() == original and set(cf.current.providers) == {"p1"}
    cf.edit(lambda doc: section(doc, "routing").__setitem__("cooldown_seconds", 9))  # a change that fits is made
    assert tomllib.loads(path.read_text())["listen"]["port"] == 4000


@pytest.mark.parametrize(("name", "original", "wanted"), [
    ("the first provider's own comment goes with it",
     '[routing]\npreferred_provider = "b"\n\n# about a\n[providers.a]\nbase_url = "https://a/v1"\n\n'
     '# about b\n[providers.b]\nbase_url = "https://b/v1"\n',
     lambda text: "# about a" not in text and "# about b\n[providers.b]" in text),
    ("comments above an array of tables stay above it",
     '[providers.a]\nbase_url = "https://a/v1"\n# about the plugins\n[[plugins]]\nname = "x"\n'
     '# about routing\n[routing]\ncooldown_seconds = 5\n',
     lambda text: "# about the plugins\n[[plugins]]" in text and "# about routing\n[routing]" in text),
])
def test_a_deleted_provider_table_takes_its_own_comments_and_leaves_the_next_ones(tmp_path, name, original, wanted):
    path = tmp_path / "config.toml"
    path.write_text(original)
    cf, _ = ConfigFile.load(path)
    cf.edit(lambda doc: remove_table(doc, doc["providers"], "a"))
    assert wanted(path.read_text()), path.read_text()


@pytest.mark.parametrize(("original", "wanted"), [
    ('[providers.p1]\nbase_url = "https://a/v1"\n\n[providers.p2]\nbase_url = "https://b/v1"\n\n'
     '# ==== notes: p1 is the company relay ====\n',
     '[providers.p1]\nbase_url = "https://a/v1"\n\n# ==== notes: p1 is the company relay ====\n'),
    ('[routing]\ncooldown_seconds = 5\n\n[providers.p2]\nbase_url = "https://b/v1"\n# the end\n',
     '[routing]\ncooldown_seconds = 5\n# the end\n'),
    ('[providers.p2]\nbase_url = "https://b/v1"\n\n# nothing else\n', '# nothing else\n'),
])
def test_deleting_the_last_table_keeps_the_comments_that_end_the_file(tmp_path, original, wanted):
    """They stand below the last table, so the file keeps them with it; they are about the file, not it."""
    assert _with_provider_deleted(tmp_path, original, "p2") == wanted


def test_deleting_a_provider_whose_sub_table_ends_the_file_keeps_its_closing_comments(tmp_path):
    original = ('[providers.p1]\nbase_url = "https://a/v1"\n\n[providers.p2]\nbase_url = "https://b/v1"\n\n'
                '[providers.p1.model_map]\n"gpt-5" = "y"\n\n# my notes: keep me\n')
    assert _with_provider_deleted(tmp_path, original, "p1") == \
        '[providers.p2]\nbase_url = "https://b/v1"\n\n# my notes: keep me\n'


def _with_provider_deleted(tmp_path, original: str, pid: str) -> str:
    """config.toml as ``original``, once the app deleted provider ``pid``'s table."""
    path = tmp_path / "config.toml"
    path.write_text(original)
    cf, _ = ConfigFile.load(path)
    cf.edit(lambda doc: remove_table(doc, doc["providers"], pid))
    return path.read_text()


def test_a_comment_standing_apart_stays_where_it_is_through_a_new_key_and_a_delete(tmp_path):
    """A comment with blank lines around it, between two tables: a key added to the table above goes
    under that table's values, not under the comment — and deleting that table then leaves the comment."""
    path = tmp_path / "config.toml"
    path.write_text('[providers.p1]\nbase_url = "https://a/v1"\n\n# my notes: keep me\n\n'
                    '[providers.p2]\nbase_url = "https://b/v1"\n')
    cf, _ = ConfigFile.load(path)
    cf.edit(lambda doc: set_value(provider_table(doc, "p1"), "disabled", True))
    assert 'base_url = "https://a/v1"\ndisabled = true\n\n# my notes: keep me\n' in path.read_text(), path.read_text()
    cf.edit(lambda doc: remove_table(doc, doc["providers"], "p1"))
    assert "# my notes: keep me\n" in path.read_text(), path.read_text()


def test_a_new_entry_of_a_table_of_comments_goes_under_its_own_ones(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[providers.a]\nbase_url = "https://a/v1"\n[providers.a.model_map]\n# none yet\n\n'
                    '# about routing\n[routing]\ncooldown_seconds = 5\n')
    cf, _ = ConfigFile.load(path)
    cf.edit(lambda doc: set_value(provider_table(doc, "a"), "model_map", {"q": "r"}))
    assert '# none yet\nq = "r"\n\n# about routing\n[routing]' in path.read_text()


_P1 = '[providers.p1]\ndisplay_name = "P1"\nbase_url = "http://127.0.0.1:1/v1"\n'


@pytest.mark.parametrize("original", [
    '# my settings\nprovider_order = ["p1"]\n\n[routing]\ncooldown_seconds = 5\n\n' + _P1 + after
    for after in ("\n[ui]\nstart_hidden = true\n", "\n# about the ui\n[ui]\nstart_hidden = true\n", "",
                  "\n\n[ui]\nstart_hidden = true\n")
] + [
    '[providers]\n\n' + _P1 + '\n[routing]\ncooldown_seconds = 5\n',  # the providers' own header above
])
def test_a_provider_added_then_deleted_leaves_the_file_as_it_was(tmp_path, original):
    """Adding a provider table and deleting it again, any number of times, gives back the file byte for
    byte, two blank lines before the next header too (a blank line was left behind by each round)."""
    path = tmp_path / "config.toml"
    path.write_text(original)
    cf, _ = ConfigFile.load(path)

    def add(doc):
        table = provider_table(doc, "c1", create=True)
        set_value(table, "display_name", "C1")
        set_value(table, "base_url", "http://127.0.0.1:2/v1")

    for _ in range(3):
        cf.edit(add)
        assert '\n\n[providers.c1]\ndisplay_name = "C1"' in path.read_text()
        cf.edit(lambda doc: remove_table(doc, doc["providers"], "c1"))
        assert path.read_text() == original



@pytest.mark.parametrize("original", [
    "# my note",
    "[routing]\ncooldown_seconds = 5\n# my note",
    '[providers.p1]\nbase_url = "https://a/v1"\n\n# my note',
    "provider_order = []\n# my note",
    '[[plugins]]\nname = "x"\n# my note',
])
def test_a_comment_ending_a_file_without_a_final_newline_stays_the_users_through_an_add_and_a_delete(
        tmp_path, original):
    """The new table went right under the comment (tomlkit ended the comment's line for it), so the
    comment stood above its header as if about it, and deleting the provider took the comment along."""
    path = tmp_path / "config.toml"
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    assert not report.problems

    def add(doc):
        table = provider_table(doc, "x", create=True)
        set_value(table, "display_name", "X")
        set_value(table, "base_url", "https://x.example/v1")
        follow_order(doc, [*cf.current.order, "x"])

    def delete(doc):
        remove_table(doc, doc["providers"], "x")
        follow_order(doc, [p for p in cf.current.order if p != "x"])

    cf.edit(add)
    assert '# my note\n\n[providers.x]\ndisplay_name = "X"\n' in path.read_text(), path.read_text()
    cf.edit(delete)
    assert path.read_text() == original + "\n" and "x" not in cf.current.providers


@pytest.mark.parametrize(("original", "wanted"), [
    ('provider_order = []\n\n[providers.p1]\nbase_url = "https://a/v1"\n\n[routing]\ncooldown_seconds = 5\n',
     'provider_order = []\n\n[routing]\ncooldown_seconds = 5\n'),
    ('provider_order = []\n\n# about p1\n[providers.p1]\nbase_url = "https://a/v1"\n',
     'provider_order = []\n'),
    ('[providers]\n\n[providers.p1]\nbase_url = "https://a/v1"\n\n[providers.p2]\nbase_url = "https://b/v1"\n',
     '[providers]\n\n[providers.p2]\nbase_url = "https://b/v1"\n'),
])
def test_deleting_the_first_table_leaves_one_blank_line_or_none_at_the_end(tmp_path, original, wanted):
    assert _with_provider_deleted(tmp_path, original, "p1") == wanted


def test_a_file_written_with_crlf_and_a_bom_keeps_both_through_changes(tmp_path):
    """Windows editors write CRLF line ends and some a UTF-8 byte order mark: the app's changes keep both
    (the lines it added were LF-only, and the mark was dropped)."""
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf# mine\r\n[routing]\r\ncooldown_seconds = 45\r\n")
    cf, report = ConfigFile.load(path)
    assert not report.problems and cf.current.routing.cooldown_seconds == 45
    cf.edit(lambda doc: set_value(section(doc, "routing"), "failure_threshold", 3))
    cf.edit(lambda doc: set_value(provider_table(doc, "p1", create=True), "base_url", "https://a.example/v1"))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf# mine\r\n[routing]\r\ncooldown_seconds = 45\r\nfailure_threshold = 3\r\n"), raw
    assert b"\n" not in raw.replace(b"\r\n", b""), raw
    cf2, report = ConfigFile.load(path)
    assert not report.problems and cf2.current.routing.failure_threshold == 3 and "p1" in cf2.current.providers


def test_an_id_added_to_an_order_whose_last_id_has_no_comma_before_a_comment(tmp_path):
    """tomlkit would add the id after the comment without the comma the last id lacks (no TOML): the order
    is written anew instead, and the change is made (it was refused, blaming dotted keys the file lacks)."""
    path = tmp_path / "config.toml"
    path.write_text('provider_order = [\n  "relay_a"\n  # more to come\n]\n\n'
                    '[providers.relay_a]\nbase_url = "https://a.example/v1"\n')
    cf, _ = ConfigFile.load(path)

    def add_relay_c(doc):
        provider_table(doc, "relay_c", create=True)["base_url"] = "https://c.example/v1"
        set_order(doc, ["relay_a", "relay_c"])

    cf.edit(add_relay_c)
    assert tomllib.loads(path.read_text())["provider_order"] == ["relay_a", "relay_c"]


@pytest.mark.parametrize("original", [
    '[providers.relay_a]\nbase_url = "https://a/v1"\n# comment over routing\n[routing]\ncooldown_seconds = 5\n',
    '[providers.relay_a]\nbase_url = "https://a/v1"\n[routing]\ncooldown_seconds = 5\n',
])
def test_a_file_without_blank_lines_between_tables_gets_none_and_add_then_delete_gives_it_back(tmp_path, original):
    path = tmp_path / "config.toml"
    path.write_text(original)
    cf, _ = ConfigFile.load(path)
    cf.edit(lambda doc: set_value(provider_table(doc, "c1", create=True), "base_url", "https://c/v1"))
    assert '"https://a/v1"\n[providers.c1]\nbase_url = "https://c/v1"\n' in path.read_text()
    cf.edit(lambda doc: remove_table(doc, doc["providers"], "c1"))
    assert path.read_text() == original


@pytest.mark.parametrize(("lead", "wanted"), [
    ("# map of a\n", '"https://a/v1"\ndisabled = true\n# map of a\n[providers.relay_a.model_map]'),
    ("", '"https://a/v1"\ndisabled = true\n[providers.relay_a.model_map]'),
    ("\n", '"https://a/v1"\ndisabled = true\n\n[providers.relay_a.model_map]'),
])
def test_a_new_setting_goes_above_a_table_of_the_providers_own_and_its_comment(tmp_path, lead, wanted):
    """A provider with a ``[providers.a.model_map]`` table: a new setting goes under its last value, above
    the comment over that table and with no blank line of its own (it went below the comment, with one)."""
    path = tmp_path / "config.toml"
    path.write_text(f'[providers.relay_a]\nbase_url = "https://a/v1"\n{lead}[providers.relay_a.model_map]\nx = "y"\n')
    cf, _ = ConfigFile.load(path)
    cf.edit(lambda doc: set_value(provider_table(doc, "relay_a"), "disabled", True))
    assert wanted in path.read_text(), path.read_text()
    assert cf.current.providers["relay_a"].disabled and cf.current.providers["relay_a"].model_map == {"x": "y"}


def test_a_wrong_value_is_quoted_as_the_file_spells_it(tmp_path):
    """Not as Python writes it (True, datetime.date(…), {'a': 1})."""
    quoted = {"cooldown_seconds = 2024-01-02": "(found 2024-01-02)",
              "cooldown_seconds = [2024-01-02, true]": '(found ["2024-01-02", true])',
              "cooldown_seconds = inf": "(found inf)",
              "hedge = {a = 1}": '(found {"a": 1})'}
    for n, (line, found) in enumerate(quoted.items()):
        path = tmp_path / f"config-{n}.toml"
        path.write_text(f"[routing]\n{line}\n")
        problems = ConfigFile.load(path)[1].problems
        assert any(found in p for p in problems) and not any(
            word in p for p in problems for word in ("datetime", "True", "{'")), (line, problems)


def _empty_since(path, seconds_ago: float, content: bytes = b"") -> None:
    path.write_bytes(content)
    then = time.time() - seconds_ago
    os.utime(path, (then, then))


def _load_quietly(path):
    cf, report = ConfigFile.load(path)
    problems: list[str] = []
    cf.on_problem = problems.append
    return cf, report, problems


@pytest.mark.parametrize("empty", [b"", b"\n  \n", b"\xef\xbb\xbf\r\n"])
def test_an_empty_file_at_start_gets_the_defaults_written_into_it_and_no_error(tmp_path, empty):
    """Nothing in it (written more than a second ago) is nothing to keep: it is filled in as a missing file
    is — not taken for a hand edit that emptied it once the app looks at it again."""
    path = tmp_path / "config.toml"
    _empty_since(path, 60, empty)
    cf, report, problems = _load_quietly(path)
    assert not report.problems and path.read_text() == default_template() and cf.current.listen.port == 4000
    assert not cf.reload() and not problems


def test_an_empty_file_written_just_now_is_left_for_the_save_under_way(tmp_path):
    """An editor may be saving into it: left as it is, the defaults in use and no error; what lands is read
    as any edit — also a save landing between the look at the file and its read."""
    path = tmp_path / "config.toml"
    _empty_since(path, 0)
    cf, report, problems = _load_quietly(path)
    assert not report.problems and path.read_bytes() == b"" and cf.current.listen.port == 4000
    assert not cf.reload() and not problems
    path.write_text("[listen]\nport = 5000\n")
    for _ in range(60):  # read once it has held still (see UserFile._read_settled)
        if cf.reload():
            break
        time.sleep(0.05)
    assert cf.current.listen.port == 5000 and not problems
    cf.edit(lambda doc: set_value(section(doc, "routing"), "cooldown_seconds", 12))
    assert "port = 5000" in path.read_text() and cf.current.routing.cooldown_seconds == 12


def test_a_save_landing_while_an_empty_file_is_read_at_start_is_not_lost(tmp_path, monkeypatch):
    from api_router.config import file as config_file

    path = tmp_path / "config.toml"
    _empty_since(path, 60)
    real_read = config_file.read_file

    def read_then_saved(p):
        data = real_read(p)
        time.sleep(0.01)  # another modification time
        p.write_text("[listen]\nport = 5000\n")  # the editor's save, just after the read
        return data

    monkeypatch.setattr(config_file, "read_file", read_then_saved)
    cf, _, problems = _load_quietly(path)
    monkeypatch.undo()
    assert path.read_text() == "[listen]\nport = 5000\n"  # not replaced by the template
    for _ in range(60):
        if cf.reload():
            break
        time.sleep(0.05)
    assert cf.current.listen.port == 5000 and not problems


def test_an_empty_read_only_file_at_start_is_left_as_it_is_without_an_error(tmp_path):
    path = tmp_path / "config.toml"
    _empty_since(path, 60)
    path.chmod(0o400)
    cf, report, problems = _load_quietly(path)
    assert not report.problems and path.read_bytes() == b"" and cf.current.listen.port == 4000
    assert not cf.reload() and not problems


def test_request_log_retention_defaults_to_30_days():
    """README: '[request_log] retention_days = 30'; issue 2:
    a per-request log kept for 30 days."""
    from api_router.config.file import default_template
    from api_router.config.schema import RequestLogConfig
    assert RequestLogConfig().retention_days == 30
    assert "retention_days = 30" in default_template()
