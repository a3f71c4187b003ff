"""Finding, validating, ordering and calling plugins.

pluggy keeps the registry: specs, validation (`check_pending`), blocking by name, start-up hooks.
Per-request hooks are called through a `Dispatcher` frozen at start-up: one tuple per hook of the
implementations in configured order, awaited one by one (STYLE.md has the measurements).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .configschema import ConfigError
from .context import Advice, Attempt, Call, ModelInfo, Reply, Target
from .errors import GatewayError

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.plugins")
ENTRY_POINT_GROUP = "bifrost_py"
# Default order of the built-ins: the cost log first, so that its post hook runs last and sees
# every ending (refusals and cache hits included); governance before the cache, so that a cache
# hit is never served to a caller who is not allowed in.
BUILTIN_ORDER = ("costlog", "governance", "cache", "routing", "failover")


@dataclass(slots=True)
class PluginInfo:
    name: str
    source: str           # "entry point <dist>" or "config: module.path" or "registered in code"
    plugin: object
    hooks: list[str]


class PluginManager:
    """Owns one gateway's plugins (tox style: no module-global manager)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []

    def load(self, *, builtins: bool = True, extra: list[object] | None = None) -> None:
        config = self.gateway.config
        for name in config.plugins_disabled:
            self.pm.set_blocked(name)
        if builtins:
            self._load_entry_points()
        for path in config.plugin_imports:
            self._load_import_path(path)
        for plugin in extra or []:
            name = (getattr(plugin, "PLUGIN_NAME", None) or getattr(plugin, "name", None)
                    or getattr(plugin, "__name__", None) or type(plugin).__name__)
            self.add(plugin, str(name), "registered in code")
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise ConfigError([f"plugins: {exc}"]) from exc

    def _load_entry_points(self) -> None:
        found = sorted(
            entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (BUILTIN_ORDER.index(ep.name) if ep.name in BUILTIN_ORDER else len(BUILTIN_ORDER), ep.name),
        )
        for ep in found:
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            source = f"entry point {ep.value} ({dist.name} {dist.version})" if dist else f"entry point {ep.value}"
            try:
                loaded = ep.load()
            except ImportError as exc:
                raise ConfigError([f"plugins: cannot load plugin {ep.name!r} ({ep.value}): {exc}"]) from exc
            self.add(loaded, ep.name, source)

    def _load_import_path(self, path: str) -> None:
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise ConfigError([f"plugins: cannot import {path!r}: {exc}"]) from exc
        name = getattr(module, "PLUGIN_NAME", path.rsplit(".", 1)[-1])
        if not self.pm.is_blocked(name):
            self.add(module, name, f"config: {path}")

    def add(self, obj: object, name: str, source: str) -> None:
        """Register a plugin. A module or class offering `bifrost_plugin(gateway)` gets a fresh
        instance per gateway, so per-gateway state never lives at module level."""
        factory = getattr(obj, "bifrost_plugin", None)
        plugin = factory(self.gateway) if callable(factory) else obj
        self.pm.register(plugin, name=name)
        hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
        self.infos.append(PluginInfo(name, source, plugin, hooks))

    def ordered(self) -> list[PluginInfo]:
        """Plugins in configured order: `plugins.order` first, then load order."""
        wanted = self.gateway.config.plugin_order
        rank = {name: i for i, name in enumerate(wanted)}
        return sorted(self.infos, key=lambda info: (rank.get(info.name, len(rank)), self.infos.index(info)))

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def freeze(self) -> Dispatcher:
        return Dispatcher(self.ordered(), trace=bool(os.environ.get("BIFROST_TRACE_PLUGINS")))


Impl = Callable[..., Awaitable[Any]]


def _adapt(plugin: object, hook: str, trace: bool, plugin_name: str) -> Impl | None:
    """The implementation of `hook` on `plugin`, as an async callable taking the hook's full
    positional arguments (pluggy lets an implementation declare fewer), or None."""
    fn = getattr(plugin, hook, None)
    if fn is None or not callable(fn):
        return None
    spec_args = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    wanted = list(inspect.signature(fn).parameters)
    is_async = inspect.iscoroutinefunction(fn)
    if wanted == spec_args and is_async and not trace:
        return fn  # the common case: no wrapper at all
    positions = [spec_args.index(arg) for arg in wanted]

    async def adapted(*args: Any) -> Any:
        picked = [args[i] for i in positions]
        result = fn(*picked)
        return await result if is_async else result

    if not trace:
        return adapted

    async def traced(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            result = await adapted(*args)
        except BaseException as exc:
            print(f"[bifrost trace] {plugin_name}.{hook}{_brief(args)} raised {exc!r}", file=sys.stderr)
            raise
        took = (time.perf_counter() - start) * 1e6
        print(f"[bifrost trace] {plugin_name}.{hook}{_brief(args)} -> {result!r} ({took:.0f} µs)", file=sys.stderr)
        return result

    return traced


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


@dataclass(slots=True)
class Progress:
    """How far an attempt got through the pre hooks: the position of the last plugin entered."""

    reached: int = -1


class Dispatcher:
    """Per-request hooks, precomputed. Each list holds (position, implementation); the position
    is the plugin's place in the configured order, used to run post hooks for exactly the
    plugins whose pre hook ran."""

    def __init__(self, plugins: list[PluginInfo], *, trace: bool = False) -> None:
        self.names = tuple(info.name for info in plugins)

        def chain(hook: str) -> tuple[tuple[int, Impl], ...]:
            impls = []
            for position, info in enumerate(plugins):
                impl = _adapt(info.plugin, hook, trace, info.name)
                if impl is not None:
                    impls.append((position, impl))
            return tuple(impls)

        self._request_start = chain("bifrost_request_start")
        self._route = chain("bifrost_route")
        self._pre_attempt = chain("bifrost_pre_attempt")
        self._post_attempt = tuple(reversed(chain("bifrost_post_attempt")))
        self._should_fall_back = chain("bifrost_should_fall_back")
        self._request_end = tuple(reversed(chain("bifrost_request_end")))
        self._list_models = chain("bifrost_list_models")
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
        progress.reached = len(self.names) - 1
        return None

    async def post_attempt(self, attempt: Attempt, reached: int) -> None:
        """Post hooks never fail the request: a plugin's error is logged and the rest still run."""
        for position, impl in self._post_attempt:
            if position <= reached:
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
