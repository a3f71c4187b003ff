"""Alert settings changed at run time: channels added in the UI, thresholds and guards.

Kept on the gateway's database as items of the kind "alerts" of the core's config store
(bifrost_py/configstore.py's ItemSection: one version number, followed by every instance, so
another instance on the same database applies a change within a few seconds):

    channel:NAME   {"settings": {as under alerts.channels.NAME, its secret sealed}, "enabled": bool}
    report:NAME    {"settings": {as under reports.NAME}}
    settings       {"budget_thresholds": [...], "thresholds_for": {"team:x": [...]},
                    "spend_rate": {...}, "loop": {...}}   (each key only when set here)

Every change, and every reload, is validated by the YAML's own reader (settings.read_settings)
on the config file's `alerts:` section with the stored parts written into it, so a value the
file would refuse is refused with the same message and path (and the `reports:` section,
read by read_reports, the same way). What the file sets (its channels, reports, thresholds,
guards) is read-only here. A stored channel gets the alerts (it is added to
`send_to`) while it is enabled. A reload reads new frozen AlertSettings and hands them to the
plugin in one step (`apply`): the next threshold crossing or delivery uses them.

Secrets (a webhook's signing `secret`, an email channel's `password`, a Slack incoming-webhook
`url`, which is itself the secret) are sealed with the gateway's master key (bifrost_py/secrets.py)
before they are written, and never shown: answers carry ChannelSettings.shown().
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bifrost_py.configschema import Problems, Section
from bifrost_py.configstore import ChangeRefused, ItemSection, StoredItem
from bifrost_py.providerregistry import data_dir
from bifrost_py.secrets import SecretBox, SecretError, is_sealed, master_box

from .settings import REPORTS, SECTION, AlertSettings, read_reports, read_settings

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

log = logging.getLogger("bifrost_py.alerts")

KIND = "alerts"
SETTINGS_ITEM = "settings"
CHANNEL_PREFIX = "channel:"
REPORT_PREFIX = "report:"
EDITABLE = ("budget_thresholds", "thresholds_for", "spend_rate", "loop")
SECRET_FIELDS = {"webhook": ("secret",), "slack": ("url",), "email": ("password",)}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CONTROL_FIELDS = ("name", "enabled", "source", "read_only", "problems", "next")


@dataclass(frozen=True, slots=True)
class StoredChannel:
    settings: dict[str, Any]   # as written under alerts.channels.NAME, secrets in plain text (memory only)
    enabled: bool


class AlertConfig(ItemSection):
    """The config file's `alerts:` section plus what was stored, read as one section."""

    def __init__(self, gateway: Gateway, apply: Callable[[AlertSettings], None]) -> None:
        super().__init__(gateway, "alerts", KIND)
        raw = gateway.config.sections.get(SECTION)
        self.yaml_raw: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        channels = self.yaml_raw.get("channels")
        self.yaml_channels: dict[str, Any] = dict(channels) if isinstance(channels, dict) else {}
        reports = gateway.config.sections.get(REPORTS)
        self.yaml_reports: dict[str, Any] = dict(reports) if isinstance(reports, dict) else {}
        self.channels: dict[str, StoredChannel] = {}        # the stored channels in service (or disabled)
        self.reports: dict[str, dict[str, Any]] = {}        # the stored reports, as under reports.NAME
        self.broken_reports: dict[str, list[str]] = {}
        self.overrides: dict[str, Any] = {}                 # the stored thresholds and guards
        self.broken: dict[str, list[str]] = {}              # stored parts that no longer validate, left out
        self.read_all = AlertSettings()                     # the last settings read, disabled channels included
        self._apply = apply
        self._box: SecretBox | None = None

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

    def read(self, channels: dict[str, StoredChannel], overrides: dict[str, Any],
             reports: dict[str, dict[str, Any]] | None = None) -> tuple[AlertSettings, list[str]]:
        """The settings with these stored parts (`reports`: the stored reports, by default those
        in service), and their problems worded as for the file."""
        problems = Problems()
        section = Section(self.section(channels, overrides), SECTION, problems)
        settings = read_settings(section, self.gateway)
        section.done()
        report_section = Section({**self.yaml_reports, **(self.reports if reports is None else reports)}, REPORTS,
                                 problems)
        settings = replace(settings, reports=read_reports(report_section, settings.channels))
        report_section.done()
        return settings, problems.items

    def in_service(self, settings: AlertSettings) -> AlertSettings:
        """`settings` without the disabled channels."""
        off = {n for n, c in self.channels.items() if not c.enabled}
        return replace(settings, channels={n: c for n, c in settings.channels.items() if n not in off})

    def load_items(self, rows: list[StoredItem]) -> None:
        try:
            self._load(rows)
        except SecretError:  # `bifrost-py rotate-secret-key` ran elsewhere: read the key again
            self._box = None
            self._load(rows)

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
                if self._serves("channel", "alerts.channels", name, self.read({**channels, name: channel}, {}, {}),
                                self.yaml_channels, broken):
                    channels[name] = channel
        reports: dict[str, dict[str, Any]] = {}
        broken_reports: dict[str, list[str]] = {}
        for row in rows:
            if row.name.startswith(REPORT_PREFIX):
                name = row.name[len(REPORT_PREFIX):]
                report = dict(row.data.get("settings") or {})
                if self._serves("report", "reports", name, self.read(channels, {}, {**reports, name: report}),
                                self.yaml_reports, broken_reports):
                    reports[name] = report
        settings, problems = self.read(channels, overrides, reports)
        if problems:
            broken[SETTINGS_ITEM] = problems
            log.error("alerts: stored thresholds and guards are not valid, left out: %s", "; ".join(problems))
            overrides = {}
            settings, _ = self.read(channels, overrides, reports)
        self.channels, self.overrides, self.broken, self.read_all = channels, overrides, broken, settings
        self.reports, self.broken_reports = reports, broken_reports
        self._apply(self.in_service(settings))

    @staticmethod
    def _serves(what: str, path: str, name: str, read: tuple[AlertSettings, list[str]], in_file: dict[str, Any],
                broken: dict[str, list[str]]) -> bool:
        """Whether a stored `what` may serve: it reads without problems and the file has none of
        its name; otherwise it is left out, its problems kept in `broken` (the UI shows them)."""
        problems = [f"{path}.{name}: the config file has a {what} of this name"] if name in in_file else read[1]
        if problems:
            broken[name] = problems
            log.error("alerts: stored %s %r is not valid, left out: %s", what, name, "; ".join(problems))
        return not problems

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
        return _named(self.channel_views(), name, "alert channel")

    def report_views(self) -> list[dict[str, Any]]:
        """Every scheduled report, the file's first (read-only)."""
        shown = {r.name: r.shown() for r in self.read_all.reports}
        out = [{**shown[n], "source": "config", "read_only": True, "problems": []} for n in self.yaml_reports
               if n in shown]
        out += [{**shown[n], "source": "ui", "read_only": False, "problems": []} for n in self.reports if n in shown]
        out += [{"name": n, "source": "ui", "read_only": False, "problems": p} for n, p in self.broken_reports.items()]
        return out

    def report_view(self, name: str) -> dict[str, Any]:
        return _named(self.report_views(), name, "report")

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
        name = self._new_name("alert channel", body, self.yaml_channels, {*self.channels, *self.broken})
        channel = StoredChannel(_fields(body), _enabled(body, True))
        await self._write(CHANNEL_PREFIX + name, self.read({**self.channels, name: channel}, self.overrides),
                          {"settings": self._sealed(name, channel.settings), "enabled": channel.enabled})
        return self.channel_view(name)

    async def change_channel(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change the fields `body` gives (null removes one); a secret left out is kept."""
        old = self.channels.get(name)
        settings = self._edited("alert channel", name, self.yaml_channels, old.settings if old else None, body)
        channel = StoredChannel(settings, _enabled(body, old.enabled if old else True))
        await self._write(CHANNEL_PREFIX + name, self.read({**self.channels, name: channel}, self.overrides),
                          {"settings": self._sealed(name, channel.settings), "enabled": channel.enabled})
        return self.channel_view(name)

    async def delete_channel(self, name: str) -> None:
        self._not_yaml("alert channel", name, self.yaml_channels)
        if name not in self.channels and name not in self.broken:
            raise ChangeRefused(404, f"no alert channel named {name!r} added here")
        _, problems = self.read({n: c for n, c in self.channels.items() if n != name}, self.overrides)
        if problems:  # a report still sends to it
            raise ChangeRefused(409, f"alert channel {name!r} is in use: " + "; ".join(problems), problems)
        await self._remove(CHANNEL_PREFIX + name)

    async def create_report(self, body: dict[str, Any]) -> dict[str, Any]:
        name = self._new_name("report", body, self.yaml_reports, {*self.reports, *self.broken_reports})
        report = _fields(body)
        await self._write(REPORT_PREFIX + name, self.read(self.channels, self.overrides, {**self.reports, name: report}),
                          {"settings": report})
        return self.report_view(name)

    async def change_report(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        report = self._edited("report", name, self.yaml_reports, self.reports.get(name), body)
        await self._write(REPORT_PREFIX + name, self.read(self.channels, self.overrides, {**self.reports, name: report}),
                          {"settings": report})
        return self.report_view(name)

    async def delete_report(self, name: str) -> None:
        self._not_yaml("report", name, self.yaml_reports)
        if name not in self.reports and name not in self.broken_reports:
            raise ChangeRefused(404, f"no report named {name!r} added here")
        await self._remove(REPORT_PREFIX + name)

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
        await self._write(SETTINGS_ITEM, self.read(self.channels, overrides), overrides)
        return self.settings_view()

    def _new_name(self, what: str, body: dict[str, Any], in_file: dict[str, Any], stored: set[str]) -> str:
        name = body.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise ChangeRefused(400, "name: required; letters, digits and . _ - (at most 64, starting with a "
                                     "letter or digit)")
        self._not_yaml(what, name, in_file)
        if name in stored:
            raise ChangeRefused(409, f"a {what} named {name!r} already exists: PATCH changes it")
        return name

    def _edited(self, what: str, name: str, in_file: dict[str, Any], old: dict[str, Any] | None,
                body: dict[str, Any]) -> dict[str, Any]:
        """`old` with the fields `body` gives (null removes one); its name and type stay."""
        self._not_yaml(what, name, in_file)
        if old is None:
            raise ChangeRefused(404, f"no {what} named {name!r} added here")
        for fixed, given in (("name", name), ("type", old.get("type"))):
            if body.get(fixed, given) != given:
                raise ChangeRefused(400, f"{fixed}: cannot be changed; add a new {what} and delete this one")
        return _merged(old, _fields(body, keep_null=True), set(), "")

    async def _write(self, item: str, read: tuple[AlertSettings, list[str]], data: dict[str, Any]) -> None:
        """Store `data` under `item` unless `read` (the settings with it) has problems."""
        await self._put(item, data, read[1])

    @staticmethod
    def _not_yaml(what: str, name: str, in_file: dict[str, Any]) -> None:
        if name in in_file:
            raise ChangeRefused(409, f"{what} {name!r} comes from the config file: it is read-only here; "
                                     "change it there and restart")


def _named(views: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    found = next((view for view in views if view["name"] == name), None)
    if found is None:
        raise ChangeRefused(404, f"no {what} named {name!r}")
    return found


def _fields(body: dict[str, Any], keep_null: bool = False) -> dict[str, Any]:
    """The settings `body` gives, without the fields that steer the API (name, enabled, ...)."""
    return {k: v for k, v in body.items() if k not in CONTROL_FIELDS and (keep_null or v is not None)}


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
