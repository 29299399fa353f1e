"""Which proxy a request goes through: one reading of the proxy settings for every client in the app.

``HTTP_PROXY`` / ``HTTPS_PROXY`` and ``NO_PROXY`` (and, where no variable is set, the system proxy of Windows
and macOS with its bypass list) are read as aiohttp reads them, through the standard library, with a proxy's
credentials from the URL or netrc. Both clients ask ``ProxyRoutes`` and are handed the proxy explicitly:
aiohttp's own reading (``trust_env``) also takes netrc credentials for the provider's host, which cannot go
with the key's Authorization header (every request to such a host failed), and reads the settings again in
worker threads for every request; httpx's takes ``ALL_PROXY`` too (a ``socks5://`` one needs a package API
Router does not ship) and ignores the system proxy's bypass list.
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.request import getproxies

from aiohttp import BasicAuth
from aiohttp.helpers import get_env_proxy_for_url, proxies_from_env
from yarl import URL

from api_router.secrets import mask_refused, url_secrets


@dataclass(frozen=True)
class Proxy:
    url: str  # without credentials
    auth: BasicAuth | None = field(default=None, repr=False)  # from the setting's URL, else netrc

    @property
    def authorization(self) -> str | None:
        """Its ``Proxy-Authorization`` header, in aiohttp's encoding of the password for both clients (a
        proxy taking one client's takes the other's)."""
        return self.auth.encode() if self.auth is not None else None

    @property
    def unusable(self) -> str | None:
        """Why no client here can send through it (None: it can): only an http:// proxy can be used."""
        if self.url.startswith("http://"):
            return None
        if "://" not in self.url:  # written without its scheme
            return f"the proxy setting {self.url} cannot be used: write it as http://{self.url}"
        return f"the proxy {self.url} cannot be used: API Router speaks only to http:// proxies"


def settings_problem() -> str | None:
    """Why the proxy settings cannot be used at all, or None: a value that is no URL (``http://:3128``, which
    aiohttp refuses at start and at every request), or a password it cannot send (outside Latin-1)."""
    for scheme, value in getproxies().items():
        if scheme not in ("http", "https", "ws", "wss"):
            continue
        try:
            url = URL(value)
            auth = BasicAuth.from_url(url)
            if auth is not None:
                auth.encode()
        except ValueError as exc:  # (UnicodeEncodeError is one)
            why = "its password cannot be sent: only Latin-1 letters can" if isinstance(exc, UnicodeError) else exc
            return (f"the {scheme} proxy setting {mask_refused(value)} cannot be used ({why}): correct it or "
                    f"unset it ({_where(scheme)})")
    return None


def _where(scheme: str) -> str:
    """Where the setting for ``scheme`` comes from: the variable set (the lower-case one wins, as it does in
    the standard library), else the system's proxy settings (Windows, macOS)."""
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        if os.environ.get(name):
            return name
    return "the system's proxy settings"


class _SaidAtStart(logging.Filter):
    """aiohttp logs that an https:// proxy is not supported at each reading of the settings (``ProxyRoutes``
    reads them at start and once per address); `unusable_proxies` says so once, with what becomes of the
    requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.endswith("proxies %s are not supported, ignoring"))


_SAID_AT_START = _SaidAtStart()  # one instance: adding it again is then a no-op


def quiet_repeated_warnings() -> None:
    logging.getLogger("aiohttp.client").addFilter(_SAID_AT_START)


# What to do about a proxy asking for credentials none were given for (both clients say it).
CREDENTIALS_ADVICE = ("write them into the proxy variable's URL (http://user:password@proxy:port) and start API "
                      "Router again")


def proxys_own_407(scheme: str, status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer is a proxy's 407 rather than the provider's: only an http:// request is answered by its
    proxy (through a tunnel, an answer is the https:// provider's own; the proxy's refusal of the tunnel is an
    error, never an answer)."""
    return status == 407 and scheme == "http" and "Proxy-Authenticate" in headers


class ProxyRoutes:
    """The proxy each address's requests go through, decided once per scheme, host and port: the settings are
    read at start, and a request then costs a lookup here rather than a reading of them in a worker thread."""

    KEEP = 1024  # addresses remembered (a provider's address is one; checks and usage panels add a few)

    def __init__(self) -> None:
        quiet_repeated_warnings()  # before the first reading: the start line says it (``unusable_proxies``)
        try:
            self.any = bool(proxies_from_env())
        except ValueError:  # a setting that is no URL: the start refuses it in words (``settings_problem``)
            self.any = True
        self._known: dict[tuple[str, str, int | None], Proxy | None] = {}
        self._refused: set[Proxy] = set()

    def refused(self, proxy: Proxy) -> None:
        """``proxy`` answered 407 to the credentials its setting gives: they are not sent again this run. A
        proxy that counts failed logins (a company's directory) would lock the account within minutes of
        background checks, and the settings are read only at start, so no later try could have better ones."""
        if proxy.auth is not None:
            self._refused.add(proxy)

    def unusable(self, proxy: Proxy) -> str | None:
        """Why nothing is sent through ``proxy`` (None: it can be used)."""
        if proxy in self._refused:
            return (f"the proxy {proxy.url} refused the credentials in the proxy setting (HTTP 407): they are not "
                    "sent again until API Router starts again, so that a proxy counting failed logins does not "
                    "lock the account — correct them and start it again")
        return proxy.unusable

    async def route(self, url: URL) -> Proxy | None:
        """The proxy for ``url``, or None: straight there."""
        if not self.any:
            return None
        key = (url.scheme, url.host or "", url.port)
        try:
            return self._known[key]
        except KeyError:
            pass
        # Off the loop: on Windows and macOS, the system proxy's bypass list may look the host up.
        proxy = await asyncio.to_thread(proxy_for, url)
        if len(self._known) >= self.KEEP:
            self._known.clear()
        self._known[key] = proxy
        return proxy


def proxy_for(url: str | URL) -> Proxy | None:
    """The proxy a request for ``url`` goes through, or None when it goes straight there. May look names up
    (the system bypass list on Windows and macOS): call it off the event loop where that matters."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(url) if isinstance(url, str) else url)
    except LookupError:
        return None
    if not proxy.host:  # written without its scheme ("user:password@host:3128" reads as the scheme "user")
        return Proxy(_without_user(str(proxy)))
    return Proxy(str(proxy), auth)


def proxy_secrets() -> set[str]:
    """The passwords the proxy settings hold, as written and as sent, for the masking: a request failing
    through a proxy can quote its setting whole (one written without http:// is no URL to aiohttp)."""
    found: set[str] = set()
    for value in getproxies().values():
        found |= url_secrets(value if "://" in value else f"http://{value}")
    return found


def _without_user(value: str) -> str:
    return value.rsplit("@", 1)[-1]


def unusable_proxies() -> list[str]:
    """What the log says at start of each proxy the settings name that no client here can use: an https://
    one (aiohttp skips it: requests go straight to their providers), a SOCKS one (aiohttp would send it an
    HTTP CONNECT: every request through it fails), one written without its scheme (every request fails)."""
    said = set()
    for scheme, value in getproxies().items():
        if scheme not in ("http", "https"):
            continue
        url = URL(value)
        if url.scheme == "http" and url.host:
            continue
        if not url.host:  # "127.0.0.1:3128" reads as a scheme "127.0.0.1" and no host
            shown = _without_user(value)
            said.add(f"the proxy setting {shown} cannot be used: write it as http://{shown} (requests that the "
                     "proxy settings send through it fail until then)")
            continue
        shown = str(url.with_user(None))
        outcome = ("requests go straight to their providers instead" if url.scheme == "https"
                   else "requests that the proxy settings send through it fail")
        said.add(f"the proxy {shown} cannot be used (API Router speaks only to http:// proxies): {outcome}")
    return sorted(said)


def codex_proxy_note(environ: Mapping[str, str], gateway_url: str) -> str | None:
    """What to tell a user whose shell would send Codex's requests for the gateway to a proxy: Codex (as curl
    does) takes ``HTTP_PROXY`` / ``ALL_PROXY`` for an http:// address, loopback included, unless ``NO_PROXY``
    names it. None when nothing is set that would."""
    names = [name for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy") if environ.get(name)]
    host = URL(gateway_url).host or ""
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    bypassed = urllib.request.proxy_bypass_environment(host, {"no": no_proxy})  # type: ignore[attr-defined]
    if not names or bypassed:
        return None
    return (f"This shell sets {' and '.join(names)}: a Codex started from it sends its requests for {gateway_url} "
            f"to that proxy — add NO_PROXY={host},localhost to its environment.")
