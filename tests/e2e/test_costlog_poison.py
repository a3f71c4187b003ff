"""One hostile request cannot stall, poison or inflate the cost log (issue 11), through real
sockets: the gateway with the cost log on SQLite, the mock upstream, raw HTTP/1.1 bytes for
what an HTTP client library would not send (a header that is not UTF-8).

* A non-UTF-8 byte in User-Agent, x-bf-session-id or X-Claude-Code-Session-Id (with or without
  a key) reaches the cost log as a lone surrogate; the rows of the requests after it must be
  readable through /api/logs within a second, and the poisoned rows too, their text escaped.
* A 1.9 MB model name is stored cut to size, and neither it nor 10,000 distinct model names
  of unauthenticated requests grow /metrics.
* Admin query values such as since=inf or cursor=99999999999999999999 are 400s naming the
  parameter, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import bifrost_costlog
import orjson
import pytest

from bifrost_py import hookimpl
from bifrost_py.context import Call, Caller
from bifrost_py.errors import AuthenticationFailed
from bifrost_py.testing import RunningGateway, RunningServer

ADMIN = {"authorization": "Bearer admin-secret"}
MODEL = "claude-haiku-4-5-20251001"


class Identify:
    """An authenticating plugin's part: `vk-alice` is alice, anything else a 401. Asked to (a
    header), it is a careless plugin that hands the log raw, huge text: the core's own bounds on
    what it reads from a request (bifrost_py.limits) are then no help, the log must hold."""

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        if "x-test-careless" in call.headers:
            call.session_id = "careless-\udcff\x00"
            call.client_app = "agent\udcfe" + "z" * 1_000_000
        if call.credential != "vk-alice":
            raise AuthenticationFailed("unknown virtual key")
        call.caller = Caller("id-alice", "alice", team="backend")


def config(upstream: RunningServer, logs_url: str) -> dict[str, Any]:
    return {
        "admin": {"token": "admin-secret"},
        "storage": {"logs": logs_url},
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": upstream.url, "models": ["claude-*"],
                          "keys": [{"value": "sk-test"}]},
        },
    }


async def gateway(start_gateway: Any, upstream: RunningServer, logs_url: str) -> RunningGateway:
    gw: RunningGateway = await start_gateway(config(upstream, logs_url), plugins=[bifrost_costlog, Identify()],
                                             builtins=False)
    return gw


def message(model: str = MODEL) -> bytes:
    return orjson.dumps({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})


async def raw_post(gw: RunningGateway, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """POST /anthropic/v1/messages written byte by byte on a socket of our own; the status."""
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = [b"POST /anthropic/v1/messages HTTP/1.1", b"Host: " + host.encode(), b"Connection: close",
                b"Content-Type: application/json", b"anthropic-version: 2023-06-01",
                b"Content-Length: " + str(len(body)).encode()]
        head += [name + b": " + value for name, value in headers]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
        await asyncio.wait_for(reader.read(), 30)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def logs(gw: RunningGateway, **params: Any) -> list[dict[str, Any]]:
    status, _, body = await gw.get("/api/logs", headers=ADMIN, params={"limit": "1000", **params})
    assert status == 200, body
    return orjson.loads(body)["rows"]  # type: ignore[no-any-return]


async def rows_within(gw: RunningGateway, count: int, seconds: float) -> list[dict[str, Any]]:
    """The log as soon as it holds `count` rows; fails if that takes longer than `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = await logs(gw)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{len(found)} of {count} rows readable after {seconds} s"
            return found
        await asyncio.sleep(0.02)


def escaped_text(value: str, visible: str) -> bool:
    """Readable: printable ASCII, `visible` kept, the bad byte shown as a backslash escape."""
    return value.isascii() and value.isprintable() and visible in value and "\\" in value


async def test_a_header_that_is_not_utf8_does_not_stall_the_log(
    start_gateway: Any, mock_upstream: RunningServer, tmp_path: Any
) -> None:
    gw = await gateway(start_gateway, mock_upstream, f"sqlite:///{tmp_path}/logs.db")
    # No key (the 401 is logged too), then with a key; the bad bytes in all three headers.
    poisoned = [(b"User-Agent", b"curl\xff/8.0 (poison)"), (b"x-bf-session-id", b"sess-\xc3\x28"),
                (b"X-Claude-Code-Session-Id", b"cc-\xfe\xff")]
    assert await raw_post(gw, poisoned, message()) == 401
    assert await raw_post(gw, [*poisoned, (b"x-api-key", b"vk-alice")], message()) == 200
    async with aiohttp.ClientSession() as session:
        for i in range(5):
            headers = {"x-api-key": "vk-alice", "anthropic-version": "2023-06-01", "x-bf-session-id": f"after-{i}"}
            async with session.post(gw.url + "/anthropic/v1/messages", data=message(), headers=headers) as response:
                assert response.status == 200
    rows = await rows_within(gw, 7, seconds=1.0)
    assert sorted(r["session_id"] for r in rows[:5]) == [f"after-{i}" for i in range(5)]
    bad = rows[5:]
    assert [r["status"] for r in bad] == [200, 401]
    for row in bad:
        assert escaped_text(row["client_app"], "curl"), row["client_app"]
        assert escaped_text(row["session_id"], "cc-"), row["session_id"]
    assert bad[0]["cost_usd"] > 0                                 # the answered one is priced
    _, _, text = await gw.get("/metrics")
    assert b'bifrost_log_rows_dropped_total 0.0' in text


async def test_text_a_plugin_hands_over_raw_does_not_stall_the_log(
    start_gateway: Any, mock_upstream: RunningServer, logs_url: str
) -> None:
    gw = await gateway(start_gateway, mock_upstream, logs_url)
    headers = {"anthropic-version": "2023-06-01", "x-test-careless": "1"}
    async with aiohttp.ClientSession() as session:
        for key in (None, "vk-alice"):
            sent = {**headers, **({"x-api-key": key} if key else {})}
            async with session.post(gw.url + "/anthropic/v1/messages", data=message(), headers=sent) as response:
                assert response.status == (200 if key else 401)
        for i in range(5):
            sent = {"x-api-key": "vk-alice", "anthropic-version": "2023-06-01", "x-bf-session-id": f"after-{i}"}
            async with session.post(gw.url + "/anthropic/v1/messages", data=message(), headers=sent) as response:
                assert response.status == 200
    rows = await rows_within(gw, 7, seconds=1.0)
    assert sorted(r["session_id"] for r in rows[:5]) == [f"after-{i}" for i in range(5)]
    for row in rows[5:]:
        assert row["session_id"] == "careless-\\xff\\x00"
        assert row["client_app"].startswith("agent\\xfezzz") and len(row["client_app"].encode()) <= 128 + 15


async def test_a_huge_model_name_is_cut_and_mints_no_metric_label(
    start_gateway: Any, mock_upstream: RunningServer, tmp_path: Any
) -> None:
    """(Ten thousand distinct names at the metrics level: test_costlog_metrics.py; two thousand
    here, through the whole path, to keep the suite's time.)"""
    gw = await gateway(start_gateway, mock_upstream, f"sqlite:///{tmp_path}/logs.db")
    headers = {"anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/anthropic/v1/messages", data=message(MODEL),
                                headers={**headers, "x-api-key": "vk-alice"}) as response:
            assert response.status == 200
        async with session.post(gw.url + "/anthropic/v1/messages", data=message("claude-0"), headers=headers) as response:
            assert response.status == 401
        _, _, before = await gw.get("/metrics")
        semaphore = asyncio.Semaphore(16)

        async def refused(i: int) -> None:
            async with semaphore, session.post(gw.url + "/anthropic/v1/messages", data=message(f"claude-{i}"),
                                               headers=headers) as response:
                assert response.status == 401

        await asyncio.gather(*(refused(i) for i in range(1, 2_000)))
        # No key; a key but no provider serves it. (The core may refuse such a name as a 400
        # before the key is checked: the cost log must hold either way.)
        assert await raw_post(gw, [], message("claude-" + "x" * 1_900_000)) in (400, 401)
        assert await raw_post(gw, [(b"x-api-key", b"vk-alice")], message("gpt-" + "y" * 1_900_000)) in (400, 404)
    _, _, after = await gw.get("/metrics")
    assert len(after) < len(before) + 2_000, (len(before), len(after))  # a new status or two, no models
    assert b"xxxxxxxx" not in after and b"claude-1999" not in after
    deadline = time.monotonic() + 5.0
    while (newest := await logs(gw, limit="2"))[0]["id"] < 2_003:
        assert time.monotonic() < deadline, "the rows were not written within 5 s"
        await asyncio.sleep(0.05)
    for row in newest:
        for name in ("model", "requested_model"):
            assert row[name] is None or len(row[name].encode()) <= 256 + len("…[truncated]".encode()), row[name][:300]


# ----------------------------------------------------------------------------- admin parameters


@pytest.mark.parametrize(
    ("path", "query", "parameter"),
    [
        ("/api/logs", "since=inf", "since"),
        ("/api/logs", "since=nan", "since"),
        ("/api/logs", "until=1e300", "until"),
        ("/api/logs", "since=-1e300", "since"),
        ("/api/logs", "since=99999999d", "since"),
        ("/api/logs", "cursor=99999999999999999999", "cursor"),
        ("/api/logs", "cursor=-5", "cursor"),
        ("/api/logs", "limit=-1", "limit"),
        ("/api/logs", "limit=abc", "limit"),
        ("/api/logs", "limit=1e3", "limit"),
        ("/api/logs", "status=99999999999999999999", "status"),
        ("/api/logs", "key=a%00b", "key"),
        ("/api/logs/export", "until=inf", "until"),
        ("/api/logs/stream", "after=99999999999999999999", "after"),
        ("/api/usage", "since=1e300", "since"),
        ("/api/usage", "by=nonsense", "by"),
        ("/api/usage/summary", "until=-inf", "until"),
        ("/api/usage/summary", "model=%00", "model"),
        ("/api/logs/req%00x", "", "request_id"),
    ],
)
async def test_bad_admin_parameters_are_400s_naming_them(
    start_gateway: Any, mock_upstream: RunningServer, logs_url: str, path: str, query: str, parameter: str
) -> None:
    gw = await gateway(start_gateway, mock_upstream, logs_url)
    url = gw.url + path + ("?" + query if query else "")
    async with aiohttp.ClientSession() as session, session.get(url, headers=ADMIN) as response:
        body = await response.read()
        assert response.status == 400, body
        error = orjson.loads(body)["error"]
    assert error["message"].startswith(parameter + ":"), error


async def test_good_edge_values_are_accepted(start_gateway: Any, mock_upstream: RunningServer, logs_url: str) -> None:
    gw = await gateway(start_gateway, mock_upstream, logs_url)
    for query in ("since=0&until=253402300799", "cursor=9223372036854775807&limit=1000", "since=2026-01-31T00:00:00Z",
                  "since=24h&status=4xx", "limit=1&cursor=1"):
        status, _, body = await gw.get("/api/logs?" + query, headers=ADMIN)
        assert status == 200, (query, body)
