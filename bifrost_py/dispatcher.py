"""Calling the per-request hooks: a `Dispatcher` frozen at start-up.

One tuple per hook of the implementations pluggy registered and validated, in the order
`hookorder.ordered_impls` decides (tryfirst/trylast first, then the configured order), awaited
one by one: no pluggy call machinery per request, and an empty chain costs a loop over an empty
tuple (STYLE.md has the measurements).
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pluggy

from . import hookspecs
from .configschema import ConfigError
from .context import Advice, Attempt, Call, ModelInfo, Reply, Target
from .errors import GatewayError
from .hookorder import HookCall, PluginInfo, ordered_calls
from .pluginload import check_plugin

log = logging.getLogger("bifrost_py.plugins")
Impl = Callable[..., Awaitable[Any]]


@dataclass(slots=True)
class Progress:
    """How far an attempt got through the pre hooks: the position (in `Dispatcher.names`) of the
    plugin entered last, or `Dispatcher.complete` once every pre hook ran."""

    reached: int = -1


def _adapt(found: HookCall, trace: bool) -> Impl:
    """The implementation as an async callable taking the hook's full positional arguments
    (pluggy lets an implementation declare fewer). Validation made sure it is `async def`."""
    fn = found.function
    spec_args = list(inspect.signature(getattr(hookspecs, found.hook)).parameters)
    wanted = list(found.argnames)
    adapted: Impl = fn
    if wanted != spec_args:
        adapted = _picking(fn, [spec_args.index(arg) for arg in wanted])
    if not trace:
        return adapted
    inner = adapted

    async def traced(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            result = await inner(*args)
        except BaseException as exc:
            print(f"[bifrost trace] {found.plugin_name}.{found.hook}{_brief(args)} raised {exc!r}", file=sys.stderr)
            raise
        took = (time.perf_counter() - start) * 1e6
        print(f"[bifrost trace] {found.plugin_name}.{found.hook}{_brief(args)} -> {result!r} ({took:.0f} µs)",
              file=sys.stderr)
        return result

    return traced


def _picking(fn: Impl, positions: list[int]) -> Impl:
    """`fn` called with the arguments at `positions` of the hook's full ones. Not a coroutine
    function itself: it hands back `fn`'s coroutine, so an adapted hook costs no frame of its own."""
    if not positions:
        def picked(*args: Any) -> Awaitable[Any]:
            return fn()
    elif len(positions) == 1:
        position = positions[0]

        def picked(*args: Any) -> Awaitable[Any]:
            return fn(args[position])
    else:
        pick = itemgetter(*positions)

        def picked(*args: Any) -> Awaitable[Any]:
            return fn(*pick(args))
    return picked


def _brief(args: tuple[Any, ...]) -> str:
    parts = []
    for arg in args:
        if isinstance(arg, Call):
            parts.append(f"call {arg.request_id} {arg.dialect} model={arg.model}")
        elif isinstance(arg, Attempt):
            parts.append(f"attempt #{arg.number} {arg.target} status={arg.outcome.status}")
        else:
            parts.append(repr(arg)[:80])
    return "(" + ", ".join(parts) + ")"


def _chains_of(plugins: list[PluginInfo]) -> dict[str, list[HookCall]]:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    problems = [line for info in plugins for line in check_plugin(pm, info.plugin, info.name)]
    if problems:
        raise ConfigError(problems)
    for info in plugins:
        pm.register(info.plugin, name=info.name)
    rank = {info.name: position for position, info in enumerate(plugins)}
    return {hook: ordered_calls(pm, hook, rank) for hook in hookspecs.REQUEST_HOOKS}


class Dispatcher:
    """Per-request hooks, precomputed. `names` is the configured order of the plugins; each chain
    holds (position in `names`, implementation) in calling order.

    Post hooks run for exactly the plugins whose pre hook was entered: `Progress.reached` names
    the last one entered, and each post hook knows at which step of the pre chain its plugin
    stands. A plugin with a post hook but no pre hook counts as entered once every pre hook ran.
    """

    def __init__(self, plugins: list[PluginInfo], *, chains: dict[str, list[HookCall]] | None = None,
                 trace: bool = False) -> None:
        """`chains` come from the PluginManager; without them (a test, a benchmark) the plugins
        are registered with a pluggy manager of their own, so the same validation applies."""
        self.names = tuple(info.name for info in plugins)
        if chains is None:
            chains = _chains_of(plugins)

        def chain(hook: str) -> tuple[tuple[int, Impl], ...]:
            return tuple((found.position, _adapt(found, trace)) for found in chains.get(hook, []))

        self._request_start = chain("bifrost_request_start")
        self._route = chain("bifrost_route")
        self._pre_attempt = chain("bifrost_pre_attempt")
        self._post_attempt = chain("bifrost_post_attempt")
        self._should_fall_back = chain("bifrost_should_fall_back")
        self._request_end = chain("bifrost_request_end")
        self._list_models = chain("bifrost_list_models")
        # `Progress.reached` once every pre hook ran; -1 (no post hook to run) keeps a chain
        # without post hooks free of the call that would run them.
        self.complete = len(self.names) if self._post_attempt else -1
        # The step of each plugin in the pre chain; `complete` is the step after the last one.
        steps = {position: step for step, (position, _) in enumerate(self._pre_attempt)}
        steps[self.complete] = len(self._pre_attempt)
        self._step_of = steps
        self._post_steps = tuple(
            (steps.get(position, len(self._pre_attempt)), position, impl) for position, impl in self._post_attempt
        )
        self.ends_requests = bool(self._request_end)
        self.empty = not any(
            (self._request_start, self._route, self._pre_attempt, self._post_attempt, self._request_end)
        )

    async def request_start(self, call: Call) -> Reply | None:
        for _, impl in self._request_start:
            reply = await impl(call)
            if reply is not None:
                return reply  # type: ignore[no-any-return]
        return None

    async def route(self, call: Call, targets: list[Target]) -> list[Target]:
        for _, impl in self._route:
            replaced = await impl(call, targets)
            if replaced is not None:
                targets = replaced
        return targets

    async def pre_attempt(self, attempt: Attempt, progress: Progress) -> Reply | None:
        """Run pre hooks in order until one replies or refuses (raises its GatewayError).
        `progress.reached` is kept up to date as each hook is entered, so that whatever stops
        the chain (a refusal, a plugin's bug, a cancellation), post hooks run for exactly the
        plugins whose pre hook ran. A plugin's bug is a 500 for this attempt."""
        for position, impl in self._pre_attempt:
            progress.reached = position
            try:
                reply = await impl(attempt)
            except GatewayError:
                raise
            except Exception as exc:
                log.exception("pre_attempt hook of plugin %s failed", self.names[position])
                raise GatewayError(f"plugin '{self.names[position]}' failed") from exc
            if reply is not None:
                return reply  # type: ignore[no-any-return]
        progress.reached = self.complete
        return None

    async def post_attempt(self, attempt: Attempt, reached: int) -> None:
        """Post hooks never fail the request: a plugin's error is logged and the rest still run."""
        chain = self._post_attempt  # every pre hook ran (the usual case): every post hook runs
        if reached != self.complete:
            entered = self._step_of.get(reached, -1)
            chain = tuple((position, impl) for step, position, impl in self._post_steps if step <= entered)
        for position, impl in chain:
            try:
                await impl(attempt)
            except Exception:
                log.exception("post_attempt hook of plugin %s failed", self.names[position])

    async def should_fall_back(self, attempt: Attempt) -> Advice | None:
        for _, impl in self._should_fall_back:
            advice = await impl(attempt)
            if advice is not None:
                return advice  # type: ignore[no-any-return]
        return None

    async def request_end(self, call: Call) -> None:
        for position, impl in self._request_end:
            try:
                await impl(call)
            except Exception:
                log.exception("request_end hook of plugin %s failed", self.names[position])

    async def list_models(self, call: Call, models: list[ModelInfo]) -> list[ModelInfo]:
        for _, impl in self._list_models:
            replaced = await impl(call, models)
            if replaced is not None:
                models = replaced
        return models
