"""The bytes one provider gets for one client request: the continuity rules' body, with the model name
that provider uses (``model_map``).

The usual request is forwarded byte for byte. A mapped model changes only the model's value in the
bytes when it is the body's first key (as Codex writes it); otherwise the body is re-serialised.
"""

from __future__ import annotations

import re

import orjson

from api_router.config import ProviderConfig
from api_router.continuity.rewrite import BodyOptions, ClientRequest, Continuity
from api_router.jsonbytes import dumps

_LEADING_MODEL = re.compile(rb'^\s*\{\s*"model"\s*:\s*"((?:[^"\\]|\\.)*)"')


def with_model(body: bytes, model: str, requested: str | None) -> bytes:
    """``body`` asking for ``model`` instead of ``requested`` (the model the gateway read from it)."""
    m = _LEADING_MODEL.match(body)
    # The leading key only when it says what was read: a JSON reader (orjson, and the provider's) takes
    # the last of two "model" keys, so a first one that differs is not the one to change.
    if m is not None and orjson.loads(b'"' + m.group(1) + b'"') == requested:
        out = body[:m.start(1)] + orjson.dumps(model)[1:-1] + body[m.end(1):]
        # Another "model" key (in metadata, or a second one with the same value): make sure the one read
        # is the one changed.
        if body.count(b'"model"') == 1 or orjson.loads(out).get("model") == model:
            return out
    payload = orjson.loads(body)
    payload["model"] = model
    return dumps(payload)


class Bodies:
    def __init__(self, continuity: Continuity) -> None:
        self._continuity = continuity

    def untouched(self, client: ClientRequest) -> bool:
        return self._continuity.untouched(client)

    async def for_provider(self, client: ClientRequest, provider: ProviderConfig, first_candidate: str,
                           opts: BodyOptions, known_as: str) -> tuple[bytes, str | None]:
        """(body, model sent) for ``provider`` when the continuity rules may change the body; raises
        MissingSession when continuity needs a session file that is not there."""
        body = await self._continuity.body_for(client, provider.id, first_candidate, opts, known_as)
        return self.mapped(body, client, provider)

    @staticmethod
    def mapped(body: bytes, client: ClientRequest, provider: ProviderConfig) -> tuple[bytes, str | None]:
        """(``body`` with the model ``provider`` uses, that model): the client's own bytes for the
        usual, untouched request."""
        model = provider.model_for(client.model)
        if model != client.model and model is not None:
            body = with_model(body, model, client.model)
        return body, model
