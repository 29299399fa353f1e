"""The benchmark harness still runs end to end (``python -m bench.run --smoke``): a seconds-long
version with tiny counts and no budgets, so the harness cannot rot between benchmark runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    table = proc.stdout
    for row in ("JSON c=1, p50 latency", "Stream c=1, time to first delta", "JSON c=32, throughput",
                "Stream c=32, throughput", "2 MB Codex request, unmodified", "provider switch",
                "CPU per 1,000 streams", "Start-up to /health", "Idle RSS", "RSS after"):
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
    assert summary["Start-up to /health (median)"]["values"]["router"] > 0
    rewrite = result["rounds"][0]["router"]["big_rewrite"]
    assert rewrite["upstream_bytes"] < rewrite["sent_bytes"]  # the switch really rewrote the body
    assert result["machine"]["cpus"] >= 1
