"""Property-based tests: the config loader on arbitrary input, the history rebuilder."""

from __future__ import annotations

import tomlkit
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api_router.config import ConfigFile
from api_router.continuity.index import sealed_key
from api_router.continuity.rewrite import drop_foreign_sealed, rebuild_input

scalars = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20), st.lists(st.integers(), max_size=3))
keys = st.sampled_from(["host", "port", "max_body_mb", "allow_remote", "preferred_provider", "failure_threshold",
                        "cooldown_seconds", "request_timeout_seconds", "auto_return_to_preferred", "base_url",
                        "display_name", "disabled", "usage_adapter", "start_hidden", "unknown_key"])
tables = st.dictionaries(keys, scalars, max_size=6)
documents = st.fixed_dictionaries({}, optional={
    "provider_order": st.one_of(st.lists(st.text(max_size=8), max_size=4), scalars),
    "listen": st.one_of(tables, scalars),
    "routing": st.one_of(tables, scalars),
    "ui": st.one_of(tables, scalars),
    "providers": st.one_of(st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
                                           st.one_of(tables, scalars), max_size=3), scalars),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_config_loader_never_crashes_on_wrong_types_and_keeps_the_original(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("cfg")
    path = folder / "config.toml"
    original = tomlkit.dumps(data)
    path.write_text(original)
    cf, report = ConfigFile.load(path)
    cfg = cf.current
    assert isinstance(cfg.listen.port, int) and 0 <= cfg.listen.port <= 65535
    assert cfg.routing.failure_threshold >= 1 and cfg.listen.max_body_mb > 0
    assert set(cfg.order) == set(cfg.providers)
    if report.problems:  # repaired in place, original kept beside it
        assert report.copied_to is not None and report.copied_to.read_text() == original
        again, second = ConfigFile.load(path)
        assert not second.problems and again.current == cfg
    else:
        assert path.read_text() == original


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
@example(b"\x0b")  # whitespace to Python, no TOML: not an empty file
@example(b"\xef\xbb\xbf \t\r\n")  # empty: left as it is (written just now), and readable
def test_config_loader_never_crashes_on_arbitrary_bytes_and_never_loses_them(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("cfg")
    path = folder / "config.toml"
    path.write_bytes(raw)
    cf, report = ConfigFile.load(path)
    assert cf.current.listen.port in range(65536)
    kept = [p for p in folder.iterdir() if p.name != "config.toml"]
    if report.moved_to or report.copied_to:
        assert any(p.read_bytes() == raw for p in kept)
    else:
        assert path.read_bytes() == raw
    tomlkit.parse(path.read_text(encoding="utf-8-sig"))  # as the app reads it: a BOM may open the file


messages = st.builds(lambda role, text: {"type": "message", "role": role,
                                         "content": [{"type": "input_text", "text": text}]},
                     st.sampled_from(["user", "assistant", "developer"]), st.text(max_size=8))
calls = st.builds(lambda cid, kind: {"type": kind, "call_id": f"c{cid}", "output": "x"} if kind.endswith("output")
                  else {"type": kind, "call_id": f"c{cid}", "name": "f", "arguments": "{}"},
                  st.integers(0, 5), st.sampled_from(["function_call", "function_call_output",
                                                      "custom_tool_call", "custom_tool_call_output"]))
reasoning = st.builds(lambda n, who: {"type": "reasoning", "id": f"rs_{n}", "summary": [],
                                      "encrypted_content": f"sealed-{who}"},
                      st.integers(0, 9), st.sampled_from(["a", "b"]))
items = st.lists(st.one_of(messages, calls, reasoning), max_size=12)


@settings(max_examples=300, deadline=None)
@given(items, items)
def test_rebuild_keeps_history_order_and_is_idempotent(history, own):
    rebuilt = rebuild_input(history, own)
    assert rebuilt[:len(history)] == history  # the history, in order, comes first
    assert rebuilt in (history, history + own)
    assert rebuild_input(rebuilt, own) == rebuilt  # the request's items already end it: no duplicate
    if own:
        assert rebuilt[-len(own):] == own


@settings(max_examples=300, deadline=None)
@given(items, st.dictionaries(st.sampled_from(["sealed-a", "sealed-b"]), st.sampled_from(["a", "b"])))
def test_dropping_sealed_reasoning_only_removes_other_providers_items(history, sealed_by):
    """Owners are recorded by sealed content (``sealed_by``: content → who); items with no record are the
    target's own."""
    owners = {sealed_key({"encrypted_content": content}): who for content, who in sealed_by.items()}
    kept = drop_foreign_sealed(history, "a", owners, all_sealed=False)
    assert list(kept) == [i for i in history if not (
        i["type"] == "reasoning" and sealed_by.get(i["encrypted_content"], "a") != "a")]
    assert drop_foreign_sealed(kept, "a", owners, all_sealed=False) == kept
    stripped = drop_foreign_sealed(history, "a", owners, all_sealed=True)
    assert all(i["type"] != "reasoning" for i in stripped)
    assert [i for i in history if i["type"] != "reasoning"] == stripped
