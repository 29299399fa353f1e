"""Usage checks go through a proxy exactly when a gateway request to the same address would: the proxy
settings are read once, as aiohttp reads them for the gateway (api_router.proxyenv), not as httpx would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from usage_fakes import KEY, FakePanel

from api_router import proxyenv
from api_router.proxyenv import ProxyRoutes
from api_router.usage import ErrorKind, UsageError, make_client
from api_router.usage.client import UsageHttp
from tests.support.proxies import only_proxy_settings

authorizations: list[str] = []  # the Proxy-Authorization each request to the forward proxy carried


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return only_proxy_settings(monkeypatch)


@pytest.fixture
async def forward_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP proxy that answers every request itself (absolute-form targets recorded), as a proxy that
    serves its own page would: a check that went through it gets its answer, not the panel's."""
    seen: list[str] = []
    authorizations.clear()

    async def answer(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        authorizations.append(request.headers.get("Proxy-Authorization", ""))
        return web.json_response({"data": {"token_info": {"remain_quota": 1}}, "via": "proxy"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def check(panel: FakePanel) -> object:
    async with make_client(timeout_s=2.0, proxies=ProxyRoutes()) as client:  # as the app makes it: settings read
        return await UsageHttp(client, (KEY,)).get_json(panel.url, "/api/usage/token/", bearer=KEY)


@pytest.fixture
def answering(panel: FakePanel) -> FakePanel:
    panel.json("/api/usage/token/", {"data": {"token_info": {"remain_quota": 7}}, "via": "panel"})
    return panel


@pytest.mark.parametrize("all_proxy", ["socks5://127.0.0.1:9", "http://127.0.0.1:9"])
async def test_all_proxy_is_not_read_as_the_gateway_does_not_read_it(answering: FakePanel, no_proxies,
                                                                       all_proxy: str) -> None:
    """ALL_PROXY=socks5://… (what proxy tools tell shells to export) made every usage check fail: httpx took it
    and needed a package API Router does not ship. The gateway's requests never used it; now neither does a
    check."""
    no_proxies.setenv("ALL_PROXY", all_proxy)
    assert (await check(answering))["via"] == "panel"  # type: ignore[index]


async def test_a_check_goes_through_http_proxy_unless_no_proxy_names_the_host(
        answering: FakePanel, no_proxies, forward_proxy: tuple[str, list[str]]) -> None:
    proxy, seen = forward_proxy
    no_proxies.setenv("HTTP_PROXY", proxy)
    assert (await check(answering))["via"] == "proxy"  # type: ignore[index]
    assert seen == [answering.url + "/api/usage/token/"] and answering.count() == 0
    no_proxies.setenv("NO_PROXY", "127.0.0.1")
    assert (await check(answering))["via"] == "panel"  # type: ignore[index]
    assert len(seen) == 1


@pytest.mark.parametrize(("override", "via"), [("<-loopback>;*.corp.example", "proxy"),
                                               ("<-loopback>; 127.0.0.* ;", "panel"), ("*.corp.example", "panel")])
async def test_the_system_proxys_bypass_list_is_heeded(answering: FakePanel, no_proxies, override: str, via: str,
                                                       forward_proxy: tuple[str, list[str]]) -> None:
    """Windows and macOS: with no variable set, the system proxy applies, and its bypass list sends listed
    hosts — and this machine, unless Windows' list says <-loopback> — straight there; httpx alone never asked
    it, so an intranet relay's checks went to the proxy while its requests did not."""
    proxy, seen = forward_proxy
    no_proxies.setattr(proxyenv, "_SYSTEM_PROXIES", True)
    no_proxies.setattr(proxyenv, "_system_settings",
                       lambda: ({"http": proxy, "https": proxy}, proxyenv.windows_bypass(override)))
    assert (await check(answering))["via"] == via  # type: ignore[index]
    assert len(seen) == (via == "proxy")


async def test_a_socks_proxy_for_http_fails_the_check_in_words_not_a_crash(answering: FakePanel, no_proxies) -> None:
    no_proxies.setenv("HTTP_PROXY", "socks5://127.0.0.1:9")
    with pytest.raises(UsageError) as caught:
        await check(answering)
    assert caught.value.kind is ErrorKind.NETWORK
    assert "the proxy socks5://127.0.0.1:9 cannot be used" in str(caught.value), caught.value
    assert answering.count() == 0


async def test_the_proxys_credentials_go_to_the_proxy(answering: FakePanel, no_proxies,
                                                      forward_proxy: tuple[str, list[str]]) -> None:
    proxy, seen = forward_proxy
    no_proxies.setenv("HTTP_PROXY", proxy.replace("http://", "http://corp:s3cret-pass@"))
    assert (await check(answering))["via"] == "proxy"  # type: ignore[index]
    assert authorizations == ["Basic " + base64.b64encode(b"corp:s3cret-pass").decode()]


async def test_a_proxy_password_outside_ascii_is_sent_as_the_gateways_requests_send_it(
        answering: FakePanel, no_proxies, forward_proxy: tuple[str, list[str]]) -> None:
    """aiohttp encodes a proxy password in Latin-1; httpx would have sent UTF-8 — a proxy taking one refuses
    the other."""
    proxy, _ = forward_proxy
    no_proxies.setenv("HTTP_PROXY", proxy.replace("http://", "http://corp:p%C3%A4ss@"))
    assert (await check(answering))["via"] == "proxy"  # type: ignore[index]
    assert authorizations == ["Basic " + base64.b64encode("corp:päss".encode("latin-1")).decode()]


async def test_a_proxy_setting_without_its_scheme_fails_the_check_without_its_password(answering: FakePanel,
                                                                                       no_proxies) -> None:
    no_proxies.setenv("HTTP_PROXY", "alice:S3cretPass-9@127.0.0.1:9")
    with pytest.raises(UsageError) as caught:
        await check(answering)
    assert "the proxy setting 127.0.0.1:9 cannot be used: write it as http://127.0.0.1:9" in str(caught.value), \
        caught.value
    assert "S3cretPass" not in str(caught.value) and "alice" not in str(caught.value)


@contextlib.asynccontextmanager
async def asking_for_login(no_proxies: pytest.MonkeyPatch, credentials: str = "", seen: list[bytes] | None = None,
                           offers: bytes = b"Proxy-Authenticate: Basic realm=\"corp\"\r\n") -> AsyncIterator[str]:
    """A proxy answering every request (a CONNECT or a plain one) with 407, set as both proxy variables
    (``credentials``: "user:password@"); yields its setting, without them. ``seen``: the heads it got;
    ``offers``: its Proxy-Authenticate lines."""
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(head)
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n" + offers +
                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    async with server:
        address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        for name in ("HTTP_PROXY", "HTTPS_PROXY"):
            no_proxies.setenv(name, f"http://{credentials}{address}")
        yield f"http://{address}"


async def check_through(panel: FakePanel, scheme: str, http: UsageHttp) -> str:
    """What a usage check of ``panel`` (at ``scheme``) failed with."""
    with pytest.raises(UsageError) as caught:
        await http.get_json(panel.url.replace("http://", f"{scheme}://"), "/api/usage/token/", bearer=KEY)
    return str(caught.value)


@pytest.mark.parametrize("scheme", ["http", "https"])  # a 407 answer, or a tunnel refused with one
async def test_credentials_a_proxy_refused_are_not_sent_again_by_the_usage_checks(answering: FakePanel, no_proxies,
                                                                                  scheme: str) -> None:
    """As for the gateway's requests: a proxy counting failed logins would lock the account within a few
    background checks. After its 407 the checks through it fail at once, saying why, and send nothing."""
    seen: list[bytes] = []
    async with asking_for_login(no_proxies, "corp:wrong-pass@", seen), \
            make_client(timeout_s=2.0, proxies=ProxyRoutes()) as client:
        said = [await check_through(answering, scheme, UsageHttp(client, (KEY,))) for _ in range(3)]
    assert len(seen) == 1 and b"Proxy-Authorization: Basic " in seen[0], seen
    for words in said:  # the first check's words too: the proxy named, the credentials refused
        # (through a refused tunnel, whose schemes httpx does not pass on, NTLM is named as the other reading)
        assert "refused the credentials in the proxy setting (HTTP 407)" in words, words
        assert ": they are not sent again" in words, words
        assert "wrong-pass" not in words


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_proxy_asking_for_credentials_none_were_given_for_is_said_so_in_the_usage_check(
        answering: FakePanel, no_proxies, scheme: str) -> None:
    async with asking_for_login(no_proxies) as proxy, make_client(timeout_s=2.0, proxies=ProxyRoutes()) as client:
        said = await check_through(answering, scheme, UsageHttp(client, (KEY,)))
    assert f"the proxy {proxy} asks for credentials" in said and ": write them into the proxy variable's URL" in said, \
        said


async def test_a_proxy_taking_only_windows_logins_is_said_so_by_the_usage_checks(answering: FakePanel,
                                                                                 no_proxies) -> None:
    """An http:// panel's check gets the proxy's own 407, whose Proxy-Authenticate names NTLM only."""
    seen: list[bytes] = []
    async with asking_for_login(no_proxies, "corp:pass@", seen, offers=b"Proxy-Authenticate: NTLM\r\n") as proxy, \
            make_client(timeout_s=2.0, proxies=ProxyRoutes()) as client:
        said = [await check_through(answering, "http", UsageHttp(client, (KEY,))) for _ in range(2)]
    for words in said:
        assert f"the proxy {proxy} asks for a login: it takes only NTLM logins, which API Router cannot give" in words, \
            words
    assert len(seen) == 1


async def test_a_system_proxy_asking_for_credentials_is_told_which_variables_to_set(answering: FakePanel,
                                                                                    no_proxies) -> None:
    """Windows and macOS keep no proxy password API Router could read: "write them into the proxy variable's
    URL" named a variable that was not set."""
    async with asking_for_login(no_proxies) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY"):
            no_proxies.delenv(name)
        no_proxies.setattr(proxyenv, "_SYSTEM_PROXIES", True)
        no_proxies.setattr(proxyenv, "_system_settings",
                           lambda: ({"http": proxy, "https": proxy}, proxyenv.windows_bypass("<-loopback>")))
        async with make_client(timeout_s=2.0, proxies=ProxyRoutes()) as client:
            said = await check_through(answering, "http", UsageHttp(client, (KEY,)))
    assert f"the proxy {proxy} asks for credentials: API Router cannot take them from the system's proxy " \
           "settings: set HTTPS_PROXY and HTTP_PROXY" in said, said


@pytest.mark.parametrize("credentials", ["", "corp:pass@"])
async def test_a_refused_tunnel_whose_schemes_are_not_seen_names_windows_logins_too(answering: FakePanel, no_proxies,
                                                                                   credentials: str) -> None:
    """httpx's refused tunnel carries no headers: the check cannot tell a wrong password from a proxy taking only
    NTLM or Negotiate, and says both (the gateway, which shares what the check found, says it too)."""
    async with asking_for_login(no_proxies, credentials, offers=b"Proxy-Authenticate: NTLM\r\n") as proxy, \
            make_client(timeout_s=2.0, proxies=ProxyRoutes()) as client:
        said = await check_through(answering, "https", UsageHttp(client, (KEY,)))
    assert "or it takes only NTLM or Negotiate logins, which API Router cannot give (then run a local proxy that " \
           "logs in, such as Px or Cntlm)" in said, said
    assert ("refused the credentials" if credentials else f"the proxy {proxy} asks for credentials") in said, said
    assert said.endswith(("start it again)", "start API Router again)")), said  # said whole: the advice ends it
