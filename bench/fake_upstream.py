"""The fake upstream provider: a plain aiohttp server in its own process.

    python -m bench.fake_upstream [--port N]      prints ``READY <port>`` once it listens

``POST /v1/responses`` answers a JSON response, or — for ``"stream":true`` — 50 SSE events, each
written as its own chunk the way real providers send them (pre-serialised; only the response id
changes). The JSON answer is serialised per request with aiohttp's default ``json_response`` like
any plain aiohttp server (``--json canned`` sends pre-serialised bytes instead: the cheapest
upstream possible, which makes every proxy look relatively slower). The request body is read in
full but never parsed, so the upstream's work does not depend on what a gateway did to the body.
A request for the ``bench-learn`` model is answered with reasoning items carrying the ids it names
(the gateway learns that this provider sealed them). ``GET /v1/models`` returns a tiny list.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time

import orjson
from aiohttp import web

from bench import payloads
from bench.serving import serve_until_signalled

_JSON = payloads.json_response()
_JSON_OBJECT = json.loads(_JSON)
_EVENTS = payloads.stream_events()
_RID = payloads.RID_PLACEHOLDER
_RID_EVENTS = [i for i, ev in enumerate(_EVENTS) if _RID in ev]
_MODELS = orjson.dumps({"object": "list", "data": [{"id": payloads.MODEL, "object": "model"}]})
_ids = itertools.count(1)


def _rid() -> bytes:
    return b"resp_%012d" % next(_ids)


async def responses(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    rid = _rid()
    # x-request-id carries the size of the body received (the gateway passes it back), so the
    # runner can check that a rewritten request really was rewritten.
    headers = {"x-request-id": f"req_{len(body)}"}
    if payloads.is_stream_request(body):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
        await resp.prepare(request)
        for i, ev in enumerate(_EVENTS):
            await resp.write(ev.replace(_RID, rid) if i in _RID_EVENTS else ev)
        await resp.write_eof()
        return resp
    if b'"model":"' + payloads.LEARN_MODEL.encode() + b'"' in body:
        metadata = orjson.loads(body)["metadata"]
        answer = payloads.learn_response(metadata["reasoning_ids"], metadata.get("sealed_size"))
        return web.Response(body=answer.replace(_RID, rid), content_type="application/json", headers=headers)
    if request.app["canned"]:
        return web.Response(body=_JSON.replace(_RID, rid), content_type="application/json", headers=headers)
    return web.json_response({**_JSON_OBJECT, "id": rid.decode(), "created_at": int(time.time())}, headers=headers)


async def models(request: web.Request) -> web.Response:
    return web.Response(body=_MODELS, content_type="application/json")


async def main(port: int, json_mode: str) -> None:
    app = web.Application(client_max_size=1 << 30)
    app["canned"] = json_mode == "canned"
    app.router.add_post("/v1/responses", responses)
    app.router.add_get("/v1/models", models)
    await serve_until_signalled(app, port, backlog=1024)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--json", choices=("dumps", "canned"), default="dumps")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.json))
