"""The plugin pipeline: order, short-circuits, post hooks for exactly the plugins whose pre ran,
refusals that end a request or only skip a target, disabling by name, tracing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_py import Reply, hookimpl
from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.errors import BudgetExceeded, PermissionDenied
from bifrost_py.gateway import Gateway

MESSAGE = {"model": "mock-1", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


class Recorder:
    """A plugin that records every hook it sees, and can refuse or reply on request."""

    def __init__(self, name: str, log: list[str], *, refuse: Exception | None = None, reply: bool = False) -> None:
        self.name = name
        self.log = log
        self.refuse = refuse
        self.reply = reply

    @hookimpl
    async def bifrost_request_start(self, call: Any) -> None:
        self.log.append(f"{self.name}.request_start")

    @hookimpl
    async def bifrost_route(self, call: Any, targets: list[Any]) -> None:
        self.log.append(f"{self.name}.route")

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Any) -> Reply | None:
        self.log.append(f"{self.name}.pre#{attempt.number}")
        if self.refuse is not None:
            raise self.refuse
        if self.reply:
            return Reply({"id": "msg_1", "type": "message", "role": "assistant", "model": "canned",
                          "content": [{"type": "text", "text": "canned"}], "stop_reason": "end_turn",
                          "usage": {"input_tokens": 1, "output_tokens": 1}})
        return None

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Any) -> None:
        self.log.append(f"{self.name}.post#{attempt.number}:{attempt.outcome.status}")

    @hookimpl
    async def bifrost_request_end(self, call: Any) -> None:
        self.log.append(f"{self.name}.end")


def _config(**extra: Any) -> dict[str, Any]:
    return {"providers": {"mock": {"type": "mock", "models": ["mock-*"]}, "mock2": {"type": "mock", "models": ["other-*"]}}, **extra}


async def test_hooks_run_in_order_and_post_in_reverse(start_gateway: Any) -> None:
    log: list[str] = []
    gw = await start_gateway(_config(), plugins=[Recorder("a", log), Recorder("b", log)], builtins=False)
    status, headers, body = await gw.post("/v1/messages", json=MESSAGE)
    assert status == 200, body
    assert log == ["a.request_start", "b.request_start", "a.route", "b.route", "a.pre#1", "b.pre#1",
                   "b.post#1:200", "a.post#1:200", "b.end", "a.end"]
    assert headers["x-bf-attempts"] == "1" and headers["x-bf-provider"] == "mock"


async def test_a_reply_short_circuits_and_later_plugins_never_see_the_attempt(start_gateway: Any) -> None:
    log: list[str] = []
    gw = await start_gateway(_config(), plugins=[Recorder("a", log), Recorder("b", log, reply=True), Recorder("c", log)],
                             builtins=False)
    status, _, body = await gw.post("/v1/messages", json=MESSAGE)
    assert status == 200 and orjson.loads(body)["content"][0]["text"] == "canned"
    assert "c.pre#1" not in log and "c.post#1:200" not in log
    assert log.index("b.post#1:200") < log.index("a.post#1:200")


async def test_a_final_refusal_ends_the_request_in_the_callers_dialect(start_gateway: Any) -> None:
    log: list[str] = []
    refusal = BudgetExceeded("budget exhausted for virtual key 'x'")
    gw = await start_gateway(_config(), plugins=[Recorder("a", log, refuse=refusal)], builtins=False)
    status, _, body = await gw.post("/v1/chat/completions", json={**MESSAGE, "model": "mock-1"})
    assert status == 402
    assert orjson.loads(body)["error"]["type"] == "insufficient_quota"
    assert log.count("a.pre#1") == 1 and "a.post#1:402" in log


class Skipper:
    """Refuses the first target only (as a provider-tier budget would)."""

    @hookimpl
    async def bifrost_route(self, call: Any, targets: list[Any]) -> list[Any]:
        from bifrost_py import Target

        return [Target("mock", call.model), Target("mock2", call.model)]

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Any) -> None:
        if attempt.target.provider == "mock":
            raise PermissionDenied("provider mock is over its budget", final=False)


async def test_a_non_final_refusal_moves_to_the_next_target(start_gateway: Any) -> None:
    gw = await start_gateway(_config(), plugins=[Skipper()], builtins=False)
    status, headers, _ = await gw.post("/v1/messages", json=MESSAGE)
    assert status == 200
    assert headers["x-bf-provider"] == "mock2" and headers["x-bf-attempts"] == "2"


def test_disabled_plugins_are_not_loaded() -> None:
    config = config_from_dict({**_config(), "plugins": {"disable": ["governance", "cache"]}})
    gateway = Gateway(config)
    assert "governance" not in gateway.dispatcher.names and "cache" not in gateway.dispatcher.names


def test_unknown_plugin_import_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict({**_config(), "plugins": ["no.such.module"]}), builtins=False)
    assert "cannot import 'no.such.module'" in caught.value.problems[0]


def test_unclaimed_section_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict({**_config(), "widgets": {"a": 1}}), builtins=False)
    assert caught.value.problems == ["widgets: unknown key (no loaded plugin reads this section)"]


async def test_tracing_prints_every_hook_call(start_gateway: Any, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv("BIFROST_TRACE_PLUGINS", "1")
    gw = await start_gateway(_config(), plugins=[Recorder("traced", [])], builtins=False)
    await gw.post("/v1/messages", json=MESSAGE)
    err = capsys.readouterr().err
    assert "[bifrost trace] traced.bifrost_pre_attempt(attempt #1 mock/mock-1" in err
    assert "traced.bifrost_request_end" in err
