"""Usage base candidates: the origin of base_url, or the override; the host without "-api" only as a suggestion."""

from __future__ import annotations

import pytest

from api_router.usage.bases import candidate_bases, origin_of, panel_guess


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://relay.example.com/v1", "https://relay.example.com"),
        ("https://relay.example.com", "https://relay.example.com"),
        ("https://Relay.Example.com:443/v1/", "https://relay.example.com"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
        ("https://foo-api.example.com/v1?x=1#frag", "https://foo-api.example.com"),
        ("http://[::1]:9000/v1", "http://[::1]:9000"),
    ],
)
def test_the_origin_is_the_only_candidate(base_url: str, expected: str) -> None:
    assert candidate_bases(base_url) == (expected,)


@pytest.mark.parametrize(
    ("base_url", "guess"),
    [
        ("https://foo-api.example.com/v1", "https://foo.example.com"),
        ("http://foo-api.example.com:8443/openai/v1", "http://foo.example.com:8443"),
        ("https://my-api-api.example.com/v1", "https://my-api.example.com"),
        ("https://claude-api.com/v1", "https://claude.com"),  # shown to the user, who knows whose it is
        ("https://api.example.com/v1", None),  # no "-api." in the host
        ("not a url", None),
    ],
)
def test_a_panel_without_api_in_its_host_is_only_a_guess(base_url: str, guess: str | None) -> None:
    assert panel_guess(base_url) == guess
    assert guess is None or guess not in candidate_bases(base_url)


@pytest.mark.parametrize(
    "base_url", ["", "relay.example.com/v1", "ftp://relay.example.com", "https://", "http://host:notaport/"]
)
def test_unusable_base_url(base_url: str) -> None:
    assert candidate_bases(base_url) == ()


def test_override_is_the_only_candidate_and_keeps_its_path() -> None:
    assert candidate_bases("https://foo-api.example.com/v1", "https://panel.example.com/") == (
        "https://panel.example.com",
    )
    assert candidate_bases("https://x.example.com/v1", " https://panel.example.com/sub/?q=1 ") == (
        "https://panel.example.com/sub",
    )


def test_bad_override_gives_nothing_rather_than_guessing() -> None:
    assert candidate_bases("https://x.example.com/v1", "panel.example.com") == ()


def test_origin_of() -> None:
    assert origin_of("HTTPS://A.B:443/x") == "https://a.b"
    assert origin_of("http://a.b:80") == "http://a.b"
    assert origin_of("http://a.b:81/") == "http://a.b:81"
    assert origin_of("mailto:x@y") is None
