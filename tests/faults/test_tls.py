"""Providers over HTTPS, as real ones are: the certificates every outgoing call trusts (requests and usage
checks alike), and a TLS or proxy failure told in words one can act on."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme

from tests.support import fake_provider as fp
from tests.support.proxies import only_proxy_settings
from tests.support.usage import new_api


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
async def https_fakes(ca: trustme.CA) -> AsyncIterator[Callable[..., Awaitable[list[fp.FakeProvider]]]]:
    started: list[fp.FakeProvider] = []

    async def make(*names: str) -> list[fp.FakeProvider]:
        for name in names:
            fake = fp.FakeProvider(name)
            fake.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(fake.tls)
            started.append(await fake.start())
        return started[-len(names):]

    yield make
    for fake in started:
        await fake.stop()


async def usage_checked(gw, fake: fp.FakeProvider) -> dict:
    fake.usage = new_api(7)
    await gw.api("upsert_provider", provider=fake.name, usage_adapter="new_api",
                 usage_base_url=fake.base_url.removesuffix("/v1"))
    return (await gw.api("refresh_usage", provider=fake.name))["quota"][fake.name]


async def test_a_private_ca_named_in_ssl_cert_file_is_trusted_by_requests_and_usage_checks_alike(
        https_fakes, gateway, ca_file, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    (p1,) = await https_fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    assert reply.status == 200, reply.text
    entry = await usage_checked(gw, p1)
    assert entry["error"] is None and entry["snapshot"] is not None, entry


@pytest.mark.parametrize("names", ["a missing file", "a folder", "no certificate"])
async def test_an_ssl_cert_file_that_names_no_certificate_fails_the_calls_in_words_and_stops_nothing(
        https_fakes, gateway, monkeypatch, tmp_path, names):
    """A wrong SSL_CERT_FILE (a folder is a usual slip) once made the usage client refuse to be built: every
    usage check a 500, the background refresher gone for the run. Now both clients trust the same set, and an
    untrusted certificate is said so in both, with the way to trust a private CA."""
    value = {"a missing file": tmp_path / "nowhere.pem", "a folder": tmp_path,
             "no certificate": tmp_path / "garbage.pem"}[names]
    if names == "no certificate":
        value.write_text("not a certificate\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(value))
    (p1,) = await https_fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    message = reply.json["error"]["message"]
    assert reply.status == 502 and "its TLS certificate is not accepted" in message, message
    assert "to trust a private CA, name a PEM file holding it and the public CAs in SSL_CERT_FILE" in message
    entry = await usage_checked(gw, p1)
    assert "its TLS certificate is not accepted" in entry["error"] and "_ssl.c" not in entry["error"], entry


def test_where_the_system_has_no_certificates_certifis_are_trusted(monkeypatch, tmp_path, ca_file):
    """python.org's macOS Python, a frozen build: OpenSSL's own places hold nothing, and every HTTPS call
    would fail; certifi's bundle (httpx's dependency) stands in. Where they hold some, they are the set."""
    import certifi

    from api_router import tls

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nowhere.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    assert not tls.system_has_certificates()
    bundled = ssl.create_default_context(cafile=certifi.where()).cert_store_stats()["x509_ca"]
    assert tls.client_context().cert_store_stats()["x509_ca"] == bundled > 0
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    trust = tls.ClientTrust()
    assert tls.system_has_certificates() and trust.context().cert_store_stats()["x509_ca"] == 1
    assert trust.context() is trust.context()  # one context, shared by every client


async def start_raw(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
                    ) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_tls_handshake_the_server_closes_is_said_so(gateway, monkeypatch, ca_file):
    """A server that refuses the name asked for, or speaks only an old TLS, closes the connection inside the
    handshake without an alert: the event loop raises a reset with no code and no words ("()" was shown)."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)

    async def close_inside_the_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello has begun
        writer.close()

    server, port = await start_raw(close_inside_the_handshake)
    async with server:
        gw = await gateway({"p1": f"https://127.0.0.1:{port}/v1"})
        reply = await gw.responses()
    message = reply.json["error"]["message"]
    assert reply.status == 502 and "closed during the TLS handshake" in message and "()" not in message, message


@pytest.fixture
def proxied(monkeypatch) -> Callable[[int], None]:
    def use(port: int) -> None:
        only_proxy_settings(monkeypatch, HTTPS_PROXY=f"http://127.0.0.1:{port}")
    return use


async def test_a_proxy_that_cannot_be_reached_is_named_as_the_proxy(https_fakes, gateway, proxied, ca_file,
                                                                     monkeypatch):
    """The proxy's address is not the provider's: a dead HTTPS_PROXY is said to be the proxy."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    (p1,) = await https_fakes("p1")
    dead = fp.free_port()
    proxied(dead)
    gw = await gateway({"p1": p1})
    message = (await gw.responses()).json["error"]["message"]
    assert f"cannot connect to the proxy 127.0.0.1:{dead}" in message, message
    assert p1.calls == 0


async def test_a_proxy_that_refuses_the_tunnel_says_so(https_fakes, gateway, proxied, ca_file, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    (p1,) = await https_fakes("p1")

    server, port = await start_raw(answers_once(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"))
    async with server:
        proxied(port)
        gw = await gateway({"p1": p1})
        message = (await gw.responses()).json["error"]["message"]
    assert "the proxy refused to connect to the provider: HTTP 407 Proxy Authentication Required" in message, message
    assert p1.calls == 0


@pytest.mark.parametrize("offered", [b"Basic realm=\"corp\"", b"Negotiate\r\nProxy-Authenticate: NTLM"])
async def test_a_407_for_an_http_provider_is_said_to_be_the_proxys(fakes, gateway, monkeypatch, offered):
    """An http:// provider's request goes to HTTP_PROXY as it is (no tunnel): the proxy's 407 comes back as if
    the provider had answered it. It is the proxy's, and the failure says what to do about it — by the logins
    the proxy takes."""
    (p1,) = await fakes("p1")

    async def ask_for_a_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                       if line.startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: " + offered + b"\r\n"
                     b"Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nlogin needed")
        await writer.drain()
        writer.close()

    server, port = await start_raw(ask_for_a_login)
    async with server:
        only_proxy_settings(monkeypatch, HTTP_PROXY=f"http://127.0.0.1:{port}")
        gw = await gateway({"p1": p1})
        reply = await gw.responses()
    message = reply.json["error"]["message"]
    assert reply.status == 502 and "HTTP 407: login needed" in message, message
    advice = "asks for credentials" if offered.startswith(b"Basic") else \
        "asks for a login: it takes only Negotiate or NTLM logins, which API Router cannot give"
    assert f"a proxy between API Router and the provider {advice}" in message, message
    assert p1.calls == 0


async def test_a_proxy_that_never_opens_the_tunnel_is_named_as_the_proxy(https_fakes, gateway, proxied, ca_file,
                                                                         monkeypatch):
    """The proxy takes the connection and never answers CONNECT: it is the proxy that did not answer, not the
    provider's address — the failure names the proxy."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    (p1,) = await https_fakes("p1")
    held: list[asyncio.StreamWriter] = []

    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(1 << 16)

    server, port = await start_raw(say_nothing)
    async with server:
        proxied(port)
        gw = await gateway({"p1": p1}, routing={"request_timeout_seconds": 1})
        message = (await gw.responses()).json["error"]["message"]
        for writer in held:
            writer.close()
    assert f"no connection to 127.0.0.1:{p1.port} was made through the proxy 127.0.0.1:{port}" in message, message
    assert p1.calls == 0


async def test_a_providers_own_407_without_a_proxy_gets_no_proxy_advice(fakes, gateway, monkeypatch):
    only_proxy_settings(monkeypatch)
    (p1,) = await fakes("p1")
    p1.always(fp.status(407, "sign in first"))
    gw = await gateway({"p1": p1})
    message = (await gw.responses()).json["error"]["message"]
    assert "HTTP 407" in message and "proxy" not in message, message


def test_a_407_from_an_https_provider_is_its_own_whatever_the_proxy_variables_say(monkeypatch):
    """Through a proxy an https:// request is a tunnel: a 407 the proxy gives is an error at CONNECT, never a
    response — one that arrives is the provider's."""
    import contextvars

    from multidict import CIMultiDict
    from yarl import URL

    from api_router.gateway import upstream
    from api_router.proxyenv import Proxy

    class Answer:
        status = 407

        def __init__(self, url: str, headers: dict[str, str]) -> None:
            self.url, self.headers = URL(url), CIMultiDict(headers)

    def note(url: str, headers: dict[str, str] | None = None) -> str:
        def sent_and_read() -> str:  # as the request's own task reads it, once sent through the proxy
            upstream._VIA.set(Proxy("http://127.0.0.1:9"))
            return upstream.status_note(Answer(url, {"Proxy-Authenticate": "Basic"} if headers is None else headers))  # type: ignore[arg-type]
        return contextvars.copy_context().run(sent_and_read)

    assert note("https://relay.example/v1/responses") == ""
    assert "asks for credentials" in note("http://relay.example/v1/responses")
    # A proxy's 407 names the logins it takes (RFC 9110): one that names none is read as the provider's, by the
    # same rule that decides whether the credentials were refused (and are not sent again).
    assert note("http://relay.example/v1/responses", {}) == ""


NGINX_PLAIN_HTTP = (b"<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n"
                    b"<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent "
                    b"to HTTPS port</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@pytest.mark.parametrize("page", [NGINX_PLAIN_HTTP, b"Client sent an HTTP request to an HTTPS server.\n"])
async def test_a_400_saying_plain_http_reached_an_https_port_is_the_providers_address_not_the_request(
        fakes, gateway, page):
    """nginx (or Go) in front of a relay answers an http:// base URL with a 400 page: the request is fine, the
    address is wrong — the next provider answers, the error says to use https://, and a background check
    does not take that 400 for a provider reading requests."""
    from api_router.gateway.checks import check_body, probe_responses

    p1, p2 = await fakes("p1", "p2")
    p1.always(fp.status(400, body=page, content_type="text/html"))
    gw = await gateway({"p1": p1, "p2": p2})
    reply = await gw.responses()
    assert reply.status == 200 and reply.headers["X-API-Router-Provider"] == "p2", reply.body
    attempt = gw.services.store.request_log()[0]["attempts"][0]
    assert attempt["outcome"] == "provider_failure" and "is the address https:// rather than http://?" in \
        attempt["error"], attempt
    serving = gw.services.require_serving()
    probe = await probe_responses(serving.upstream, gw.services.config.current.providers["p1"], "k", check_body(None), 5)
    assert not probe.ok and "https://" in probe.error, probe


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_a_400_error_object_quoting_the_plain_http_words_is_still_the_requests_own(fakes, gateway,
                                                                                         content_type):
    """A provider's JSON error may quote what the request said (labelled text/plain by some front ends): only
    a server's own short page says the address is wrong."""
    p1, p2 = await fakes("p1", "p2")
    body = json.dumps({"error": {"message": "bad input: 'The plain HTTP request was sent to HTTPS port'",
                                 "type": "invalid_request_error"}}).encode()
    p1.always(fp.status(400, body=body, content_type=content_type))
    gw = await gateway({"p1": p1, "p2": p2})
    reply = await gw.responses()
    assert reply.status == 400 and reply.headers["X-API-Router-Provider"] == "p1" and not p2.calls, reply.body


async def test_the_plain_http_page_from_an_https_address_blames_the_front_end(https_fakes, gateway, ca_file,
                                                                                monkeypatch):
    """Reached over https:// (a CDN speaking plain HTTP to the relay's HTTPS port), "use https://" would be
    no advice: the provider's own set-up is wrong."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    p1, p2 = await https_fakes("p1", "p2")
    p1.always(fp.status(400, body=NGINX_PLAIN_HTTP, content_type="text/html"))
    gw = await gateway({"p1": p1, "p2": p2})
    assert (await gw.responses()).headers["X-API-Router-Provider"] == "p2"
    error = gw.services.store.request_log()[0]["attempts"][0]["error"]
    assert "front end is set up wrong" in error and "rather than http://" not in error, error


def test_a_certificate_folder_without_hashed_certificates_counts_as_none(monkeypatch, tmp_path):
    """A folder holding only, say, Java's keystore gives OpenSSL nothing to look up: certifi stands in."""
    from api_router import tls

    folder = tmp_path / "certs"
    (folder / "java").mkdir(parents=True)
    (folder / "README").write_text("not a certificate")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nowhere.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    assert not tls.system_has_certificates()
    (folder / "0a1b2c3d.0").write_text("")
    assert tls.system_has_certificates()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_tls_handshake_never_answered_is_said_to_be_the_connection_not_a_slow_model(gateway, monkeypatch,
                                                                                              ca_file, host):
    """A server (or a firewall) that takes the TCP connection and then says nothing: the request's time runs
    out before any byte was sent. That is an address that does not answer — the failure names it so, where
    "no response" alone reads as a model slow to begin. A host name was looked up first: the name server
    may be the one that went silent, and the words say so."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    held: list[asyncio.StreamWriter] = []

    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(1 << 16)  # the ClientHello, never answered

    server, port = await start_raw(say_nothing)
    async with server:
        gw = await gateway({"p1": f"https://{host}:{port}/v1"},
                           routing={"request_timeout_seconds": 1})
        reply = await gw.responses()
        for writer in held:
            writer.close()
    message = reply.json["error"]["message"]
    assert reply.status == 502 and "no response within 1 s" in message, message
    steps = "TCP connect or TLS handshake" if host[0].isdigit() else "name lookup, TCP connect or TLS handshake"
    assert f"no connection to {host}:{port} was made (its {steps} went unanswered)" in message, message


async def test_a_provider_connected_but_slow_to_answer_is_not_said_to_be_unreachable(fakes, gateway):
    """The words above are for a connection never made: one made and then silent keeps the plain words."""
    slow, = await fakes("slow")
    slow.always(fp.hang())
    gw = await gateway({"p1": slow}, routing={"request_timeout_seconds": 1})
    reply = await gw.responses()
    message = reply.json["error"]["message"]
    assert reply.status == 502 and "no response within 1 s" in message and "no connection" not in message, message


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("HTTPS_PROXY", "socks5://user:pw-secret@127.0.0.1:9",
     "the proxy socks5://127.0.0.1:9 cannot be used (API Router speaks only to http:// proxies): requests that "
     "the proxy settings send through it fail"),
    ("HTTPS_PROXY", "https://user:pw-secret@127.0.0.1:9",
     "the proxy https://127.0.0.1:9 cannot be used (API Router speaks only to http:// proxies): requests go "
     "straight to their providers instead"),
    ("HTTP_PROXY", "user:pw-secret@127.0.0.1:3128",
     "the proxy setting 127.0.0.1:3128 cannot be used: write it as http://127.0.0.1:3128 (requests that the "
     "proxy settings send through it fail until then)"),
])
async def test_a_proxy_setting_no_client_can_use_is_named_at_start(fakes, gateway, monkeypatch, caplog, variable,
                                                                   value, said):
    """HTTPS_PROXY=socks5://… (a proxy tool's export): aiohttp would send it HTTP CONNECTs and every request
    through it would fail as a closed connection; an https:// proxy is skipped, so requests go around it;
    one written without http:// fails every request. The log says at start which, and why — without the
    password written into it."""
    only_proxy_settings(monkeypatch, **{variable: value})
    (p1,) = await fakes("p1")
    await gateway({"p1": p1})
    told = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert told == [said], told
    assert not any("pw-secret" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("password", ["S3cretPass-9", "qz7k", "pa/ssword-1"])  # short, and no URL rule finds
async def test_a_proxy_setting_without_its_scheme_never_shows_its_password(fakes, gateway, monkeypatch, password):
    """aiohttp refuses it as an invalid URL whose words quote the setting whole — user and password with it —
    into the 502, the events and the log: the proxy settings' passwords are masked as a provider URL's are."""
    only_proxy_settings(monkeypatch, HTTP_PROXY=f"alice:{password}@127.0.0.1:9")
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    assert reply.status == 502 and p1.calls == 0, reply.body
    events = await gw.api("list_events")
    shown = reply.body.decode() + json.dumps(events)
    assert password not in shown and "127.0.0.1:9" in reply.body.decode(), reply.body


@pytest.mark.parametrize(("variable", "value", "why"), [
    ("HTTP_PROXY", "http://bob:pw-Secret1@:3128", "Invalid URL: host is required"),
    ("http_proxy", "http://bob:Pa/ss-Secret1@proxy.corp:3128", "Invalid URL: port can't be converted"),
    ("HTTPS_PROXY", "http://bob:пароль-Secret1@127.0.0.1:9", "its password cannot be sent: only Latin-1 letters can"),
])
def test_a_proxy_setting_that_cannot_be_used_ends_the_start_in_one_line(tmp_path, variable, value, why):
    """HTTP_PROXY=http://:3128 (no host) made aiohttp raise at start: a traceback, and the password in it; a
    password outside Latin-1 failed every request later, worded as the provider's. One line names the setting
    (its password masked, whatever is in it) and the variable to correct."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update({variable: value, "PYTHONPATH": os.pathsep.join(sys.path)})
    done = subprocess.run([sys.executable, "-m", "api_router", "--headless", "--user-data", str(tmp_path / "ud"),
                           "--port", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    scheme = variable.split("_")[0].lower()
    assert lines[-1].startswith(f"api-router: the {scheme} proxy setting http://••••@"), lines
    assert why in lines[-1] and lines[-1].endswith(f"correct it or unset it ({variable})"), lines
    assert "Secret1" not in done.stderr


async def test_an_https_proxy_setting_is_named_once_not_at_every_request(fakes, gateway, monkeypatch, caplog,
                                                                         tmp_path):
    """HTTPS_PROXY=https://… beside a netrc file (or an http:// proxy): aiohttp reads the settings again for
    every request and would log its own "not supported" line each time; the start line has said it already."""
    only_proxy_settings(monkeypatch, HTTPS_PROXY="https://127.0.0.1:9")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine relay.example login bob password pw-netrc\n")
    monkeypatch.setenv("NETRC", str(netrc))
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    for _ in range(3):
        assert (await gw.responses()).status == 200
    told = [r.getMessage() for r in caplog.records if "127.0.0.1:9" in r.getMessage()]
    assert len(told) == 1 and "cannot be used" in told[0], told
    assert p1.calls == 3


def answers_once(answer: bytes, heads: list[bytes] | None = None
                 ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A proxy that reads a request's head (kept in ``heads``), writes ``answer`` (none: not a word) and closes."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if heads is not None:
            heads.append(head)
        if answer:
            writer.write(answer)
            await writer.drain()
        writer.close()
    return handle


@pytest.mark.parametrize(("answer", "said"), [
    (b"", "the proxy 127.0.0.1:{port} closed the connection without opening a tunnel to the provider"),
    (b"\x05\xff", "the proxy 127.0.0.1:{port} did not answer the tunnel request in HTTP (is it an HTTP proxy?)"),
])
async def test_a_proxy_that_drops_or_garbles_the_tunnel_request_is_blamed_not_the_provider(
        https_fakes, gateway, proxied, ca_file, monkeypatch, answer, said):
    """The provider was never reached: a proxy that closes on CONNECT, or answers it with SOCKS bytes, had been
    worded as the provider closing the connection, or its answer not being readable."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    (p1,) = await https_fakes("p1")

    server, port = await start_raw(answers_once(answer))
    async with server:
        proxied(port)
        gw = await gateway({"p1": p1})
        message = (await gw.responses()).json["error"]["message"]
    assert said.format(port=port) in message and "provider closed" not in message, message
    assert p1.calls == 0


@pytest.mark.parametrize(("answer", "said"), [
    (b"", "closed the connection without answering (through the proxy 127.0.0.1:{port})"),
    (b"\x05\xff", "the provider's answer could not be read (through the proxy 127.0.0.1:{port}): "),
])
async def test_an_http_provider_reached_through_a_proxy_that_drops_it_names_the_proxy(fakes, gateway, monkeypatch,
                                                                                      answer, said):
    """No tunnel for an http:// provider: which of the two closed the connection, or answered in something
    other than HTTP (a SOCKS proxy in HTTP_PROXY), is not known — the words say the proxy was in between."""
    (p1,) = await fakes("p1")

    server, port = await start_raw(answers_once(answer))
    async with server:
        only_proxy_settings(monkeypatch, HTTP_PROXY=f"http://127.0.0.1:{port}")
        gw = await gateway({"p1": p1})
        message = (await gw.responses()).json["error"]["message"]
    assert said.format(port=port) in message, message


async def test_a_socks_proxy_setting_fails_the_request_in_words_not_as_the_providers_garbage(fakes, gateway,
                                                                                            monkeypatch):
    only_proxy_settings(monkeypatch, HTTP_PROXY="socks5://127.0.0.1:9")
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    message = reply.json["error"]["message"]
    assert reply.status == 502 and p1.calls == 0
    assert "the proxy socks5://127.0.0.1:9 cannot be used: API Router speaks only to http:// proxies" in message


@pytest.mark.parametrize("proxies", [{}, {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}])
async def test_a_netrc_entry_for_the_providers_host_does_not_break_its_requests(fakes, gateway, monkeypatch,
                                                                               tmp_path, proxies):
    """netrc is read for a proxy's credentials only: aiohttp's own reading also took them for the provider's
    host, which cannot go with the key's Authorization header — every request to it failed, worded as the
    provider's base URL or key."""
    only_proxy_settings(monkeypatch, **proxies)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password pw-netrc\ndefault login git password pw-default\n")
    monkeypatch.setenv("NETRC", str(netrc))
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    assert reply.status == 200, reply.body
    assert p1.requests[0].headers["Authorization"] == "Bearer sk-test-p1-0123456789"


@pytest.mark.parametrize("proxies", [{}, {"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}])
async def test_a_netrc_file_that_is_not_utf8_does_not_break_requests(fakes, gateway, monkeypatch, tmp_path, proxies):
    """A ~/.netrc in Latin-1 (git's, say) failed every request, with a proxy set or not: "the provider's base
    URL or key cannot be used ('utf-8' codec can't decode …)"."""
    only_proxy_settings(monkeypatch, **proxies)
    netrc = tmp_path / "netrc"
    netrc.write_bytes("machine git.example login ren\xe9 password pw-netrc\n".encode("latin-1"))
    monkeypatch.setenv("NETRC", str(netrc))
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("credentials", ["corp:pass@", ""])
async def test_a_proxy_taking_only_windows_logins_is_said_to_need_a_local_proxy(https_fakes, gateway, ca_file,
                                                                                monkeypatch, credentials):
    """A company's proxy that offers only NTLM and Negotiate: no password written into a variable can log in,
    and being told to write one there (or that it was refused) sends the user round in circles."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    (p1,) = await https_fakes("p1")
    asked: list[bytes] = []
    server, port = await start_raw(answers_once(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                                b"Proxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM\r\n"
                                                b"Content-Length: 0\r\n\r\n", heads=asked))
    async with server:
        only_proxy_settings(monkeypatch, HTTPS_PROXY=f"http://{credentials}127.0.0.1:{port}")
        gw = await gateway({"p1": p1}, routing={"check_interval_seconds": 3600})
        first = (await gw.responses()).json["error"]["message"]
        second = (await gw.responses()).json["error"]["message"]
    for message in (first, second):
        assert "asks for a login: it takes only Negotiate or NTLM logins, which API Router cannot give — run a " \
               "local proxy that logs in for you (Px or Cntlm, say)" in message, message
        assert "refused the credentials" not in message and "write them into" not in message
    assert len(asked) == (1 if credentials else 2)  # a password it cannot take is not sent again either


@pytest.mark.parametrize("credentials", ["corp:wrong-pass@", ""])
async def test_credentials_a_proxy_refused_are_not_sent_again_this_run(https_fakes, gateway, ca_file, monkeypatch,
                                                                       credentials):
    """A proxy counting failed logins (a company's directory) locks the account after a few: a refused password
    is not sent again until the next start — with no password, the proxy is asked again (nothing to lock)."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    (p1,) = await https_fakes("p1")
    asked: list[bytes] = []

    server, port = await start_raw(answers_once(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                                b"Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
                                                heads=asked))
    async with server:
        only_proxy_settings(monkeypatch, HTTPS_PROXY=f"http://{credentials}127.0.0.1:{port}")
        gw = await gateway({"p1": p1}, routing={"check_interval_seconds": 3600})
        first = (await gw.responses()).json["error"]["message"]
        second = (await gw.responses()).json["error"]["message"]
    if credentials:
        # The request that found it and the ones after it (not sent) say it in the same words.
        refused = "refused the credentials in the proxy setting (HTTP 407): they are not sent again until API " \
                  "Router starts again, so that a proxy counting failed logins does not lock the account — " \
                  "correct them and start it again"
        assert f"a proxy between API Router and the provider {refused}" in first, first
        assert f"the proxy http://127.0.0.1:{port} {refused}" in second, second
        assert len(asked) == 1 and b"Proxy-Authorization: Basic" in asked[0]
        assert "wrong-pass" not in first + second
    else:
        assert "asks for credentials: write them into the proxy variable's URL, in front of the proxy's address " \
               "(user:password@proxy:port after http://)" in first, first  # (a URL with a password would be masked)
        assert len(asked) == 2
    assert p1.calls == 0


async def test_an_http_provider_reached_through_a_proxy_carries_its_credentials_to_the_proxy_only(
        fakes, gateway, monkeypatch):
    """No tunnel for an http:// provider: the request goes to the proxy as it is, with Proxy-Authorization on it
    (the proxy's to read and drop), in the encoding aiohttp gives a password."""
    (p1,) = await fakes("p1")
    heads: list[bytes] = []

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                       if line.startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        body = json.dumps(fp.response_object("via the proxy")).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server, port = await start_raw(forward)
    async with server:
        only_proxy_settings(monkeypatch, HTTP_PROXY=f"http://corp:p%C3%A4ss@127.0.0.1:{port}")
        gw = await gateway({"p1": p1}, routing={"check_interval_seconds": 3600})
        reply = await gw.responses()
    assert reply.status == 200 and "via the proxy" in reply.body.decode(), reply.body
    expected = "Basic " + base64.b64encode("corp:päss".encode("latin-1")).decode()
    assert heads[0].startswith(f"POST http://127.0.0.1:{p1.port}/v1/responses ".encode()), heads[0]
    assert f"Proxy-Authorization: {expected}".encode() in heads[0]
    assert p1.calls == 0  # the proxy answered in its place


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def test_an_https_providers_own_407_leaves_the_proxy_credentials_alone(https_fakes, gateway, ca_file,
                                                                             monkeypatch):
    """Through a tunnel, a 407 that comes back as an answer is the provider's own (a relay passing on its own
    upstream's): the proxy took the credentials — they stay in use for every other provider."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    p1, p2 = await https_fakes("p1", "p2")
    p1.always(fp.status(407, "upstream proxy wants auth", headers={"Proxy-Authenticate": 'Basic realm="x"'}))
    tunnels: list[asyncio.Task[object]] = []

    async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        host, port = head.split(b" ")[1].decode().rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        both = asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        tunnels.append(both)
        await both

    server, port = await start_raw(tunnel)
    async with server:
        only_proxy_settings(monkeypatch, HTTPS_PROXY=f"http://corp:good-pass@127.0.0.1:{port}")
        gw = await gateway({"p1": p1, "p2": p2}, routing={"check_interval_seconds": 3600, "failure_threshold": 5})
        first, second = await gw.responses(), await gw.responses()
        for both in tunnels:
            both.cancel()
    assert first.status == 200 and second.status == 200, second.body  # p2 served both, through the same proxy
    assert "refused the credentials" not in first.body.decode() + second.body.decode()
    assert p2.calls == 2


def test_a_connect_timeout_to_the_proxy_of_an_http_provider_speaks_of_no_tunnel_nor_tls():
    """An http:// provider's request goes to HTTP_PROXY as it is: a connect that timed out was the proxy's own
    TCP connect (there is no tunnel to open, nor a TLS handshake)."""
    from yarl import URL

    from api_router.gateway.upstream import Connecting, _unconnected

    plain = _unconnected(Connecting(URL("http://relay.example/v1/responses"), URL("http://10.0.0.1:3128")))
    assert plain == "no connection to the proxy 10.0.0.1:3128 was made (its TCP connect went unanswered)"
    named = _unconnected(Connecting(URL("http://relay.example/v1/responses"), URL("http://proxy.corp:3128")))
    assert named == "no connection to the proxy proxy.corp:3128 was made (its name lookup or TCP connect went unanswered)"
    tunnel = _unconnected(Connecting(URL("https://relay.example/v1/responses"), URL("http://10.0.0.1:3128")))
    assert tunnel.startswith("no connection to relay.example:443 was made through the proxy 10.0.0.1:3128 (the proxy "
                             "did not open its tunnel")
