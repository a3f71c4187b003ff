"""The plugins of one gateway, and the only way their hooks are called.

pluggy keeps the registry: specs, validation, blocking by name, and the hookimpl markers. The
order of every hook is pluggy's ``tryfirst``/``trylast`` first, then the configured order
(hookorder.py). Start-up hooks are called by the typed methods below (`configure`, `startup`,
`shutdown`, `admin_routes`, `report`); per-request hooks by the `Dispatcher` that `freeze()`
builds once, from the same validated implementations.

The core knows no plugin by name. The built-ins order themselves with markers: the cost log's
pre hook is ``tryfirst`` and its post/end hooks ``trylast`` (it sees every ending, refusals and
cache hits included); governance's hooks are ``tryfirst`` (a caller is identified and admitted
before anything is served, a cache hit included); failover's route is ``trylast`` (it appends
fallbacks to what the routers decided).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .configschema import ConfigError
from .dispatcher import Dispatcher, Progress
from .hookorder import HookCall, PluginInfo, ordered_calls
from .pluginload import (
    ENTRY_POINT_GROUP,
    HOOKS,
    Found,
    check_plugin,
    declared_sections,
    from_config_entry,
    from_entry_points,
    sections_of,
    unmarked_hooks,
)

if TYPE_CHECKING:
    from .admin import AdminRoute
    from .budgets import BudgetUsage
    from .gateway import Gateway

__all__ = ["ENTRY_POINT_GROUP", "Dispatcher", "PluginInfo", "PluginManager", "Progress"]
log = logging.getLogger("bifrost_py.plugins")


class PluginManager:
    """Owns one gateway's plugins (tox style: no module-global manager)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []  # in configured order once `load` returns
        self._rank: dict[str, int] = {}
        self._origins: dict[str, object] = {}  # what each name was loaded from (module, class, object)
        self._budget_calls: list[HookCall] | None = None  # built at the first budget_update

    # ------------------------------------------------------------------ loading

    def load(self, *, builtins: bool = True, extra: list[object] | None = None) -> None:
        """Find, order, check and register every plugin; every problem is one line of a
        ConfigError (`bifrost-py check` prints them)."""
        config = self.gateway.config
        problems: list[str] = []
        blocked = set(config.plugins_disabled)
        for name in blocked:
            self.pm.set_blocked(name)
        # The most specific first (pluggy calls the last registered first for the same reason):
        # plugins passed in code, then the config's entries, then the installed entry points.
        found = [Found(_code_name(plugin), "registered in code", plugin) for plugin in extra or []
                 if _code_name(plugin) not in blocked]
        for entry in config.plugin_imports:
            item = from_config_entry(entry, config.base_dir, problems)
            if item is not None and item.name not in blocked:
                found.append(item)
        if builtins:
            found.extend(from_entry_points(problems, blocked))
        rank = {name: i for i, name in enumerate(config.plugin_order)}
        order = sorted(range(len(found)), key=lambda i: (rank.get(found[i].name, len(rank)), i))
        for i in order:
            problems.extend(self._register(found[i]))
        if problems:
            raise ConfigError(problems)
        self._rank = {info.name: position for position, info in enumerate(self.infos)}
        self._budget_calls = None

    def _register(self, item: Found) -> list[str]:
        loaded = next((info for info in self.infos if info.name == item.name), None)
        if loaded is not None:
            if self._origins[item.name] is item.obj:
                return []  # e.g. a built-in also listed under `plugins:`: loaded once
            return [f"plugins: two plugins are named {item.name!r}: {loaded.source}, and {item.source}"]
        factory = getattr(item.obj, "bifrost_plugin", None)
        plugin = factory(self.gateway) if callable(factory) else item.obj
        problems = check_plugin(self.pm, plugin, item.name)
        if problems:
            return problems
        for attr in unmarked_hooks(self.pm, plugin):
            log.warning("plugin %r: %s is not marked @hookimpl, so it is never called", item.name, attr)
        try:
            self.pm.register(plugin, name=item.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            return [f"plugin {item.name!r}: " + " ".join(str(exc).split())]
        self._origins[item.name] = item.obj
        hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
        self.infos.append(PluginInfo(item.name, item.source, plugin, hooks, sections_of(item.obj, item.name)))
        return []

    def ordered(self) -> list[PluginInfo]:
        """Plugins in configured order: `plugins.order` first, then those passed in code, then
        the config's `plugins:` entries, then the entry points by name."""
        return list(self.infos)

    def calls(self, hook: str) -> list[HookCall]:
        """The implementations of `hook`, in calling order (hookorder.py)."""
        return ordered_calls(self.pm, hook, self._rank)

    def sort_sections(self, sections: list[str], claimed: set[str]) -> tuple[list[str], dict[str, str]]:
        """The config sections no loaded plugin read: (unknown ones, {ignored one: its disabled
        plugin}). A section that a disabled plugin declares is ignored, not an error, so that
        disabling a plugin never requires deleting its settings."""
        declared = {name for info in self.infos for name in info.sections}
        unknown, ignored = [], {}
        for name in sections:
            if name in claimed or name in declared:
                continue
            owner = next((d for d in self.gateway.config.plugins_disabled
                          if name == d or name in declared_sections(d)), None)
            if owner is None:
                unknown.append(name)
            else:
                ignored[name] = owner
        return unknown, ignored

    # ------------------------------------------------------------------ start-up hooks

    def configure(self, gateway: Gateway) -> None:
        for found in self.calls("bifrost_configure"):
            found.call(gateway=gateway)

    async def startup(self, gateway: Gateway) -> None:
        for found in self.calls("bifrost_startup"):
            await found.call(gateway=gateway)

    async def shutdown(self, gateway: Gateway) -> None:
        """Reverse order; one plugin's failure is logged and the others still shut down."""
        for found in self.calls("bifrost_shutdown"):
            try:
                await found.call(gateway=gateway)
            except Exception:
                log.exception("shutdown of plugin %s failed", found.plugin_name)

    def admin_routes(self, gateway: Gateway) -> list[AdminRoute]:
        routes: list[AdminRoute] = []
        for found in self.calls("bifrost_admin_routes"):
            routes.extend(found.call(gateway=gateway) or [])
        return routes

    async def report(self, gateway: Gateway, since: float, by: str, fmt: str, top: int | None = None) -> str | None:
        """The first plugin's report that is not None (`bifrost-py report`, scheduled reports)."""
        for found in self.calls("bifrost_report"):
            text = await found.call(gateway=gateway, since=since, by=by, fmt=fmt, top=top)
            if text is not None:
                return str(text)
        return None

    async def budget_update(self, gateway: Gateway, usages: list[BudgetUsage]) -> None:
        """Tell every plugin the budgets a request was charged to (`bifrost_budget_update`).
        Free with no listener; one plugin's failure is logged and the others still hear it."""
        if not usages:
            return
        if self._budget_calls is None:
            self._budget_calls = self.calls("bifrost_budget_update")
        for found in self._budget_calls:
            try:
                await found.call(gateway=gateway, usages=usages)
            except Exception:
                log.exception("bifrost_budget_update of plugin %s failed", found.plugin_name)

    # ------------------------------------------------------------------ per request, and listing

    def freeze(self) -> Dispatcher:
        chains = {hook: self.calls(hook) for hook in hookspecs.REQUEST_HOOKS}
        return Dispatcher(self.infos, chains=chains, trace=bool(os.environ.get("BIFROST_TRACE_PLUGINS")))

    def describe(self) -> list[dict[str, Any]]:
        """Each plugin with its place in the configured order, its source, and each of its
        hooks with its place in that hook's calling order and its marker: what `bifrost-py
        plugins` prints and `/api/plugins` returns."""
        places = {hook: [c.plugin_name for c in self.calls(hook)] for hook in HOOKS}
        described = []
        for position, info in enumerate(self.infos):
            hooks = []
            mine = [hook for hook in HOOKS if hook in info.hooks]  # in the order of hookspecs.py
            for found in (c for hook in mine for c in self.calls(hook) if c.plugin_name == info.name):
                hooks.append({"name": found.hook, "call": places[found.hook].index(info.name) + 1,
                              "of": len(places[found.hook]), "marker": found.marker})
            described.append({"name": info.name, "order": position + 1, "source": info.source, "hooks": hooks})
        return described


def _code_name(plugin: object) -> str:
    name = (getattr(plugin, "PLUGIN_NAME", None) or getattr(plugin, "name", None)
            or getattr(plugin, "__name__", None) or type(plugin).__name__)
    return str(name)
