"""The table of customers, teams and virtual keys: the YAML file's, then the admin API's.

Lookups on the request path are by the SHA-256 of the presented secret, so the secret itself is
never stored or compared. The timing of a dictionary lookup can only reveal something about a
digest, which does not help anyone find a key; the final equality check is constant-time anyway.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Collection, Iterator
from zoneinfo import ZoneInfo

from bifrost_py.configschema import Problems

from .entities import CUSTOMER, KEY, TEAM, Customer, SessionBudget, Team, VirtualKey
from .plan import KeyPlan, Tier, compile_customer, compile_key, compile_team, session_cap
from .settings import Entity, check_references, hash_secret

log = logging.getLogger("bifrost_governance")


class Registry:
    """Config entities (read-only) plus API entities (from the database), compiled to plans."""

    def __init__(self, customers: dict[str, Customer], teams: dict[str, Team], keys: dict[str, VirtualKey],
                 *, per_usd: float, tz: ZoneInfo, providers: Collection[str],
                 session_budget: SessionBudget | None = None) -> None:
        self.per_usd = per_usd
        self.session_budget = session_budget      # governance's own: every session of every key
        self.tz = tz
        self.provider_names = providers
        self.config: dict[str, dict[str, Entity]] = {CUSTOMER: dict(customers), TEAM: dict(teams), KEY: dict(keys)}
        self.api: dict[str, dict[str, Entity]] = {CUSTOMER: {}, TEAM: {}, KEY: {}}
        self.customers: dict[str, Customer] = {}
        self.teams: dict[str, Team] = {}
        self.keys: dict[str, VirtualKey] = {}
        self.by_digest: dict[str, str] = {}
        self.customer_tiers: dict[str, Tier] = {}
        self.team_tiers: dict[str, Tier] = {}
        self._plans: dict[str, KeyPlan] = {}
        self.rebuild()

    # ------------------------------------------------------------------ request path

    def authenticate(self, secret: str) -> VirtualKey | None:
        digest = hash_secret(secret)
        name = self.by_digest.get(digest)
        if name is None:
            return None
        key = self.keys[name]
        return key if hmac.compare_digest(key.key_sha256, digest) else None

    def plan(self, key: VirtualKey) -> KeyPlan:
        plan = self._plans.get(key.name)
        if plan is None or plan.key is not key:
            team_customer = {name: team.customer for name, team in self.teams.items()}
            team = self.teams.get(key.team or "")
            session = session_cap([(f"virtual key '{key.name}'", key.session_budget),
                                   (f"team '{team.name}'" if team else "", team.session_budget if team else None),
                                   ("governance", self.session_budget)], self.per_usd)
            plan = compile_key(key, self.customer_tiers, self.team_tiers, team_customer, self.per_usd, self.tz,
                               session)
            self._plans[key.name] = plan
        return plan

    # ------------------------------------------------------------------ changes

    def replace_api(self, kind: str, entities: dict[str, Entity]) -> None:
        self.api[kind] = dict(entities)

    def put(self, kind: str, entity: Entity) -> None:
        self.api[kind][entity.name] = entity

    def remove(self, kind: str, name: str) -> None:
        self.api[kind].pop(name, None)

    def find(self, kind: str, name: str) -> Entity | None:
        return self.config[kind].get(name) or self.api[kind].get(name)

    def all(self, kind: str) -> Iterator[Entity]:
        yield from self.config[kind].values()
        for name, entity in self.api[kind].items():
            if name not in self.config[kind]:
                yield entity

    def rebuild(self) -> None:
        """Merge the two sources (the YAML file wins a name clash) and recompile."""
        self.customers = {c.name: c for c in self.all(CUSTOMER)}  # type: ignore[misc]
        self.teams = {t.name: t for t in self.all(TEAM)}  # type: ignore[misc]
        keys: dict[str, VirtualKey] = {k.name: k for k in self.all(KEY)}  # type: ignore[misc]
        self.by_digest = {}
        for key in keys.values():
            other = self.by_digest.setdefault(key.key_sha256, key.name) if key.key_sha256 else None
            if other is not None and other != key.name:
                log.warning("virtual keys %r and %r share a secret; %r is ignored", other, key.name, key.name)
        self.keys = keys
        self.customer_tiers = {n: compile_customer(c, self.per_usd, self.tz) for n, c in self.customers.items()}
        self.team_tiers = {n: compile_team(t, self.per_usd, self.tz) for n, t in self.teams.items()}
        self._plans = {}

    def problems_with(self, kind: str, entity: Entity) -> list[str]:
        """What would be wrong if `entity` were added or replaced (dangling names, shared secret)."""
        customers, teams, keys = dict(self.customers), dict(self.teams), dict(self.keys)
        {CUSTOMER: customers, TEAM: teams, KEY: keys}[kind][entity.name] = entity  # type: ignore[index]
        problems = Problems()
        check_references(customers, teams, keys, self.provider_names, problems, root=kind)
        prefix = {CUSTOMER: "customers", TEAM: "teams", KEY: "virtual_keys"}[kind]
        mine = f"{kind}.{prefix}.{entity.name}"
        return [p.replace(mine, kind) for p in problems.items if p.startswith(mine)]

    def users_of(self, kind: str, name: str) -> list[str]:
        """Who refers to this customer or team (it cannot be deleted while they do)."""
        if kind == CUSTOMER:
            return [f"team '{t.name}'" for t in self.teams.values() if t.customer == name] + [
                f"virtual key '{k.name}'" for k in self.keys.values() if k.customer == name]
        if kind == TEAM:
            return [f"virtual key '{k.name}'" for k in self.keys.values() if k.team == name]
        return []
