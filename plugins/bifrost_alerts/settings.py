"""The `alerts:` and `reports:` sections of the config, read once into frozen values.

    alerts:
      channels:
        finance-hook: {type: webhook, url: "https://hooks.example.com/bifrost", secret: "${HOOK_SECRET}"}
        team-slack: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
        finance-mail: {type: email, smtp: "smtp://mail.example.com:587", starttls: true,
                       username: gateway, password: "${SMTP_PASSWORD}", from: gateway@example.com,
                       to: [finance@example.com], ca_file: ./private-ca.pem}
        archive: {type: folder, path: ./reports}
      send_to: [finance-hook]
      budget_thresholds: [50, 80, 100]          # percent of every cap
      thresholds_for: {"team:backend": [80, 100]}   # "<tier>:<name>" -> its own thresholds
      spend_rate: {max_per_hour: 500, multiple: 5, baseline: 24h}
      loop: {repeats: 8, within: 5m, refuse: false}
    reports:
      weekly-by-team: {schedule: "0 9 * * MON", timezone: Asia/Kolkata, since: 7d, by: team,
                       format: csv, send_to: [finance-mail]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bifrost_py.budgets import TIERS
from bifrost_py.settings import Section, config_path

if TYPE_CHECKING:
    from pathlib import Path

    from bifrost_py.budgets import BudgetUsage
    from bifrost_py.gateway import Gateway

SECTION = "alerts"
REPORTS = "reports"
CHANNEL_TYPES = ("webhook", "slack", "email", "folder")
REPORT_GROUPS = ("team", "key", "customer", "model", "provider", "client", "session", "day")
REPORT_FORMATS = ("csv", "html", "json")
DEFAULT_THRESHOLDS = (50, 80, 100)


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    name: str
    type: str
    url: str = ""
    secret: str = ""
    retries: int = 4
    backoff: float = 0.5                       # seconds before the first retry; doubled each time
    timeout: float = 10.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_tls: bool = False                     # smtps:// (TLS from the first byte)
    starttls: bool = False
    username: str = ""
    password: str = ""
    sender: str = ""
    to: tuple[str, ...] = ()
    ca_file: Path | None = None                # PEM bundle for a server certificate of a private CA
    folder: Path | None = None

    def shown(self) -> dict[str, object]:
        """What the UI and the admin API show: secrets masked."""
        out: dict[str, object] = {"name": self.name, "type": self.type}
        if self.url:
            out["url"] = shown_url(self.url)
        if self.type == "webhook":
            out["signed"] = bool(self.secret)
        if self.type == "email":
            out |= {"smtp": f"{self.smtp_host}:{self.smtp_port}", "starttls": self.starttls, "from": self.sender,
                    "to": list(self.to)}
        if self.folder is not None:
            out["path"] = str(self.folder)
        return out


@dataclass(frozen=True, slots=True)
class SpendRate:
    max_per_hour: float | None = None          # in the configured currency
    multiple: float | None = None              # × the key's usual hourly spend
    baseline: float = 86400.0                  # seconds of history the usual spend is taken over
    min_hourly: float = 0.0                    # ignore a multiple while the last hour spent less

    @property
    def on(self) -> bool:
        return self.max_per_hour is not None or self.multiple is not None


@dataclass(frozen=True, slots=True)
class LoopGuard:
    repeats: int = 0                           # 0: off; more than this many near-identical requests ...
    within: float = 300.0                      # ... in this many seconds, in one session
    refuse: bool = False                       # then refuse the next ones with a 429


@dataclass(frozen=True, slots=True)
class ReportSettings:
    name: str
    schedule: str
    timezone: str = "UTC"
    since: float = 7 * 86400.0
    by: str = "team"
    format: str = "csv"
    send_to: tuple[str, ...] = ()

    def shown(self) -> dict[str, object]:
        return {"name": self.name, "schedule": self.schedule, "timezone": self.timezone, "since_seconds": self.since,
                "by": self.by, "format": self.format, "send_to": list(self.send_to)}


@dataclass(frozen=True, slots=True)
class AlertSettings:
    channels: dict[str, ChannelSettings] = field(default_factory=dict)
    send_to: tuple[str, ...] = ()
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    thresholds_for: dict[str, tuple[int, ...]] = field(default_factory=dict)
    spend_rate: SpendRate = SpendRate()
    loop: LoopGuard = LoopGuard()
    top_spenders: int = 5
    database: str = ""                         # history and "fired" marks; "" = storage.logs
    reports: tuple[ReportSettings, ...] = ()

    def thresholds_of(self, usage: BudgetUsage) -> tuple[int, ...]:
        """`thresholds_for` of the entity, else what its own config set (`alert_thresholds`,
        carried by the budget plugin), else `budget_thresholds`."""
        own = self.thresholds_for.get(f"{usage.tier}:{usage.name}")
        if own is not None:
            return own
        return tuple(sorted(set(usage.thresholds))) if usage.thresholds else self.thresholds

    def shown(self) -> dict[str, object]:
        return {
            "channels": [c.shown() for c in self.channels.values()],
            "send_to": list(self.send_to),
            "budget_thresholds": list(self.thresholds),
            "thresholds_for": {k: list(v) for k, v in self.thresholds_for.items()},
            "spend_rate": {"max_per_hour": self.spend_rate.max_per_hour, "multiple": self.spend_rate.multiple,
                           "baseline_seconds": self.spend_rate.baseline},
            "loop": {"repeats": self.loop.repeats, "within_seconds": self.loop.within, "refuse": self.loop.refuse},
            "reports": [r.shown() for r in self.reports],
        }


def read_settings(section: Section, gateway: Gateway) -> AlertSettings:
    """The `alerts:` section (and `reports:`, read through `read_reports`)."""
    channels = {name: _channel(name, sub, gateway) for name, sub in section.sections("channels")}
    send_to = tuple(section.str_list("send_to", list(channels)) or ())
    _check_names(section, "send_to", send_to, channels)
    thresholds = _thresholds(section, "budget_thresholds", DEFAULT_THRESHOLDS)
    per_entity: dict[str, tuple[int, ...]] = {}
    sub = section.section("thresholds_for")
    if sub is not None:
        for entity in sub:
            tier, sep, _ = entity.partition(":")
            if not sep or tier not in TIERS:
                sub.error(entity, f"must be '<tier>:<name>' with a tier of {', '.join(TIERS)}")
            per_entity[entity] = _thresholds(sub, entity, thresholds)
        sub.done()
    return AlertSettings(channels=channels, send_to=send_to, thresholds=thresholds, thresholds_for=per_entity,
                         spend_rate=_spend_rate(section.section("spend_rate")), loop=_loop(section.section("loop")),
                         top_spenders=section.int("top_spenders", 5, minimum=0),
                         database=section.str("database", ""))


def read_reports(section: Section, channels: dict[str, ChannelSettings]) -> tuple[ReportSettings, ...]:
    from croniter import croniter

    reports = []
    for name in section:
        sub = section.section(name)
        if sub is None:
            continue
        schedule = sub.str("schedule")
        if schedule is not None and not croniter.is_valid(schedule):
            sub.error("schedule", f"is not a cron schedule (minute hour day month weekday); got {schedule!r}")
        timezone = sub.str("timezone", "UTC")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            sub.error("timezone", f"unknown time zone {timezone!r} (e.g. Asia/Kolkata, Europe/Berlin, UTC)")
            timezone = "UTC"
        send_to = tuple(sub.str_list("send_to") or ())
        _check_names(sub, "send_to", send_to, channels)
        report = ReportSettings(name=name, schedule=schedule or "0 9 * * MON", timezone=timezone,
                                since=sub.duration("since", 7 * 86400.0),
                                by=sub.str("by", "team", choices=REPORT_GROUPS),
                                format=sub.str("format", "csv", choices=REPORT_FORMATS), send_to=send_to)
        sub.done()
        reports.append(report)
    return tuple(reports)


def _channel(name: str, section: Section, gateway: Gateway) -> ChannelSettings:
    kind = section.str("type", choices=CHANNEL_TYPES)
    common = {"name": name, "type": kind or "webhook",
              "retries": section.int("retries", 4, minimum=0),
              "backoff": section.duration("backoff", 0.5), "timeout": section.duration("timeout", 10.0)}
    if kind in ("webhook", "slack"):
        url = section.str("url")
        if url is not None and not url.startswith(("http://", "https://")):
            section.error("url", f"must be an http:// or https:// URL; got {url!r}")
        secret = section.str("secret", "") if kind == "webhook" else ""
        section.done()
        return ChannelSettings(url=url or "", secret=secret, **common)
    if kind == "email":
        host, port, tls = _smtp(section)
        to = tuple(section.str_list("to") or ())
        sender = section.str("from")
        settings = ChannelSettings(smtp_host=host, smtp_port=port, smtp_tls=tls,
                                   starttls=section.bool("starttls", port == 587),
                                   username=section.str("username", ""), password=section.str("password", ""),
                                   sender=sender or "", to=to, ca_file=config_path(section, "ca_file", gateway),
                                   **common)
        section.done()
        return settings
    if kind == "folder":
        folder = config_path(section, "path", gateway)
        if folder is None:
            section.error("path", "is required")
        section.done()
        return ChannelSettings(folder=folder, **common)
    section.done()
    return ChannelSettings(**common)


def _smtp(section: Section) -> tuple[str, int, bool]:
    from urllib.parse import urlsplit

    url = section.str("smtp") or ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = urlsplit(""), None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        section.error("smtp", f"must be smtp://host:port or smtps://host:port; got {url!r}")
        return "", 25, False
    tls = parts.scheme == "smtps"
    return parts.hostname, port or (465 if tls else 25), tls


def _thresholds(section: Section, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
    values = section.int_list(key, list(default))
    bad = [v for v in values if not 1 <= v <= 1000]
    if bad:
        section.error(key, f"percentages must be between 1 and 1000; got {bad}")
        return default
    return tuple(sorted(set(values)))


def _spend_rate(section: Section | None) -> SpendRate:
    if section is None:
        return SpendRate()
    rate = SpendRate(max_per_hour=section.number("max_per_hour", None, minimum=0),
                     multiple=section.number("multiple", None, minimum=1),
                     baseline=section.duration("baseline", 86400.0),
                     min_hourly=section.number("min_hourly", 0.0, minimum=0))
    section.done()
    return rate


def _loop(section: Section | None) -> LoopGuard:
    if section is None:
        return LoopGuard()
    guard = LoopGuard(repeats=section.int("repeats", 8, minimum=1), within=section.duration("within", 300.0),
                      refuse=section.bool("refuse", False))
    section.done()
    return guard


def _check_names(section: Section, key: str, names: tuple[str, ...], channels: dict[str, ChannelSettings]) -> None:
    unknown = [n for n in names if n not in channels]
    if unknown:
        section.error(key, f"no channel named {', '.join(map(repr, unknown))} under alerts.channels "
                           f"(there are: {', '.join(channels) or 'none'})")


def shown_url(url: str) -> str:
    """Incoming-webhook URLs carry their secret in the path: show the host and the first part."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path.split("/")
    shown = "/".join(path[:2]) + ("/…" if len(path) > 2 else "")
    return f"{parts.scheme}://{parts.netloc}{shown}"
