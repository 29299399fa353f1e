"""Which certificates the app's HTTPS calls trust, and a TLS failure in a person's words.

Requests to providers (aiohttp) and usage checks (httpx) trust one set: the system's, as OpenSSL finds
it (``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` name other ones) — where a company's own CA is installed —,
or certifi's bundle where the system has none (python.org's macOS Python, a frozen build on a machine
without OpenSSL's folders). Left to themselves the two libraries would differ: httpx reads certifi's
bundle, so a relay behind a private CA would serve requests and fail every usage check.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
from collections.abc import Iterator

# OpenSSL's verify codes for a chain that leads to no CA it trusts (a private or self-signed one).
_UNKNOWN_ISSUER = frozenset({18, 19, 20, 21})
PRIVATE_CA_HINT = "to trust a private CA, name a PEM file holding it and the public CAs in SSL_CERT_FILE"


def system_has_certificates() -> bool:
    """Whether OpenSSL's default places (or the Windows store) hold any certificate to trust: a file, or
    a folder of them, as ``SSL_CERT_FILE``/``SSL_CERT_DIR`` or the build's defaults name them."""
    if os.name == "nt":  # read from the system's store, not from files
        return True
    paths = ssl.get_default_verify_paths()  # each None where no such file or folder exists
    if paths.cafile:
        return True
    return bool(paths.capath) and _has_entries(paths.capath)


_HASHED = re.compile(r"[0-9a-f]{8}\.\d+")  # how OpenSSL names the certificates of a folder it reads (c_rehash)


def _has_entries(folder: str) -> bool:
    """Whether ``folder`` holds a certificate OpenSSL would look up (a folder holding only, say, Java's
    keystore holds none)."""
    try:
        with os.scandir(folder) as entries:
            return any(_HASHED.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


def client_context() -> ssl.SSLContext:
    """A verifying client context over the set described above, for HTTP/1.1 (all either client speaks).
    Loading certificates reads files: call it off the event loop."""
    context = ssl.create_default_context()
    if not system_has_certificates():
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


class ClientTrust:
    """The one client context every outgoing HTTPS call shares (aiohttp's connector and the usage checks'
    httpx client), built on first use from what the environment says then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the usage client is built in a worker thread
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        """Reads certificate files the first time: call it off the event loop."""
        with self._lock:
            if self._context is None:
                self._context = client_context()
            return self._context


def causes(error: BaseException | None, depth: int = 8) -> Iterator[BaseException]:
    """``error`` and what it was raised from, in turn (a client library's error wraps the socket's or TLS's)."""
    while error is not None and depth > 0:
        yield error
        error, depth = error.__cause__ or error.__context__, depth - 1


def tls_reason(error: BaseException | None) -> str | None:
    """A TLS failure in a person's words (OpenSSL's "[SSL: WRONG_VERSION_NUMBER] … (_ssl.c:1006)" names no
    cause one can act on), or None when ``error`` is none. Looks through what the error was raised from."""
    for cause in causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = f"its TLS certificate is not accepted: {cause.verify_message or cause.reason}"
            # (verify_code is set by OpenSSL's side; an error raised otherwise may lack it)
            return f"{why} ({PRIVATE_CA_HINT})" if getattr(cause, "verify_code", None) in _UNKNOWN_ISSUER else why
        if isinstance(cause, ssl.SSLError):
            if cause.reason == "WRONG_VERSION_NUMBER":
                return "it does not speak TLS there: is the address http:// rather than https://?"
            return f"TLS handshake failed: {(cause.reason or str(cause)).replace('_', ' ').lower()}"
    return None

