"""The real app, in-process, on a free port: the same composition root as ``api-router``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import tomlkit

from api_router.composition import make_control, make_registry, open_services
from api_router.control import Control
from api_router.gateway.server import GatewayServer
from api_router.paths import Paths
from api_router.services import Services
from tests.support.fake_provider import FakeProvider

FAST_ROUTING = {"request_timeout_seconds": 5, "stream_idle_timeout_seconds": 5}


def write_config(paths: Paths, providers: dict[str, Any], *, routing: dict[str, Any] | None = None,
                 listen: dict[str, Any] | None = None, order: list[str] | None = None) -> None:
    doc = tomlkit.document()
    doc["provider_order"] = order if order is not None else list(providers)
    doc["listen"] = {"host": "127.0.0.1", "port": 0, **(listen or {})}
    doc["routing"] = {**FAST_ROUTING, **(routing or {})}
    table = tomlkit.table(is_super_table=True)
    for pid, given in providers.items():
        if isinstance(given, FakeProvider):
            spec = {"base_url": given.base_url}
        elif isinstance(given, str):
            spec = {"base_url": given}
        else:
            spec = given
        table[pid] = {"display_name": pid.upper(), **spec}
    doc["providers"] = table
    paths.user_data.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(tomlkit.dumps(doc))


def write_keys(paths: Paths, keys: dict[str, str], token: str = "ao_" + "0" * 32) -> None:
    paths.user_data.mkdir(parents=True, exist_ok=True)
    paths.secrets.write_text(json.dumps({"gateway_token": token, "providers": keys, "usage_tokens": {}}))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The data payloads of an SSE body, in order."""
        out = []
        for block in self.body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n\n"):
            data = [line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:")]
            if data:
                try:
                    out.append(json.loads(b"\n".join(data)))
                except ValueError:
                    out.append({"type": None, "unparsed": b"\n".join(data)})
        return out

    @property
    def event_types(self) -> list[str]:
        return [e.get("type") for e in self.events]

    @property
    def text(self) -> str:
        """The assistant text of a JSON response or of a stream's deltas."""
        if self.headers.get("Content-Type", "").startswith("text/event-stream"):
            return "".join(e.get("delta", "") for e in self.events if e.get("type") == "response.output_text.delta")
        out = self.json["output"]
        return "".join(c["text"] for item in out if item["type"] == "message" for c in item["content"])


@dataclass
class Harness:
    services: Services
    control: Control
    gateway: GatewayServer
    client: aiohttp.ClientSession
    closed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return self.services.require_serving().port

    @property
    def token(self) -> str:
        return self.services.secrets.current.gateway_token

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def request(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
                      headers: dict[str, str] | None = None, token: str | bool | None = None) -> Reply:
        h = {} if token is False else self.auth(token if isinstance(token, str) else None)
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        async with self.client.request(method, self.base + path, data=data, headers=h) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    async def responses(self, body: dict[str, Any] | None = None, *, stream: bool = False,
                        headers: dict[str, str] | None = None, path: str = "/v1/responses") -> Reply:
        payload = body if body is not None else simple_body()
        payload = {**payload, "stream": stream}
        return await self.request("POST", path, body=payload, headers=headers)

    async def api(self, method: str, /, **kwargs: Any) -> Any:
        return await self.api_as(None, method, **kwargs)

    async def api_as(self, gateway_token: str | None, method: str, /, **kwargs: Any) -> Any:
        """A control call made with ``gateway_token`` (None: the current one)."""
        reply = await self.request("POST", f"/api/{method}", body=kwargs, token=gateway_token)
        if reply.status != 200:
            raise ApiError(reply.status, reply.json["error"]["message"])
        return reply.json

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.client.close()
        await self.gateway.stop()
        self.services.close()


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def simple_body(text: str = "say hi", **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-test",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}],
        **extra,
    }


async def start_harness(user_data: Path) -> Harness:
    paths = Paths(user_data)
    services = open_services(paths)
    control = make_control(services)
    gateway = GatewayServer(services, make_registry(services, control), port=0, shutdown_grace=1.0)
    await gateway.start()
    return Harness(services, control, gateway, aiohttp.ClientSession())
