"""The gateway's YAML config: `${VAR}` interpolation, and the sections the core itself owns.

Every other section belongs to a plugin, which claims it (`gateway.plugin_section(name)`);
whatever no loaded plugin claims is an error, unless a disabled plugin declares it (then it is
ignored). Relative paths are relative to the config file's folder (`Config.base_dir`): the
loader resolves `storage.logs` and `plugins:` files, and plugins resolve theirs with
`Config.resolve`, so the working directory never matters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .accounts.settings import AccountSettings, read_account_settings
from .configschema import ConfigError, Problems, Section

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

PROVIDER_TYPES = ("anthropic", "openai", "azure", "bedrock", "gemini", "mock")
DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
    "mock": "",
}
CORE_SECTIONS = ("server", "admin", "metrics", "storage", "currency", "providers", "pricing", "plugins", "accounts")
SQLITE_PREFIX = "sqlite:///"


def interpolate(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `${VAR}` and `${VAR:-default}`; an unset VAR without default becomes ''."""
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            return default if default is not None else ""
        return value

    return _VAR.sub(replace, text)


def _interpolate_tree(node: Any, environ: Mapping[str, str] | None) -> Any:
    """Interpolate inside string values only, after YAML parsing, so a value can never inject
    YAML structure."""
    if isinstance(node, str):
        return interpolate(node, environ)
    if isinstance(node, list):
        return [_interpolate_tree(item, environ) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, environ) for key, value in node.items()}
    return node


@dataclass(slots=True)
class Timeouts:
    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 300.0


@dataclass(slots=True)
class ProviderKey:
    value: str
    weight: float = 1.0
    name: str = ""
    enabled: bool = True                                     # false: kept, but never chosen

    @property
    def masked(self) -> str:
        return (self.value[:4] + "…" + self.value[-4:]) if len(self.value) > 12 else "…"


@dataclass(slots=True)
class ProviderConfig:
    name: str
    type: str
    base_url: str
    keys: list[ProviderKey]
    models: list[str] = field(default_factory=list)          # names or globs this provider serves
    model_map: dict[str, str] = field(default_factory=dict)  # name -> provider's own id (Bedrock, Azure)
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    session_token: str = ""
    api_version: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    mock: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_mb: float = 32.0
    admin_token: str = ""
    accounts: AccountSettings = field(default_factory=AccountSettings)  # sessions, lock-out, single sign-on
    metrics_token: str = ""                                  # empty: /metrics is open
    logs_url: str = "sqlite:///bifrost.db"
    redis_url: str | None = None
    currency_code: str = "USD"
    currency_per_usd: float = 1.0
    currency_timezone: str = "UTC"
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    pricing: dict[str, dict[str, float]] = field(default_factory=dict)
    plugin_imports: list[str] = field(default_factory=list)
    plugins_disabled: list[str] = field(default_factory=list)
    plugin_order: list[str] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)   # raw plugin sections, by name
    source: str = "<memory>"
    base_dir: Path = field(default_factory=Path.cwd)  # the config file's folder

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """A path from the config (`~` expanded) as an absolute path: a relative one is relative
        to the config file's folder, however and from wherever the gateway was started."""
        found = Path(path).expanduser()
        return found if found.is_absolute() else self.base_dir / found

    def plugin_section(self, name: str, problems: Problems) -> Section:
        """The raw section `name` as a Section for a plugin to read (empty when absent)."""
        return Section(self.sections.get(name), name, problems)


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read a YAML config file; raise ConfigError listing every problem in the core sections."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror}"]) from exc
    return parse_config(text, environ=environ, source=str(file), base_dir=file.resolve().parent)


def parse_config(text: str, *, environ: Mapping[str, str] | None = None, source: str = "<memory>",
                 base_dir: Path | None = None) -> Config:
    """Parse YAML text into a Config; plugin sections are kept raw for their plugins. Relative
    paths are relative to `base_dir` (the working directory when None)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML: {exc}"]) from exc
    return config_from_dict(_interpolate_tree(data or {}, environ), source=source, base_dir=base_dir)


def config_from_dict(data: dict[str, Any], *, source: str = "<memory>", base_dir: Path | None = None) -> Config:
    problems = Problems()
    root = Section(data, "", problems)
    config = Config(source=source, base_dir=(base_dir or Path.cwd()).resolve())
    _read_server(root.section("server"), config)
    admin = root.section("admin")
    if admin:
        config.admin_token = admin.str("token", "")
        admin.done()
    config.accounts = read_account_settings(root.section("accounts"))
    metrics = root.section("metrics")
    if metrics:
        config.metrics_token = metrics.str("token", "")
        metrics.done()
    _read_storage(root.section("storage"), config)
    config.logs_url = resolve_sqlite_url(config.logs_url, config.base_dir)
    _read_currency(root.section("currency"), config)
    for name, section in root.sections("providers"):
        config.providers[name] = _read_provider(name, section)
    _read_pricing(root.section("pricing"), config)
    _read_plugins(root, config)
    for key in root:
        if key not in CORE_SECTIONS:
            config.sections[key] = root.raw(key)
    problems.raise_if_any()
    return config


def _read_server(section: Section | None, config: Config) -> None:
    if section is None:
        return
    config.host = section.str("host", config.host)
    config.port = section.int("port", config.port, minimum=0)
    config.workers = section.int("workers", config.workers, minimum=1)
    config.max_body_mb = section.number("max_body_mb", config.max_body_mb, minimum=0.001)
    section.done()


def _read_storage(section: Section | None, config: Config) -> None:
    if section is None:
        return
    config.logs_url = section.str("logs", config.logs_url)
    if not config.logs_url.startswith(("sqlite://", "postgresql://", "postgres://")):
        section.error("logs", "must be a sqlite:///path or postgresql:// URL")
    config.redis_url = section.str("redis", None) or None
    section.done()


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """`sqlite:///bifrost.db` -> `sqlite:////CONFIG_FOLDER/bifrost.db`; absolute paths,
    `:memory:` and other URLs unchanged."""
    if not url.startswith(SQLITE_PREFIX):
        return url
    path = url[len(SQLITE_PREFIX):]
    if not path or path == ":memory:" or Path(path).is_absolute():
        return url
    return SQLITE_PREFIX + str(base_dir / Path(path).expanduser())


def _read_currency(section: Section | None, config: Config) -> None:
    if section is None:
        return
    config.currency_code = section.str("code", config.currency_code).upper()
    config.currency_per_usd = section.number("per_usd", config.currency_per_usd, minimum=1e-9)
    config.currency_timezone = section.str("timezone", config.currency_timezone)
    section.done()


def _read_provider(name: str, section: Section) -> ProviderConfig:
    kind = section.str("type", name if name in PROVIDER_TYPES else None, choices=PROVIDER_TYPES)
    provider = ProviderConfig(name=name, type=kind or "openai", base_url="", keys=[])
    provider.base_url = section.str("base_url", DEFAULT_BASE_URLS.get(provider.type, "")).rstrip("/")
    if provider.type == "bedrock":
        provider.region = section.str("region", "us-east-1")
        provider.base_url = provider.base_url or f"https://bedrock-runtime.{provider.region}.amazonaws.com"
        provider.access_key_id = section.str("access_key_id", "")
        provider.secret_access_key = section.str("secret_access_key", "")
        provider.session_token = section.str("session_token", "")
    else:
        for forbidden in ("region", "access_key_id", "secret_access_key", "session_token"):
            if section.has(forbidden):
                section.error(forbidden, f"only for type: bedrock (this provider is type: {provider.type})")
                section.raw(forbidden)
    version = section.raw("api_version")
    if isinstance(version, date):  # `api_version: 2024-10-21` unquoted is a YAML date
        provider.api_version = version.isoformat()
    else:
        provider.api_version = section.str("api_version", "2024-10-21" if provider.type == "azure" else "")
    if provider.type in ("azure",) and not provider.base_url:
        section.error("base_url", "is required for type: azure (https://RESOURCE.openai.azure.com)")
    models = section.raw("models")
    if isinstance(models, dict):
        provider.model_map = {str(k): str(v) for k, v in models.items()}
        provider.models = list(provider.model_map)
    elif models is not None:
        provider.models = section.str_list("models", [])
    for i, item in enumerate(section.raw("keys") or []):
        path = f"{section.child_path('keys')}[{i}]"
        key_section = Section(item if isinstance(item, dict) else {"value": item}, path, section.problems)
        key = ProviderKey(
            value=key_section.str("value", ""),
            weight=key_section.number("weight", 1.0, minimum=0),
            name=key_section.str("name", f"key-{i + 1}"),
            enabled=key_section.bool("enabled", True),
        )
        key_section.done()
        provider.keys.append(key)
    headers = section.section("headers")
    if headers:
        provider.headers = {k: str(headers.raw(k)) for k in headers}
    timeouts = section.section("timeouts")
    if timeouts:
        provider.timeouts = Timeouts(
            connect=timeouts.duration("connect", 10.0),
            first_byte=timeouts.duration("first_byte", 120.0),
            idle=timeouts.duration("idle", 300.0),
        )
        timeouts.done()
    mock = section.section("mock")
    if mock:
        if provider.type != "mock":
            mock.error(None, "only for type: mock")
        provider.mock = {
            "latency": mock.duration("latency", 0.0),
            "tokens_per_second": mock.number("tokens_per_second", 0.0, minimum=0),
            "fail_rate": mock.number("fail_rate", 0.0, minimum=0),
            "fail_status": mock.int("fail_status", 529),
        }
        mock.done()
    section.done()
    return provider


def provider_from_dict(name: str, data: object) -> ProviderConfig:
    """One provider's settings as `providers.NAME` holds them in the file (no `${VAR}`
    interpolation): the admin API's providers are validated by the very reader of the YAML.
    Raises ConfigError listing every problem, each with its path."""
    problems = Problems()
    provider = _read_provider(name, Section(data, f"providers.{name}", problems))
    problems.raise_if_any()
    return provider


def _read_pricing(section: Section | None, config: Config) -> None:
    if section is None:
        return
    for model in section:
        entry = Section(section.raw(model), section.child_path(model), section.problems)
        prices = {
            name: entry.number(name, 0.0, minimum=0)
            for name in ("input", "output", "cache_read", "cache_write")
            if entry.has(name)
        }
        if not prices:
            entry.error(None, "needs at least one of input, output, cache_read, cache_write (USD per 1M tokens)")
        entry.done()
        config.pricing[model] = prices


def _read_plugins(root: Section, config: Config) -> None:
    """`plugins:` is a list of import paths, or {load: [...], disable: [...], order: [...]}."""
    value = root.raw("plugins")
    if value is None:
        return
    if isinstance(value, list):
        config.plugin_imports = root.str_list("plugins", [])
        return
    section = root.section("plugins")
    if section is None:
        return
    config.plugin_imports = section.str_list("load", [])
    config.plugins_disabled = section.str_list("disable", [])
    config.plugin_order = section.str_list("order", [])
    section.done()
