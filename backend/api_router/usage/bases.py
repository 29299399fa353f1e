"""Where to look for a provider's usage endpoints.

Relays serve the OpenAI API under a path (``https://relay.example.com/v1``) while their usage
endpoints live at the site root: when the user did not set a usage base URL, the origin of
``base_url`` is asked. Several run the API on ``foo-api.example.com`` with the panel (and its usage
endpoints) on ``foo.example.com``; that host is only *suggested* (``panel_guess``), never asked on
the user's behalf: ``claude-api.com`` is not ``claude.com``'s, nor ``x-api.onrender.com``
``x.onrender.com``'s, and a provider's credentials go to no host the user did not name.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from api_router.config.schema import DEFAULT_PORTS

__all__ = ["candidate_bases", "origin_of", "panel_guess"]


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased, default port dropped.

    ``None`` when ``url`` is not an absolute http(s) URL with a host.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def candidate_bases(base_url: str, usage_base_url: str = "") -> tuple[str, ...]:
    """Usage base URLs to try, in order; empty when nothing usable was configured.

    An explicit ``usage_base_url`` is the only candidate (its path is kept, query and fragment
    dropped, trailing ``/`` removed): the user said where to look. Otherwise the origin of
    ``base_url``.
    """
    override = usage_base_url.strip()
    if override:
        normalized = _normalize_override(override)
        return (normalized,) if normalized else ()
    origin = origin_of(base_url)
    return (origin,) if origin is not None else ()


def panel_guess(base_url: str) -> str | None:
    """The origin of ``base_url`` with the first ``-api.`` in its host turned into ``.`` — where such a
    relay's panel usually is — or None when the host has no ``-api.``. A suggestion to show, not a
    host to send credentials to."""
    origin = origin_of(base_url)
    if origin is None:
        return None
    host = urlsplit(origin).hostname or ""
    return origin.replace(host, host.replace("-api.", ".", 1), 1) if "-api." in host else None


def _normalize_override(url: str) -> str | None:
    origin = origin_of(url)
    if origin is None:
        return None
    path = urlsplit(url.strip()).path.rstrip("/")
    return origin + path
