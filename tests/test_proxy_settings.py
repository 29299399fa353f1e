"""The proxy settings as API Router reads them (api_router.proxyenv): which requests go around the proxy on
Windows and macOS, where the standard library of Python 3.11 and 3.12 reads the system's bypass list wrongly,
and a netrc file that cannot be read."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from yarl import URL

from api_router import proxyenv
from api_router.proxyenv import ProxyRoutes, ProxySettings, Source, macos_bypass, windows_bypass
from tests.support.proxies import only_proxy_settings

PROXY = "http://10.0.0.1:3128"


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return only_proxy_settings(monkeypatch)


@pytest.mark.parametrize(("override", "host", "bypassed"), [
    ("<-loopback>;", "api.openai.com", False),  # Fiddler writes it: the empty entry matched every host
    ("*.corp.example; 10.*; <local>", "10.1.2.3", True),  # entries typed with spaces
    ("*.corp.example; 10.*; <local>", "intranet", True),
    ("*.corp.example; 10.*; <local>", "api.openai.com", False),
    ("[::1];<local>", "162.159.140.245", False),  # "[::1]" had been a character class matching "1…"
    ("[::1];<local>", "::1", True),
    ("[fe80::1;<local>", "api.openai.com", False),  # malformed: had raised on every request
    ("*.Corp.Example", "relay.corp.example", True),
    ("relay.corp.example", "relay.corp.example.evil", False),
    ("", "127.0.0.1", True),  # this machine goes around a system proxy, as Windows has it
    ("", "localhost", True),
    ("<-loopback>", "127.0.0.1", False),
    ("<local>", "fe80::1", False),  # an address is no name without a dot
])
def test_windows_bypass_list(override: str, host: str, bypassed: bool) -> None:
    assert windows_bypass(override)(host) is bypassed


@pytest.mark.parametrize(("settings", "host", "bypassed"), [
    ({"exceptions": ["*.local", "169.254/16"]}, "169.254.10.20", True),
    ({"exceptions": ["*.local", "169.254/16"]}, "169.255.0.1", False),
    ({"exceptions": ["*.Corp.Example"]}, "relay.corp.example", True),  # capitals had never matched
    ({"exceptions": ["163.com"]}, "163.com", True),  # a name starting with a digit had been read as an address
    ({"exceptions": ["10.0.0.0/8", "fe80::/10"]}, "10.20.30.40", True),
    ({"exceptions": ["10.0.0.0/8", "fe80::/10"]}, "fe80::7", True),
    ({"exceptions": ["10.0.0.0/8"]}, "ten.example", False),  # no name is looked up to match an address
    ({"exclude_simple": True, "exceptions": []}, "intranet", True),
    ({"exclude_simple": False, "exceptions": []}, "intranet", False),
    ({"exceptions": ["[", "(", "/33", "::1%en0"]}, "api.openai.com", False),  # odd entries raise nothing
    ({}, "127.0.0.1", True),
])
def test_macos_bypass_list(settings: dict[str, object], host: str, bypassed: bool) -> None:
    assert macos_bypass(settings)(host) is bypassed


def system_proxy(monkeypatch: pytest.MonkeyPatch, override: str = "<local>") -> None:
    """A Windows-like system whose settings name PROXY for both schemes."""
    monkeypatch.setattr(proxyenv, "_SYSTEM_PROXIES", True)
    monkeypatch.setattr(proxyenv, "_system_settings",
                        lambda: ({"http": PROXY, "https": PROXY}, windows_bypass(override)))


@pytest.mark.parametrize("variable", ["NO_PROXY", "ALL_PROXY"])
def test_no_proxy_or_all_proxy_alone_keeps_the_system_proxy(clean: pytest.MonkeyPatch, variable: str) -> None:
    """The standard library drops the system proxy when any proxy variable is set — NO_PROXY too, which the
    README tells users to set for a provider on this machine: every remote provider then went straight."""
    system_proxy(clean)
    clean.setenv(variable, "relay.example" if variable == "NO_PROXY" else "socks5://127.0.0.1:9")
    settings = ProxySettings.read()
    assert settings.source is Source.SYSTEM
    assert settings.proxy_for(URL("https://api.openai.com/v1")) == proxyenv.Proxy(PROXY, source=Source.SYSTEM)
    around = settings.proxy_for(URL("https://relay.example/v1"))
    assert around == (None if variable == "NO_PROXY" else proxyenv.Proxy(PROXY, source=Source.SYSTEM))


def test_a_proxy_variable_replaces_the_system_proxy(clean: pytest.MonkeyPatch) -> None:
    system_proxy(clean)
    clean.setenv("HTTPS_PROXY", "http://10.9.9.9:8080")
    settings = ProxySettings.read()
    assert settings.source is Source.VARIABLES
    assert settings.proxy_for(URL("https://api.openai.com/v1")) == proxyenv.Proxy("http://10.9.9.9:8080")
    assert settings.proxy_for(URL("http://127.0.0.1:8317/v1")) is None  # no http:// proxy named


def test_a_system_proxy_asking_for_credentials_is_told_where_they_go(clean: pytest.MonkeyPatch) -> None:
    """No variable to write them into exists: the advice says which to set (and, unlike a URL with a
    password, stays readable through the masking)."""
    system_proxy(clean)
    proxy = ProxySettings.read().proxy_for(URL("https://api.openai.com/v1"))
    assert proxy is not None
    assert "cannot take them from the system's proxy settings: set HTTPS_PROXY and HTTP_PROXY" in \
        proxy.credentials_advice
    assert "user:password@proxy:port after http://" in proxyenv.Proxy(PROXY).credentials_advice


def test_a_netrc_file_that_cannot_be_read_costs_its_credentials_only(clean: pytest.MonkeyPatch, tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A ~/.netrc written in Latin-1 (git's, say) had failed every request, proxy or not ("the provider's base
    URL or key cannot be used"); a malformed one had its tokens quoted in the log."""
    netrc = tmp_path / "netrc"
    netrc.write_bytes("machine git.example login ren\xe9 password pw-secret-1\n".encode("latin-1"))
    clean.setenv("NETRC", str(netrc))
    assert ProxyRoutes().any is False and ProxySettings.read().proxy_for(URL("https://api.openai.com")) is None
    clean.setenv("HTTPS_PROXY", PROXY)
    with caplog.at_level(logging.WARNING, "api_router.proxyenv"):
        proxy = ProxySettings.read().proxy_for(URL("https://api.openai.com/v1"))
    assert proxy == proxyenv.Proxy(PROXY) and proxy.auth is None
    assert "the netrc file cannot be read (it is not UTF-8 text)" in caplog.text
    netrc.write_text("machine 10.0.0.1 login bob password pw-secret-2 oops\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, "api_router.proxyenv"):
        assert ProxySettings.read().proxy_for(URL("https://api.openai.com/v1")) == proxyenv.Proxy(PROXY)
    assert "is not in netrc's form (line" in caplog.text and "pw-secret" not in caplog.text and \
        "oops" not in caplog.text


def test_netrc_gives_the_proxy_its_credentials_and_is_read_once(clean: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 10.0.0.1 login bob password pw:pr@xy\n")
    clean.setenv("NETRC", str(netrc))
    clean.setenv("HTTPS_PROXY", PROXY)
    settings = ProxySettings.read()
    proxy = settings.proxy_for(URL("https://api.openai.com/v1"))
    assert proxy is not None and proxy.auth is not None and (proxy.auth.login, proxy.auth.password) == (
        "bob", "pw:pr@xy")
    netrc.unlink()
    assert settings.proxy_for(URL("https://other.example/v1")) == proxy


def test_windows_names_each_variable_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows' variables know no case: HTTP_PROXY and http_proxy are one, and the note named it twice."""
    monkeypatch.setattr(proxyenv, "_ENVIRONMENT_IGNORES_CASE", True)
    environ = {"HTTP_PROXY": PROXY, "http_proxy": PROXY}
    note = proxyenv.codex_proxy_note(environ, "http://127.0.0.1:4000/v1")
    assert note is not None and note.startswith("This shell sets HTTP_PROXY: ")


def test_routes_worked_out_at_once_read_the_netrc_file_once(clean: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    def slow_read() -> None:
        reads.append(1)
        time.sleep(0.05)

    clean.setattr(proxyenv, "read_netrc", slow_read)
    clean.setenv("HTTPS_PROXY", PROXY)
    settings = ProxySettings.read()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(settings.proxy_for, [URL(f"https://relay{i}.example/v1") for i in range(4)]))
    assert len(reads) == 1


# --- more of the reading's rules ---------------------------------------------------------------------------

def test_an_https_proxy_setting_sends_requests_straight(clean):
    settings = ProxySettings({"https": "https://10.0.0.1:3128"})
    assert settings.proxy_for(URL("https://api.openai.com/v1")) is None


def test_the_proxy_urls_own_credentials_win_over_netrc(clean, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 10.0.0.1 login netrc-user password netrc-pw\n")
    clean.setenv("NETRC", str(netrc))
    proxy = ProxySettings({"https": "http://url-user:url-pw@10.0.0.1:3128"}).proxy_for(URL("https://api.openai.com/"))
    assert proxy is not None and (proxy.auth.login, proxy.auth.password) == ("url-user", "url-pw")


def test_a_netrc_entry_with_login_and_account_logs_in_as_login(clean, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 10.0.0.1 login bob account acct password pw\n")
    clean.setenv("NETRC", str(netrc))
    proxy = ProxySettings({"https": "http://10.0.0.1:3128"}).proxy_for(URL("https://api.openai.com/"))
    assert proxy.auth.login == "bob"


def test_no_netrc_file_is_no_warning(clean, tmp_path, caplog):
    clean.setenv("HOME", str(tmp_path))  # no ~/.netrc there
    with caplog.at_level(logging.WARNING, "api_router.proxyenv"):
        proxy = ProxySettings({"https": "http://10.0.0.1:3128"}).proxy_for(URL("https://api.openai.com/"))
    assert proxy is not None and proxy.auth is None
    assert "netrc" not in caplog.text


@pytest.mark.parametrize("host", ["relay.localhost", "localhost."])
def test_names_of_this_machine_go_around_a_system_proxy(host):
    assert windows_bypass("")(host) and macos_bypass({})(host)


def test_a_bracketed_ipv6_windows_entry_matches_its_address():
    assert windows_bypass("[2001:db8::5]")("2001:db8::5")


def test_a_question_mark_in_a_bypass_entry_is_one_character():
    assert windows_bypass("relay?.corp")("relay1.corp")
    assert not windows_bypass("relay?.corp")("relay12.corp")


def test_a_shortened_macos_address_is_its_network():
    assert macos_bypass({"exceptions": ["10.1"]})("10.1.2.3")  # docstring: ``10.1`` alone is 10.1.0.0/16


def test_a_macos_network_written_with_host_bits_matches_its_network():
    assert macos_bypass({"exceptions": ["10.1.2.3/16"]})("10.1.200.1")


def test_macos_entries_are_trimmed():
    assert macos_bypass({"exceptions": [" *.corp.example ", " 10.0.0.0/8"]})("relay.corp.example")
    assert macos_bypass({"exceptions": [" *.corp.example ", " 10.0.0.0/8"]})("10.2.3.4")


def test_the_lower_case_variable_in_force_is_named(clean):
    clean.setenv("https_proxy", "http://:3128")
    clean.setenv("HTTPS_PROXY", "http://ok:3128")
    problem = proxyenv.settings_problem()
    assert problem is not None and "(https_proxy)" in problem, problem


def test_all_proxy_alone_is_named_in_the_codex_note():
    note = proxyenv.codex_proxy_note({"ALL_PROXY": "socks5://p:1080"}, "http://127.0.0.1:4000/v1")
    assert note is not None and note.startswith("This shell sets ALL_PROXY:")


def test_the_gateways_407_advice_for_a_system_proxy_names_the_variables():
    from api_router.gateway import upstream
    token = upstream._VIA.set(proxyenv.Proxy("http://10.0.0.1:3128", source=Source.SYSTEM))
    try:
        advice = upstream._login_advice([])
    finally:
        upstream._VIA.reset(token)
    assert "cannot take them from the system's proxy settings" in advice, advice


@pytest.mark.parametrize(("offered", "basic"), [
    (['NTLM, Basic realm="corp"'], True),  # several challenges in one header
    (["Basic,NTLM"], True),
    (['Basic realm="a, b", charset="UTF-8"'], True),  # parameters split by commas, one inside quotes
    (["Negotiate, NTLM"], False),
    (["Negotiate abc==", "NTLM"], False),
    ([""], True),  # names nothing: Basic may do
    (['Negotiate, NTLM, qop = "auth"'], False),  # a parameter written with spaces around "=" is no scheme
])
def test_the_login_schemes_a_407_offers(offered: list[str], basic: bool) -> None:
    assert proxyenv.takes_basic(offered) is basic
    if not basic:
        assert "it takes only Negotiate or NTLM logins" in proxyenv.Proxy(PROXY).asks(offered)
