"""The Gateway: one config, its providers, its plugins, and the start/stop of all of them."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Coroutine
from typing import Any

from prometheus_client import CollectorRegistry

from .config import Config
from .configschema import Problems, Section
from .context import Target
from .looplag import LoopLag, stall_threshold
from .periodic import Interval, Periodic, Periodics, Round
from .pluginmanager import PluginManager
from .pricing import PriceBook
from .providerregistry import ProviderRegistry
from .providers import make_provider
from .providers.base import Provider
from .settling import finish
from .storage import Storage

log = logging.getLogger("bifrost_py")

CURRENCY_SYMBOLS = {"USD": "$", "INR": "₹", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "AUD": "A$", "CAD": "C$"}
RESOLVE_MEMO_CHARS = 1_000_000
# Which provider types serve a model family when no provider lists the model (CONTRACT.md).
FAMILIES = (
    (("claude-*",), ("anthropic", "bedrock", "mock")),
    (("gpt-*", "o1*", "o3*", "o4*", "chatgpt-*", "text-embedding-*"), ("openai", "azure", "mock")),
    (("gemini-*",), ("gemini", "mock")),
)


class Gateway:
    """Everything one running gateway owns. A Gateway with no plugins is a plain proxy.

    Plugins reach the core through this object: `config`, `plugin_section()`, `providers`,
    `prices`, `metrics`, `format_money()`, `spawn()`, and the services: `storage` (databases
    and Redis by URL, shared and closed by the gateway) and `every()` (periodic tasks).
    """

    def __init__(self, config: Config, *, plugins: list[object] | None = None, builtins: bool = True) -> None:
        self.config = config
        self.problems = Problems()
        self._claimed: set[str] = set()
        self.providers: dict[str, Provider] = {name: make_provider(pc) for name, pc in config.providers.items()}
        # The admin API's providers join these at start and on every change (providerregistry.py).
        self.registry = ProviderRegistry(self)
        self._resolved: dict[str, list[Target]] = {}  # resolve() memo; plugins resolve in configure
        self._resolved_chars = 0  # of the names in the memo: it is bounded in size, not only count
        # +1 on every replace_providers(): plugins key what they derived from the providers on it
        self.providers_version = 0
        self.prices = PriceBook(config.pricing)
        self.metrics = CollectorRegistry(auto_describe=True)
        # bifrost_event_loop_lag_seconds; BIFROST_LOOP_STALL_MS=20 also logs stalls (looplag.py)
        self.loop_lag = LoopLag(self.metrics, stall_after=stall_threshold())
        # Services for plugins (docs/plugins.md, "Services"); built before any plugin configures.
        self.storage = Storage(config.base_dir)
        self.periodic = Periodics()
        self.plugins = PluginManager(self)
        self.plugins.load(builtins=builtins, extra=plugins)
        self.plugins.configure(self)
        unknown, self.ignored_sections = self.plugins.sort_sections(list(config.sections), self._claimed)
        for name in unknown:
            self.problems.add(name, "unknown key (no loaded plugin reads this section)")
        for name, owner in self.ignored_sections.items():
            log.info("config section %r is ignored: plugin %r is disabled", name, owner)
        self.problems.raise_if_any()
        self.dispatcher = self.plugins.freeze()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set when the server starts to shut down, before it waits for in-flight requests:
        # long-lived responses (live streams of the admin API) end when they see it.
        self.stopping = asyncio.Event()
        from .pipeline import Pipeline

        self.pipeline = Pipeline(self)

    # ------------------------------------------------------------------ for plugins

    def plugin_section(self, name: str) -> Section:
        """The config section `name` for a plugin to read; problems go to `check` and start-up."""
        self._claimed.add(name)
        return self.config.plugin_section(name, self.problems)

    def format_money(self, usd: float) -> str:
        """An amount kept in USD, shown in the configured currency: `₹5,003.20`."""
        code = self.config.currency_code
        amount = usd * self.config.currency_per_usd
        symbol = CURRENCY_SYMBOLS.get(code)
        return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {code}"

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run work off the request path; stop() waits for it, so nothing is lost on shutdown."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    async def finish(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Await work that must run to its end even if the request is cancelled meanwhile (the
        client hung up): settling budgets, queueing log rows. Once it has to wait, it goes on in
        a task of its own, which a cancellation cannot cut and stop() waits for (settling.py)."""
        await finish(coro, self.spawn)

    def every(self, interval: Interval, fn: Round, *, name: str, now: bool = False,
              final: bool = True) -> Periodic:
        """Await `fn()` every `interval` seconds (or `interval()`), from now until stop(): a round
        is never cancelled half-way, and a final round runs at stop() before any plugin's
        shutdown hook (unless `final=False`). A failing round is logged; returning
        `bifrost_py.periodic.DONE` ends the task. `now=True`: the first round at once."""
        return self.periodic.every(interval, fn, name=name, now=now, final=final)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def replace_providers(self, table: dict[str, Provider]) -> None:
        """Serve `table` from the next attempt on. The dict is updated in place in one step
        (plugins hold it), and Provider objects are never changed: an attempt keeps the one it
        started with. Answers remembered by resolve() are forgotten; `providers_version` moves on."""
        self.providers.clear()
        self.providers.update(table)
        self._resolved.clear()
        self._resolved_chars = 0
        self.providers_version += 1

    # ------------------------------------------------------------------ routing defaults

    def resolve(self, model: str) -> list[Target]:
        """The default target for a model name (CONTRACT.md): a `provider/model` prefix, then a
        provider whose `models:` lists it, then the model family. Empty when nothing serves it.
        Answers are remembered per name (glob matching costs more than the rest of routing), up
        to RESOLVE_MEMO_CHARS of names: callers choose the names, so the memo must not grow with them."""
        found = self._resolved.get(model)
        if found is None:
            found = self._resolve(model)
            if self._resolved_chars + len(model) <= RESOLVE_MEMO_CHARS:
                self._resolved[model] = found
                self._resolved_chars += len(model)
        return list(found)

    def _resolve(self, model: str) -> list[Target]:
        if "/" in model:
            named, _, name = model.partition("/")
            if named in self.providers:
                return [Target(named, name)]
        for provider in self.providers.values():
            if any(fnmatch.fnmatchcase(model, pattern) for pattern in provider.config.models):
                return [Target(provider.name, model)]
        for patterns, types in FAMILIES:
            if any(fnmatch.fnmatchcase(model, p) for p in patterns):
                for kind in types:
                    for provider in self.providers.values():
                        if provider.type == kind and not provider.config.models:
                            return [Target(provider.name, model)]
        return []

    def known_models(self) -> list[tuple[str, str]]:
        """(model, provider) pairs that configs name explicitly (globs are not listable)."""
        seen: list[tuple[str, str]] = []
        for provider in self.providers.values():
            for model in provider.config.models:
                if not any(ch in model for ch in "*?["):
                    seen.append((model, provider.name))
        return seen

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        # The price catalogue takes a moment to load: do it now, not inside the first request.
        self.prices.warm()
        self.loop_lag.start()
        await self.registry.start()  # stored providers serve from the first request on
        await self.plugins.startup(self)

    async def stop(self) -> None:
        """Finish background work (log rows, settlements), then plugins in reverse, then HTTP."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.periodic.stop()  # final rounds: while plugins and storage are still up
        await self.plugins.shutdown(self)  # reverse order; one failure does not stop the rest
        while self._tasks:  # what the shutdown hooks handed off
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.storage.close()  # after every plugin's shutdown: they may write there last
        for provider in self.providers.values():
            await provider.close()
        await self.registry.stop()
        self.loop_lag.stop()
