"""Failover scenario: a black-hole preferred provider under Codex-like traffic, with default settings.

    python -m bench.failover [--minutes 5] [--interval 2]

API Router runs as a real process (``api-router --headless``) with two providers: the preferred one
is a socket that listens and never accepts (a relay that died behind its load balancer), the other
is the bench's healthy fake upstream. One streamed request goes out every ``interval`` seconds for
``minutes``. The report says how long the first answer took, how long the later ones took, and the
total time clients spent waiting on the dead provider (each request's time beyond the healthy
provider's own latency), against the targets of the failover issue:

    first answer ≤ 12 s; every later request ≤ healthy latency + 0.5 s; total waiting ≤ 15 s.

Exits 1 when a target is missed. Bounded in requests and time; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from api_router.fsutil import atomic_write
from bench import client, payloads, procs

FIRST_ANSWER_MAX_S = 12.0
LATER_EXTRA_MAX_S = 0.5
TOTAL_WAIT_MAX_S = 15.0


@dataclass
class Report:
    requests: int = 0
    failed: int = 0
    healthy_latency_s: float = 0.0
    first_answer_s: float = 0.0
    later_max_s: float = 0.0
    total_waiting_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    @property
    def targets_met(self) -> bool:
        return (self.failed == 0 and self.first_answer_s <= FIRST_ANSWER_MAX_S
                and self.later_max_s <= self.healthy_latency_s + LATER_EXTRA_MAX_S
                and self.total_waiting_s <= TOTAL_WAIT_MAX_S)


def _write_user_data(folder: Path, hole_port: int, healthy_url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text("\n".join([
        'provider_order = ["dead", "healthy"]', "", "[listen]", f'host = "{procs.HOST}"', "port = 0", "",
        "[routing]", 'preferred_provider = "dead"', "",
        "[providers.dead]", 'display_name = "Dead relay"', f'base_url = "http://{procs.HOST}:{hole_port}/v1"', "",
        "[providers.healthy]", 'display_name = "Healthy relay"', f'base_url = "{healthy_url}"', ""]))
    keys = {"dead": "sk-dead-000000", "healthy": "sk-ok-000000"}
    secrets = {"gateway_token": procs.TOKEN, "usage_tokens": {}, "providers": keys}
    (folder / "secrets.json").write_text(json.dumps(secrets))


def _stream_once(port: int, body: bytes, headers: dict[str, str], timeout: float) -> float:
    """Seconds until a streamed request has completed; raises on anything but a complete stream."""
    with client.Conn(procs.HOST, port, timeout=timeout) as conn:
        t = conn.send(client.request_bytes("POST", "/v1/responses", f"{procs.HOST}:{port}", headers, body))
    if t.status != 200 or b"response.completed" not in t.body:
        raise RuntimeError(f"HTTP {t.status}: {t.body[-300:]!r}")
    return t.total_ns / 1e9


def run(minutes: float, interval: float) -> Report:
    report = Report()
    hole = socket.socket()
    hole.bind((procs.HOST, 0))
    hole.listen(128)  # never accepted: the kernel completes handshakes, nobody ever answers
    upstream = procs.FakeUpstream.start()
    work = Path(tempfile.mkdtemp(prefix="api-router-failover-"))
    gateway = None
    try:
        _write_user_data(work / "user-data", hole.getsockname()[1], upstream.base_url)
        gateway = procs.Gateway.start(work / "user-data", work / "codex-home")
        body = payloads.small_request(stream=True, session="failover-session")
        headers = {"Authorization": f"Bearer {procs.TOKEN}", "Content-Type": "application/json",
                   "session-id": "failover-session"}
        direct = [_stream_once(upstream.port, body, headers, 10) for _ in range(20)]
        report.healthy_latency_s = statistics.median(direct)
        end = time.monotonic() + minutes * 60
        limit = int(minutes * 60 / interval) + 1
        while time.monotonic() < end and report.requests < limit:
            tick = time.monotonic()
            try:
                took = _stream_once(gateway.port, body, headers, 70)
            except (OSError, RuntimeError, client.HTTPError) as exc:
                report.failed += 1
                print(f"request {report.requests + 1} failed: {exc}", file=sys.stderr)
                took = 0.0
            report.requests += 1
            report.latencies_s.append(took)
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))
        report.first_answer_s = report.latencies_s[0] if report.latencies_s else 0.0
        report.later_max_s = max(report.latencies_s[1:], default=0.0)
        report.total_waiting_s = sum(max(0.0, t - report.healthy_latency_s) for t in report.latencies_s)
        return report
    finally:
        if gateway is not None:
            gateway.stop()
        upstream.stop()
        hole.close()
        shutil.rmtree(work, ignore_errors=True)  # the run's config, keys and log are of no use after it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args(argv)
    report = run(args.minutes, args.interval)
    rows = [
        (f"requests (one every {args.interval:g} s)", f"{report.requests} ({report.failed} failed)", "all answered"),
        ("healthy provider's own latency (p50)", f"{report.healthy_latency_s * 1000:.1f} ms", ""),
        ("first answer", f"{report.first_answer_s:.2f} s", f"≤ {FIRST_ANSWER_MAX_S:g} s"),
        ("slowest later request", f"{report.later_max_s * 1000:.1f} ms", f"≤ healthy + {LATER_EXTRA_MAX_S:g} s"),
        ("total time waiting on the dead provider", f"{report.total_waiting_s:.2f} s", f"≤ {TOTAL_WAIT_MAX_S:g} s"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>16}  {target}")
    print("targets met" if report.targets_met else "TARGETS MISSED")
    if args.json:
        summary = {**asdict(report), "targets_met": report.targets_met}
        atomic_write(Path(args.json), json.dumps(summary, indent=2).encode())
    return 0 if report.targets_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
