"""Where the router's CPU goes, next to the floor's: py-spy under a fixed load.

    python3 tasks.py bench --profile [--seconds 4] [--rounds 3] [--rate 250] [--native]
    python -m bench.run --profile ...

Starts the fake upstream, API Router (taught the same sealed-reasoning owners as the bench) and the
minimal proxy, then for each workload — JSON c=32 (the short plain request), streams c=32 (the
Codex turn, 50 events) and streams c=1 (one user: every event arrives on its own) — measures the
two targets in interleaved windows (router, floor, floor, router, …): a 1 s warm-up, then py-spy
samples the process (all threads) while wrk (c=32) or the raw client (c=1) sends the load for
``--seconds``. The target's CPU time (from /proc) and its request count over the same windows
turn sample shares into microseconds per request. Writes, under ``bench/results/profile/``:

- ``<target>-<workload>.txt``: collapsed stacks (``thread;frame;…;frame count``), readable by
  speedscope and flamegraph tools;
- ``<target>-<workload>.svg``: a flame graph of them (open in a browser; hover for figures);
- ``profile.md`` and ``profile.json``: per workload, CPU per request for router and floor (user,
  system, syscalls, context switches), the split by layer (aiohttp server, aiohttp client, API
  Router's own code, the event loop, other threads) and the hottest functions and lines, each in
  µs per request.

py-spy pauses the process for each sample (its stacks are then whole; the load runs a little slower than
in the bench, which the per-request figures do not mind); ``--nonblocking`` reads it without pausing
(the load as in the bench, but about a fifth of the stacks come out torn); ``--native`` adds C frames
(uvloop, orjson, the HTTP parser). Bounded: 3 workloads × 2 targets × ``--rounds`` windows of
``--seconds`` (each capped), traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api_router.fsutil import atomic_write
from bench import client, procs, run

OUT = procs.ROOT / "bench" / "results" / "profile"
# name -> (streamed?, concurrency): at c=32 several events share a read; at c=1 (one Codex user)
# every event arrives, is relayed and costs on its own.
WORKLOADS = {"json": (False, 32), "stream": (True, 32), "stream_c1": (True, 1)}
TARGETS = ("router", run.FLOOR)
_LINE = re.compile(r":\d+\)$")


def py_spy() -> str:
    exe = Path(sys.executable).with_name("py-spy")
    found = str(exe) if exe.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is not installed: `python3 tasks.py bench --profile` installs it (test extra), "
                         "or pip install py-spy")
    return found


# --- recording -----------------------------------------------------------------------------------------


@dataclass
class Recording:
    target: str
    workload: str
    stacks: Path
    requests: int
    seconds: float
    cpu_s: float
    rps: float
    py_spy_line: str
    counters: dict[str, float]  # per request: user/system µs, read/write syscalls, context switches


def counters(pid: int) -> dict[str, float]:
    """Cumulative user and system CPU (µs), read/write syscalls and context switches of a process.

    Syscalls come from /proc/<pid>/io (read-like and write-like calls: libuv reads and writes
    sockets with read/write/writev); context switches are summed over the threads, so a GIL
    hand-off between the event loop and another thread shows up here.
    """
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    out = {"user_us": int(fields[11]) / procs.CLK_TCK * 1e6, "system_us": int(fields[12]) / procs.CLK_TCK * 1e6}
    try:
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        out["read_syscalls"], out["write_syscalls"] = float(io["syscr"]), float(io["syscw"])
    except (OSError, KeyError, ValueError):
        pass
    switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        except OSError:
            pass
    out["context_switches"] = float(switches)
    for tid in os.listdir(f"/proc/{pid}/task"):  # CPU per thread (µs), to weigh each thread's samples
        try:
            out[f"thread_cpu_us:{tid}"] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0]) / 1000
        except (OSError, ValueError, IndexError):
            pass
    return out


@dataclass
class Window:
    requests: int
    seconds: float
    cpu_s: float
    counters: dict[str, float]  # deltas over the window
    stacks: Counter[str]


def record_window(t: run.Target, body: bytes, *, stream: bool, concurrency: int, seconds: float, rate: int,
                  native: bool, nonblocking: bool) -> Window:
    """py-spy on the target while ``seconds`` of load are sent (wrk at c=32, the raw client at c=1)."""
    def load(duration: float) -> tuple[int, float]:
        if concurrency == 1:
            raw = t.raw(body, stream=stream, session=run.SESSION_CODEX if stream else "bench-small")
            t0 = time.perf_counter()
            done = client.sequential(run.HOST, t.port, raw, count=1_000_000, seconds=duration, warmup=0,
                                     check=client.COMPLETED_MARK if stream else None)
            return len(done), time.perf_counter() - t0
        r = run._load(t, body, stream=stream, seconds=duration, limit=10_000_000, connections=concurrency)
        return r.requests, r.seconds

    load(1)  # warm-up, not recorded
    with tempfile.TemporaryDirectory(prefix="bench-py-spy-") as tmp:
        raw = Path(tmp) / "stacks.txt"
        cmd = [py_spy(), "record", "-p", str(t.pid), "-r", str(rate), "-f", "raw", "-o", str(raw), "--threads"]
        cmd += ["--native"] if native else []
        cmd += ["--nonblocking"] if nonblocking else []
        # Only samples that hold the GIL: a thread blocked in epoll, a lock or a queue does not
        # hold it, so what is left is the Python-level work (SQLite, which runs without the
        # GIL, still counts through its thread's measured CPU).
        cmd += ["--gil"]
        spy = procs.start_helper(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(0.5)  # attached; samples of the idle process are dropped (py-spy skips idle threads)
            if spy.poll() is not None:
                said = spy.communicate()[0][-800:]
                raise RuntimeError(f"py-spy exited at once (ptrace not allowed? run as root): {said}")
            cpu0, c0 = t.cpu(), counters(t.pid)
            requests, elapsed = load(seconds)
            cpu, c1 = t.cpu() - cpu0, counters(t.pid)
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            try:
                output, _ = spy.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                output, _ = spy.communicate()
        if not raw.exists():
            raise RuntimeError(f"py-spy wrote no profile: {output[-800:]}")
        stacks: Counter[str] = Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[stack] += int(count)
    return Window(requests, elapsed, cpu, {k: c1[k] - c0[k] for k in c1 if k in c0}, stacks)


def merge(target: str, workload: str, windows: list[Window], out: Path) -> Recording:
    """The windows of one target and workload as one recording (stacks summed, counts added)."""
    stacks: Counter[str] = Counter()
    for w in windows:
        stacks.update(w.stacks)
    path = out / f"{target}-{workload}.txt"
    atomic_write(path, "".join(f"{stack} {n}\n" for stack, n in sorted(stacks.items())).encode())
    requests = sum(w.requests for w in windows)
    seconds = sum(w.seconds for w in windows)
    keys = set.intersection(*(set(w.counters) for w in windows))
    per_request = {k: sum(w.counters[k] for w in windows) / max(1, requests) for k in keys}
    return Recording(target, workload, path, requests, seconds, sum(w.cpu_s for w in windows),
                     requests / seconds if seconds else 0.0, f"{len(windows)} windows", per_request)


# --- analysis ------------------------------------------------------------------------------------------------


def parse(path: Path) -> list[tuple[str, str, list[str], int]]:
    """Collapsed stacks -> [(thread id, thread name, frames root first, samples)]."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        head, *frames = stack.split(";")
        m = re.match(r"thread \((\w+)\): (.*)", head)
        tid, thread = (m.group(1), m.group(2)) if m else ("", head)
        out.append((tid, thread, frames, int(count)))
    return out


# Leaf functions that only wait (the thread is blocked, not computing); py-spy reports some of
# them as active when it pauses the process, so they are dropped.
IDLE_LEAVES = ("Condition.wait (", "Event.wait (", "Queue.get (", "_worker (", "select (", "SimpleQueue.get (")


def function_of(frame: str) -> str:
    """``name (file:line)`` -> ``name (file)``."""
    return _LINE.sub(")", frame)


def file_of(frame: str) -> str:
    i = frame.rfind(" (")
    return frame[i + 2:].rstrip(")").rsplit(":", 1)[0] if i >= 0 else ""


def layer(thread: str, frames: list[str]) -> str:
    """Which layer a sample's CPU belongs to, by the innermost frame that is not a generic helper."""
    if thread != "MainThread":
        return f"thread {thread}"
    if not frames:
        return "other"
    leaf = file_of(frames[-1])
    if "api_router" in leaf:
        return "API Router code"
    if "bench/" in leaf or leaf.endswith("minimal_proxy.py"):
        return "floor handler code"
    if "aiohttp" in leaf:
        for frame in reversed(frames):
            f = file_of(frame)
            if "aiohttp/client" in f or "aiohttp/connector" in f:
                return "aiohttp client"
            if "aiohttp/web" in f or "aiohttp/http_writer" in f or "aiohttp/base_protocol" in f:
                return "aiohttp server"
        return "aiohttp (streams, helpers)"
    if "asyncio" in leaf or "uvloop" in leaf:
        return "event loop"
    if any(x in leaf for x in ("multidict", "yarl", "orjson", "json/")):
        return "multidict / yarl / json"
    if "logging" in leaf:
        return "logging"
    return f"other ({leaf.rsplit('/', 1)[-1]})" if leaf else "other"


def analyse(rec: Recording) -> dict[str, Any]:
    """Samples -> µs per request. Each thread's samples share that thread's measured CPU time
    (/proc/<pid>/task/<tid>/schedstat over the same windows), so sampling rate, pauses and time
    without the GIL do not skew the split between threads."""
    stacks = [(tid, name, frames, n) for tid, name, frames, n in parse(rec.stacks)
              if not (frames and frames[-1].startswith(IDLE_LEAVES))]
    per_req_us = rec.cpu_s / rec.requests * 1e6 if rec.requests else 0.0
    thread_samples: Counter[str] = Counter()
    names: dict[str, str] = {}
    for tid, name, _, n in stacks:
        thread_samples[tid] += n
        names[tid] = name
    thread_us = {tid.split(":", 1)[1]: v for tid, v in rec.counters.items() if tid.startswith("thread_cpu_us:")}
    weight = {tid: thread_us.get(tid, 0.0) / n for tid, n in thread_samples.items()}  # µs per request per sample
    threads = {names[tid]: {"samples": n, "us_per_req": thread_us.get(tid, 0.0)} for tid, n in thread_samples.items()}
    unsampled = sum(v for tid, v in thread_us.items() if tid not in thread_samples)
    if unsampled:
        threads["(threads without samples)"] = {"samples": 0, "us_per_req": unsampled}

    self_fn: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    for tid, thread, frames, n in stacks:
        us = n * weight[tid]
        layers[layer(thread, frames)] += us
        if frames:
            self_fn[function_of(frames[-1])] += us
            self_line[frames[-1]] += us
        for fn in {function_of(f) for f in frames}:
            incl_fn[fn] += us
    if unsampled:
        layers["(threads without samples)"] += unsampled

    def top(counter: Counter[str], k: int, only: str | None = None) -> list[dict[str, Any]]:
        items = [(name, us) for name, us in counter.most_common() if only is None or only in name][:k]
        return [{"name": name, "us_per_req": us, "share": us / per_req_us if per_req_us else 0.0} for name, us in items]

    return {
        "target": rec.target, "workload": rec.workload, "requests": rec.requests, "seconds": rec.seconds,
        "rps": rec.rps, "cpu_s": rec.cpu_s, "cpu_us_per_req": per_req_us, "samples": sum(thread_samples.values()),
        "py_spy": rec.py_spy_line, "stacks_file": rec.stacks.name,
        "counters_per_req": {k: v for k, v in rec.counters.items() if not k.startswith("thread_cpu_us:")},
        "threads": threads,
        "layers": {k: {"us_per_req": us, "share": us / per_req_us if per_req_us else 0.0}
                   for k, us in layers.most_common()},
        "self": top(self_fn, 40),
        "self_lines_api_router": top(self_line, 40, "api_router"),
        "inclusive_api_router": top(incl_fn, 40, "api_router"),
        "inclusive": top(incl_fn, 60),
    }


# --- flame graph ---------------------------------------------------------------------------------------------


def flamegraph(path: Path, out: Path, title: str) -> None:
    """An SVG flame graph (root at the bottom) of collapsed stacks, one row per frame depth."""
    tree: dict[str, Any] = {"n": 0, "kids": {}}
    for _, thread, frames, n in parse(path):
        if frames and frames[-1].startswith(IDLE_LEAVES):
            continue
        node = tree
        node["n"] += n
        for frame in [f"thread {thread}", *frames]:
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += n
    total = tree["n"] or 1
    width, row, pad = 1800.0, 16, 30

    def depth(node: dict[str, Any]) -> int:
        return 1 + max((depth(k) for k in node["kids"].values()), default=0)

    height = depth(tree) * row + pad + 10
    rects: list[str] = []

    def color(name: str) -> str:
        f = file_of(name)
        if "api_router" in f:
            return "#e0603a"
        if "aiohttp" in f:
            return "#e8b33a"
        if "asyncio" in f or "uvloop" in f:
            return "#9bbf5a"
        if name.startswith("thread "):
            return "#b0b0b0"
        return "#d8cd9a"

    def draw(name: str, node: dict[str, Any], x: float, level: int) -> None:
        w = node["n"] / total * width
        if w < 0.3:
            return
        y = height - (level + 1) * row - 5
        label = html.escape(name)
        tip = f"{label} — {node['n']} samples, {node['n'] / total * 100:.2f} %"
        rects.append(f'<g><title>{tip}</title><rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row - 1}" '
                     f'fill="{color(name)}" rx="2"/>')
        chars = int(w / 6.5)
        if chars >= 4:
            text = name if len(name) <= chars else name[: chars - 1] + "…"
            rects.append(f'<text x="{x + 2:.2f}" y="{y + row - 4}">{html.escape(text)}</text>')
        rects.append("</g>")
        cx = x
        for kid_name, kid in sorted(node["kids"].items(), key=lambda kv: -kv[1]["n"]):
            draw(kid_name, kid, cx, level + 1)
            cx += kid["n"] / total * width

    cx = 0.0
    for name, kid in sorted(tree["kids"].items(), key=lambda kv: -kv[1]["n"]):
        draw(name, kid, cx, 0)
        cx += kid["n"] / total * width
    atomic_write(out, (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'font-family="monospace" font-size="11">\n<rect width="100%" height="100%" fill="#fff"/>\n'
        f'<text x="8" y="18" font-size="14">{html.escape(title)}</text>\n' + "\n".join(rects) + "\n</svg>\n").encode())


# --- report ----------------------------------------------------------------------------------------------------


def report(results: dict[str, dict[str, dict[str, Any]]], meta: dict[str, Any]) -> str:
    lines = ["# Where the CPU goes: API Router vs the floor (minimal proxy)", "",
             f"py-spy {meta['mode']} at {meta['rate']} Hz, {meta['rounds']} interleaved windows of "
             f"{meta['seconds']:g} s per target and workload; load average {meta['loadavg_start']} at start, "
             f"{meta['loadavg_end']} at end. "
             "µs per request = the target's CPU time over the window (/proc) × the share of samples.", ""]
    for workload, by_target in results.items():
        r, f = by_target.get("router"), by_target.get(run.FLOOR)
        if not r or not f:
            continue
        unit = "stream (50 events)" if workload.startswith("stream") else "request"
        lines += [f"## {workload} (c={WORKLOADS[workload][1]}): CPU per {unit}", "",
                  "| | API Router | floor | difference |", "|---|---|---|---|",
                  f"| CPU per {unit} | {r['cpu_us_per_req']:.0f} µs | {f['cpu_us_per_req']:.0f} µs | "
                  f"{r['cpu_us_per_req'] - f['cpu_us_per_req']:+.0f} µs "
                  f"({r['cpu_us_per_req'] / f['cpu_us_per_req']:.2f}×) |",
                  f"| throughput while profiled | {r['rps']:,.0f}/s | {f['rps']:,.0f}/s | |",
                  f"| samples | {r['samples']:,} | {f['samples']:,} | |"]
        for key, label in (("user_us", "user CPU (µs)"), ("system_us", "system CPU (µs, the kernel: sockets)"),
                           ("read_syscalls", "read syscalls"), ("write_syscalls", "write syscalls"),
                           ("context_switches", "context switches (all threads)")):
            a, c = r["counters_per_req"].get(key), f["counters_per_req"].get(key)
            if a is not None and c is not None:
                lines.append(f"| {label} per {unit} | {a:.1f} | {c:.1f} | {a - c:+.1f} |")
        lines += ["",
                  "CPU by thread, µs per " + unit + ":", "", "| thread | API Router | floor |", "|---|---|---|"]
        for name in dict.fromkeys([*r["threads"], *f["threads"]]):
            a = r["threads"].get(name, {}).get("us_per_req", 0.0)
            b = f["threads"].get(name, {}).get("us_per_req", 0.0)
            lines.append(f"| {name} | {a:.1f} | {b:.1f} |")
        lines += ["", "By layer (self time of the innermost frame), µs per " + unit + ":", "",
                  "| layer | API Router | floor | difference |", "|---|---|---|---|"]
        names = list(dict.fromkeys([*r["layers"], *f["layers"]]))
        for name in sorted(names, key=lambda n: -(r["layers"].get(n, {}).get("us_per_req", 0))):
            a = r["layers"].get(name, {}).get("us_per_req", 0.0)
            b = f["layers"].get(name, {}).get("us_per_req", 0.0)
            lines.append(f"| {name} | {a:.1f} | {b:.1f} | {a - b:+.1f} |")
        floor_incl = {x["name"]: x["us_per_req"] for x in f["inclusive"]}
        floor_self = {x["name"]: x["us_per_req"] for x in f["self"]}
        lines += ["", f"API Router functions, inclusive (µs per {unit}, share of the router's CPU):", "",
                  "| function | µs | share |", "|---|---|---|"]
        lines += [f"| `{x['name']}` | {x['us_per_req']:.1f} | {x['share'] * 100:.1f} % |"
                  for x in r["inclusive_api_router"][:25]]
        lines += ["", f"Hottest lines of API Router code (self, µs per {unit}):", "",
                  "| line | µs | share |", "|---|---|---|"]
        lines += [f"| `{x['name']}` | {x['us_per_req']:.1f} | {x['share'] * 100:.1f} % |"
                  for x in r["self_lines_api_router"][:20]]
        lines += ["", f"Hottest functions overall (self, µs per {unit}), "
                      "with the floor's figure for the same function:",
                  "", "| function | router | floor |", "|---|---|---|"]
        lines += [f"| `{x['name']}` | {x['us_per_req']:.1f} | {floor_self.get(x['name'], 0.0):.1f} |"
                  for x in r["self"][:30]]
        lines += ["", "Inclusive figures of the same functions in both (µs per " + unit + "):", "",
                  "| function | router | floor |", "|---|---|---|"]
        lines += [f"| `{x['name']}` | {x['us_per_req']:.1f} | {floor_incl[x['name']]:.1f} |"
                  for x in r["inclusive"][:60] if x["name"] in floor_incl][:25]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run --profile")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of load per window")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved windows per target and workload")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="C frames too (uvloop, orjson, the HTTP parser)")
    parser.add_argument("--nonblocking", action="store_true",
                        help="do not pause the process per sample (less overhead, but ~20 %% of stacks come out torn)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    if not client.wrk_path():
        raise SystemExit("the profile needs wrk for its fixed c=32 load (python3 tasks.py bench installs it)")
    py_spy()
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = max(1.0, min(args.seconds, 30.0))
    rounds = max(1, min(args.rounds, 10))
    mode = ("--native " if args.native else "") + ("--nonblocking" if args.nonblocking else "(pausing per sample)")
    meta = {"mode": mode, "rate": args.rate, "seconds": seconds,
            "rounds": rounds,
            "loadavg_start": " ".join(f"{x:.2f}" for x in run.loadavg())}
    b = run.make_bodies()
    work = Path(tempfile.mkdtemp(prefix="api-router-profile-"))
    procs.compile_sources()
    upstream = procs.FakeUpstream.start()
    results: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    stops = []
    try:
        gw = run.start_router(work, upstream, "main")
        stops.append(gw.stop)
        run.teach_ownership(gw, b)
        floor = procs.MinimalProxy.start(upstream.base_url)
        stops.append(floor.stop)
        targets = [run.Target("router", gw.port, gw.pid, procs.TOKEN),
                   run.Target(run.FLOOR, floor.port, floor.pid, "none")]
        for workload, (stream, concurrency) in WORKLOADS.items():
            body = b.stream if stream else b.json
            windows: dict[str, list[Window]] = {t.name: [] for t in targets}
            # Interleaved like the bench: a loaded machine hits both targets alike.
            for i in range(rounds):
                for t in (targets if i % 2 == 0 else targets[::-1]):
                    run.log(f"profiling {t.name}, {workload} c={concurrency}, window {i + 1}/{rounds} ({seconds:g} s)")
                    windows[t.name].append(record_window(t, body, stream=stream, concurrency=concurrency,
                                                         seconds=seconds, rate=args.rate, native=args.native,
                                                         nonblocking=args.nonblocking))
            for t in targets:
                rec = merge(t.name, workload, windows[t.name], args.out)
                results[workload][t.name] = analyse(rec)
                flamegraph(rec.stacks, rec.stacks.with_suffix(".svg"),
                           f"{t.name}, {workload}: {rec.requests:,} requests in {rec.seconds:.1f} s, "
                           f"{results[workload][t.name]['cpu_us_per_req']:.0f} µs CPU each")
    finally:
        for stop in reversed(stops):
            stop()
        upstream.stop()
        shutil.rmtree(work, ignore_errors=True)
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in run.loadavg())
    atomic_write(args.out / "profile.json", json.dumps({"meta": meta, "results": results}, indent=1).encode())
    text = report(results, meta)
    atomic_write(args.out / "profile.md", text.encode())
    print(text)
    print(f"\nflame graphs and stacks: {args.out}")
    return 0
