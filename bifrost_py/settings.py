"""One settings convention for every plugin: a typed reader of its own config section.

    SECTION = "cache"

    @dataclass(frozen=True, slots=True)
    class CacheSettings:
        ttl: float = 3600.0
        sqlite: Path | None = None

    def read_settings(section: Section, gateway: Gateway) -> CacheSettings:
        return CacheSettings(ttl=section.duration("ttl", 3600.0),
                             sqlite=config_path(section, "sqlite", gateway))

    # in the plugin's bifrost_configure:
    self.settings = load_settings(gateway, SECTION, read_settings)

`load_settings` claims the section (so it is not reported as unknown), hands it to the reader,
then reports every key the reader did not read as "unknown key": a reader must not call
`done()` on the section it was given (nested sections it opens itself, it closes itself).
Problems are recorded with their path (`cache.ttl: expected a duration ...`), not raised:
start-up and `bifrost-py check` list all of them at once.

A relative file path in the config means relative to the config file's folder
(`gateway.config.base_dir`), however and from wherever the gateway was started: `config_path`
resolves it so. (SQLite URLs given to `gateway.storage` are resolved the same way by the
storage itself: keep them as URLs.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .configschema import Section

if TYPE_CHECKING:
    from .gateway import Gateway

T = TypeVar("T")
SettingsReader = Callable[[Section, "Gateway"], T]

__all__ = ["Section", "SettingsReader", "config_path", "load_settings", "resolve_path"]


def load_settings(gateway: Gateway, name: str, reader: SettingsReader[T]) -> T:
    """`reader(section, gateway)` on the config section `name` (empty when absent), then its
    unread keys reported as unknown; the reader's typed settings."""
    section = gateway.plugin_section(name)
    settings = reader(section, gateway)
    section.done()
    return settings


def resolve_path(gateway: Gateway, value: str | Path) -> Path:
    """`value` (`~` expanded) as an absolute path; a relative one is relative to the config
    file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(gateway.config.base_dir) / path


def config_path(section: Section, key: str, gateway: Gateway, default: str | Path | None = None) -> Path | None:
    """The file or folder `key` names, resolved as `resolve_path` says; `default` (resolved the
    same way) when absent or empty, None when there is no default either."""
    value = section.str(key, "")
    if value:
        return resolve_path(gateway, value)
    return None if default is None else resolve_path(gateway, default)
