"""The proxy settings a test starts from: none of the runner's own (they would change where requests go)."""

from __future__ import annotations

import pytest

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                   "no_proxy", "NETRC")


def only_proxy_settings(monkeypatch: pytest.MonkeyPatch, **settings: str) -> pytest.MonkeyPatch:
    """These proxy variables (and ``NETRC``) and no other."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return monkeypatch
