"""`bifrost-py report --by session` and `--by client` as finance runs them (a subprocess on a
config and its log): which session spent most, with its key, team, client app and first/last
time seen, in the table, CSV and JSON; and per client app."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

from bifrost_costlog.columns import record
from bifrost_costlog.stores import open_store
from test_costlog_report_cli import report

NOW = time.time()
# (session, key, team, client app, requests, cost in USD each); the last has no session id.
SESSIONS = (
    ("0b9f5e2c-runaway", "asha-dev", "backend", "claude-cli/2.1.3 (external, cli)", 40, 0.6),
    ("7d1e-review", "ravi-dev", "data", "codex_exec/0.171.0", 5, 0.02),
    ("c3a1-docs", "asha-dev", "backend", "claude-cli/2.0.9", 3, 0.01),
    (None, "batch-job", "data", "OpenAI/Python 1.99", 2, 0.05),
)


def rows() -> list[dict[str, Any]]:
    made = []
    for s, (session, key, team, client, count, cost) in enumerate(SESSIONS):
        for n in range(count):
            made.append({"request_id": f"req_{s}_{n}", "attempt": 1, "final": True,
                         "ts": NOW - 7200 + s * 60 + n * 30, "key_name": key, "team": team, "status": 200,
                         "input_tokens": 1000, "output_tokens": 100, "cost_usd": cost, "price_unknown": False,
                         "request_ms": 900.0, "session_id": session, "client_app": client})
    return made


async def write_log(folder: Path) -> Path:
    store = open_store(f"sqlite:///{folder}/logs.db")
    await store.open()
    try:
        await store.insert([record(r) for r in rows()])
    finally:
        await store.close()
    config = folder / "gateway.yaml"
    config.write_text("storage:\n  logs: sqlite:///logs.db\ncurrency:\n  code: INR\n  per_usd: 84\n")
    return config


async def test_by_session_names_the_session_that_spent_most(tmp_path: Path) -> None:
    config = await write_log(tmp_path)
    found = report(config, "--by", "session", "--top", "2")
    assert found.returncode == 0 and found.stderr == "", found.stderr
    sessions = found.stdout.split("Sessions (INR, times UTC)", 1)[1].splitlines()
    runaway = next(line for line in sessions if line.startswith("0b9f5e2c-runaway"))
    # 40 requests at $0.60 = $24 = ₹2,016
    assert "asha-dev" in runaway and "backend" in runaway and "claude-code" in runaway
    assert "₹2,016.00" in runaway and " 40 " in runaway
    assert any(line.startswith("(2 others)") for line in sessions)

    table = csv.DictReader(io.StringIO(report(config, "--by", "session", "--format", "csv").stdout))
    by_session = {row["session"]: row for row in table}
    review = by_session["7d1e-review"]
    assert (review["key"], review["team"], review["client"], review["requests"]) == ("ravi-dev", "data", "codex", "5")
    assert review["first_seen"] < review["last_seen"]
    assert by_session["(none)"]["key"] == "batch-job" and by_session["TOTAL"]["requests"] == "50"

    document = json.loads(report(config, "--by", "session", "--format", "json").stdout)
    first = document["groups"][0]
    assert first["group"] == "0b9f5e2c-runaway" and first["cost"] == 2016.0
    assert first["first_seen"].endswith("Z") and first["last_ts"] - first["first_ts"] == 39 * 30


async def test_by_client_app_sums_each_apps_releases(tmp_path: Path) -> None:
    config = await write_log(tmp_path)
    document = json.loads(report(config, "--by", "client", "--format", "json").stdout)
    spent = {g["group"]: (g["requests"], round(g["cost_usd"], 6)) for g in document["groups"]}
    assert spent == {"claude-code": (43, 24.03), "codex": (5, 0.1), "openai-sdk": (2, 0.1)}
