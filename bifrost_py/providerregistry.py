"""Providers at run time: the YAML file's (read-only) and the admin API's (stored), served as
one table that a change replaces at once.

How a change reaches requests. `gateway.providers` maps names to Provider objects, and a
Provider is never changed after it was built: an edit builds a new one from the new settings
and puts it in the table in place of the old (one synchronous step, so no request sees half of
a change). A request takes its provider from the table when its attempt starts and keeps that
object to its end, so a stream in flight finishes on the provider it started with; the next
attempt sees the new one. A replaced provider closes its connections once the last response
it handed out has ended (`Provider.retire`). Disabling a key builds a new provider whose pool
never picks that key, so it stops being chosen at the next attempt.

Several instances on one database: each write bumps a version number (providerstore.py); every
instance compares it every RELOAD_SECONDS and reloads when it moved. When the store is opened
(at start, or at the first change through the admin API) and how it is followed is
configstore.Follower's, shared with the routing rules and failover chains.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import SQLITE_PREFIX, ProviderConfig, provider_from_dict
from .configschema import ConfigError
from .configstore import ChangeRefused, Follower
from .providers import make_provider
from .providers.base import Provider
from .providerstore import SECRET_FIELDS, ProviderStore, StoredProvider
from .secrets import SecretBox, SecretError, mask, master_box
from .shadowing import shadow_warnings

if TYPE_CHECKING:
    from .gateway import Gateway
    from .storage import Database

log = logging.getLogger("bifrost_py.providers")

DATA_DIR_ENV = "BIFROST_DATA_DIR"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProviderChangeError(ChangeRefused):
    """A change the registry refuses: `status` (400, 404, 409) and one line per problem."""


def data_dir(gateway_config: Any, environ: Mapping[str, str] | None = None) -> Path:
    """Where the gateway keeps its files (the secret key file): BIFROST_DATA_DIR, else the
    SQLite database's folder, else the config file's folder."""
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser().resolve()
    url: str = gateway_config.logs_url
    if url.startswith(SQLITE_PREFIX) and url[len(SQLITE_PREFIX):] not in ("", ":memory:"):
        return Path(url[len(SQLITE_PREFIX):]).expanduser().parent
    return Path(gateway_config.base_dir)


class ProviderRegistry:
    """The gateway's providers: YAML ones fixed at start, stored ones applied on every change."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.yaml: dict[str, Provider] = dict(gateway.providers)
        self.stored: dict[str, StoredProvider] = {}
        self.built: dict[str, Provider] = {}       # every stored provider, enabled or not
        self.broken: dict[str, str] = {}           # stored providers that no longer validate
        self.follower = Follower(gateway, "providers", self._make_store, self.reload)
        self._lock = asyncio.Lock()                # one change at a time, reloads included
        self._retiring: dict[asyncio.Task[None], Provider] = {}  # replaced, closing when idle

    # ------------------------------------------------------------------ life cycle

    @property
    def store(self) -> ProviderStore | None:
        return self.follower.store

    async def start(self) -> None:
        await self.follower.start()

    async def _make_store(self, db: Database) -> ProviderStore:
        store = ProviderStore(db, lambda: master_box(data_dir(self.gateway.config)))
        await store.create_tables()
        return store

    async def _open(self) -> ProviderStore:
        """The store, opened (its tables made, its providers loaded) on first use."""
        return await self.follower.open()

    async def stop(self) -> None:
        for provider in self.built.values():
            await provider.close()
        retiring = dict(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        for provider in retiring.values():  # the gateway stops after its requests ended
            await provider.close()

    async def _check(self) -> None:
        await self.follower.check()

    async def reload(self) -> None:
        """Read every stored provider and put the enabled ones in service."""
        async with self._lock:
            store = self.store
            if store is None:
                return
            try:
                version, rows = await store.load()
            except SecretError:
                # Another process ran `bifrost-py rotate-secret-key`: read the key file again.
                store.box = None
                version, rows = await store.load()
            self._apply(version, rows)

    def _apply(self, version: int, rows: list[StoredProvider]) -> None:
        built: dict[str, Provider] = {}
        broken: dict[str, str] = {}
        for row in rows:
            old = self.built.get(row.name)
            previous = self.stored.get(row.name)
            if old is not None and previous is not None and previous.data == row.data:
                built[row.name] = old  # unchanged: keep its connections, key cool-downs, health
                continue
            try:
                provider = make_provider(provider_from_dict(row.name, row.data))
            except ConfigError as exc:
                broken[row.name] = "; ".join(exc.problems)
                log.error("providers: stored provider %r is not valid, left out: %s", row.name, exc)
                continue
            if old is not None:
                provider.health = old.health  # circuits describe the upstream, not the settings
            built[row.name] = provider
        enabled = {row.name for row in rows if row.enabled}
        table = dict(self.yaml)
        table.update({name: p for name, p in built.items() if name in enabled and name not in self.yaml})
        installed = set(map(id, table.values())) | set(map(id, built.values()))
        retired = [p for p in (*self.gateway.providers.values(), *self.built.values()) if id(p) not in installed]
        self.gateway.replace_providers(table)
        self.stored = {row.name: row for row in rows}
        self.built, self.broken, self.follower.version = built, broken, version
        for provider in {id(p): p for p in retired}.values():
            task = asyncio.get_running_loop().create_task(provider.retire())
            self._retiring[task] = provider
            task.add_done_callback(lambda done: self._retiring.pop(done, None))

    # ------------------------------------------------------------------ changes

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise ProviderChangeError(400, "name: must be 1-64 letters, digits, '.', '_' or '-' "
                                           "(it is the prefix of `name/model`), e.g. \"anthropic-eu\"")
        if name in self.yaml:
            raise ProviderChangeError(409, f"provider {name!r} comes from the config file: it is read-only here")
        if name in self.stored:
            raise ProviderChangeError(409, f"provider {name!r} already exists: PATCH /api/providers/{name} changes it")
        if not isinstance(body.get("type"), str):
            raise ProviderChangeError(400, "type: is required (anthropic, openai, azure, bedrock, gemini or mock)")
        data, enabled = _settings(body, {})
        await self._write(name, data, enabled)
        return self.describe(name)

    async def update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self._stored(name)
        if "name" in body and body["name"] != name:
            raise ProviderChangeError(400, "name: a provider cannot be renamed; create a new one")
        data, enabled = _settings(body, current.data, enabled=current.enabled)
        await self._write(name, data, enabled)
        return self.describe(name)

    async def delete(self, name: str) -> None:
        self._stored(name)
        await (await self._open()).delete(name)
        await self.reload()

    async def _write(self, name: str, data: dict[str, Any], enabled: bool) -> None:
        try:
            provider_from_dict(name, data)
        except ConfigError as exc:
            raise ProviderChangeError(400, "; ".join(exc.problems), exc.problems) from exc
        await (await self._open()).put(name, data, enabled)
        await self.reload()

    def _stored(self, name: str) -> StoredProvider:
        if name in self.yaml:
            raise ProviderChangeError(409, f"provider {name!r} comes from the config file: it is read-only here; "
                                           "change it there and restart")
        found = self.stored.get(name)
        if found is None:
            raise ProviderChangeError(404, f"no provider named {name!r}")
        return found

    # ------------------------------------------------------------------ reading

    def provider(self, name: str) -> Provider:
        """The provider `name` (a disabled stored one too), for the test action."""
        found = self.yaml.get(name) or self.built.get(name)
        if found is None:
            if name in self.broken:
                raise ProviderChangeError(409, f"provider {name!r} is not valid: {self.broken[name]}")
            raise ProviderChangeError(404, f"no provider named {name!r}")
        return found

    def names(self) -> list[str]:
        return [*self.yaml, *(n for n in self.stored if n not in self.yaml)]

    def describe(self, name: str) -> dict[str, Any]:
        warnings = self.warnings()
        if name in self.yaml:
            return {**self.yaml[name].describe(), "source": "config", "read_only": True, "enabled": True,
                    "warnings": warnings.get(name, [])}
        row = self._stored(name)
        provider = self.built.get(name)
        described = provider.describe() if provider is not None else {"name": name, "type": row.data.get("type")}
        return {**described, "source": "api", "read_only": False, "enabled": row.enabled,
                "settings": masked_settings(row.data), "error": self.broken.get(name),
                "warnings": warnings.get(name, [])}

    def describe_all(self) -> list[dict[str, Any]]:
        return [self.describe(name) for name in self.names()]

    def warnings(self) -> dict[str, list[str]]:
        """Providers whose `models:` take a model family from another provider, by name."""
        configs: dict[str, ProviderConfig] = {name: p.config for name, p in self.gateway.providers.items()}
        found: dict[str, list[str]] = {}
        for name, text in shadow_warnings(configs):
            found.setdefault(name, []).append(text)
        return found


def _settings(body: dict[str, Any], current: dict[str, Any], *, enabled: bool = True) -> tuple[dict[str, Any], bool]:
    """The stored settings after `body` (a POST's whole settings, or a PATCH's changes): a field
    set to null is removed; a key given without `value` keeps the stored value of its name."""
    data = dict(current)
    for field, value in body.items():
        if field in ("name", "enabled", "source", "read_only", "settings", "warnings", "state", "error"):
            continue
        if value is None:
            data.pop(field, None)
        elif field == "keys":
            data["keys"] = _keys(value, current.get("keys") or [])
        elif field in SECRET_FIELDS and value == "":
            continue  # the form's empty password field: keep what is stored
        else:
            data[field] = value
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ProviderChangeError(400, f"enabled: must be true or false, got {body['enabled']!r}")
        enabled = body["enabled"]
    return data, enabled


def _keys(given: object, current: list[Any]) -> list[Any]:
    if not isinstance(given, list):
        raise ProviderChangeError(400, "keys: must be a list of {name, value, weight, enabled}")
    stored = {key.get("name", f"key-{i + 1}"): key for i, key in enumerate(current) if isinstance(key, dict)}
    out: list[Any] = []
    for i, key in enumerate(given):
        if not isinstance(key, dict):
            raise ProviderChangeError(400, f"keys[{i}]: must be an object like {{\"value\": \"sk-...\", \"weight\": 1}}")
        key = {k: v for k, v in key.items() if k != "key"}  # `key`: the masked value a GET showed
        name = key.setdefault("name", f"key-{i + 1}")
        if not key.get("value"):
            if name not in stored or not stored[name].get("value"):
                raise ProviderChangeError(400, f"keys[{i}].value: is required for a new key ({name!r})")
            key["value"] = stored[name]["value"]
        out.append(key)
    names = [key["name"] for key in out]
    if len(set(names)) != len(names):
        raise ProviderChangeError(400, "keys: two keys have the same name")
    return out


def masked_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Stored settings fit for an answer: key values and AWS secrets masked, header values hidden."""
    out = {k: v for k, v in data.items() if k not in SECRET_FIELDS}
    out["secrets_set"] = [field for field in SECRET_FIELDS if data.get(field)]
    if isinstance(data.get("keys"), list):
        out["keys"] = [{**{k: v for k, v in key.items() if k != "value"}, "key": mask(str(key.get("value", "")))}
                       for key in data["keys"] if isinstance(key, dict)]
    if isinstance(data.get("headers"), dict):
        out["headers"] = {name: "…" for name in data["headers"]}
    return out


__all__ = ["ProviderChangeError", "ProviderRegistry", "SecretBox", "data_dir", "masked_settings"]
