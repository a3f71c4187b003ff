"""The plugin pipeline: order, short-circuits, post hooks for exactly the plugins whose pre ran,
refusals that end a request or only skip a target, disabling by name, tracing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bifrost_py import Reply, hookimpl
from bifrost_py.cli import format_plugins
from bifrost_py.config import config_from_dict, load_config
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


# --------------------------------------------------------------------------- order, sources, validation
# (PluginManager is the only caller of hooks: markers and the configured order decide, as
# docs/plugins.md "Loading, ordering, disabling" says.)


class Early:
    """A third-party plugin whose hooks are all tryfirst: it sees what no built-in touched yet."""

    PLUGIN_NAME = "early"

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    @hookimpl(tryfirst=True)
    async def bifrost_request_start(self, call: Any) -> None:
        self.seen.append(("caller", call.caller))

    @hookimpl(tryfirst=True)
    async def bifrost_route(self, call: Any, targets: list[Any]) -> None:
        self.seen.append(("route_rule", call.route_rule))

    @hookimpl(tryfirst=True)
    async def bifrost_pre_attempt(self, attempt: Any) -> None:
        self.seen.append(("pre", attempt.number))


def _builtins_config(tmp_path: Path) -> dict[str, Any]:
    return {**_config(), "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
            "governance": {"virtual_keys": {"alice": {"key": "vk-alice"}}},
            "routing": {"rules": [{"name": "all", "when": {}, "to": "mock/mock-2"}]}}


async def test_a_third_party_tryfirst_plugin_runs_before_the_builtins(start_gateway: Any, tmp_path: Path) -> None:
    early = Early()
    gw = await start_gateway(_builtins_config(tmp_path), plugins=[early])
    for hook in ("bifrost_request_start", "bifrost_route", "bifrost_pre_attempt"):
        assert gw.gateway.plugins.calls(hook)[0].plugin_name == "early", hook
    status, headers, _ = await gw.post("/v1/messages", json=MESSAGE, headers={"x-api-key": "vk-alice"})
    assert status == 200 and headers["x-bf-route"] == "all"
    # governance had not identified the caller yet, routing had not decided yet
    assert early.seen == [("caller", None), ("route_rule", None), ("pre", 1)]


def test_markers_decide_first_then_the_configured_order() -> None:
    class Plain:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        async def bifrost_pre_attempt(self, attempt: Any) -> None: ...

        @hookimpl
        async def bifrost_post_attempt(self, attempt: Any) -> None: ...

    class Last(Plain):
        @hookimpl(trylast=True)
        async def bifrost_pre_attempt(self, attempt: Any) -> None: ...

        @hookimpl(tryfirst=True)
        async def bifrost_post_attempt(self, attempt: Any) -> None: ...

    plugins = [Last("z"), Plain("a"), Plain("b"), Plain("c")]
    gateway = Gateway(config_from_dict({**_config(), "plugins": {"order": ["c"]}}), plugins=plugins, builtins=False)
    pm = gateway.plugins
    assert [info.name for info in pm.ordered()] == ["c", "z", "a", "b"]
    assert [c.plugin_name for c in pm.calls("bifrost_pre_attempt")] == ["c", "a", "b", "z"]
    # unwinding: reverse configured order, and tryfirst is still first
    assert [c.plugin_name for c in pm.calls("bifrost_post_attempt")] == ["z", "b", "a", "c"]


def test_the_builtins_order_themselves_with_markers() -> None:
    gateway = Gateway(config_from_dict(_config()))
    order = {hook: [c.plugin_name for c in gateway.plugins.calls(hook)]
             for hook in ("bifrost_pre_attempt", "bifrost_post_attempt", "bifrost_request_end", "bifrost_route")}
    pre = order["bifrost_pre_attempt"]
    assert pre.index("costlog") < pre.index("governance") < pre.index("cache") < pre.index("failover")
    assert order["bifrost_post_attempt"][-1] == "costlog" and order["bifrost_request_end"][-1] == "costlog"
    assert order["bifrost_route"][-1] == "failover"


async def test_an_unmarked_hook_is_neither_called_nor_listed(start_gateway: Any) -> None:
    class Unmarked:
        PLUGIN_NAME = "unmarked"
        called = False

        async def bifrost_request_start(self, call: Any) -> None:
            Unmarked.called = True

    gw = await start_gateway(_config(), plugins=[Unmarked()], builtins=False)
    status, _, _ = await gw.post("/v1/messages", json=MESSAGE)
    assert status == 200 and not Unmarked.called
    assert gw.gateway.plugins.describe() == [{"name": "unmarked", "order": 1, "source": "registered in code", "hooks": []}]


class Misspelt:
    PLUGIN_NAME = "guard"

    @hookimpl
    async def bifrost_pre_atempt(self, attempt: Any) -> None: ...


class WrongArgument:
    PLUGIN_NAME = "guard"

    @hookimpl
    async def bifrost_pre_attempt(self, attemp: Any) -> None: ...


class NotAsync:
    PLUGIN_NAME = "guard"

    @hookimpl
    def bifrost_request_end(self, call: Any) -> None: ...


class Awaited:
    PLUGIN_NAME = "guard"

    @hookimpl
    async def bifrost_configure(self, gateway: Any) -> None: ...


@pytest.mark.parametrize(("plugin", "line"), [
    (Misspelt(), ("plugin 'guard': bifrost_pre_atempt: no such hook (did you mean bifrost_pre_attempt?); "
                  "hooks are listed in docs/plugins.md")),
    (WrongArgument(), "plugin 'guard': bifrost_pre_attempt: argument 'attemp' is not one of the hook's (attempt)"),
    (NotAsync(), "plugin 'guard': bifrost_request_end: must be `async def` (the gateway awaits it)"),
    (Awaited(), ("plugin 'guard': bifrost_configure: must be a plain `def`, not `async def` "
                 "(the gateway calls it without awaiting)")),
])
def test_a_validation_error_is_one_line_naming_plugin_and_hook(plugin: object, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict(_config()), plugins=[plugin], builtins=False)
    assert caught.value.problems == [line]


GUARD = '''
from bifrost_py import hookimpl
from bifrost_py.errors import PermissionDenied

PLUGIN_NAME = "guard"


class Guard:
    @hookimpl
    async def bifrost_request_start(self, call):
        if call.headers.get("x-guard") == "no":
            raise PermissionDenied("the guard says no")


def bifrost_plugin(gateway):
    return Guard()
'''


async def test_a_plugin_file_next_to_the_config_is_loaded_from_anywhere(start_gateway: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf" / "plugins").mkdir(parents=True)
    (tmp_path / "conf" / "plugins" / "guard.py").write_text(GUARD)
    config_file = tmp_path / "conf" / "gateway.yaml"
    config_file.write_text("providers:\n  mock: {type: mock, models: ['mock-*']}\nplugins: [./plugins/guard.py]\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    gw = await start_gateway(load_config(config_file), builtins=False)
    [info] = gw.gateway.plugins.ordered()
    assert info.name == "guard" and info.source.startswith("config: ./plugins/guard.py (file ")
    assert type(info.plugin).__module__.startswith("bifrost_py_local.guard_")
    assert (await gw.post("/v1/messages", json=MESSAGE, headers={"x-guard": "no"}))[0] == 403
    assert (await gw.post("/v1/messages", json=MESSAGE))[0] == 200


def test_a_missing_plugin_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict({**_config(), "plugins": ["./nowhere/guard.py"]}, base_dir=tmp_path), builtins=False)
    assert caught.value.problems == [f"plugins: './nowhere/guard.py': no such file ({tmp_path}/nowhere/guard.py)"]


def test_a_disabled_plugins_sections_are_ignored_not_errors() -> None:
    config = config_from_dict({**_config(), "plugins": {"disable": ["costlog", "cache"]},
                               "logging": {"bodies": True}, "cache": {"enabled": True}, "costlog": {}})
    gateway = Gateway(config)
    assert gateway.ignored_sections == {"logging": "costlog", "cache": "cache", "costlog": "costlog"}
    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict({**_config(), "plugins": {"disable": ["cache"]}, "logging": {"bodie": True}}))
    assert caught.value.problems == ["logging.bodie: unknown key"]


async def test_shutdown_goes_on_after_a_plugins_failure(caplog: pytest.LogCaptureFixture) -> None:
    stopped: list[str] = []

    class Stops:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        @hookimpl
        async def bifrost_shutdown(self, gateway: Any) -> None:
            stopped.append(self.name)
            if self.fail:
                raise RuntimeError("disk gone")

    gateway = Gateway(config_from_dict(_config()), plugins=[Stops("a"), Stops("b", fail=True), Stops("c")],
                      builtins=False)
    await gateway.start()
    await gateway.stop()
    assert stopped == ["c", "b", "a"]
    assert "shutdown of plugin b failed" in caplog.text


async def test_api_plugins_and_the_cli_list_the_same(start_gateway: Any, tmp_path: Path) -> None:
    (tmp_path / "guard.py").write_text(GUARD)
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump({**_builtins_config(tmp_path), "plugins": ["./guard.py"],
                                           "admin": {"token": "admin-t"}}))
    gw = await start_gateway(load_config(config_file))
    status, _, body = await gw.get("/api/plugins", headers={"authorization": "Bearer admin-t"})
    assert status == 200
    listed = orjson.loads(body)["plugins"]
    assert listed == gw.gateway.plugins.describe()
    assert listed[0]["name"] == "guard" and listed[0]["source"].startswith("config: ./guard.py")
    costlog = next(p for p in listed if p["name"] == "costlog")
    post = next(h for h in costlog["hooks"] if h["name"] == "bifrost_post_attempt")
    assert post["marker"] == "trylast" and post["call"] == post["of"]
    command = [sys.executable, "-m", "bifrost_py", "plugins", "-c", str(config_file)]
    cli = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, check=True)
    assert cli.stdout.strip() == format_plugins(listed)
    assert "1. guard  (config: ./guard.py (file " in cli.stdout


def test_disable_also_applies_to_plugins_passed_in_code() -> None:
    config = config_from_dict({**_config(), "plugins": {"disable": ["early"]}})
    gateway = Gateway(config, plugins=[Early()], builtins=False)
    assert gateway.plugins.describe() == [] and gateway.dispatcher.empty
