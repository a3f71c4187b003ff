"""The governance plugin: its hooks, and the start and stop of what it owns.

    request_start   who is calling (virtual key → Caller), a max_concurrent slot
    pre_attempt     may they use this target; claim from every cap of every tier, or refuse
                    (key/team/customer: final; provider config: skip to the next target)
    post_attempt    settle the claim with the real cost and tokens
    request_end     give the in-flight slot back
    list_models     only what the key may use
"""

from __future__ import annotations

from typing import Any

from bifrost_py import hookimpl
from bifrost_py.admin import AdminRoute
from bifrost_py.context import Attempt, Call, ModelInfo
from bifrost_py.settings import load_settings
from bifrost_py.storage import Database

from .admin import GovernanceAdmin
from .counters import CounterStore, MemoryCounters
from .enforcement import CALL_STATE, Governor
from .entities import KINDS
from .journal import CounterJournal, EntityStore
from .metrics import Metrics
from .models import visible_models
from .periods import zone
from .publish import BudgetPublisher
from .redis_counters import RedisCounters
from .registry import Registry
from .schema import open_database
from .settings import Settings, check_references, read_settings
from .spend import SpendLog
from .usage import UsageView

SECTION = "governance"


class GovernancePlugin:
    """One per Gateway; nothing lives at module level."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.settings = Settings()
        self.registry: Registry | None = None
        self.governor: Governor | None = None
        self.admin: GovernanceAdmin | None = None
        self.metrics: Metrics | None = None
        self.db: Database | None = None
        self.store: CounterStore | None = None
        self.journal: CounterJournal | None = None
        self.entities: EntityStore | None = None
        self.spend: SpendLog | None = None
        self.version = 0

    # ------------------------------------------------------------------ start-up

    @hookimpl
    def bifrost_configure(self, gateway: Any) -> None:
        config = gateway.config
        self.settings = settings = load_settings(gateway, SECTION, read_settings)
        try:
            tz = zone(config.currency_timezone)
        except ValueError as exc:
            gateway.problems.add("currency.timezone", str(exc))
            tz = zone("UTC")
        providers = set(gateway.providers)
        check_references(settings.customers, settings.teams, settings.keys, providers, gateway.problems)
        if config.workers > 1 and not config.redis_url:
            gateway.problems.add(
                "server.workers",
                f"is {config.workers} but storage.redis is not set: each worker would keep its own governance "
                f"counters and together they could spend {config.workers}x every budget; set storage.redis",
            )
        self.registry = Registry(settings.customers, settings.teams, settings.keys,
                                 per_usd=config.currency_per_usd, tz=tz, providers=gateway.providers,
                                 session_budget=settings.session_budget)
        self.metrics = Metrics(gateway.metrics)
        self.admin = GovernanceAdmin(self.registry)

    @hookimpl
    async def bifrost_startup(self, gateway: Any) -> None:
        """Background rounds run as `gateway.every` tasks without a final round of their own:
        the shutdown hook writes the last state itself, after the settlements under way."""
        assert self.registry is not None and self.admin is not None and self.metrics is not None
        config = gateway.config
        self.db = await open_database(gateway.storage, config.logs_url)
        self.entities = EntityStore(self.db)
        await self._reload()
        self.store = await self._open_store(config.redis_url)
        self.governor = Governor(self.settings, self.registry, self.store, gateway, self.metrics)
        if gateway.plugins.calls("bifrost_budget_update"):   # someone watches budgets (alerts)
            self.governor.publisher = BudgetPublisher(gateway, self.store, config.currency_per_usd,
                                                      config.currency_code)
        self.admin.store = self.entities
        self.admin.usage = UsageView(self.registry, self.store, gateway.format_money,
                                     config.currency_per_usd, config.currency_code)
        gateway.every(self.settings.sync_interval, self._sync_once, name="governance: reloading entities", final=False)

    async def _open_store(self, redis_url: str | None) -> CounterStore:
        """Counters in Redis (budget spend also written to the database, to rebuild a Redis that
        lost its data), or in memory (journaled to the database)."""
        assert self.db is not None and self.metrics is not None
        settings, gateway = self.settings, self.gateway
        if redis_url:
            self.spend = SpendLog(self.db)
            gateway.every(settings.flush_interval, self.spend.flush, name="governance: writing spend to the database",
                          final=False)
            store = RedisCounters(await gateway.storage.redis(redis_url), lease=settings.lease,
                                  max_age=settings.hold_max_age, spend=self.spend,
                                  rebuild_wait=2 * settings.flush_interval + 0.1,
                                  on_expired=self.metrics.expired, on_rebuilt=self.metrics.rebuilt)
            await store.open()
            gateway.every(settings.lease / 4, store.maintain, name="governance: renewing leases in Redis", final=False)
            return store
        counters = MemoryCounters(max_age=settings.hold_max_age)
        self.journal = CounterJournal(self.db, counters)
        await self.journal.load()
        gateway.every(settings.flush_interval, self.journal.flush, name="governance: writing counters", final=False)
        gateway.every(settings.lease / 4, self._sweep, name="governance: expiring holds that outlived their attempt",
                      final=False)
        return counters

    async def _sweep(self) -> None:
        assert self.journal is not None and self.metrics is not None
        expired = self.journal.counters.sweep()
        if expired:
            self.metrics.expired(expired)

    @hookimpl
    async def bifrost_shutdown(self, gateway: Any) -> None:
        """The gateway has stopped the periodic rounds (none is cut half-way). Then, in this
        order: settlements under way finish; the counters are written (without the holds of
        requests no longer running); the last spend is written. The gateway closes the
        database and Redis afterwards."""
        if self.governor is not None:
            await self.governor.drain()
        if self.journal is not None:
            await self.journal.close()
        if self.store is not None:
            await self.store.close()
        if self.spend is not None:
            await self.spend.flush()

    @hookimpl
    def bifrost_admin_routes(self, gateway: Any) -> list[AdminRoute]:
        assert self.admin is not None
        return self.admin.routes()

    async def _reload(self) -> None:
        """Take in entities created or changed through the admin API (by any instance)."""
        assert self.entities is not None and self.registry is not None and self.admin is not None
        async with self.admin.lock:
            self.version = await self.entities.version()
            loaded = await self.entities.load()
            for kind in KINDS:
                self.registry.replace_api(kind, loaded[kind])
            self.registry.rebuild()

    async def _sync_once(self) -> None:
        assert self.entities is not None
        if await self.entities.version() != self.version:
            await self._reload()

    # ------------------------------------------------------------------ per request

    # tryfirst: the caller is identified and admitted before other plugins act (a cache hit is
    # never served to a caller who is not allowed in).
    @hookimpl(tryfirst=True)
    async def bifrost_request_start(self, call: Call) -> None:
        governor = self.governor
        assert governor is not None
        plan = governor.authenticate(call)
        if plan is not None and plan.in_flight is not None:   # max_concurrent (no coroutine without)
            await governor.acquire_slot(call, plan)

    @hookimpl(tryfirst=True)
    async def bifrost_pre_attempt(self, attempt: Attempt) -> None:
        assert self.governor is not None
        await self.governor.admit(attempt)

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        assert self.governor is not None
        await self.governor.settle(attempt)

    @hookimpl
    async def bifrost_request_end(self, call: Call) -> None:
        assert self.governor is not None
        state = call.stash.get(CALL_STATE)
        if state is not None and state.slot is not None:   # (no coroutine for a call without a slot)
            await self.governor.release_slot(call)

    @hookimpl
    async def bifrost_list_models(self, call: Call, models: list[ModelInfo]) -> list[ModelInfo] | None:
        state = call.stash.get(CALL_STATE)
        if state is None:
            return None
        return visible_models(state.plan, models, self.gateway)
