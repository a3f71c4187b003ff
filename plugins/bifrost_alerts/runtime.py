"""Alert settings changed at run time: channels added in the UI, thresholds and guards.

Kept on the gateway's database as items of the kind "alerts" of the core's config store
(bifrost_py/configstore.py: one version number, followed by every instance with its Follower,
so another instance on the same database applies a change within a few seconds):

    channel:NAME   {"settings": {as under alerts.channels.NAME, its secret sealed}, "enabled": bool}
    settings       {"budget_thresholds": [...], "thresholds_for": {"team:x": [...]},
                    "spend_rate": {...}, "loop": {...}}   (each key only when set here)

Every change, and every reload, is validated by the YAML's own reader (settings.read_settings)
on the config file's `alerts:` section with the stored parts written into it, so a value the
file would refuse is refused with the same message and path. What the file sets (its channels,
its thresholds, its guards) is read-only here. A stored channel gets the alerts (it is added to
`send_to`) while it is enabled. A reload reads new frozen AlertSettings and hands them to the
plugin in one step (`apply`): the next threshold crossing or delivery uses them.

Secrets (a webhook's signing `secret`, an email channel's `password`, a Slack incoming-webhook
`url`, which is itself the secret) are sealed with the gateway's master key (bifrost_py/secrets.py)
before they are written, and never shown: answers carry ChannelSettings.shown().
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bifrost_py.configschema import Problems, Section
from bifrost_py.configstore import ChangeRefused, Follower, ItemStore, StoredItem
from bifrost_py.providerregistry import data_dir
from bifrost_py.secrets import SecretBox, SecretError, is_sealed, master_box

from .settings import SECTION, AlertSettings, read_settings

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

log = logging.getLogger("bifrost_py.alerts")

KIND = "alerts"
SETTINGS_ITEM = "settings"
CHANNEL_PREFIX = "channel:"
EDITABLE = ("budget_thresholds", "thresholds_for", "spend_rate", "loop")
SECRET_FIELDS = {"webhook": ("secret",), "slack": ("url",), "email": ("password",)}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CONTROL_FIELDS = ("name", "enabled", "source", "read_only", "problems")


@dataclass(frozen=True, slots=True)
class StoredChannel:
    settings: dict[str, Any]   # as written under alerts.channels.NAME, secrets in plain text (memory only)
    enabled: bool


class AlertConfig:
    """The config file's `alerts:` section plus what was stored, read as one section."""

    def __init__(self, gateway: Gateway, apply: Callable[[AlertSettings], None]) -> None:
        self.gateway = gateway
        raw = gateway.config.sections.get(SECTION)
        self.yaml_raw: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        channels = self.yaml_raw.get("channels")
        self.yaml_channels: dict[str, Any] = dict(channels) if isinstance(channels, dict) else {}
        self.channels: dict[str, StoredChannel] = {}        # the stored channels in service (or disabled)
        self.overrides: dict[str, Any] = {}                 # the stored thresholds and guards
        self.broken: dict[str, list[str]] = {}              # stored parts that no longer validate, left out
        self.read_all = AlertSettings()                     # the last settings read, disabled channels included
        self.follower: Follower[ItemStore] = Follower(gateway, "alerts", lambda db: ItemStore.opened(db, KIND),
                                                      self.reload)
        self._apply = apply
        self._box: SecretBox | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ reading

    def section(self, channels: dict[str, StoredChannel], overrides: dict[str, Any]) -> dict[str, Any]:
        """The `alerts:` section as a file holding the stored parts would write it."""
        raw = dict(self.yaml_raw)
        if channels:
            raw["channels"] = {**self.yaml_channels, **{n: c.settings for n, c in channels.items()}}
            send_to = self.yaml_raw.get("send_to", list(self.yaml_channels))
            send_to = [send_to] if isinstance(send_to, str) else send_to
            if isinstance(send_to, list):
                raw["send_to"] = [*send_to, *(n for n, c in channels.items() if c.enabled)]
        for key in EDITABLE:
            if key not in overrides:
                continue
            if key == "thresholds_for" and isinstance(self.yaml_raw.get(key), dict):
                raw[key] = {**self.yaml_raw[key], **overrides[key]}
            else:
                raw[key] = overrides[key]
        return raw

    def read(self, channels: dict[str, StoredChannel], overrides: dict[str, Any]) -> tuple[AlertSettings, list[str]]:
        """The settings with these stored parts, and their problems worded as for the file."""
        problems = Problems()
        section = Section(self.section(channels, overrides), SECTION, problems)
        settings = read_settings(section, self.gateway)
        section.done()
        return settings, problems.items

    def in_service(self, settings: AlertSettings) -> AlertSettings:
        """`settings` without the disabled channels."""
        off = {n for n, c in self.channels.items() if not c.enabled}
        return replace(settings, channels={n: c for n, c in settings.channels.items() if n not in off})

    async def reload(self) -> None:
        async with self._lock:
            store = self.follower.store
            if store is None:
                return
            version, rows = await store.load()
            try:
                self._load(rows)
            except SecretError:  # `bifrost-py rotate-secret-key` ran elsewhere: read the key again
                self._box = None
                self._load(rows)
            self.follower.version = version

    def _load(self, rows: list[StoredItem]) -> None:
        channels: dict[str, StoredChannel] = {}
        broken: dict[str, list[str]] = {}
        overrides: dict[str, Any] = {}
        for row in rows:
            if row.name == SETTINGS_ITEM:
                overrides = {k: v for k, v in row.data.items() if k in EDITABLE}
            elif row.name.startswith(CHANNEL_PREFIX):
                name = row.name[len(CHANNEL_PREFIX):]
                channel = StoredChannel(self._opened(name, dict(row.data.get("settings") or {})),
                                        bool(row.data.get("enabled", True)))
                _, problems = self.read({**channels, name: channel}, {})
                if name in self.yaml_channels:
                    problems = [f"alerts.channels.{name}: the config file has a channel of this name"]
                if problems:
                    broken[name] = problems
                    log.error("alerts: stored channel %r is not valid, left out: %s", name, "; ".join(problems))
                else:
                    channels[name] = channel
        settings, problems = self.read(channels, overrides)
        if problems:
            broken[SETTINGS_ITEM] = problems
            log.error("alerts: stored thresholds and guards are not valid, left out: %s", "; ".join(problems))
            overrides = {}
            settings, _ = self.read(channels, overrides)
        self.channels, self.overrides, self.broken, self.read_all = channels, overrides, broken, settings
        self._apply(self.in_service(settings))

    # ------------------------------------------------------------------ secrets

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = master_box(data_dir(self.gateway.config))
        return self._box

    def _sealed(self, name: str, settings: dict[str, Any]) -> dict[str, Any]:
        out = dict(settings)
        for key in SECRET_FIELDS.get(str(out.get("type")), ()):
            if isinstance(out.get(key), str) and out[key] and not is_sealed(out[key]):
                out[key] = self.box.seal(out[key], f"alerts-channel:{name}")
        return out

    def _opened(self, name: str, settings: dict[str, Any]) -> dict[str, Any]:
        return {k: self.box.open(v, f"alerts-channel:{name}") if is_sealed(v) else v for k, v in settings.items()}

    # ------------------------------------------------------------------ views

    def channel_views(self) -> list[dict[str, Any]]:
        """Every channel, the file's first (read-only), secrets masked."""
        shown = {n: c.shown() for n, c in self.read_all.channels.items()}
        out = [{**shown[n], "source": "config", "read_only": True, "enabled": True, "problems": []}
               for n in self.yaml_channels if n in shown]
        out += [{**shown[n], "source": "ui", "read_only": False, "enabled": c.enabled, "problems": []}
                for n, c in self.channels.items() if n in shown]
        out += [{"name": n, "type": "?", "source": "ui", "read_only": False, "enabled": False, "problems": p}
                for n, p in self.broken.items() if n != SETTINGS_ITEM]
        return out

    def channel_view(self, name: str) -> dict[str, Any]:
        for view in self.channel_views():
            if view["name"] == name:
                return view
        raise ChangeRefused(404, f"no alert channel named {name!r}")

    def settings_view(self) -> dict[str, Any]:
        """Where each editable setting comes from ("config", "ui" or "default") and what it is."""
        shown = self.read_all.shown()
        sources = {key: "config" if key in self.yaml_raw else "ui" if key in self.overrides else "default"
                   for key in EDITABLE if key != "thresholds_for"}
        yaml_for = self.yaml_raw.get("thresholds_for")
        per_entity = {entity: "config" if isinstance(yaml_for, dict) and entity in yaml_for else "ui"
                      for entity in self.read_all.thresholds_for}
        return {"budget_thresholds": shown["budget_thresholds"], "thresholds_for": shown["thresholds_for"],
                "spend_rate": shown["spend_rate"], "loop": shown["loop"], "sources": sources,
                "thresholds_for_sources": per_entity, "problems": self.broken.get(SETTINGS_ITEM, [])}

    # ------------------------------------------------------------------ changes

    async def create_channel(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise ChangeRefused(400, "name: required; letters, digits and . _ - (at most 64, starting with a "
                                     "letter or digit)")
        self._not_yaml(name)
        if name in self.channels or name in self.broken:
            raise ChangeRefused(409, f"an alert channel named {name!r} already exists: PATCH changes it")
        settings = {k: v for k, v in body.items() if k not in CONTROL_FIELDS and v is not None}
        await self._put_channel(name, StoredChannel(settings, _enabled(body, True)))
        return self.channel_view(name)

    async def change_channel(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change the fields `body` gives (null removes one); a secret left out is kept."""
        self._not_yaml(name)
        old = self.channels.get(name)
        if old is None:
            raise ChangeRefused(404, f"no alert channel named {name!r} added here")
        if body.get("name", name) != name:
            raise ChangeRefused(400, "name: cannot be changed; add a new channel and delete this one")
        if body.get("type", old.settings.get("type")) != old.settings.get("type"):
            raise ChangeRefused(400, "type: cannot be changed; add a new channel and delete this one")
        settings = dict(old.settings)
        for key, value in body.items():
            if key in CONTROL_FIELDS:
                continue
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        await self._put_channel(name, StoredChannel(settings, _enabled(body, old.enabled)))
        return self.channel_view(name)

    async def delete_channel(self, name: str) -> None:
        self._not_yaml(name)
        if name not in self.channels and name not in self.broken:
            raise ChangeRefused(404, f"no alert channel named {name!r} added here")
        await (await self.follower.open()).delete(CHANNEL_PREFIX + name)
        await self.reload()

    async def change_settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """Set the thresholds and guards `body` names; null puts one back to its default. In
        `thresholds_for`, each entity is set on its own (null removes it)."""
        unknown = sorted(set(body) - set(EDITABLE))
        if unknown:
            raise ChangeRefused(400, f"{', '.join(unknown)}: not settable here (these are: {', '.join(EDITABLE)})")
        overrides = _merged(self.overrides, {k: v for k, v in body.items() if k != "thresholds_for"},
                            set(self.yaml_raw), "")
        if "thresholds_for" in body:
            if not isinstance(body["thresholds_for"], dict):
                raise ChangeRefused(400, 'thresholds_for: expected a mapping like {"team:backend": [80, 100]} '
                                         "(null for an entity removes its own thresholds)")
            yaml_for = self.yaml_raw.get("thresholds_for")
            overrides["thresholds_for"] = _merged(overrides.get("thresholds_for", {}), body["thresholds_for"],
                                                  set(yaml_for) if isinstance(yaml_for, dict) else set(),
                                                  "thresholds_for.")
            if not overrides["thresholds_for"]:
                del overrides["thresholds_for"]
        _, problems = self.read(self.channels, overrides)
        if problems:
            raise ChangeRefused(400, "; ".join(problems), problems)
        await (await self.follower.open()).put(SETTINGS_ITEM, overrides)
        await self.reload()
        return self.settings_view()

    async def _put_channel(self, name: str, channel: StoredChannel) -> None:
        _, problems = self.read({**self.channels, name: channel}, self.overrides)
        if problems:
            raise ChangeRefused(400, "; ".join(problems), problems)
        store = await self.follower.open()
        await store.put(CHANNEL_PREFIX + name, {"settings": self._sealed(name, channel.settings),
                                                "enabled": channel.enabled})
        await self.reload()

    def _not_yaml(self, name: str) -> None:
        if name in self.yaml_channels:
            raise ChangeRefused(409, f"alert channel {name!r} comes from the config file: it is read-only here; "
                                     "change it there and restart")


def _merged(current: dict[str, Any], changes: dict[str, Any], in_file: set[str], path: str) -> dict[str, Any]:
    """`current` with `changes` made: a value set, null removing it; a key the config file sets
    is refused."""
    out = dict(current)
    for key, value in changes.items():
        if key in in_file:
            raise ChangeRefused(409, f"alerts.{path}{key} is set in the config file: it is read-only here; "
                                     "change it there and restart")
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _enabled(body: dict[str, Any], default: bool) -> bool:
    value = body.get("enabled", default)
    if not isinstance(value, bool):
        raise ChangeRefused(400, f"enabled: expected true or false; got {value!r}")
    return value
