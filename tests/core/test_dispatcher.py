"""The Dispatcher, the per-request hook caller frozen at start-up: configured order, the first
Reply stops a chain, post hooks in reverse for exactly the plugins whose pre hook was entered
(`Progress.reached`, kept up to date as each is entered), and no plugin's failure in a post or
end hook keeps the others from running."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py import hookimpl
from bifrost_py.context import Advice, Attempt, Call, ModelInfo, Reply, Target
from bifrost_py.errors import GatewayError, PermissionDenied
from bifrost_py.pluginmanager import Dispatcher, PluginInfo, Progress

REPLY = Reply({"type": "message", "content": []})


class Plugin:
    """Records each hook; `behaviour[hook]` says what that hook does beyond recording."""

    def __init__(self, name: str, log: list[str], **behaviour: Any) -> None:
        self.name = name
        self.log = log
        self.behaviour = behaviour
        self.progress_seen: list[int] = []

    async def _act(self, hook: str) -> Any:
        self.log.append(f"{self.name}.{hook}")
        action = self.behaviour.get(hook)
        if isinstance(action, BaseException):
            raise action
        if callable(action):
            return await action()
        return action

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> Any:
        return await self._act("start")

    @hookimpl
    async def bifrost_route(self, call: Call, targets: list[Target]) -> Any:
        self.log.append(f"{self.name}.route{[str(t) for t in targets]}")
        return self.behaviour.get("route")

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> Any:
        return await self._act("pre")

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> Any:
        return await self._act("post")

    @hookimpl
    async def bifrost_should_fall_back(self, attempt: Attempt) -> Any:
        return await self._act("advise")

    @hookimpl
    async def bifrost_request_end(self, call: Call) -> Any:
        return await self._act("end")

    @hookimpl
    async def bifrost_list_models(self, call: Call, models: list[ModelInfo]) -> Any:
        return self.behaviour.get("models")


class Bare:
    """A plugin with no per-request hooks at all."""


def dispatcher(*plugins: object) -> Dispatcher:
    return Dispatcher([PluginInfo(getattr(p, "name", "bare"), "test", p, []) for p in plugins])


def call_and_attempt() -> tuple[Call, Attempt]:
    call = Call(request_id="req_d", dialect="anthropic", endpoint="messages", headers=CIMultiDictProxy(CIMultiDict()))
    return call, Attempt(call=call, target=Target("p", "m"), number=1)


async def test_pre_hooks_run_in_order_and_post_hooks_in_reverse() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log), Plugin("b", log), Plugin("c", log))
    _, attempt = call_and_attempt()
    progress = Progress()
    assert await chain.pre_attempt(attempt, progress) is None
    assert progress.reached == chain.complete
    await chain.post_attempt(attempt, progress.reached)
    assert log == ["a.pre", "b.pre", "c.pre", "c.post", "b.post", "a.post"]


async def test_the_first_reply_stops_the_chain_and_only_those_entered_are_settled() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log), Plugin("b", log, pre=REPLY), Plugin("c", log))
    _, attempt = call_and_attempt()
    progress = Progress()
    assert await chain.pre_attempt(attempt, progress) is REPLY
    assert progress.reached == 1
    await chain.post_attempt(attempt, progress.reached)
    assert log == ["a.pre", "b.pre", "b.post", "a.post"]


async def test_a_refusal_passes_through_as_it_was_raised() -> None:
    log: list[str] = []
    refusal = PermissionDenied("not this provider", final=False)
    chain = dispatcher(Plugin("a", log), Plugin("b", log, pre=refusal), Plugin("c", log))
    progress = Progress()
    with pytest.raises(PermissionDenied) as caught:
        await chain.pre_attempt(call_and_attempt()[1], progress)
    assert caught.value is refusal and progress.reached == 1


async def test_a_bug_in_a_pre_hook_is_a_gateway_error_naming_the_plugin() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log), Plugin("buggy", log, pre=ZeroDivisionError()))
    progress = Progress()
    with pytest.raises(GatewayError) as caught:
        await chain.pre_attempt(call_and_attempt()[1], progress)
    assert caught.value.status == 500 and "buggy" in caught.value.message
    assert isinstance(caught.value.__cause__, ZeroDivisionError) and progress.reached == 1


async def test_progress_names_the_plugin_being_waited_on_when_the_chain_is_cancelled() -> None:
    log: list[str] = []
    entered = asyncio.Event()

    async def wait() -> None:
        entered.set()
        await asyncio.Event().wait()

    chain = dispatcher(Plugin("a", log), Bare(), Plugin("waits", log, pre=wait), Plugin("d", log))
    _, attempt = call_and_attempt()
    progress = Progress()
    task = asyncio.create_task(chain.pre_attempt(attempt, progress))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert progress.reached == 2
    await chain.post_attempt(attempt, progress.reached)
    assert log == ["a.pre", "waits.pre", "waits.post", "a.post"]


async def test_progress_reaches_the_last_plugin_even_when_it_has_no_pre_hook() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log), Bare())
    progress = Progress()
    await chain.pre_attempt(call_and_attempt()[1], progress)
    assert progress.reached == chain.complete


async def test_no_pre_hook_entered_means_no_post_hook() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log))
    await chain.post_attempt(call_and_attempt()[1], -1)
    assert log == []


async def test_a_failing_post_or_end_hook_does_not_keep_the_others_from_running() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log), Plugin("b", log, post=RuntimeError(), end=RuntimeError()), Plugin("c", log))
    call, attempt = call_and_attempt()
    await chain.post_attempt(attempt, 2)
    await chain.request_end(call)
    assert log == ["c.post", "b.post", "a.post", "c.end", "b.end", "a.end"]


async def test_request_start_stops_at_the_first_reply() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log), Plugin("b", log, start=REPLY), Plugin("c", log))
    assert await chain.request_start(call_and_attempt()[0]) is REPLY
    assert log == ["a.start", "b.start"]


async def test_each_router_sees_what_the_one_before_made_of_the_targets() -> None:
    log: list[str] = []
    chain = dispatcher(Plugin("a", log, route=[Target("x", "1")]), Plugin("b", log), Plugin("c", log, route=[]))
    assert await chain.route(call_and_attempt()[0], [Target("p", "m")]) == []
    assert log == ["a.route['p/m']", "b.route['x/1']", "c.route['x/1']"]


async def test_the_first_advice_wins() -> None:
    log: list[str] = []
    advice = Advice(Advice.RETRY, delay=1)
    chain = dispatcher(Plugin("a", log), Plugin("b", log, advise=advice), Plugin("c", log, advise=Advice("stop")))
    assert await chain.should_fall_back(call_and_attempt()[1]) is advice
    assert log == ["a.advise", "b.advise"]


async def test_model_lists_pass_through_every_plugin() -> None:
    models = [ModelInfo("m", "p")]
    chain = dispatcher(Plugin("a", [], models=[*models, ModelInfo("n", "q")]), Plugin("b", []))
    assert [m.id for m in await chain.list_models(call_and_attempt()[0], models)] == ["m", "n"]


class Sync:
    """Hooks that declare fewer arguments than the spec: adapted."""

    name = "sync"

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    async def bifrost_pre_attempt(self) -> None:
        self.seen.append("pre")

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        self.seen.append(f"post#{attempt.number}")


async def test_fewer_arguments_are_adapted() -> None:
    plugin = Sync()
    chain = dispatcher(plugin)
    _, attempt = call_and_attempt()
    progress = Progress()
    await chain.pre_attempt(attempt, progress)
    await chain.post_attempt(attempt, progress.reached)
    assert plugin.seen == ["pre", "post#1"]


class Picky:
    """Route hooks that declare one of the spec's two arguments, or both in another order."""

    name = "picky"

    @hookimpl
    async def bifrost_route(self, targets: list[Target]) -> list[Target]:
        return [*targets, Target("second", "m")]


class Reversed:
    name = "reversed"

    @hookimpl
    async def bifrost_route(self, targets: list[Target], call: Call) -> list[Target]:
        return [*targets, Target("third", call.model)]


async def test_a_subset_or_another_order_of_the_arguments_is_adapted() -> None:
    chain = dispatcher(Picky(), Reversed())
    call, _ = call_and_attempt()
    routed = await chain.route(call, [Target("first", "m")])
    assert [t.provider for t in routed] == ["first", "second", "third"]
    assert routed[2].model == call.model


def test_a_dispatcher_with_no_request_hooks_is_empty() -> None:
    assert dispatcher(Bare()).empty and not dispatcher(Sync()).empty
