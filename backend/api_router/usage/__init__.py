"""Usage/quota fetching for upstream relay providers.

Self-contained: depends on httpx only, knows nothing of the app's config or storage. The app
builds a :class:`UsageTarget` per provider, creates one client with :func:`make_client`, and
either calls :func:`fetch_usage` itself or runs a :class:`UsageRefresher`
whose ``on_result`` callback persists and publishes results.

Modules: ``numbers`` (tolerant number parsing), ``model`` (target, snapshot, error, exhaustion),
``bases`` (usage base candidates), ``client`` (the guarded GET), ``adapters`` (the dialects and
the keys they accept), ``fetch`` (detection and sharing), ``schedule`` (policy and runner).
"""

from .adapters import ADAPTERS, DETECTION_ORDER
from .bases import candidate_bases, origin_of
from .client import DEFAULT_TIMEOUT_S, install_log_redaction, make_client
from .fetch import ShareKey, fetch_usage, group_shared, share_key
from .model import (
    ErrorKind,
    UsageError,
    UsageSnapshot,
    UsageTarget,
    exhaustion_reason,
    redact,
)
from .numbers import ParsedNumber, parse_number
from .schedule import RefreshPolicy, ResultCallback, UsageEntry, UsageRefresher

__all__ = [
    "ADAPTERS",
    "DEFAULT_TIMEOUT_S",
    "DETECTION_ORDER",
    "ErrorKind",
    "ParsedNumber",
    "RefreshPolicy",
    "ResultCallback",
    "ShareKey",
    "UsageEntry",
    "UsageError",
    "UsageRefresher",
    "UsageSnapshot",
    "UsageTarget",
    "candidate_bases",
    "exhaustion_reason",
    "fetch_usage",
    "group_shared",
    "install_log_redaction",
    "make_client",
    "origin_of",
    "parse_number",
    "redact",
    "share_key",
]
