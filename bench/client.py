"""Load generators.

- ``Conn``: a blocking raw-socket HTTP/1.1 keep-alive client for the c=1 measurements. It parses
  just enough HTTP (Content-Length and chunked) to know when a response ends, and timestamps the
  first byte, the first ``response.output_text.delta`` and the last byte with ``perf_counter_ns``.
  At c=1 the client, gateway and upstream take turns, so a Python client costs the same on both
  sides of a paired (direct vs router) comparison; ``alternating`` sends to every target in turn,
  request by request, so the pairs see the same moment of a shared machine.
- ``run_wrk``: the concurrent measurements (c=32) use wrk (C, epoll) with a Lua script: POST body,
  a per-thread request cap (``wrk.thread:stop()``) on top of the duration, and a check of every
  response (status 200; streams must contain ``response.completed``). A Python client caps well
  below the direct upstream's rate on 2 cores and would shrink the gap we want to measure.
- ``run_python_load``: an asyncio fallback with the same contract when wrk is not installed
  (smoke runs / CI); it is reported as the load generator so figures are never mixed silently.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DELTA_MARK = b"response.output_text.delta"
COMPLETED_MARK = b"response.completed"
ANSWER_TIMEOUT_S = 30.0  # the longest a single answer may take before the run fails (as the c=1 sockets)


@dataclass
class Timing:
    status: int
    first_byte_ns: int  # from send to the first byte of the response
    first_delta_ns: int | None  # from send to the first output_text.delta (streams)
    total_ns: int  # from send to the last byte
    body: bytes
    headers: dict[bytes, bytes]


class HTTPError(Exception):
    pass


def request_bytes(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Conn:
    """One keep-alive connection; ``send`` returns the timings of one request/response."""

    def __init__(self, host: str, port: int, timeout: float = ANSWER_TIMEOUT_S) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self) -> bytes:
        data = self.sock.recv(262144)
        if not data:
            raise HTTPError("connection closed by peer")
        return data

    def send(self, raw: bytes, *, keep_body: bool = True) -> Timing:
        t0 = time.perf_counter_ns()
        self.sock.sendall(raw)
        buf = self.buf or self._recv()
        t_first = time.perf_counter_ns()
        while b"\r\n\r\n" not in buf:
            buf += self._recv()
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip()
        t_delta = None
        body = bytearray()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                while b"\r\n" not in buf:
                    buf += self._recv()
                size_line, _, buf = buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf += self._recv()
                chunk, buf = buf[:size], buf[size + 2:]
                if t_delta is None and DELTA_MARK in chunk:
                    t_delta = time.perf_counter_ns()
                if size == 0:
                    break
                if keep_body or COMPLETED_MARK in chunk:
                    body += chunk
        else:
            length = int(headers.get(b"content-length", b"0"))
            while len(buf) < length:
                buf += self._recv()
            body, buf = bytearray(buf[:length]), buf[length:]
        self.buf = buf
        t_end = time.perf_counter_ns()
        return Timing(status, t_first - t0, None if t_delta is None else t_delta - t0, t_end - t0, bytes(body), headers)


def get(host: str, port: int, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
        timeout: float = 10.0) -> tuple[int, bytes]:
    method = "POST" if body is not None else "GET"
    with Conn(host, port, timeout) as conn:
        t = conn.send(request_bytes(method, path, f"{host}:{port}", {"Connection": "close", **(headers or {})},
                                    body or b""))
        return t.status, t.body


def sequential(host: str, port: int, raw: bytes, *, count: int, seconds: float, check: bytes | None = None,
               warmup: int = 20, before: Callable[[], object] | None = None) -> list[Timing]:
    """``count`` requests one after another on one connection, stopping early after ``seconds``
    (``warmup`` untimed ones first, then ``before()``)."""
    out: list[Timing] = []
    with Conn(host, port) as conn:
        for _ in range(warmup):
            conn.send(raw, keep_body=False)
        if before is not None:
            before()
        deadline = time.perf_counter() + seconds
        while len(out) < count and time.perf_counter() < deadline:
            t = conn.send(raw, keep_body=False)
            if t.status != 200 or (check is not None and check not in t.body):
                raise HTTPError(f"unexpected answer {t.status}: {t.body[:300]!r}")
            out.append(t)
    return out


def alternating(host: str, targets: list[tuple[int, bytes]], *, count: int, seconds: float,
                check: bytes | None = None, warmup: int = 20,
                before: Callable[[], object] | None = None) -> list[list[Timing]]:
    """Like ``sequential`` for several targets at once, one connection each, taking turns request by
    request (A B C, C B A, …): a machine that gets busier for a moment slows every target alike, so
    per-request comparisons stay paired even when other processes load the machine. Stops after
    ``count`` rounds of turns or ``seconds``; returns each target's timings in order."""
    out: list[list[Timing]] = [[] for _ in targets]
    conns = [Conn(host, port) for port, _ in targets]
    try:
        for conn, (_, raw) in zip(conns, targets, strict=True):
            for _ in range(warmup):
                conn.send(raw, keep_body=False)
        if before is not None:
            before()
        order = list(range(len(targets)))
        deadline = time.perf_counter() + seconds
        while len(out[0]) < count and time.perf_counter() < deadline:
            for i in order:
                t = conns[i].send(targets[i][1], keep_body=False)
                if t.status != 200 or (check is not None and check not in t.body):
                    raise HTTPError(f"unexpected answer {t.status} from port {targets[i][0]}: {t.body[:300]!r}")
                out[i].append(t)
            order.reverse()
    finally:
        for conn in conns:
            conn.close()
    return out


# --- concurrent load ------------------------------------------------------------------------------------

_WRK_LUA = r"""
local body_file, limit, want = os.getenv("BENCH_BODY"), tonumber(os.getenv("BENCH_LIMIT")), os.getenv("BENCH_WANT")
local f = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
for line in io.lines(os.getenv("BENCH_HEADERS")) do
  local k, v = line:match("^([^:]+):%s*(.*)$")
  if k then wrk.headers[k] = v end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; bad = 0; first_bad = "" end
function response(status, headers, body)
  n = n + 1
  if status ~= 200 or (want ~= "" and not string.find(body, want, 1, true)) then
    bad = bad + 1
    if first_bad == "" then first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200) end
  end
  if n >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local b, fb = 0, ""
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    if fb == "" then fb = t:get("first_bad") end
  end
  fb = fb:gsub("[^%w ._:%-]", "?")
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\"requests\":%d,\"duration_us\":%d,\"bad\":%d,\"connect\":%d,\"read\":%d," ..
    "\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d,\"first_bad\":\"%s\"}\n",
    summary.requests, summary.duration, b, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), fb))
end
"""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    bad: int
    p50_ms: float
    p99_ms: float
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str | None:
    """wrk if installed (``BENCH_LOADGEN=python`` forces the Python fallback)."""
    if os.environ.get("BENCH_LOADGEN") == "python":
        return None
    return shutil.which("wrk")


def run_wrk(url: str, body: bytes, headers: dict[str, str], *, connections: int, seconds: float, limit: int,
            want: str = "", threads: int = 1) -> LoadResult:
    """wrk for ``seconds`` (whole seconds, at least 1), stopping each thread after ``limit / threads``
    answers; wrk still reports the full duration, so callers must treat a reached cap as an error."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        d = Path(tmp)
        (d / "body").write_bytes(body)
        (d / "headers").write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
        (d / "script.lua").write_text(_WRK_LUA)
        env = {**os.environ, "BENCH_BODY": str(d / "body"), "BENCH_HEADERS": str(d / "headers"),
               "BENCH_LIMIT": str(max(1, limit // threads)), "BENCH_WANT": want}
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(d / "script.lua"), url]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 30)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise HTTPError(f"wrk failed ({proc.returncode}): {proc.stdout[-500:]} {proc.stderr[-500:]}")
    r = json.loads(line.removeprefix("BENCHJSON "))
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    if r["bad"] or r["status"] or errors:
        raise HTTPError(f"wrk saw {r['bad']} bad answers, {r['status']} non-2xx, {errors} socket errors "
                        f"({r['requests']} requests); first bad: {r['first_bad']}")
    return LoadResult(r["requests"], r["duration_us"] / 1e6, r["bad"], r["p50_us"] / 1000, r["p99_us"] / 1000, "wrk")


async def _python_load(host: str, port: int, raw: bytes, connections: int, seconds: float, limit: int,
                       want: bytes) -> LoadResult:
    latencies: list[float] = []
    bad = 0
    left = limit
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal bad, left
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while left > 0 and time.perf_counter() < deadline:
                left -= 1
                t0 = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                lower = head.lower()
                body = b""
                if b"transfer-encoding: chunked" in lower:
                    parts = []
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        parts.append(await reader.readexactly(size + 2))
                        if size == 0:
                            break
                    body = b"".join(parts)
                else:
                    i = lower.find(b"content-length:")
                    n = int(lower[i + 15:lower.find(b"\r\n", i)]) if i >= 0 else 0
                    body = await reader.readexactly(n)
                latencies.append(time.perf_counter() - t0)
                if status != 200 or (want and want not in body):
                    bad += 1
        finally:
            writer.close()

    try:
        # The deadline is checked between requests; one that never gets its answer must not hang the run.
        async with asyncio.timeout(seconds + ANSWER_TIMEOUT_S):
            await asyncio.gather(*(worker() for _ in range(connections)))
    except TimeoutError:
        raise HTTPError(f"python load generator: no answer within {ANSWER_TIMEOUT_S:g} s after the "
                        f"{seconds:g} s run") from None
    elapsed = time.perf_counter() - start
    latencies.sort()
    p = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000) if latencies else (lambda q: 0.0)
    if bad:
        raise HTTPError(f"python load generator saw {bad} bad answers")
    return LoadResult(len(latencies), elapsed, bad, p(0.5), p(0.99), "python")


def run_python_load(host: str, port: int, path: str, body: bytes, headers: dict[str, str], *, connections: int,
                    seconds: float, limit: int, want: str = "") -> LoadResult:
    raw = request_bytes("POST", path, f"{host}:{port}", headers, body)
    return asyncio.run(_python_load(host, port, raw, connections, seconds, limit, want.encode()))
