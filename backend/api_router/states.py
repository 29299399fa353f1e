"""The states the status document reports: each provider's health and the gateway's as a whole.

String enums, so that the document (JSON for the UI, the tray reading it back) carries the words
themselves, while the code that writes and reads them names members instead of spelling strings.
"""

from __future__ import annotations

import enum


class ProviderHealth(enum.StrEnum):
    UNKNOWN = "unknown"  # not used yet
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # failed lately, still in rotation
    COOLDOWN = "cooldown"  # out of rotation until its cooldown ends (or a check answers)
    UNRESPONSIVE = "unresponsive"  # did not answer in time: out until a check answers
    DISABLED = "disabled"


# Out of rotation for now, though enabled.
OUT_OF_ROTATION = frozenset({ProviderHealth.COOLDOWN, ProviderHealth.UNRESPONSIVE})
# Not well: a return to healthy from one of these is news.
UNWELL = frozenset({ProviderHealth.UNHEALTHY, *OUT_OF_ROTATION})


class GatewayState(enum.StrEnum):
    SERVING = "serving"  # from the preferred provider (or the locked one)
    FALLBACK = "fallback"  # from another provider
    DOWN = "down"  # the last request found no provider that could serve it
    NO_PROVIDERS = "no_providers"  # none configured, enabled, or with a base URL
