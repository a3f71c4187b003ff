"""`make bench`'s smoke run: the floor relay, both gateways and both scenarios run and report
every figure (speed itself is never asserted: the benchmark measures it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"floor", "gateway", "gateway+all"}


def test_the_smoke_run_measures_the_floor_and_the_gateways(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # --ramp: the streams open one by one over 0.2 s instead of at once (the steady-arrival shape)
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--ramp", "0.2", "--json", str(out)], cwd=ROOT,
                          check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(streams opened evenly over 0.2 s)" in done.stdout
    report = orjson.loads(out.read_bytes())

    cells = [row for row in report["throughput"] if row["mode"] != "rss"]
    assert {(r["mode"], r["concurrency"], r["target"]) for r in cells} == {
        (mode, c, target) for mode in ("json", "stream") for c in (1, 4) for target in TARGETS | {"direct"}}
    for row in cells:
        assert row["errors"] == 0 and row["requests"] == 30 and row["rps"] > 0 and row["p99_ms"] >= row["p50_ms"], row
        assert row["cpu_us"] >= 0
    assert {r["target"] for r in report["throughput"] if r["mode"] == "rss"} == TARGETS

    streams = report["streams"]
    assert {r["target"] for r in streams} == TARGETS | {"direct"} and {r["streams"] for r in streams} == {5}
    for row in streams:
        assert row["errors"] == 0 and row["ttfb_p99_ms"] >= row["ttfb_p50_ms"] > 0, row
        assert row["worst_gap_p99_ms"] > 0 and row["rss_kb_per_stream"] >= 0
        assert (row["loop_stalls"] is None) == (row["target"] == "direct"), "counted for the floor and the gateways"
        assert row["loop_stalls"] is None or row["loop_stalls"] >= 0
    assert len({r["events"] for r in streams}) == 1, "every target relays every event of the paced streams"
    assert streams[0]["events"] >= 5 * 5

    table = done.stdout
    assert "x floor" in table and "CPU us/event" in table and "gap p99 ms" in table and "stalls>10ms" in table

    workers = report["workers"]
    assert {(r["workers"], r["mode"], r["target"]) for r in workers} == {
        (n, mode, target) for n in (1, 2) for mode in ("json", "stream") for target in ("floor", "gateway+all")}
    for row in workers:
        assert row["errors"] == 0 and row["requests"] == 30 and row["rps"] > 0 and row["cpu_us"] >= 0, row
    assert "x 1 wkr" in table
