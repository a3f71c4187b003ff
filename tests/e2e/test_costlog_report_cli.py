"""`bifrost-py report` as finance runs it: a subprocess on a config and its log, which starts
nothing it does not need (no writer, no INFO lines around the report), with `--top N` and the
savings next to the spend."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bifrost_costlog.columns import record
from bifrost_costlog.stores import open_store

TEAMS = ("backend", "data", "mobile", "platform")


def rows(now: float) -> list[dict[str, Any]]:
    """Per team: routed requests (saved by routing) and one cache hit (saved by the cache)."""
    made = []
    for t, team in enumerate(TEAMS):
        for n in range(3 + t):
            made.append({"request_id": f"req_{team}_{n}", "attempt": 1, "final": True, "ts": now - 3600 - n,
                         "key_name": f"{team}-dev", "team": team, "status": 200, "input_tokens": 1000,
                         "output_tokens": 100, "cost_usd": 0.001 * (t + 1), "price_unknown": False,
                         "requested_cost_usd": 0.003 * (t + 1), "request_ms": 900.0})
        made.append({"request_id": f"req_{team}_hit", "attempt": 1, "final": True, "ts": now - 60, "team": team,
                     "status": 200, "cost_usd": 0.0, "cache_hit": True, "saved_usd": 0.002, "request_ms": 5.0})
    return made


async def write_log(folder: Path) -> Path:
    store = open_store(f"sqlite:///{folder}/logs.db")
    await store.open()
    try:
        await store.insert([record(r) for r in rows(time.time())])
    finally:
        await store.close()
    config = folder / "gateway.yaml"
    config.write_text("storage:\n  logs: sqlite:///logs.db\ncurrency:\n  code: INR\n  per_usd: 84\n")
    return config


def report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bifrost_py", "report", "-c", str(config), "--since", "1d", *args],
                          capture_output=True, text=True, timeout=120, check=False, cwd="/")


async def test_a_report_prints_the_spend_and_the_savings_and_nothing_else(tmp_path: Path) -> None:
    config = await write_log(tmp_path)
    found = report(config, "--by", "team")
    assert found.returncode == 0, found.stderr
    assert found.stderr == ""  # no writer, no "storage opened" INFO line: the report is the output
    text = found.stdout
    assert text.startswith("Cost by team")
    savings = text.split("Savings by team (INR)", 1)[1]
    platform = next(line for line in savings.splitlines() if line.startswith("platform"))
    # 6 routed requests at ₹0.336 paid instead of ₹1.008 (₹4.032 saved), one hit saving ₹0.168
    assert "₹0.17" in platform and "₹4.03" in platform
    assert (tmp_path / "logs.db").exists() and not (Path("/") / "logs.db").exists()  # relative to the config


async def test_top_limits_the_groups_and_keeps_the_totals(tmp_path: Path) -> None:
    config = await write_log(tmp_path)
    found = report(config, "--by", "team", "--top", "2", "--format", "json")
    assert found.returncode == 0, found.stderr
    document = json.loads(found.stdout)
    assert [g["group"] for g in document["groups"]] == ["platform", "mobile"]
    assert document["others"]["group"] == "(2 others)" and document["others"]["requests"] == 3 + 1 + 4 + 1
    assert document["totals"]["requests"] == sum(3 + t + 1 for t in range(4))
    saved = document["totals"]["saved_by_cache_usd"] + document["totals"]["saved_by_routing_usd"]
    assert document["totals"]["saved_total_usd"] == saved
    refused = report(config, "--top", "0")
    assert refused.returncode == 2 and "--top" in refused.stderr
