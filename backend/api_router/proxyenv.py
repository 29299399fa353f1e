"""Which proxy a request goes through: one reading of the proxy settings for every client in the app.

The gateway's requests go through aiohttp, which reads ``HTTP_PROXY`` / ``HTTPS_PROXY`` and ``NO_PROXY``
(and, where no variable is set, the system proxy of Windows and macOS with its bypass list) through the
standard library. The usage checks go through httpx, whose own reading differs: it takes ``ALL_PROXY`` too
(a ``socks5://`` one needs a package API Router does not ship, and every check failed) and ignores the
system proxy's bypass list. So both ask here, and a usage check goes the way a request to the same
address goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp.helpers import get_env_proxy_for_url, netrc_from_env, proxies_from_env
from yarl import URL


@dataclass(frozen=True)
class Proxy:
    url: str  # without credentials
    login: str | None = None
    password: str | None = field(default=None, repr=False)


def environment_matters() -> bool:
    """Whether any proxy setting or a netrc file is there to be read (without either, aiohttp is told not
    to look: it would on every request, in worker threads)."""
    return bool(proxies_from_env()) or netrc_from_env() is not None


def proxy_for(url: str | URL) -> Proxy | None:
    """The proxy a request for ``url`` goes through, or None when it goes straight there. May look names up
    (the system bypass list on Windows and macOS): call it off the event loop where that matters."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(url) if isinstance(url, str) else url)
    except LookupError:
        return None
    return Proxy(str(proxy), auth.login if auth else None, auth.password if auth else None)


def unusable_proxies() -> list[str]:
    """The proxies the settings name that no client here can speak to (``socks5://``: aiohttp would send it
    an HTTP CONNECT, and every request through it fails as a connection closed without an answer)."""
    return sorted({str(info.proxy) for info in proxies_from_env().values() if info.proxy.scheme != "http"})
