"""What the cost log reads from the config: `storage.logs` (a core section), its `logging:`
section (bodies, retention) and its optional `costlog:` section for the writer's knobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway
    from bifrost_py.settings import Section

SECTION = "costlog"
LOGGING = "logging"


@dataclass(frozen=True, slots=True)
class Settings:
    logs_url: str = "sqlite:///bifrost.db"
    bodies: bool = False  # logging.bodies: keep request and response bodies
    retention: float = 90 * 86400.0  # logging.retention: rows older than this are pruned
    queue_size: int = 10_000  # rows waiting for the writer; beyond this they are dropped
    queue_body_bytes: int = 64 * 1024 * 1024  # logged bodies waiting for the writer, at most
    batch_size: int = 500  # rows per write
    flush_interval: float = 0.02  # seconds a partial batch waits for company; 0: write as soon as the writer is free
    prune_interval: float = 3600.0  # how often retention runs
    max_label_values: int = 200  # distinct keys/models per metric label, then "other"
    max_body_bytes: int = 64 * 1024  # each logged body is cut to this size
    currency_code: str = "USD"
    currency_per_usd: float = 1.0
    timezone: str = "UTC"  # day/week/month boundaries of reports and summaries


DEFAULTS = Settings()


def read_settings(section: Section, gateway: Gateway) -> Settings:
    """Settings from the `costlog:` section (the one `load_settings` hands over, which reports
    its unread keys), the `logging:` section (read and closed here) and the core's storage and
    currency; problems are recorded with their path, not raised."""
    config = gateway.config
    logging = gateway.plugin_section(LOGGING)
    settings = Settings(
        logs_url=config.logs_url,
        bodies=logging.bool("bodies", DEFAULTS.bodies),
        retention=logging.duration("retention", DEFAULTS.retention),
        queue_size=section.int("queue_size", DEFAULTS.queue_size, minimum=1),
        queue_body_bytes=section.int("queue_body_mb", DEFAULTS.queue_body_bytes // 2**20, minimum=1) * 2**20,
        batch_size=section.int("batch_size", DEFAULTS.batch_size, minimum=1),
        flush_interval=section.duration("flush_interval", DEFAULTS.flush_interval),
        prune_interval=section.duration("prune_interval", DEFAULTS.prune_interval),
        max_label_values=section.int("max_label_values", DEFAULTS.max_label_values, minimum=1),
        max_body_bytes=section.int("max_body_kb", DEFAULTS.max_body_bytes // 1024, minimum=1) * 1024,
        currency_code=config.currency_code,
        currency_per_usd=config.currency_per_usd,
        timezone=config.currency_timezone,
    )
    logging.done()
    if settings.flush_interval < 0:
        section.error("flush_interval", "must not be negative")
    if settings.prune_interval <= 0:
        section.error("prune_interval", "must be more than 0")
    if settings.retention <= 0:
        gateway.problems.add("logging.retention", "must be more than 0")
    return settings
