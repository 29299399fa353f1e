"""secrets.json: creation, 0600, legacy migration, corrupt files moved aside, redaction."""

import json
import os
import stat

import pytest

from api_router.secrets import TOKEN_RE, Redactor, Secrets, SecretsFile, mask


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_created_with_fresh_token_and_0600(tmp_path):
    path = tmp_path / "secrets.json"
    sf, report = SecretsFile.load(path)
    assert report.created
    assert TOKEN_RE.match(sf.current.gateway_token)
    assert mode(path) == 0o600
    data = json.loads(path.read_text())
    assert data == {"gateway_token": sf.current.gateway_token, "providers": {}, "usage_tokens": {}}
    other, _ = SecretsFile.load(tmp_path / "other.json")
    assert other.current.gateway_token != sf.current.gateway_token


def test_loose_permissions_are_tightened(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"gateway_token": "ao_" + "1" * 32, "providers": {}}))
    os.chmod(path, 0o644)
    SecretsFile.load(path)
    assert mode(path) == 0o600


def test_legacy_token_is_migrated(tmp_path):
    path = tmp_path / "secrets.json"
    token = "ao_" + "a" * 32
    path.write_text(json.dumps({"providers": {"__gateway_token__": token, "p1": "sk-1"}}))
    sf, report = SecretsFile.load(path)
    assert report.migrated
    assert sf.current.gateway_token == token and dict(sf.current.provider_keys) == {"p1": "sk-1"}
    saved = json.loads(path.read_text())
    assert saved["gateway_token"] == token and "__gateway_token__" not in saved["providers"]


def test_corrupt_file_is_moved_aside_never_overwritten(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_bytes(b'{"gateway_token": "ao_x", "providers": {"p1": "sk-')
    sf, report = SecretsFile.load(path)
    assert report.moved_to is not None
    assert report.moved_to.read_bytes() == b'{"gateway_token": "ao_x", "providers": {"p1": "sk-'
    assert "new gateway token" in report.problems[0]
    assert TOKEN_RE.match(sf.current.gateway_token)
    assert mode(path) == 0o600


def test_wrong_shapes_are_salvaged_and_original_kept(tmp_path):
    path = tmp_path / "secrets.json"
    original = json.dumps({"gateway_token": "ao_" + "b" * 32, "providers": {"p1": "sk-good", "p2": 5}})
    path.write_text(original)
    sf, report = SecretsFile.load(path)
    assert dict(sf.current.provider_keys) == {"p1": "sk-good"}
    assert report.moved_to is not None and report.moved_to.read_text() == original


def test_utf8_bom_is_tolerated(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_bytes("\ufeff".encode() + json.dumps({"gateway_token": "ao_" + "c" * 32}).encode())
    sf, report = SecretsFile.load(path)
    assert not report.problems and sf.current.gateway_token == "ao_" + "c" * 32


def test_edit_notifies_listeners(tmp_path):
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    seen = []
    sf.listeners.append(seen.append)
    sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-new-key-123456"}))
    assert seen[0].provider_keys["p"] == "sk-new-key-123456"
    assert json.loads(sf.path.read_text())["providers"] == {"p": "sk-new-key-123456"}


def test_entries_it_does_not_use_are_kept_and_named(tmp_path):
    """A note, or a misspelt section holding a usage token: not used, but the user's — every write keeps
    them, and the report says which, with what was probably meant."""
    path = tmp_path / "secrets.json"
    original = {"gateway_token": "ao_" + "1" * 32, "providers": {"p1": "sk-p1-key-0123456789"},
                "usage_token": {"p1": "ut-p1-usage-token-0123"}, "_note": "keys rotated in März"}
    path.write_text(json.dumps(original))
    sf, report = SecretsFile.load(path)
    assert report.problems == () and report.moved_to is None
    assert report.ignored == (
        "secrets.json: usage_token is not an entry API Router knows; it is kept in the file but not used "
        "(did you mean usage_tokens?)",
        "secrets.json: _note is not an entry API Router knows; it is kept in the file but not used")
    sf.edit(lambda s: s.with_changes(provider_keys={"p1": "sk-p1-new-key-98765432"}))
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["usage_token"] == original["usage_token"] and saved["_note"] == "keys rotated in März"
    assert saved["providers"] == {"p1": "sk-p1-new-key-98765432"}


def test_an_entry_it_does_not_use_holding_a_lone_surrogate_is_kept_and_breaks_no_save(tmp_path):
    """JSON may spell half of an emoji (\\ud83d); no UTF-8 can: the file is written as ASCII."""
    path = tmp_path / "secrets.json"
    path.write_text('{"gateway_token": "ao_' + "1" * 32 + '", "providers": {"a": 5}, "note": "\\ud83d oops"}')
    sf, report = SecretsFile.load(path)  # the bad key is left out (saved at once), the note kept
    assert report.moved_to is not None and report.ignored
    sf.edit(lambda s: s.with_changes(provider_keys={"a": "sk-a-key-0123456789"}))
    assert json.loads(path.read_text())["note"] == "\ud83d oops"


@pytest.mark.parametrize("value, shown", [
    ("sk-" + "a" * 40 + "7890", "sk-a…7890"),  # keys as providers issue them
    ("sk-abcdef1234567890", "…7890"),  # a short one shows less: at least 12 characters stay hidden
    ("Xk9Qz7Lm2Pw4", "••••"), ("short", "••••"), ("", ""),
])
def test_mask(value, shown):
    assert mask(value) == shown
    assert len(value) - len(shown.replace("…", "").replace("•", "")) >= min(12, len(value))


def test_redactor_scrubs_every_secret(tmp_path):
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    current = sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-live-AAAA1111BBBB"},
                                               usage_tokens={"p": "usage-TOKEN-999999"}))
    r = Redactor()
    r.update(current)
    text = f"bad key sk-live-AAAA1111BBBB and usage-TOKEN-999999 via {current.gateway_token}"
    cleaned = r(text)
    assert "sk-live-AAAA1111BBBB" not in cleaned and "usage-TOKEN-999999" not in cleaned
    assert current.gateway_token not in cleaned
    assert "sk-l…BBBB" in cleaned


def test_redactor_masks_keys_spelled_with_json_escapes_or_in_utf16(tmp_path):
    """A client's JSON parser or charset decoder turns these back into the key."""
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    r = Redactor()
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-live-AAAA1111BBBB"})))
    escaped = b'{"error": {"message": "bad key sk\\u002dlive\\u002dAAAA1111BBBB caf\\u00e9"}}'
    shown = r.redact_bytes(escaped)
    assert "sk-live-AAAA1111BBBB" not in json.loads(shown)["error"]["message"]
    assert json.loads(shown)["error"]["message"] == "bad key sk-l…BBBB café"
    every_char = "".join(f"\\u{ord(c):04x}" for c in "sk-live-AAAA1111BBBB").encode()
    assert b"sk-l" in r.redact_bytes(b'{"m": "' + every_char + b'"}')
    for codec in ("utf-16-le", "utf-16-be", "utf-16", "utf-32-le", "utf-32-be", "utf-32"):
        body = '{"error": "bad key sk-live-AAAA1111BBBB"}'.encode(codec)
        assert r.redact_bytes(body).decode(codec) == '{"error": "bad key sk-l…BBBB"}', codec  # whole characters
    # An escape after an escaped backslash is still an escape: "C:\\" then "sk-…".
    parity = b'{"m": "C:\\\\\\u0073k-live-AAAA1111BBBB"}'
    assert json.loads(r.redact_bytes(parity))["m"] == "C:\\sk-l…BBBB"
    # Escapes that spell no key leave the bytes exactly as they came; a backslash's own text is no escape.
    for untouched in (b'{"m": "caf\\u00e9 \\u002d1"}', b'{"m": "sk\\\\u002dlive-AAAA1111BBBB"}',
                      b'{"m": "C:\\\\u0073k-live-AAAA1111BBBB"}'):  # "C:\\" then the text u0073k-…: no key
        assert r.redact_bytes(untouched) is untouched


def test_an_escape_in_a_large_event_costs_a_search_not_a_try_at_every_byte(tmp_path):
    """A relay writing its text as Python's json.dumps does (every CJK character and emoji a \\u escape) sends
    events of tens of MB: looking for escaped keys there must not hold the event loop (a second per 24 MB
    event, measured, with the control API waiting behind it). Timed against the same size of plain text."""
    import time

    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    r = Redactor()
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-live-AAAA1111BBBB"})))
    plain = b'{"delta": "' + b"a" * 20_000_000 + b'"}'
    escaped = b'{"delta": "' + b"a" * 20_000_000 + b'\\u00e9"}'

    def best(body: bytes) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert r.redact_bytes(body) is body
            times.append(time.perf_counter() - started)
        return min(times)

    assert best(escaped) < 4 * best(plain) + 0.05, (best(escaped), best(plain))


def test_redactor_masks_a_key_spelled_with_json_escapes_in_a_utf16_or_utf32_body(tmp_path):
    """Both at once: the client decodes the charset, then its JSON parser the escapes."""
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    r = Redactor()
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-live-AAAA1111BBBB"})))
    every_char = "".join(f"\\u{ord(c):04x}" for c in "sk-live-AAAA1111BBBB")
    for spelled in ("sk\\u002dlive\\u002dAAAA1111BBBB", every_char):
        for codec in ("utf-16-le", "utf-16-be", "utf-16", "utf-32-le", "utf-32-be", "utf-32"):
            body = ('{"error": "bad key ' + spelled + ' caf\\u00e9 \u4e2d"}').encode(codec)
            shown = json.loads(r.redact_bytes(body).decode(codec))["error"]
            assert shown == "bad key sk-l…BBBB café \u4e2d", (codec, spelled, shown)
    untouched = '{"m": "caf\\u00e9"}'.encode("utf-16-le")
    assert r.redact_bytes(untouched) is untouched


@pytest.mark.parametrize("key", ["sk-ABCDEF'GHIJ-1234567890abcd", 'sk-ABCDEF"GHIJ-1234567890abcd',
                                 "APIKey123456:APISecret7890", "sk-ABCDEF%GHIJ-1234567890", "sk-ABCDEF\\GHIJ-123456789"])
def test_redactor_masks_a_key_with_any_printable_character_spelled_as_json_escapes(tmp_path, key):
    """PHP's JSON_HEX_APOS / JSON_HEX_QUOT write ' and " as \\u0027 and \\u0022; some encoders escape every
    character. A key holding ' " : % or a backslash came through in those spellings unmasked."""
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    r = Redactor()
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": key})))
    hex_special = "".join(f"\\u{ord(c):04x}" if c in "'\"" else ("\\\\" if c == "\\" else c) for c in key)
    every_char = "".join(f"\\u{ord(c):04x}" for c in key)
    for spelled in (hex_special, every_char):
        body = ('{"error": {"message": "bad key ' + spelled + '"}}').encode()
        shown = r.redact_bytes(body)
        message = json.loads(shown)["error"]["message"]
        assert key not in message and message == "bad key " + mask(key), (spelled, message)


def test_redactor_masks_a_key_an_upstream_echoes_percent_encoded(tmp_path):
    """A relay that quotes the URL or form it was sent writes "+", "/" and "=" as %2B %2F %3D (or "+" for a
    space, or lower-case hex) — or only some of them, as encoders differ: Python's quote() keeps "/", Go's
    PathEscape escapes only "/", a query encoder only "+". The key must not come through in any of them."""
    from urllib.parse import quote, quote_plus, unquote

    key = "sk-echo+SECRET/value=123456789"
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    r = Redactor()
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": key})))
    for echoed in (quote(key, safe=""), quote_plus(key, safe=""), quote(key, safe="").lower().replace(
            "sk-echo%2bsecret%2fvalue%3d123456789", "sk-echo%2bSECRET%2fvalue%3d123456789"),
            quote(key), key.replace("/", "%2F"), key.replace("+", "%2b"), key.replace("=", "%3D")):
        text = f"invalid api key {echoed}, 50% off"
        for shown in (r(text), r.redact_bytes(text.encode()).decode()):
            assert "SECRET" not in unquote(shown) and shown.endswith(", 50% off"), (echoed, shown)


def test_a_url_password_holding_a_percent_escape_is_masked_when_echoed_re_encoded(tmp_path):
    """A URL's password is kept as the URL writes it (``p%40ss+word1``); a relay echoing what it decoded,
    encoded again by another encoder (``p%40ss%2Bword1``), is that password too — masked, never an error."""
    r = Redactor()
    r.update_url_secrets({"p%40ss+word1"})
    for echoed in ("p%40ss%2Bword1", "p%40ss+word1", "p%2540ss%2Bword1"):
        text = f"denied for user:{echoed}@relay"
        assert "word1" not in r(text) and b"word1" not in r.redact_bytes(text.encode()), echoed


def test_a_key_replaced_or_deleted_while_running_stays_masked(tmp_path):
    """A request sent with the old key may still be answered (its error echoing that key) after the
    key was rotated or its provider deleted."""
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    r = Redactor()
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-old-AAAA1111BBBB", "q": "sk-gone-CCCC2222"})))
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-new-DDDD3333EEEE"})))
    r.update_url_secrets({"url-pass-123456"})
    r.update_url_secrets(set())
    echoed = b"keys sk-old-AAAA1111BBBB sk-gone-CCCC2222 sk-new-DDDD3333EEEE url-pass-123456"
    assert r.redact_bytes(echoed) == "keys …BBBB …2222 …EEEE ••••".encode()


@pytest.mark.parametrize("bad", ["sk-a\x00b", "sk-a\x01b", "sk-a\x7fb", "sk-a\x85b", "sk-a\nb", "", "sk-a b",
                                 "Bearer sk-good-0002", "s" * 4097])
def test_a_key_or_token_no_http_header_can_carry_is_left_out_and_reported(tmp_path, bad):
    """A control character in a key breaks every request to its provider: the key is reported and left
    out (the original file kept aside) at start, and a hand edit that brings one in is refused."""
    path = tmp_path / "secrets.json"
    token = "ao_" + "d" * 32
    original = json.dumps({"gateway_token": token, "providers": {"p1": "sk-good-0001", "p2": bad},
                           "usage_tokens": {"p3": bad}})
    path.write_text(original)
    sf, report = SecretsFile.load(path)
    assert dict(sf.current.provider_keys) == {"p1": "sk-good-0001"} and not sf.current.usage_tokens
    assert "provider keys for 'p2' cannot be used" in report.problems[0]
    assert "usage tokens for 'p3' cannot be used" in report.problems[1]
    assert report.moved_to is not None and report.moved_to.read_text() == original
    assert json.loads(path.read_text())["providers"] == {"p1": "sk-good-0001"}

    problems = []
    sf.on_problem = problems.append
    path.write_text(json.dumps({"gateway_token": token, "providers": {"p1": bad}}))
    sf.reload(), sf.reload()  # (an edit is used once it held still between two looks)
    assert dict(sf.current.provider_keys) == {"p1": "sk-good-0001"}
    assert "cannot be used" in problems[0] and "last good keys" in problems[0]
    assert problems[0].startswith("secrets.json was edited but has invalid values: the provider keys for 'p1'")


def test_a_token_that_is_not_a_string_is_replaced_at_start_and_refused_in_a_hand_edit(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"gateway_token": 12345, "providers": {"p1": "sk-good-0001"}}))
    sf, report = SecretsFile.load(path)
    token = sf.current.gateway_token
    assert TOKEN_RE.match(token) and json.loads(path.read_text())["gateway_token"] == token
    assert report.problems[0].startswith("secrets.json: gateway_token is not a string of at most 4,096 printable "
                                         "ASCII characters only, with no spaces")
    assert any("a new gateway token was created" in p for p in report.problems)
    problems = []
    sf.on_problem = problems.append
    for wrong in (["x"], "ao_line\nbreak", "ao_a space"):
        problems.clear()
        path.write_text(json.dumps({"gateway_token": wrong, "providers": {"p1": "sk-good-0001"}}))
        sf.reload(), sf.reload()
        assert sf.current.gateway_token == token
        assert problems and "gateway_token is not a string" in problems[0] and "new token" not in problems[0]


def test_a_file_without_a_token_gets_one_saved_in_it(tmp_path):
    """Made at start but written nowhere, the token changed at every start and Codex's auth.json fell
    behind each time: it is saved at once, with the keys the file holds."""
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"providers": {"p1": "sk-good-0001"}, "usage_tokens": {"p1": "ut-0001"}}))
    sf, report = SecretsFile.load(path)
    assert report.created and not report.problems and TOKEN_RE.match(sf.current.gateway_token)
    assert json.loads(path.read_text()) == {"gateway_token": sf.current.gateway_token,
                                            "providers": {"p1": "sk-good-0001"}, "usage_tokens": {"p1": "ut-0001"}}
    assert mode(path) == 0o600
    again, report = SecretsFile.load(path)
    assert again.current.gateway_token == sf.current.gateway_token and not report.created


def test_a_hand_edit_that_removes_the_token_is_refused(tmp_path):
    """A fresh token in its place would lock every client out while the file still names none."""
    path = tmp_path / "secrets.json"
    sf, _ = SecretsFile.load(path)
    token = sf.current.gateway_token
    problems = []
    sf.on_problem = problems.append
    path.write_text(json.dumps({"providers": {"p1": "sk-new-0001"}}))
    sf.reload(), sf.reload()
    assert sf.current.gateway_token == token and not sf.current.provider_keys
    assert "has no gateway_token" in problems[0]


def test_a_file_nested_too_deep_to_parse_is_moved_aside_at_start_and_refused_while_running(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "secrets.json"
    path.write_text(deep)
    sf, report = SecretsFile.load(path)
    assert report.moved_to is not None and report.moved_to.read_text() == deep
    assert "could not be read (nested too deeply)" in report.problems[0]
    token = sf.current.gateway_token
    problems = []
    sf.on_problem = problems.append
    path.write_text(deep)
    sf.reload(), sf.reload()
    assert sf.current.gateway_token == token
    assert problems and "is not valid JSON (nested too deeply)" in problems[0]


@pytest.mark.parametrize(("text", "why"), [
    ('{"gateway_token": "ao_x",\n  "providers": {"p1": "sk-secret-0001"\n', "Expecting ',' delimiter at line 3 column 1"),
    ('{"gateway_token": "ao_x"}'.encode("utf-16"), "not UTF-8 text: byte 0xff at offset 0; save it as UTF-8"),
    ('{"gateway_token": "ao_x\tsk-secret-0001"}', "Invalid control character at line 1 column 24"),
    ('{"gateway_token": "ao_x", "n": ' + "9" * 5000 + "}", "a number with too many digits"),
])
def test_a_hand_edit_that_is_no_json_says_where_and_why_without_quoting_it(tmp_path, text, why):
    """Saved by hand with a comma missing, or as UTF-16 by Notepad: the error says where and what is wrong
    in words, not a parser's class name — and never the file's text (a key)."""
    path = tmp_path / "secrets.json"
    SecretsFile.load(path)
    sf, _ = SecretsFile.load(path)
    problems = []
    sf.on_problem = problems.append
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    sf.reload(), sf.reload()
    assert problems and f"is not valid JSON ({why})" in problems[0], problems
    assert "sk-secret" not in problems[0]


def test_spaces_around_a_key_or_the_token_as_pasted_are_left_out(tmp_path):
    """A token saved by hand with a space after it was taken as it was and could never match what a
    client sends (HTTP drops the space): every client, the web UI included, was locked out."""
    path = tmp_path / "secrets.json"
    token = "ao_" + "e" * 32
    path.write_text(json.dumps({"gateway_token": token + " ", "providers": {"p1": " sk-good-0001\n"},
                                "usage_tokens": {"p1": "\tut-0001 "}}))
    sf, report = SecretsFile.load(path)
    assert not report.problems
    assert sf.current.gateway_token == token
    assert dict(sf.current.provider_keys) == {"p1": "sk-good-0001"} and dict(sf.current.usage_tokens) == {"p1": "ut-0001"}
    sf.reload()
    path.write_text(json.dumps({"gateway_token": "\n" + token + "\n", "providers": {"p1": "sk-good-0002 "}}))
    sf.reload(), sf.reload()
    assert sf.current.gateway_token == token and dict(sf.current.provider_keys) == {"p1": "sk-good-0002"}


def test_a_name_written_twice_loses_no_key(tmp_path):
    """JSON readers keep the last of two "providers" objects: the first one's keys would be gone at the
    next save, without a word. Such a file is refused — kept aside at start, and while running not used
    and kept aside by the next change."""
    token = "ao_" + "3" * 32
    text = ('{"gateway_token": "' + token + '", "providers": {"p1": "sk-first-0001"}, "usage_tokens": {},\n'
            ' "providers": {"p2": "sk-second-0002"}}')
    path = tmp_path / "secrets.json"
    path.write_text(text)
    sf, report = SecretsFile.load(path)
    assert report.moved_to is not None and report.moved_to.read_text() == text
    assert "'providers' is written twice" in report.problems[0]
    report.moved_to.unlink()

    path.write_text(json.dumps({"gateway_token": sf.current.gateway_token, "providers": {"p1": "sk-first-0001"}}))
    sf.reload(), sf.reload()
    problems = []
    sf.on_problem = problems.append
    path.write_text(text.replace(token, sf.current.gateway_token))
    sf.reload(), sf.reload()
    assert problems and "'providers' is written twice" in problems[0]
    assert dict(sf.current.provider_keys) == {"p1": "sk-first-0001"}  # the last good version stays in use
    sf.edit(lambda s: s.with_changes(usage_tokens={"p1": "ut-1234567890"}))
    kept = [p for p in tmp_path.iterdir() if p.name != "secrets.json" and "sk-second-0002" in p.read_text()]
    assert kept and "sk-first-0001" in kept[0].read_text()


def test_a_key_with_nothing_to_escape_is_scanned_for_once(tmp_path):
    """Each form is a scan of every answer it masks: a plain key is written the same every way."""
    sf, _ = SecretsFile.load(tmp_path / "secrets.json")
    r = Redactor()
    r.update(sf.edit(lambda s: s.with_changes(provider_keys={"p": "sk-plain-0123456789"})))
    forms = [form for form, _ in r._values]
    assert len(forms) == len(set(forms))
    assert forms.count("sk-plain-0123456789") == 1


def test_an_edited_url_gets_each_masked_secret_back_at_its_own_place() -> None:
    """A URL with a password and a key (both short enough to be shown as ••••): an edit of its path keeps
    the password where the password was and the key where the key was; a mask moved elsewhere, or the
    host changed, is refused."""
    redactor = Redactor()
    redactor.update(Secrets(gateway_token="g" * 40, provider_keys={"p": "KEY1234567890"}))
    redactor.update_url_secrets({"pw12345"})
    old = "https://u:pw12345@host.example/v1?api-key=KEY1234567890"
    shown = redactor.shown_url(old)
    assert "KEY1234567890" not in shown and "pw12345" not in shown
    edited = redactor.unmask_url_secrets("base_url", shown.replace("/v1", "/v2"), old)
    assert edited == "https://u:pw12345@host.example/v2?api-key=KEY1234567890"
    with pytest.raises(ValueError, match="type the key"):
        redactor.unmask_url_secrets("base_url", shown.replace("api-key", "key"), old)
    with pytest.raises(ValueError, match="type the key"):
        redactor.unmask_url_secrets("base_url", shown.replace("host.example", "other.example"), old)


def test_a_key_written_as_a_urls_user_name_is_a_secret_shown_masked_and_kept_by_an_edit() -> None:
    """``https://TOKEN@relay/v1`` (no password: the user name is the credential, sent as Basic
    ``TOKEN:``): masked as a key wherever it shows, with its Basic form; an edit of the path keeps it, an
    edit of the host must type it again."""
    import base64

    from api_router.secrets import url_secrets

    token = "sk-relay-0123456789abcdef"
    old = f"https://{token}@relay.example/v1"
    found = url_secrets(old)
    assert token in found and base64.b64encode(f"{token}:".encode()).decode() in found
    assert url_secrets("https://relay.example/v1") == set()
    redactor = Redactor()
    redactor.update(Secrets(gateway_token="g" * 40))
    redactor.update_url_secrets(found)
    shown = redactor.shown_url(old)
    assert token not in shown and shown == f"https://{mask(token)}@relay.example/v1"
    assert redactor.unmask_url_secrets("base_url", shown.replace("/v1", "/v2"), old) == old.replace("/v1", "/v2")
    with pytest.raises(ValueError, match="type the key"):
        redactor.unmask_url_secrets("base_url", shown.replace("relay.example", "other.example"), old)
    with pytest.raises(ValueError, match="another scheme, host"):  # the scheme is part of the account
        redactor.unmask_url_secrets("base_url", shown.replace("https://", "http://"), old)


def test_a_short_lone_user_name_is_a_name_and_an_empty_password_hides_nothing() -> None:
    """``https://ubuntu@ubuntu-relay.example.com/v1``: a name, not a key (masked as one, it would mask the
    host and every "ubuntu" an answer holds); from 16 characters it is a key. ``https://bob:@host`` has no
    password to mask, so an edit of its path needs none typed."""
    from api_router.secrets import mask_url, mask_url_secrets, unmask_url, url_secrets

    assert url_secrets("https://ubuntu@ubuntu-relay.example.com/v1") == set()
    assert url_secrets("https://fifteen-chars-x@r.example/v1") == set()
    assert "sixteen-chars-xy" in url_secrets("https://sixteen-chars-xy@r.example/v1")
    assert mask_url("https://bob:@host.example/v1") == "https://bob:@host.example/v1"
    assert unmask_url("base_url", "https://bob:@host.example/v2", "https://bob:@host.example/v1") == \
        "https://bob:@host.example/v2"
    shown = mask_url_secrets("https://sk-relay-0123456789abcdef@h.example/v1?api-key=sk-query-0123456789abcd")
    assert "0123456789abcdef" not in shown and "sk-query-0123456789abcd" not in shown and "h.example/v1" in shown


@pytest.mark.parametrize("name", ["api-key", "X-Api-Key", "x_api_key", "apiKey", "subscription-key",
                                  "Ocp-Apim-Subscription-Key", "client_secret", "auth_token", "access-token",
                                  "code", "sig", "password", "Authorization"])
def test_a_credential_parameter_is_known_by_its_name_in_any_spelling(name: str) -> None:
    """A header's name copied into a URL (``X-Api-Key=``), Azure API Management's subscription key, an Azure
    Function's ``code``: each value is a secret, whichever case, "-" or "_" the name is written with —
    also after a ";", which older servers read as a parameter separator."""
    from api_router.secrets import mask_url_secrets, url_secrets

    value = "sk-live-0123456789abcdef"
    for url in (f"https://relay.example/v1?{name}={value}", f"https://relay.example/v1?api-version=2024;{name}={value}"):
        assert value in url_secrets(url), url
        assert value not in mask_url_secrets(url) and "relay.example/v1" in mask_url_secrets(url)


def test_a_parameter_that_names_no_credential_is_shown_as_it_is() -> None:
    """Every value masked is masked in every body relayed: a word or a number under a name that only may
    carry a credential ("route_key=production") is no secret, or "production" would read "••••" in answers."""
    from api_router.secrets import url_secrets

    assert url_secrets("https://relay.example/v1?api-version=2024-05-01-preview&model=gpt-5.1-codex"
                       "&max_tokens=100000&keyboard=us-intl&region=eastus2") == set()
    assert url_secrets("https://relay.example/v1?route_key=production&max_token=100000&code=eu-west") == set()
    # The names that always carry one keep every value a secret, short and plain ones too, in any spelling.
    assert url_secrets("https://relay.example/v1?key=abc123&token=production") >= {"abc123", "production"}
    assert url_secrets("https://relay.example/v1?X-API-KEY=lettersonlykey&accessToken=1234567") >= \
        {"lettersonlykey", "1234567"}


def test_a_credential_value_with_a_semicolon_is_masked_whole() -> None:
    from api_router.secrets import mask_url_secrets

    shown = mask_url_secrets("https://relay.example/v1?key=sk-live-abcdef;0123456789XYZ")
    assert "0123456789XYZ" not in shown and "sk-live-abcdef" not in shown, shown


def test_a_url_holding_a_masked_key_is_refused_where_it_is_entered() -> None:
    """A URL copied as it was shown (its key masked) into another provider: the mask would be saved and
    sent. A masked password is kept apart: ``unmask_url`` restores it for the same account."""
    from api_router.config.schema import url_problem

    assert "masked key" in (url_problem("http://sk-r…cdef@127.0.0.1:9/v1") or "")
    assert "masked key" in (url_problem("https://relay.example/v1?api-key=••••") or "")
    # A masked password: the control API restores it (for the same account); written in config.toml, nothing does.
    assert url_problem("https://user:••••@relay.example/v1", password_mask=True) is None
    assert "masked key or password" in (url_problem("https://user:••••@relay.example/v1") or "")


def test_a_refused_url_is_quoted_with_its_credential_parameters_masked() -> None:
    """A URL refused (a bad port, say) is not saved, so the masking never learns its ``?api-key=``: the
    message quoting it masks the value itself."""
    from api_router.secrets import mask_refused

    key = "sk-live-0123456789abcdef"
    shown = mask_refused(f"https://relay.example:99999/v1?api-key={key}")
    assert key not in shown and key[-12:] not in shown and "relay.example:99999" in shown, shown
    # A pasted page of them costs no scan per value (all but the shown part is cut first).
    import time

    page = "&".join(f"key=value{i:07d}" for i in range(40_000))
    started = time.monotonic()
    shown = mask_refused(f"https://relay.example:99999/v1?api-key={key}&{page}")
    assert time.monotonic() - started < 5 and key not in shown and len(shown) <= 200


def test_an_idle_gateway_carries_no_difflib_nor_ctypes(tmp_path):
    """What only a rare moment needs is imported then: difflib for a misspelt entry's hint, ctypes for a
    save that races another (renameat2). Reading the files and saving them as usual load neither."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from api_router.config import ConfigFile
        from api_router.fsutil import atomic_write
        from api_router.secrets import SecretsFile
        folder = Path({str(tmp_path)!r})
        (folder / "secrets.json").write_text(json.dumps({{"gateway_token": "ao_" + "a" * 32, "providers": {{}}}}))
        SecretsFile.load(folder / "secrets.json")
        ConfigFile.load(folder / "config.toml")
        atomic_write(folder / "x.json", b"{{}}")
        print("difflib" in sys.modules, "ctypes" in sys.modules)
        (folder / "secrets.json").write_text(json.dumps({{"gateway_token": "ao_" + "a" * 32, "usage_token": {{}}}}))
        _, report = SecretsFile.load(folder / "secrets.json")
        print("difflib" in sys.modules, "usage_tokens?" in " ".join(report.ignored))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True", "True"]


def _redactor(keys):
    from api_router.secrets import Redactor, Secrets
    r = Redactor()
    r.update(Secrets(gateway_token="ao_" + "1" * 32, provider_keys=keys))
    return r


def test_a_key_of_6_to_11_characters_is_masked():
    """README: 'A key or token shorter than 6 characters is not
    masked' — one of 6 or more is."""
    r = _redactor({"p": "k8Zq2wLx9"})  # 9 characters
    assert "k8Zq2wLx9" not in r("upstream said: invalid key k8Zq2wLx9")
    assert b"k8Zq2wLx9" not in r.redact_bytes(b'{"error": "invalid key k8Zq2wLx9"}')


def test_a_short_url_password_in_an_error_text_is_masked():
    """README: '`user:password@` in a base URL is shown
    masked, however short the password ... (any URL with a password in an error or event text is masked the
    same way)'."""
    r = _redactor({})
    shown = r("Cannot connect to https://me:pw1@relay.example/v1 (refused)")
    assert "pw1" not in shown and "me:••••@relay.example" in shown, shown
