"""Another API Router answering on an address — told apart from any other program by its ``/health``."""

from __future__ import annotations

import json
import urllib.request

# A local check: never sent through a proxy the environment names (HTTP_PROXY applies to 127.0.0.1 too).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def local_address(host: str) -> str:
    """Where a gateway listening on ``host`` answers this machine, as a URL's host part."""
    bare = host.strip("[]").lower()
    if bare in ("", "0.0.0.0", "localhost"):  # these answer on 127.0.0.1 too
        return "127.0.0.1"
    if bare in ("::", "::1"):
        return "[::1]"
    # An address of its own (127.0.0.2, allow_remote's LAN address) answers only there; a zone id's "%"
    # escaped, as URLs want.
    return f"[{bare.replace('%', '%25')}]" if ":" in bare else bare


def api_router_version(host: str, port: int, timeout: float = 2.0) -> str | None:
    """The version of the API Router answering on ``host``:``port``; None when none does (nothing listens,
    or another program)."""
    try:
        with _DIRECT.open(f"http://{local_address(host)}:{port}/health", timeout=timeout) as resp:
            body = json.loads(resp.read(4096))
    except (OSError, ValueError):
        return None
    if isinstance(body, dict) and body.get("ok") is True and "version" in body:
        return str(body["version"])
    return None
