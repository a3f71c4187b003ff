"""The cost log end to end: real sockets, the official SDKs as clients, the mock upstream, and
the log read back through the admin API, against SQLite and a real PostgreSQL.

Only the costlog plugin is loaded, plus small stand-in plugins written against the public hook
API for what other plugins normally do (identify the caller, fall back, answer from a cache,
route to a cheaper model), so these tests depend on nothing but the core and the cost log.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import sqlite3
from collections import defaultdict
from typing import Any

import aiohttp
import anthropic
import asyncpg
import bifrost_costlog
import openai
import orjson
import pytest

import bifrost_py.storage.sqlite as sqlite_storage
from bifrost_py import hookimpl
from bifrost_py.context import Advice, Attempt, Call, Caller, Reply, Target
from bifrost_py.errors import AuthenticationFailed
from bifrost_py.testing import RunningGateway, RunningServer, running_mock_upstream

SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"
ADMIN = {"authorization": "Bearer admin-secret"}
# USD per 1M tokens (input, output, cache read, cache write), from the providers' price pages.
RATES = {SONNET: (3.0, 15.0, 0.30, 3.75), HAIKU: (1.0, 5.0, 0.10, 1.25), "gpt-4o": (2.5, 10.0, 1.25, 2.5)}
CALLERS = {
    "vk-alice": Caller("id-alice", "alice", team="backend", customer="acme"),
    "vk-bob": Caller("id-bob", "bob", team="data", customer="acme"),
}


# ----------------------------------------------------------------------------- stand-in plugins


def last_text(call: Call) -> str:
    messages = (call.body or {}).get("messages") or [{}]
    content = messages[-1].get("content")
    return content if isinstance(content, str) else orjson.dumps(content).decode()


class Identify:
    """Governance's part: the caller from the key, 401 for an unknown one."""

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        caller = CALLERS.get(call.credential or "")
        if caller is None:
            raise AuthenticationFailed("unknown virtual key")
        call.caller = caller


class RouteAndFallBack:
    """Routing's and failover's part: `[[cheap]]` goes to haiku; sonnet falls back to `backup`."""

    @hookimpl
    async def bifrost_route(self, call: Call, targets: list[Target]) -> list[Target] | None:
        if "[[cheap]]" in last_text(call):
            call.route_rule = "cheap-to-haiku"
            return [Target("primary", HAIKU, rule="cheap-to-haiku")]
        if call.model == SONNET:
            return [*targets, Target("backup", SONNET)]
        return None

    @hookimpl
    async def bifrost_should_fall_back(self, attempt: Attempt) -> Advice | None:
        return Advice(Advice.NEXT)


class Cache:
    """The cache's part: `[[cached]]` is answered from "the cache" with the original usage."""

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> Reply | None:
        if "[[cached]]" not in last_text(attempt.call):
            return None
        message = {"id": "msg_cached", "type": "message", "role": "assistant", "model": SONNET,
                   "content": [{"type": "text", "text": "from the cache"}], "stop_reason": "end_turn",
                   "usage": {"input_tokens": 1200, "output_tokens": 300}}
        return Reply(message, headers={"x-bf-cache": "hit"}, source="cache")


# ----------------------------------------------------------------------------- set-up






@pytest.fixture
async def upstreams() -> Any:
    async with running_mock_upstream() as primary, running_mock_upstream() as backup:
        yield primary, backup


def config(primary: RunningServer, backup: RunningServer, logs_url: str, **costlog: Any) -> dict[str, Any]:
    return {
        "admin": {"token": "admin-secret"},
        "storage": {"logs": logs_url},
        "currency": {"code": "INR", "per_usd": 84.0},
        "providers": {
            "primary": {"type": "anthropic", "base_url": primary.url, "models": ["claude-*"], "keys": [{"value": "sk-1", "name": "main"}]},
            "backup": {"type": "anthropic", "base_url": backup.url, "models": ["backup-only"], "keys": [{"value": "sk-2"}]},
            "house": {"type": "anthropic", "base_url": primary.url, "models": ["house-*"], "keys": [{"value": "sk-3"}]},
            "openai": {"type": "openai", "base_url": primary.url + "/v1", "keys": [{"value": "sk-4"}]},
        },
        "costlog": {"flush_interval": "10ms", **costlog},
    }


async def start(start_gateway: Any, cfg: dict[str, Any]) -> RunningGateway:
    plugins = [bifrost_costlog, Identify(), Cache(), RouteAndFallBack()]
    return await start_gateway(cfg, plugins=plugins, builtins=False)  # type: ignore[no-any-return]


def claude(gw: RunningGateway, key: str = "vk-alice", **headers: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0, default_headers=headers)


def gpt(gw: RunningGateway, key: str = "vk-bob") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def tagged(tag: str) -> dict[str, Any]:
    """Each request is tagged with its own session id, to find its rows."""
    return {"extra_headers": {"x-bf-session-id": tag}}


async def api(gw: RunningGateway, path: str, **params: Any) -> Any:
    status, _, body = await gw.get("/api" + path, headers=ADMIN, params=params)
    assert status == 200, body
    return orjson.loads(body)


async def wait_for_rows(gw: RunningGateway, count: int, **filters: Any) -> list[dict[str, Any]]:
    """The log is written off the request path: poll (bounded) until `count` rows are there."""
    for _ in range(300):
        rows = (await api(gw, "/logs", limit=1000, **filters))["rows"]
        if len(rows) >= count:
            return rows  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} rows, found {len(rows)}")


def cost(model: str, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> float:
    rate_in, rate_out, rate_read, rate_write = RATES[model]
    return (input_tokens * rate_in + output_tokens * rate_out + cache_read * rate_read + cache_write * rate_write) / 1e6


# ----------------------------------------------------------------------------- the main scenario


async def test_requests_produce_exactly_the_expected_rows_costs_and_aggregates(
    start_gateway: Any, upstreams: Any, logs_url: str
) -> None:
    primary, backup = upstreams
    gw = await start(start_gateway, config(primary, backup, logs_url))
    alice = claude(gw, **{"user-agent": "claude-cli/2.1.3 (external, cli)", "x-claude-code-session-id": "cc-session-1"})
    bob = gpt(gw)
    prompt = [{"role": "user", "content": "Tell me about cost logs"}]
    expected: dict[str, dict[str, Any]] = {}   # session tag -> what its final row must say

    # 1. Anthropic, not streamed; Claude Code's session header and user agent.
    m = await alice.messages.create(model=SONNET, max_tokens=100, messages=prompt)
    expected["cc-session-1"] = {"model": SONNET, "in": m.usage.input_tokens, "out": m.usage.output_tokens, "key": "alice",
                                "streamed": False}
    # 2. Anthropic, streamed.
    async with claude(gw).messages.stream(model=HAIKU, max_tokens=100, messages=prompt, **tagged("t-stream")) as s:
        m = await s.get_final_message()
    expected["t-stream"] = {"model": HAIKU, "in": m.usage.input_tokens, "out": m.usage.output_tokens, "key": "alice", "streamed": True}
    # 3. OpenAI, not streamed; 4. OpenAI, streamed with usage.
    c = await bob.chat.completions.create(model="gpt-4o", messages=prompt, **tagged("t-openai"))
    expected["t-openai"] = {"model": "gpt-4o", "in": c.usage.prompt_tokens, "out": c.usage.completion_tokens, "key": "bob", "streamed": False}
    chunks = [x async for x in await bob.chat.completions.create(
        model="gpt-4o", messages=prompt, stream=True, stream_options={"include_usage": True}, **tagged("t-openai-stream"))]
    usage = chunks[-1].usage
    expected["t-openai-stream"] = {"model": "gpt-4o", "in": usage.prompt_tokens, "out": usage.completion_tokens, "key": "bob", "streamed": True}
    # 5. A fallback: the primary is overloaded once, the backup answers.
    status, _, _ = await primary.post("/_mock/script", json={"responses": [{"status": 529}]})
    assert status == 200
    raw = await claude(gw).messages.with_raw_response.create(model=SONNET, max_tokens=100, messages=prompt, **tagged("t-fallback"))
    m = await raw.parse()
    assert raw.headers["x-bf-attempts"] == "2"
    expected["t-fallback"] = {"model": SONNET, "in": m.usage.input_tokens, "out": m.usage.output_tokens, "key": "alice",
                              "streamed": False, "attempts": 2}
    # 6. Prompt caching: the first call writes the cache, the second reads it.
    system = [{"type": "text", "text": "You are terse. " * 200, "cache_control": {"type": "ephemeral"}}]
    for tag in ("t-cache-write", "t-cache-read"):
        m = await claude(gw).messages.create(model=SONNET, max_tokens=50, system=system, messages=prompt, **tagged(tag))
        expected[tag] = {"model": SONNET, "in": m.usage.input_tokens, "out": m.usage.output_tokens, "key": "alice", "streamed": False,
                         "read": m.usage.cache_read_input_tokens or 0, "write": m.usage.cache_creation_input_tokens or 0}
    assert expected["t-cache-write"]["write"] > 0 and expected["t-cache-read"]["read"] > 0
    # 7. Answered from the cache; 8. routed to a cheaper model.
    await claude(gw).messages.create(model=SONNET, max_tokens=50, messages=[{"role": "user", "content": "hi [[cached]]"}], **tagged("t-hit"))
    expected["t-hit"] = {"model": SONNET, "in": 0, "out": 0, "key": "alice", "streamed": False, "hit": True}
    m = await claude(gw).messages.create(model=SONNET, max_tokens=50, messages=[{"role": "user", "content": "easy [[cheap]]"}], **tagged("t-routed"))
    expected["t-routed"] = {"model": HAIKU, "in": m.usage.input_tokens, "out": m.usage.output_tokens, "key": "alice", "streamed": False,
                            "routed": True}
    # 9. A model without a known price.
    m = await claude(gw).messages.create(model="house-model-1", max_tokens=50, messages=prompt, **tagged("t-house"))
    expected["t-house"] = {"model": "house-model-1", "in": m.usage.input_tokens, "out": m.usage.output_tokens, "key": "alice",
                           "streamed": False, "unknown": True}
    # 10. Refused before any attempt: unknown key (401) and unknown model (404).
    with pytest.raises(anthropic.AuthenticationError):
        await claude(gw, key="vk-nobody").messages.create(model=SONNET, max_tokens=5, messages=prompt, **tagged("t-401"))
    with pytest.raises(anthropic.NotFoundError):
        await claude(gw).messages.create(model="no-such-model", max_tokens=5, messages=prompt, **tagged("t-404"))

    rows = await wait_for_rows(gw, 13)
    assert len(rows) == 13                      # 10 answered requests, one of them 2 attempts, 2 refused
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_session[row["session_id"]].append(row)
    assert set(by_session) == {*expected, "t-401", "t-404"}

    for tag, want in expected.items():
        attempts = sorted(by_session[tag], key=lambda r: r["attempt"])
        assert len(attempts) == want.get("attempts", 1), tag
        assert len({r["request_id"] for r in attempts}) == 1
        final = attempts[-1]
        assert final["final"] is True and final["status"] == 200, tag
        assert (final["input_tokens"], final["output_tokens"]) == (want["in"], want["out"]), tag
        assert (final["cache_read_tokens"], final["cache_write_tokens"]) == (want.get("read", 0), want.get("write", 0)), tag
        assert final["key_name"] == want["key"] and final["team"] == CALLERS[f"vk-{want['key']}"].team
        assert final["customer"] == "acme"
        assert final["model"] == want["model"] and final["streamed"] is want["streamed"], tag
        assert final["cache_hit"] is bool(want.get("hit")), tag
        if want.get("unknown"):
            assert final["price_unknown"] is True and final["cost_usd"] is None and final["cost_display"] == "unknown price"
        else:
            priced = cost(want["model"], want["in"], want["out"], want.get("read", 0), want.get("write", 0))
            assert final["price_unknown"] is False
            assert final["cost_usd"] == pytest.approx(priced), tag
            assert final["cost"] == pytest.approx(priced * 84.0, abs=1e-6)
        assert final["latency_ms"] > 0 and final["request_ms"] >= final["latency_ms"]
        assert final["overhead_ms"] >= 0 and final["upstream_ms"] >= 0
        assert (final["ttft_ms"] is not None) is want["streamed"], tag
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", final["timestamp"])

    first = by_session["cc-session-1"][0]
    assert first["client_app"] == "claude-cli/2.1.3" and first["provider"] == "primary" and first["provider_key"] == "main"
    failed, answered = sorted(by_session["t-fallback"], key=lambda r: r["attempt"])
    assert (failed["status"], failed["error_type"], failed["provider"], failed["final"], failed["fallback"]) == (
        529, "overloaded_error", "primary", False, False)
    assert (answered["provider"], answered["fallback"], answered["attempt"]) == ("backup", True, 2)
    hit = by_session["t-hit"][0]
    assert hit["cost_usd"] == 0 and hit["saved_usd"] == pytest.approx(cost(SONNET, 1200, 300))
    routed = by_session["t-routed"][0]
    assert routed["route_rule"] == "cheap-to-haiku" and routed["requested_model"] == SONNET
    assert routed["requested_cost_usd"] == pytest.approx(cost(SONNET, expected["t-routed"]["in"], expected["t-routed"]["out"]))
    for tag, status, kind in (("t-401", 401, "authentication_error"), ("t-404", 404, "not_found_error")):
        (row,) = by_session[tag]
        assert (row["attempt"], row["status"], row["error_type"], row["cost_usd"], row["final"]) == (0, status, kind, 0.0, True)

    # One request in full.
    detail = await api(gw, f"/logs/{answered['request_id']}")
    assert [a["attempt"] for a in detail["attempts"]] == [1, 2] and detail["final"]["provider"] == "backup"
    assert detail["cost_usd"] == pytest.approx(answered["cost_usd"])
    status, _, _ = await gw.get("/api/logs/req_nope", headers=ADMIN)
    assert status == 404

    # Aggregates.
    priced_total = sum(r["cost_usd"] or 0 for r in rows)
    usage = await api(gw, "/usage", by="key")
    groups = {g["group"]: g for g in usage["groups"]}
    assert set(groups) == {"alice", "bob", None}
    assert groups["bob"]["requests"] == 2 and groups["alice"]["requests"] == 9 and groups[None]["requests"] == 1
    assert groups["alice"]["attempts"] == 10 and groups["alice"]["fallbacks"] == 1 and groups["alice"]["cache_hits"] == 1
    assert groups["alice"]["unpriced"] == 1 and groups[None]["errors"] == 1
    assert usage["totals"]["cost_usd"] == pytest.approx(priced_total)
    assert usage["totals"]["cost"] == pytest.approx(priced_total * 84.0, abs=1e-5)
    assert usage["totals"]["requests"] == 12 and usage["totals"]["errors"] == 2
    assert usage["totals"]["input_tokens"] == sum(r["input_tokens"] for r in rows)
    assert usage["totals"]["p50_ms"] <= usage["totals"]["p95_ms"]
    by_model = {g["group"]: g for g in (await api(gw, "/usage", by="model", final="true"))["groups"]}
    assert by_model["gpt-4o"]["requests"] == 2 and by_model[HAIKU]["requests"] == 2
    assert by_model[SONNET]["cost_usd"] == pytest.approx(sum(r["cost_usd"] or 0 for r in rows if r["model"] == SONNET and r["final"]))
    by_session_usage = {g["group"]: g for g in (await api(gw, "/usage", by="session"))["groups"]}
    assert by_session_usage["cc-session-1"]["requests"] == 1
    days = (await api(gw, "/usage", by="day"))["groups"]
    assert sum(d["requests"] for d in days) == 12

    summary = await api(gw, "/usage/summary")
    assert summary["requests"] == 12 and summary["errors"] == 2 and summary["fallbacks"] == 1
    assert summary["error_rate"] == pytest.approx(2 / 12) and summary["cache_hits"] == 1
    assert summary["spend"]["today"]["cost_usd"] == pytest.approx(priced_total)
    assert summary["saved_by_cache_usd"] == pytest.approx(cost(SONNET, 1200, 300))
    assert summary["saved_by_routing_usd"] == pytest.approx(routed["requested_cost_usd"] - routed["cost_usd"])
    assert summary["currency"] == {"code": "INR", "per_usd": 84.0} and summary["unpriced"] == 1

    # Filters and paging.
    assert len((await api(gw, "/logs", status="error"))["rows"]) == 3
    assert len((await api(gw, "/logs", cache_hit="true"))["rows"]) == 1
    assert {r["provider"] for r in (await api(gw, "/logs", provider="backup"))["rows"]} == {"backup"}
    assert len((await api(gw, "/logs", team="data"))["rows"]) == 2
    page = await api(gw, "/logs", limit=5)
    assert len(page["rows"]) == 5 and page["next_cursor"]
    rest = await api(gw, "/logs", limit=100, cursor=page["next_cursor"])
    assert [r["id"] for r in page["rows"] + rest["rows"]] == [r["id"] for r in rows] and rest["next_cursor"] is None
    status, _, body = await gw.get("/api/logs", headers=ADMIN, params={"status": "teapot"})
    assert status == 400 and b"status" in body
    for path, params, named in (("/api/usage", {"by": "planet"}, "by"), ("/api/logs", {"since": "inf"}, "since"),
                                ("/api/logs", {"bodies": "maybe"}, "bodies"), ("/api/logs", {"cache_hit": "2"}, "cache_hit"),
                                ("/api/logs", {"limit": "0"}, "limit")):
        status, _, body = await gw.get(path, headers=ADMIN, params=params)
        error = orjson.loads(body)["error"]  # the admin shape, the parameter named
        assert status == 400 and error["type"] == "invalid_request" and error["message"].startswith(named), error
    status, _, _ = await gw.get("/api/logs")
    assert status == 401

    # CSV export parses and agrees with the JSON.
    status, headers, body = await gw.get("/api/logs/export", headers=ADMIN)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    exported = list(csv.DictReader(io.StringIO(body.decode())))
    assert [int(r["id"]) for r in exported] == [r["id"] for r in rows]
    for line, row in zip(exported, rows):
        assert line["request_id"] == row["request_id"] and int(line["status"]) == row["status"]
        assert (float(line["cost_usd"]) if line["cost_usd"] else None) == (pytest.approx(row["cost_usd"]) if row["cost_usd"] is not None else None)
        assert line["currency"] == "INR" and line["final"] in ("true", "false")

    # Prometheus.
    _, _, text = await gw.get("/metrics")
    metrics = text.decode()
    assert sum(float(v) for v in re.findall(r"^bifrost_requests_total\{.*\} (\S+)$", metrics, re.MULTILINE)) == 12
    assert 'bifrost_unpriced_requests_total{model="house-model-1",provider="house"} 1.0' in metrics
    assert 'bifrost_fallbacks_total{model="claude-sonnet-4-20250514",provider="backup"} 1.0' in metrics
    assert 'bifrost_cache_hits_total{key="alice",model="claude-sonnet-4-20250514"} 1.0' in metrics
    assert "bifrost_gateway_overhead_seconds_count 12.0" in metrics
    assert "bifrost_log_rows_dropped_total 0.0" in metrics


# ----------------------------------------------------------------------------- live, disconnects, stalls


async def read_events(response: aiohttp.ClientResponse, wanted: int) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name, data = "message", ""
    async with asyncio.timeout(20):
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                events.append((name, orjson.loads(data)))
                name, data = "message", ""
                if len(events) >= wanted:
                    return events
    return events


async def test_live_stream_delivers_new_rows(start_gateway: Any, upstreams: Any, logs_url: str) -> None:
    primary, backup = upstreams
    gw = await start(start_gateway, config(primary, backup, logs_url))
    prompt = [{"role": "user", "content": "live"}]
    await claude(gw).messages.create(model=HAIKU, max_tokens=20, messages=prompt, **tagged("before"))
    (before,) = await wait_for_rows(gw, 1)
    async with aiohttp.ClientSession() as session:
        # EventSource cannot send headers: the token goes in the query string.
        url = gw.url + "/api/logs/stream"
        async with session.get(url, params={"token": "admin-secret", "key": "alice"}) as live:
            assert live.status == 200 and live.headers["Content-Type"] == "text/event-stream"
            await claude(gw).messages.create(model=HAIKU, max_tokens=20, messages=prompt, **tagged("live-1"))
            await gpt(gw).chat.completions.create(model="gpt-4o", messages=prompt, **tagged("not-alice"))
            await claude(gw).messages.create(model=SONNET, max_tokens=20, messages=prompt, **tagged("live-2"))
            events = await read_events(live, 2)
        assert [(name, data["session_id"]) for name, data in events] == [("row", "live-1"), ("row", "live-2")]
        assert events[0][1]["cost_usd"] > 0 and events[0][1]["id"] > before["id"] and "request_body" not in events[0][1]
        # Reconnecting with Last-Event-ID (or ?after=) replays what was written since.
        async with session.get(url, params={"token": "admin-secret"}, headers={"Last-Event-ID": str(before["id"])}) as again:
            replay = await read_events(again, 3)
        assert [data["session_id"] for _, data in replay] == ["live-1", "not-alice", "live-2"]
        async with session.get(url) as refused:
            assert refused.status == 401


async def test_client_disconnect_is_logged_with_partial_usage(start_gateway: Any, upstreams: Any, tmp_path: Any) -> None:
    primary, backup = upstreams
    gw = await start(start_gateway, config(primary, backup, f"sqlite:///{tmp_path}/logs.db"))
    body = {"model": SONNET, "max_tokens": 500, "stream": True,
            "messages": [{"role": "user", "content": "A long story please [[long:300]] [[stall:30s]]"}]}
    headers = {"x-api-key": "vk-alice", "anthropic-version": "2023-06-01", "x-bf-session-id": "gone"}
    async with aiohttp.ClientSession() as session, session.post(gw.url + "/anthropic/v1/messages", json=body, headers=headers) as response:
        assert response.status == 200
        async with asyncio.timeout(20):
            async for line in response.content:
                if line.startswith(b"event: content_block_delta"):
                    break           # the first words arrived: hang up in the middle of the answer
        response.close()
    (row,) = await wait_for_rows(gw, 1, session="gone")
    assert row["client_disconnected"] is True and row["status"] == 499 and row["completed"] is False
    assert row["streamed"] is True and row["final"] is True
    assert row["input_tokens"] > 0                                   # the usage seen before the hang-up
    assert row["cost_usd"] == pytest.approx(cost(SONNET, row["input_tokens"], row["output_tokens"]))
    assert row["cost_usd"] > 0


async def hold_store(logs_url: str) -> Any:
    """Block every write to the log store (a lock held by another client); returns a release()."""
    if logs_url.startswith("sqlite"):
        db = sqlite3.connect(logs_url[len("sqlite:///"):], isolation_level=None, check_same_thread=False)
        db.execute("BEGIN EXCLUSIVE")

        async def release_sqlite() -> None:
            db.execute("COMMIT")
            db.close()

        return release_sqlite
    connection = await asyncpg.connect(logs_url)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("LOCK TABLE request_log IN EXCLUSIVE MODE")   # readers pass, writers wait

    async def release_postgres() -> None:
        await transaction.rollback()
        await connection.close()

    return release_postgres


async def test_a_stalled_store_does_not_stall_requests(
    start_gateway: Any, upstreams: Any, logs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_storage, "BUSY_TIMEOUT_MS", 100)  # SQLite gives up (and the writer retries) sooner
    primary, backup = upstreams
    gw = await start(start_gateway, config(primary, backup, logs_url, queue_size=5, batch_size=2, flush_interval="1ms"))
    prompt = [{"role": "user", "content": "stall"}]
    client = claude(gw)
    await client.messages.create(model=HAIKU, max_tokens=10, messages=prompt)
    await wait_for_rows(gw, 1)
    release = await hold_store(logs_url)
    try:
        answered = 0
        async with asyncio.timeout(60):   # a guard against a hang, not a speed measurement
            for batch in range(6):
                results = await asyncio.gather(*(
                    client.messages.create(model=HAIKU, max_tokens=10, messages=prompt, **tagged(f"s{batch}-{i}")) for i in range(5)
                ))
                answered += sum(1 for r in results if r.content)
        assert answered == 30
        _, _, text = await gw.get("/metrics")
        dropped = float(re.search(r"^bifrost_log_rows_dropped_total (\S+)$", text.decode(), re.MULTILINE).group(1))  # type: ignore[union-attr]
        assert dropped >= 30 - 5 - 2       # at most a queue and a batch's worth could wait
    finally:
        await release()
    rows = await wait_for_rows(gw, 1 + 30 - int(dropped))
    assert len(rows) == 1 + 30 - int(dropped)
    status, _, _ = await gw.get("/health")
    assert status == 200


async def test_bodies_are_logged_only_when_enabled(start_gateway: Any, upstreams: Any, tmp_path: Any) -> None:
    primary, backup = upstreams
    cfg = config(primary, backup, f"sqlite:///{tmp_path}/logs.db")
    cfg["logging"] = {"bodies": True}
    gw = await start(start_gateway, cfg)
    prompt = [{"role": "user", "content": "Keep my words"}]
    await claude(gw).messages.create(model=HAIKU, max_tokens=30, messages=prompt, **tagged("plain"))
    async with claude(gw).messages.stream(model=HAIKU, max_tokens=30, messages=prompt, **tagged("streamed")) as s:
        streamed_text = await s.get_final_text()
    rows = await wait_for_rows(gw, 2)
    assert all("request_body" not in r for r in rows)            # not in the list view
    for row in rows:
        detail = (await api(gw, f"/logs/{row['request_id']}"))["final"]
        assert "Keep my words" in detail["request_body"]
        if row["session_id"] == "streamed":
            assert detail["response_body"] == streamed_text
        else:
            assert orjson.loads(detail["response_body"])["content"][0]["type"] == "text"


# ----------------------------------------------------------------------------- smaller contracts


async def test_routes_are_described_for_the_ui(start_gateway: Any, upstreams: Any, tmp_path: Any) -> None:
    primary, backup = upstreams
    gw = await start(start_gateway, config(primary, backup, f"sqlite:///{tmp_path}/logs.db"))
    _, _, body = await gw.get("/api/openapi.json")
    paths = orjson.loads(body)["paths"]
    for path in ("/api/logs", "/api/logs/export", "/api/logs/stream", "/api/logs/{request_id}", "/api/usage", "/api/usage/summary"):
        assert "get" in paths[path], path
    assert any(p["name"] == "cursor" for p in paths["/api/logs"]["get"]["parameters"])


async def test_count_tokens_is_logged_only_when_refused(start_gateway: Any, upstreams: Any, tmp_path: Any) -> None:
    primary, backup = upstreams
    gw = await start(start_gateway, config(primary, backup, f"sqlite:///{tmp_path}/logs.db"))
    prompt = [{"role": "user", "content": "count me"}]
    counted = await claude(gw).messages.count_tokens(model=SONNET, messages=prompt, **tagged("counted"))
    assert counted.input_tokens > 0
    with pytest.raises(anthropic.AuthenticationError):
        await claude(gw, key="vk-nobody").messages.count_tokens(model=SONNET, messages=prompt, **tagged("refused"))
    await claude(gw).messages.create(model=HAIKU, max_tokens=10, messages=prompt, **tagged("answered"))
    rows = await wait_for_rows(gw, 2)
    await asyncio.sleep(0.1)
    rows = (await api(gw, "/logs"))["rows"]
    assert sorted((r["session_id"], r["endpoint"], r["status"]) for r in rows) == [
        ("answered", "messages", 200), ("refused", "count_tokens", 401)]


async def test_embeddings_are_priced_by_input(start_gateway: Any, upstreams: Any, tmp_path: Any) -> None:
    primary, backup = upstreams
    gw = await start(start_gateway, config(primary, backup, f"sqlite:///{tmp_path}/logs.db"))
    result = await gpt(gw).embeddings.create(model="text-embedding-3-small", input="price me", **tagged("embed"))
    (row,) = await wait_for_rows(gw, 1)
    assert row["endpoint"] == "embeddings" and row["input_tokens"] == result.usage.prompt_tokens > 0
    assert row["cost_usd"] == pytest.approx(result.usage.prompt_tokens * 0.02 / 1e6)


async def test_retention_prunes_old_rows(start_gateway: Any, upstreams: Any, tmp_path: Any) -> None:
    from bifrost_costlog.columns import record
    from bifrost_costlog.stores import open_store

    url = f"sqlite:///{tmp_path}/logs.db"
    store = open_store(url)
    await store.open()
    import time

    await store.insert([record({"request_id": "req_ancient", "attempt": 1, "final": True, "ts": time.time() - 40 * 86400}),
                        record({"request_id": "req_recent", "attempt": 1, "final": True, "ts": time.time() - 86400})])
    await store.close()
    primary, backup = upstreams
    cfg = config(primary, backup, url)
    cfg["logging"] = {"retention": "30d"}
    gw = await start(start_gateway, cfg)
    for _ in range(200):   # the pruning task runs at start-up, beside the first requests
        ids = {r["request_id"] for r in (await api(gw, "/logs"))["rows"]}
        if "req_ancient" not in ids:
            break
        await asyncio.sleep(0.02)
    assert ids == {"req_recent"}


async def test_open_live_streams_do_not_hold_up_shutdown(upstreams: Any, tmp_path: Any) -> None:
    from bifrost_py.testing import running_gateway

    primary, backup = upstreams
    cfg = config(primary, backup, f"sqlite:///{tmp_path}/logs.db")
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(20):   # without the stop signal this waits for aiohttp's 60 s
            async with running_gateway(cfg, plugins=[bifrost_costlog, Identify()], builtins=False) as gw:
                live = await session.get(gw.url + "/api/logs/stream", params={"token": "admin-secret"})
                assert live.status == 200
                assert (await live.content.readline()).startswith(b"retry:")
            rest = await live.content.read()
        assert b"event: row" not in rest
        live.close()
