"""Which proxy a request goes through: one reading of the proxy settings for every client in the app.

``HTTP_PROXY`` / ``HTTPS_PROXY`` (their lower-case forms too), else the system proxy of Windows and macOS, with
``NO_PROXY`` — and for a system proxy its own bypass list and this machine's loopback addresses — going
around it; a proxy's credentials from its URL, else netrc. Both clients ask ``ProxyRoutes`` and are handed
the proxy explicitly. The reading is ours rather than aiohttp's (``trust_env``) or the standard library's
``proxy_bypass``: aiohttp takes netrc credentials for the provider's host too (they cannot go with the
key's Authorization header: every request to such a host failed) and fails every request over a netrc file
it cannot decode; Python 3.11 and 3.12 read a Windows bypass list wrongly (an entry after a trailing ";"
matches every host, "[::1]" a character class, one malformed entry raises on every request) and look host
names up to match it; and any proxy variable — ``NO_PROXY`` alone included — turns the system proxy off
there. httpx's own reading takes ``ALL_PROXY`` too (a ``socks5://`` one needs a package API Router does not
ship) and ignores the system's bypass list.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import netrc
import os
import re
import sys
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BasicAuth
from yarl import URL

from api_router.secrets import mask_refused, url_secrets

log = logging.getLogger(__name__)


class Source(enum.Enum):
    """Where the proxy settings in force come from."""

    VARIABLES = "variables"  # HTTP_PROXY / HTTPS_PROXY and their lower-case forms
    SYSTEM = "system"  # Windows' or macOS's proxy settings (no variable names a proxy)


@dataclass(frozen=True)
class Proxy:
    url: str  # without credentials
    auth: BasicAuth | None = field(default=None, repr=False)  # from the setting's URL, else netrc
    source: Source = Source.VARIABLES

    @property
    def credentials_advice(self) -> str:
        """What to do about it asking for credentials none were given for (both clients say it)."""
        if self.source is Source.SYSTEM:  # Windows and macOS keep no password API Router could read
            return ("API Router cannot take them from the system's proxy settings: set HTTPS_PROXY and HTTP_PROXY "
                    "to the proxy's URL with them in front of its address (user:password@proxy:port after "
                    "http://) and start API Router again")
        return ("write them into the proxy variable's URL, in front of the proxy's address (user:password@proxy:port "
                "after http://), and start API Router again")

    def asks(self, offered: Sequence[str] | None = None) -> str:
        """What its 407 asks for and what to do, by the schemes its ``Proxy-Authenticate`` headers ``offered``
        (None: not known): a company's Windows proxy may take only its domain's own logins."""
        if takes_basic(offered):
            return f"asks for credentials{_OR_WINDOWS_LOGINS if offered is None else ''}: {self.credentials_advice}"
        return (f"asks for a login: it takes only {' or '.join(_schemes(offered or ()))} logins, which API Router "
                "cannot give — run a local proxy that logs in for you (Px or Cntlm, say) and name that one in "
                "HTTPS_PROXY and HTTP_PROXY")

    def refuses(self, offered: Sequence[str] | None = None) -> str:
        """What its 407 means and what to do: the credentials its setting gives were refused (and are sent no
        more this run: ``ProxyRoutes.refused``), or it asks for a login (``asks``)."""
        if self.auth is None or not takes_basic(offered):
            return self.asks(offered)
        unseen = _OR_WINDOWS_LOGINS if offered is None else ""
        return (f"refused the credentials in the proxy setting (HTTP 407){unseen}: they are not sent again until "
                "API Router starts again, so that a proxy counting failed logins does not lock the account — correct "
                "them and start it again")

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


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_PARAMETER = re.compile(r"\s*[^\s=]+\s*=")  # name=value, spaces around "=" allowed


def _schemes(offered: Sequence[str]) -> list[str]:
    """The login schemes ``Proxy-Authenticate`` headers name — one header may hold several challenges, split
    by commas, as may their parameters (``Basic realm="a, b", charset="UTF-8"``): a part whose first word is
    no ``name=value`` begins a challenge."""
    found: set[str] = set()
    for value in offered:
        for part in _QUOTED.sub('""', value).split(","):
            if part.strip() and not _PARAMETER.match(part):
                found.add(part.split(None, 1)[0])
    return sorted(found, key=str.lower)


def takes_basic(offered: Sequence[str] | None) -> bool:
    """Whether a proxy's 407 leaves Basic credentials a chance: its ``Proxy-Authenticate`` headers name Basic,
    or name nothing, or were not seen (None)."""
    schemes = [scheme.lower() for scheme in _schemes(offered or ())]
    return not schemes or "basic" in schemes


# Where the 407's headers were not seen (httpx's refused tunnel carries none): the other reading said too.
_OR_WINDOWS_LOGINS = (" — or it takes only NTLM or Negotiate logins, which API Router cannot give (then run a local "
                      "proxy that logs in, such as Px or Cntlm)")


def settings_problem(settings: ProxySettings | None = None) -> str | None:
    """Why the proxy settings cannot be used at all, or None: a value that is no URL (``http://:3128``, which
    aiohttp refuses), or a password it cannot send (outside Latin-1)."""
    settings = ProxySettings.read() if settings is None else settings
    for scheme, value in settings.proxies.items():
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
                    f"unset it ({_where(scheme, settings.source)})")
    return None


def _where(scheme: str, source: Source) -> str:
    """Where the setting for ``scheme`` comes from: the variable set (the lower-case one wins, as it does in
    the standard library; Windows' names know no case: the upper-case one), else the system's settings."""
    if source is Source.SYSTEM:
        return "the system's proxy settings"
    upper = f"{scheme.upper()}_PROXY"
    names = (upper,) if _ENVIRONMENT_IGNORES_CASE else (f"{scheme}_proxy", upper)
    return next((name for name in names if os.environ.get(name)), names[-1])


_ENVIRONMENT_IGNORES_CASE = os.name == "nt"
_SYSTEM_PROXIES = sys.platform in ("win32", "darwin")  # where the system has proxy settings Python can read


def proxys_own_407(scheme: str, status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer is a proxy's 407 rather than the provider's: only an http:// request is answered by its
    proxy (through a tunnel, an answer is the https:// provider's own; the proxy's refusal of the tunnel is an
    error, never an answer)."""
    return status == 407 and scheme == "http" and "Proxy-Authenticate" in headers


class ProxyRoutes:
    """The proxy each address's requests go through, decided once per scheme, host and port: the settings are
    read at start, and a request then costs a lookup here."""

    KEEP = 1024  # addresses remembered (a provider's address is one; checks and usage panels add a few)

    def __init__(self, settings: ProxySettings | None = None) -> None:
        self.settings = ProxySettings.read() if settings is None else settings
        self.any = any(scheme in ("http", "https") for scheme in self.settings.proxies)
        self._known: dict[tuple[str, str, int | None], Proxy | None] = {}
        self._refused: dict[Proxy, str] = {}  # -> why nothing more is sent through it

    def refused(self, proxy: Proxy, offered: Sequence[str] | None = None) -> None:
        """``proxy`` answered 407 to the credentials its setting gives (``offered``: the schemes its
        Proxy-Authenticate headers named): they are not sent again this run. A proxy that counts failed logins
        (a company's directory) would lock the account within minutes of background checks, and the settings
        are read only at start, so no later try could have better ones."""
        if proxy.auth is not None:
            self._refused[proxy] = f"the proxy {proxy.url} {proxy.refuses(offered)}"

    def unusable(self, proxy: Proxy) -> str | None:
        """Why nothing is sent through ``proxy`` (None: it can be used)."""
        return self._refused.get(proxy) or proxy.unusable

    async def route(self, url: URL) -> Proxy | None:
        """The proxy for ``url``, or None: straight there."""
        if not self.any:
            return None
        key = (url.scheme, url.host or "", url.port)
        try:
            return self._known[key]
        except KeyError:
            pass
        proxy = await asyncio.to_thread(self.settings.proxy_for, url)  # (the first may read the netrc file)
        if len(self._known) >= self.KEEP:
            self._known.clear()
        self._known[key] = proxy
        return proxy


@dataclass(frozen=True)
class ProxySettings:
    """The proxy settings in force, read once: the proxy per scheme as written, and what goes around it."""

    proxies: Mapping[str, str]
    source: Source = Source.VARIABLES
    no_proxy: str = ""  # NO_PROXY as set
    system_bypass: Callable[[str], bool] = field(default=lambda host: False, repr=False)
    _netrc: list[netrc.netrc | None] = field(default_factory=list, repr=False, compare=False)  # read once, if asked
    _netrc_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def read(cls) -> ProxySettings:
        """The variables when one names a proxy for http:// or https://, else the system's settings (Windows,
        macOS) with its bypass list; ``NO_PROXY`` goes around either (the standard library drops the system
        proxy when any variable is set, ``NO_PROXY`` and ``ALL_PROXY`` included)."""
        found = urllib.request.getproxies_environment()
        no_proxy = found.pop("no", "")
        if not _SYSTEM_PROXIES or any(scheme in ("http", "https") for scheme in found):  # (ALL_PROXY is not read)
            return cls(found, Source.VARIABLES, no_proxy)
        proxies, bypass = _system_settings()
        return cls(proxies, Source.SYSTEM, no_proxy, bypass)

    def bypassed(self, host: str) -> bool:
        """Whether requests for ``host`` go straight there: ``NO_PROXY`` names it, or (around a system proxy)
        the system's bypass list does, where this machine is too, as browsers have it: no company proxy
        reaches it."""
        if self.no_proxy and urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
                host, {"no": self.no_proxy}):
            return True
        return self.source is Source.SYSTEM and self.system_bypass(host)

    def proxy_for(self, url: URL) -> Proxy | None:
        """The proxy a request for ``url`` goes through, or None when it goes straight there. An https://
        proxy is none (aiohttp cannot speak TLS to a proxy: the start line says requests go straight)."""
        value = self.proxies.get(url.scheme)
        if not value or (url.host and self.bypassed(url.host)):
            return None
        proxy = URL(value)
        if not proxy.host:  # written without its scheme ("user:password@host:3128" reads as the scheme "user")
            return Proxy(_without_user(value), source=self.source)
        if proxy.scheme == "https":
            return None
        auth = BasicAuth.from_url(proxy) or self._netrc_login(proxy.host)
        return Proxy(str(proxy.with_user(None)), auth, self.source)

    def _netrc_login(self, host: str) -> BasicAuth | None:
        """The credentials a netrc file gives the proxy's host, read the first time a proxy without its own
        needs them (never for a provider's host: see the module's docstring)."""
        with self._netrc_lock:  # (routes are worked out in worker threads, several at once at start)
            if not self._netrc:
                self._netrc.append(read_netrc())
        found = self._netrc[0].authenticators(host) if self._netrc[0] is not None else None
        if found is None:
            return None
        login, account, password = found
        # (as from a URL: BasicAuth's own constructor is deprecated)
        return BasicAuth.from_url(URL.build(scheme="http", host=host, user=login or account or "",
                                            password=password or ""))


def read_netrc() -> netrc.netrc | None:
    """The netrc file (``NETRC``, else ``~/.netrc``; ``_netrc`` on Windows), or None. One that cannot be read is
    named in the log without its text (a parse error quotes the file, tokens included): its credentials are
    then not used, and every request goes on."""
    try:
        named = os.environ.get("NETRC")
        path = Path(named) if named else Path.home() / ("_netrc" if os.name == "nt" else ".netrc")
        if not named and not path.is_file():
            return None
        return netrc.netrc(str(path))
    except netrc.NetrcParseError as exc:
        why = f"it is not in netrc's form (line {exc.lineno})"
    except UnicodeDecodeError:
        why = "it is not UTF-8 text"
    except (OSError, RuntimeError) as exc:  # (RuntimeError: no home folder)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    log.warning("proxy: the netrc file cannot be read (%s): no proxy credentials are taken from it", why)
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine by its name or address (no name is looked up)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _system_settings() -> tuple[dict[str, str], Callable[[str], bool]]:
    """The system proxy and its bypass list (Windows' registry, macOS's configuration); none where they cannot
    be read."""
    try:
        if sys.platform == "win32":
            return urllib.request.getproxies_registry(), windows_bypass(_windows_override())  # type: ignore[attr-defined]
        from _scproxy import _get_proxy_settings  # type: ignore[import-not-found]

        return urllib.request.getproxies_macosx_sysconf(), macos_bypass(_get_proxy_settings())  # type: ignore[attr-defined]
    except (OSError, ImportError, ValueError) as exc:
        log.warning("proxy: the system's proxy settings cannot be read (%s): requests go straight to providers", exc)
        return {}, lambda host: False


def _windows_override() -> str:
    import winreg  # type: ignore[import-not-found,unused-ignore]

    with winreg.OpenKey(winreg.HKEY_CURRENT_USER,  # type: ignore[attr-defined,unused-ignore]
                        r"Software\Microsoft\Windows\CurrentVersion\Internet Settings") as key:
        try:
            return str(winreg.QueryValueEx(key, "ProxyOverride")[0])  # type: ignore[attr-defined,unused-ignore]
        except OSError:  # no bypass list
            return ""


def _wildcards(pattern: str) -> re.Pattern[str]:
    """A bypass entry's ``*`` and ``?`` as wildcards, every other character as itself, case aside."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()))


def windows_bypass(override: str) -> Callable[[str], bool]:
    """Windows' ProxyOverride (``;``-separated), as Windows reads it: this machine unless ``<-loopback>`` is
    listed, ``<local>`` for any name without a dot, other entries matching the host with wildcards. Entries are
    trimmed and empty ones skipped (Python 3.11's reading let an empty one match every host)."""
    entries = [entry.strip().lower() for entry in override.split(";") if entry.strip()]
    loopback = "<-loopback>" not in entries
    local = "<local>" in entries
    patterns = [_wildcards(entry.strip("[]")) for entry in entries if entry not in ("<local>", "<-loopback>")]

    def bypassed(host: str) -> bool:
        host = host.strip("[]").lower()
        return (loopback and is_loopback(host)) or (local and "." not in host and ":" not in host) or any(
            pattern.fullmatch(host) for pattern in patterns)
    return bypassed


def macos_bypass(settings: Mapping[str, object]) -> Callable[[str], bool]:
    """macOS's bypass list: this machine, names without a dot when "Exclude simple hostnames" is on, an address
    or network entry (``10.0.0.0/8``, ``169.254/16``) for a host written as an address in it (no name is looked
    up), and other entries matching the host with wildcards, case aside."""
    simple = bool(settings.get("exclude_simple"))
    exceptions = settings.get("exceptions")
    entries = [str(e).strip().strip("[]") for e in (exceptions if isinstance(exceptions, (list, tuple)) else ())]
    networks = [network for entry in entries if (network := _network(entry)) is not None]
    patterns = [_wildcards(entry) for entry in entries if entry and _network(entry) is None]

    def bypassed(host: str) -> bool:
        host = host.strip("[]").lower()
        if is_loopback(host) or (simple and "." not in host and ":" not in host):
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        return any(address in network for network in networks if address is not None
                   and address.version == network.version) or any(pattern.fullmatch(host) for pattern in patterns)
    return bypassed


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A bypass entry naming addresses: ``10.0.0.0/8``, ``fe80::/10``, ``192.168.1.7``, or IPv4 shortened as macOS
    writes it (``169.254/16``; ``10.1`` alone is ``10.1.0.0/16``). None for a name or a wildcard."""
    address, _, bits = entry.partition("/")
    if address.replace(".", "").isdigit():
        parts = address.split(".")
        if len(parts) > 4 or "" in parts:
            return None
        address = ".".join(parts + ["0"] * (4 - len(parts)))
        bits = bits or str(8 * len(parts))
    try:
        return ipaddress.ip_network(f"{address}/{bits}" if bits else address, strict=False)
    except ValueError:
        return None


def proxy_secrets(settings: ProxySettings | None = None) -> set[str]:
    """The passwords the proxy settings hold, as written and as sent, for the masking: a request failing
    through a proxy can quote its setting whole (one written without http:// is no URL to aiohttp)."""
    settings = ProxySettings.read() if settings is None else settings
    found: set[str] = set()
    for value in settings.proxies.values():
        found |= url_secrets(value if "://" in value else f"http://{value}")
    return found


def _without_user(value: str) -> str:
    return value.rsplit("@", 1)[-1]


def unusable_proxies(settings: ProxySettings | None = None) -> list[str]:
    """What the log says at start of each proxy the settings name that no client here can use: an https://
    one (aiohttp skips it: requests go straight to their providers), a SOCKS one (aiohttp would send it an
    HTTP CONNECT: every request through it fails), one written without its scheme (every request fails)."""
    settings = ProxySettings.read() if settings is None else settings
    said = set()
    for scheme, value in settings.proxies.items():
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
    if _ENVIRONMENT_IGNORES_CASE:  # Windows: HTTP_PROXY and http_proxy are one variable
        names = list(dict.fromkeys(name.upper() for name in names))
    host = URL(gateway_url).host or ""
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    bypassed = urllib.request.proxy_bypass_environment(host, {"no": no_proxy})  # type: ignore[attr-defined]
    if not names or bypassed:
        return None
    return (f"This shell sets {' and '.join(names)}: a Codex started from it sends its requests for {gateway_url} "
            f"to that proxy — add NO_PROXY={host},localhost to its environment.")
