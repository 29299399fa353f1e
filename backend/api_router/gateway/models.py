"""``GET {base_url}/models`` for one provider: used by ``/v1/models``, the probe and the provider test."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import orjson

from api_router.config import ProviderConfig
from api_router.gateway.classify import retry_after_of
from api_router.gateway.upstream import Upstream, describe_exception, error_text, upstream_headers


@dataclass
class ModelList:
    ok: bool
    status: int | None
    latency_ms: float
    models: list[str] = field(default_factory=list)
    body: bytes = b""  # the provider's own answer, forwarded as is by /v1/models
    error: str = ""
    retry_after: float | None = None  # a 429's wait, in seconds


# A model list is small and quick: a provider that sends nothing for this long is not answering.
MODELS_TIMEOUT_SECONDS = 10.0


async def fetch_models(upstream: Upstream, provider: ProviderConfig, key: str | None, timeout: float, *,
                       asked_as: Mapping[str, str], query: str = "") -> ModelList:
    """``asked_as``: the headers that go upstream — a client's forwarded ones (``forwarded_headers``: its
    User-Agent, the hop ids when another API Router asks), or the gateway's own client identity (a test,
    a probe); ``query``: the client's query string as it was sent (Codex sends its version)."""
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    if not provider.base_url:
        return ModelList(False, None, 0.0, error="no base URL")
    asked = asked_as if any(name.lower() == "accept" for name in asked_as) else {"Accept": "application/json",
                                                                                   **asked_as}
    url = provider.endpoint("/models")
    if query:  # after the base URL's own query (an Azure-style ?api-version=), if it has one
        url += ("&" if "?" in url else "?") + query
    try:
        fetched = await upstream.get(url, upstream_headers(asked, key), timeout)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return ModelList(False, None, elapsed(), error=describe_exception(exc, timeout))
    status, content_type, body = fetched.status, fetched.content_type, fetched.body
    if status != 200:
        return ModelList(False, status, elapsed(),
                         error=f"HTTP {status}: {error_text(body, content_type)}{fetched.note}",
                         retry_after=retry_after_of(fetched.waits) if status == 429 else None)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ModelList(False, status, elapsed(), error=f"answered {content_type or 'something'} that is not JSON")
    # OpenAI's {"data": [...]}, Codex's own {"models": [...]}, or a bare list.
    items = (data.get("data") if isinstance(data.get("data"), list) else data.get("models")) \
        if isinstance(data, dict) else data
    if not isinstance(items, list):  # a 200 that is no model list (an error under a success status) fails over
        said = f"answered with an error instead of a model list: {error_text(body, content_type)}" \
            if isinstance(data, dict) and data.get("error") else "answered JSON that is not a model list (no data)"
        return ModelList(False, status, elapsed(), error=said)
    models = [name for m in items if isinstance(m, dict)
              and isinstance(name := m.get("id", m.get("slug")), str)]
    return ModelList(True, status, elapsed(), models, body)
