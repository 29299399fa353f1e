"""Fake relay panels on 127.0.0.1 (real HTTP, scripted per test, every hit recorded) and the
secrets the tests hunt for. Named uniquely because test dirs are not packages."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KEY = "sk-live-PROVIDERKEY-0123456789abcdef"
TOKEN = "ut-USAGETOKEN-fedcba9876543210"


@dataclass
class Hit:
    path: str
    query: dict[str, str]
    authorization: str


@dataclass
class FakePanel:
    """One fake upstream. ``routes`` maps a path to a handler; unknown paths answer 404."""

    routes: dict[str, Handler] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, path: str | None = None) -> int:
        return sum(1 for h in self.hits if path is None or h.path == path)

    # -- route helpers -------------------------------------------------------------------

    def json(
        self,
        path: str,
        body: Any,
        *,
        status: int = 200,
        bearer: str | None = None,
        token_key: str | None = None,
    ) -> None:
        """Answer ``body`` as JSON; with ``bearer``/``token_key`` set, other credentials get a 401
        whose message echoes what was sent (as careless panels do)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            sent_bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            sent_key = request.query.get("token_key", "")
            if (bearer is not None and sent_bearer != bearer) or (
                token_key is not None and sent_key != token_key
            ):
                echoed = sent_bearer or sent_key
                return web.json_response({"success": False, "message": f"invalid token {echoed}"}, status=401)
            return web.Response(text=json.dumps(body), status=status, content_type="application/json")

        self.routes[path] = handler

    def text(self, path: str, text: str, *, status: int = 200, content_type: str = "text/html") -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(text=text, status=status, content_type=content_type)

        self.routes[path] = handler

    def slow(self, path: str, body: Any, delay_s: float = 5.0) -> None:
        """Answer only after ``delay_s`` (or at teardown), well beyond the tests' short timeout."""

        async def handler(request: web.Request) -> web.StreamResponse:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), delay_s)
            return web.json_response(body)

        self.routes[path] = handler

    def trickle(self, path: str, chunks: int = 20, every_s: float = 0.1) -> None:
        """Answer one byte per ``every_s``: each read is quick, the whole answer is not."""

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for _ in range(chunks):
                if self.release.is_set():
                    break
                await response.write(b" ")
                await asyncio.sleep(every_s)
            await response.write(b"{}")
            return response

        self.routes[path] = handler

    def redirect(self, path: str, location: str) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(location)

        self.routes[path] = handler

    # -- plumbing ------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(Hit(request.path, dict(request.query), request.headers.get("Authorization", "")))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.json_response({"error": "not found"}, status=404)
        return await handler(request)
