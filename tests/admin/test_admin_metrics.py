"""`metrics.token`: /metrics behind a Bearer token when set, open (as before) when not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from admin_wire import exchange

from bifrost_py.config import ConfigError, parse_config


async def test_metrics_require_the_token_when_one_is_set(start_gateway: Any, tmp_path: Path) -> None:
    gw = await start_gateway({"metrics": {"token": "scrape-me"}, "admin": {"token": "admin"},
                              "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"}})
    for headers in ({}, {"Authorization": b"Bearer nope"}, {"Authorization": b"Bearer admin"},
                    {"Authorization": b"Bearer \xff"}, {"Authorization": b"scrape-me"}):
        answer = await exchange(gw.url, "GET", b"/metrics", headers)
        assert answer.status == 401, headers
        assert answer.headers["www-authenticate"].startswith("Bearer")
        error = orjson.loads(answer.body)["error"]
        assert error["type"] == "authentication" and "metrics token" in error["message"]
    answer = await exchange(gw.url, "GET", b"/metrics", {"Authorization": b"Bearer scrape-me"})
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    assert b"# TYPE " in answer.body
    assert (await exchange(gw.url, "GET", b"/metrics?token=scrape-me")).status == 401, "never from the URL"


async def test_metrics_stay_open_without_a_token(start_gateway: Any, tmp_path: Path) -> None:
    text = f'metrics: {{token: "${{BIFROST_METRICS_TOKEN:-}}"}}\nstorage: {{logs: "sqlite:///{tmp_path}/logs.db"}}'
    gw = await start_gateway(parse_config(text, environ={}))
    answer = await exchange(gw.url, "GET", b"/metrics")
    assert answer.status == 200 and b"# TYPE " in answer.body


def test_the_metrics_section_is_read_and_checked() -> None:
    text = 'metrics: {token: "${BIFROST_METRICS_TOKEN:-}"}'
    assert parse_config(text, environ={"BIFROST_METRICS_TOKEN": "m-1"}).metrics_token == "m-1"
    assert parse_config(text, environ={}).metrics_token == ""
    assert parse_config("{}").metrics_token == ""
    with pytest.raises(ConfigError, match="metrics"):
        parse_config("metrics: {tokn: x}")
