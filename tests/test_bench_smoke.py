"""The benchmark harness still runs end to end (``python -m bench.run --smoke``): a seconds-long
version with tiny counts and no budgets, so the harness cannot rot between benchmark runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import client, procs

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    table = proc.stdout
    for row in ("JSON c=1, p50 latency", "Stream c=1, time to first delta", "JSON c=32, throughput",
                "Stream c=32, throughput", "2 MB Codex request, unmodified", "provider switch",
                "CPU per 1,000 streams", "Start-up to /health", "Idle RSS", "RSS after", "JSON c=32, p50 latency",
                "Stream c=32, time to first delta (p50)", "Stream c=32, total (p50)"):
        assert row in table, f"{row!r} missing from the table:\n{table}"
    result = json.loads(out.read_text())
    assert result["settings"]["enforce"] is False
    assert result["targets"][:3] == ["direct", "router", "minimal"]  # the floor is always measured
    assert "router vs floor" in table and "machine load:" in table
    summary = {row["metric"]: row for row in result["summary"]}
    assert summary["JSON c=1, p50 latency"]["values"]["router"] > 0
    # The budgets are ratios to the floor, computed from this run's own figures.
    for metric in ("JSON c=32, throughput", "Stream c=32, throughput", "CPU per 1,000 streams of 50 events, c=32"):
        row = summary[metric]
        assert row["vs_floor"]["router"] == pytest.approx(row["values"]["router"] / row["values"]["minimal"])
        assert row["pass"] == (row["vs_floor"]["router"] >= 0.85 if row["unit"] == "req/s"
                               else row["vs_floor"]["router"] <= 1.2)
    latency = summary["JSON c=1, p50 latency"]
    assert latency["vs_floor"]["router"] == pytest.approx(latency["values"]["router"] - latency["values"]["minimal"])
    assert "floor" in latency["budget"]
    # The streams are Codex turns: a session id and reasoning sealed by the provider they go to.
    assert "sealed" in result["requests"]["stream"]
    assert result["rounds"][0]["router"]["stream_c32"]["n"] > 0
    # At c=32 one connection of the 32 times each Codex turn to its first delta and its end.
    c32 = result["rounds"][0]["router"]["stream_c32"]
    assert 0 < c32["ttfb_p50_ms"] <= c32["total_p50_ms"]
    assert summary["Start-up to /health (median)"]["values"]["router"] > 0
    rewrite = result["rounds"][0]["router"]["big_rewrite"]
    assert rewrite["upstream_bytes"] < rewrite["sent_bytes"]  # the switch really rewrote the body
    assert result["machine"]["cpus"] >= 1


def test_the_python_load_generator_chosen_is_reported_as_chosen_not_as_wrk_missing(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_LOADGEN": "python"}
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path / "r.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "as BENCH_LOADGEN=python asks" in proc.stderr and "no wrk" not in proc.stderr
    assert "BENCH_LOADGEN=python" in proc.stdout  # the table's footer says which one ran


def test_profile_turns_samples_into_microseconds_per_request(tmp_path: Path) -> None:
    """bench --profile's analysis: each thread's samples share that thread's measured CPU, wait
    leaves are dropped, and the flame graph and report are written (no py-spy needed)."""
    from bench import profile

    stacks = tmp_path / "router-stream.txt"
    stacks.write_text(
        "thread (100): MainThread;main (api_router/cli.py:1);StreamRelay.run (api_router/gateway/streaming.py:9) 30\n"
        "thread (100): MainThread;main (api_router/cli.py:1);StreamWriter._write (aiohttp/http_writer.py:5) 10\n"
        "thread (200): store-writer;BatchWriter._loop (api_router/store/writer.py:3);insert_rows (api_router/store/writer.py:7) 5\n"
        "thread (200): store-writer;BatchWriter._loop (api_router/store/writer.py:3);Condition.wait (threading.py:320) 95\n")
    # 1,000 requests; the main thread used 0.8 s and the writer 0.1 s of CPU.
    rec = profile.Recording("router", "stream", stacks, 1000, 2.0, 0.9, 500.0, "", {
        "user_us": 700.0, "system_us": 200.0, "thread_cpu_us:100": 800.0, "thread_cpu_us:200": 100.0})
    out = profile.analyse(rec)
    assert out["cpu_us_per_req"] == pytest.approx(900.0)
    assert out["threads"]["MainThread"]["us_per_req"] == pytest.approx(800.0)
    self_us = {x["name"]: x["us_per_req"] for x in out["self"]}
    assert self_us["StreamRelay.run (api_router/gateway/streaming.py)"] == pytest.approx(600.0)  # 30 of 40 main samples
    assert self_us["insert_rows (api_router/store/writer.py)"] == pytest.approx(100.0)  # the writer's only busy stack
    assert "Condition.wait (threading.py)" not in self_us
    assert out["layers"]["API Router code"]["us_per_req"] == pytest.approx(600.0)
    assert out["layers"]["aiohttp server"]["us_per_req"] == pytest.approx(200.0)
    svg = tmp_path / "router-stream.svg"
    profile.flamegraph(stacks, svg, "test")
    assert svg.read_text().startswith("<svg") and "StreamRelay.run" in svg.read_text()
    floor = profile.analyse(profile.Recording("minimal", "stream", stacks, 2000, 2.0, 0.9, 1000.0, "", {
        "thread_cpu_us:100": 400.0}))
    text = profile.report({"stream": {"router": out, "minimal": floor}}, {
        "mode": "test", "rate": 250, "seconds": 4, "rounds": 3, "loadavg_start": "0", "loadavg_end": "0"})
    assert "| CPU per stream (50 events) | 900 µs | 450 µs | +450 µs (2.00×) |" in text


def test_the_reasoning_scenario_measures_a_summary_that_is_not_held_back() -> None:
    """``python -m bench.reasoning`` in one round: both readings land between the moment the upstream
    sends the summary and the moment it starts the answer (a gateway holding reasoning back would
    deliver it only with the answer)."""
    import asyncio

    from bench import reasoning

    direct, through = asyncio.run(reasoning.run(1))
    for seconds in (*direct, *through):
        assert reasoning.SUMMARY_AT <= seconds < reasoning.ANSWER_AT, (direct, through)


# --- the harness cannot hang or measure the wrong process ------------------------------------------------


def test_a_helper_that_never_says_ready_is_given_up_on() -> None:
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE)
    with pytest.raises(RuntimeError, match="did not start within 1 s"):
        procs.ready_port(silent, 1.0, "the helper")
    assert silent.poll() is not None  # stopped, not left behind


def test_the_python_load_generator_gives_up_on_an_answer_that_never_comes(monkeypatch) -> None:
    monkeypatch.setattr(client, "ANSWER_TIMEOUT_S", 1.0)
    with socket.socket() as black_hole:  # accepts (the kernel does) and never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        started = time.monotonic()
        with pytest.raises(client.HTTPError, match="no answer within 1 s"):
            asyncio.run(client._python_load("127.0.0.1", black_hole.getsockname()[1], b"GET / HTTP/1.1\r\n\r\n",
                                            2, 0.5, 10, b""))
        assert time.monotonic() - started < 5


def test_a_gateway_whose_port_was_taken_is_not_measured(tmp_path: Path, monkeypatch) -> None:
    """Another server answering /health on the port free_port() gave is no gateway of ours."""
    other = procs.MinimalProxy.start("http://127.0.0.1:9/v1")  # it answers /health 200 too
    try:
        monkeypatch.setattr(procs, "free_port", lambda: other.port)  # the race, made certain
        procs.write_user_data(tmp_path / "ud", "http://127.0.0.1:9/v1")
        with pytest.raises(RuntimeError, match=f"port {other.port} answered /health, but not from the gateway"):
            procs.Gateway.start(tmp_path / "ud", tmp_path / "codex", timeout=20)
    finally:
        other.stop()


def test_rss_after_load_is_no_pass_when_fewer_requests_than_asked_for_were_sent() -> None:
    """A machine too slow for the 10,000 requests within the time cap: that figure was not measured, and a
    budget that could not be measured fails (it is not judged on what a third of the load left)."""
    from bench import run

    result = {"rounds": [], "settings": {"rss_requests": 10_000}, "end_of_run": {},
              "rss_after_load": {"requests": 3036, "rss_mb": 50.0, "idle_rss_mb": 40.0}}
    rows = {row["metric"]: row for row in run.summarize(result, ["direct", "router", "minimal"])}
    short = rows["RSS after 3,036 requests (fresh gateway; 10,000 wanted: not measured)"]
    assert short["pass"] is False
    result["rss_after_load"]["requests"] = 10_000
    rows = {row["metric"]: row for row in run.summarize(result, ["direct", "router", "minimal"])}
    assert rows["RSS after 10,000 requests (fresh gateway)"]["pass"] is True


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the parent-death signal is Linux's")
@pytest.mark.parametrize(("how", "command"), [
    (signal.SIGTERM, ["-m", "bench.run"]), (signal.SIGKILL, ["-m", "bench.run"]),
    (signal.SIGTERM, ["tasks.py", "bench"]),  # the documented command: the bench is that process
])
def test_a_bench_stopped_by_a_signal_leaves_no_process_serving(tmp_path: Path, how: signal.Signals,
                                                               command: list[str]) -> None:
    """``timeout`` or a cancelled CI job (SIGTERM) ends the run through its cleanup; even SIGKILL (a test's
    timeout) takes the fake upstream, API Router and the floor with it."""
    # Its working folder under tmp_path: SIGKILL leaves it behind.
    proc = subprocess.Popen([sys.executable, *command, "--smoke", "--out", str(tmp_path / "r.json")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            # The Python load generator: `tasks.py bench` would install wrk first (apt), and a
                            # test must not change the machine, nor wait on a download.
                            env={**os.environ, "TMPDIR": str(tmp_path), "BENCH_LOADGEN": "python"})
    helpers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            helpers = _children(proc.pid)
            if len(helpers) >= 3:  # the fake upstream, API Router, the floor
                break
            time.sleep(0.1)
        assert len(helpers) >= 3, helpers
        proc.send_signal(how)
        proc.wait(30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(map(_alive, helpers)):
            time.sleep(0.1)
        assert not [pid for pid in helpers if _alive(pid)], "helpers outlived the bench"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in helpers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_analytics_scenario_times_requests_alone_and_while_analytics_runs() -> None:
    """``python -m bench.analytics`` on a small log: both phases measured, analytics calls made while the
    second one ran, and the report judges their p99 ratio."""
    import asyncio

    from bench import analytics

    floor, busy, took = asyncio.run(analytics.run(rows=3_000, seconds=1.0))
    assert len(floor) > 10 and len(busy) > 10 and took, (len(floor), len(busy), took)
    text, _met = analytics.report(floor, busy, took)
    assert "p99 while analytics runs:" in text and f"{len(took)} calls" in text
