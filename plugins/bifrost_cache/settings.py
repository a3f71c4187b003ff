"""The `cache:` section of the config, read once and checked with the path of every problem.

Defaults are the safe ones (issue 7, "safe by default"): off, scoped per virtual key, no
sampled (temperature > 0) requests, no answers that end in tool_use.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bifrost_py.settings import Section, config_path, resolve_path

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

SECTION = "cache"
MODES = ("exact", "semantic")
SCOPES = ("key", "team", "customer")
BACKENDS = ("auto", "sqlite", "redis", "memory")
EMBEDDERS = ("local", "provider", "sentence_transformers")
SEMANTIC_ON = ("last_message", "conversation")
# Each embedder has its own similarity scale: the local one's normalisation makes true
# near-duplicates score ~1.0, while model embeddings put paraphrases around 0.9.
DEFAULT_THRESHOLDS = {"local": 0.9, "provider": 0.95, "sentence_transformers": 0.95}


@dataclass(slots=True)
class EmbedderSettings:
    type: str = "local"
    dims: int = 256                       # local only
    provider: str = ""                    # provider only
    model: str = ""                       # provider / sentence_transformers
    dimensions: int | None = None         # provider only: ask the API for shorter vectors
    timeout: float = 5.0                  # provider only: seconds before the lookup gives up
    device: str = "cpu"                   # sentence_transformers only


@dataclass(slots=True)
class CacheSettings:
    enabled: bool = False
    mode: str = "semantic"
    ttl: float = 3600.0
    threshold: float = 0.9
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    semantic_on: str = "last_message"
    semantic_max_chars: int = 2000
    scope: str = "key"
    shared: bool = False
    sampled: bool = False
    tool_use: bool = False
    max_entries: int = 10_000
    max_answer_bytes: int = 8 * 1024 * 1024  # an answer larger than this is not stored
    backend: str = "auto"
    sqlite_path: str = ""                 # a path or sqlite:/// URL, as gateway.storage takes it
    redis_url: str = ""
    redis_prefix: str = "bifrost:cache:"

    @property
    def semantic(self) -> bool:
        return self.mode == "semantic"


def read_settings(section: Section, gateway: Gateway) -> CacheSettings:
    """Read `cache:` (through `load_settings`); problems are recorded on the section with their
    path (start-up and `check` list them)."""
    settings = CacheSettings()
    settings.enabled = section.bool("enabled", False)
    settings.mode = section.str("mode", "semantic", choices=MODES)
    settings.ttl = section.duration("ttl", 3600.0)
    settings.embedder = _read_embedder(section, gateway)
    threshold = section.number("threshold", DEFAULT_THRESHOLDS[settings.embedder.type], minimum=0.0)
    if threshold > 1.0:
        section.error("threshold", f"is a cosine similarity between 0 and 1; got {threshold:g}")
    settings.threshold = threshold
    settings.semantic_on = section.str("semantic_on", "last_message", choices=SEMANTIC_ON)
    settings.semantic_max_chars = section.int("semantic_max_chars", 2000, minimum=1)
    settings.scope = section.str("scope", "key", choices=SCOPES)
    settings.shared = section.bool("shared", False)
    settings.sampled = section.bool("sampled", False)
    settings.tool_use = section.bool("tool_use", False)
    settings.max_entries = section.int("max_entries", 10_000, minimum=1)
    settings.max_answer_bytes = section.int("max_answer_bytes", 8 * 1024 * 1024, minimum=1)
    settings.redis_prefix = section.str("redis_prefix", "bifrost:cache:")
    _read_backend(section, gateway, settings)
    return settings


def _read_embedder(section: Section, gateway: Gateway) -> EmbedderSettings:
    raw = section.raw("embedder")
    if raw is None or isinstance(raw, str):
        sub = Section({"type": raw or "local"}, section.child_path("embedder"), section.problems)
    else:
        sub = Section(raw, section.child_path("embedder"), section.problems)
    embedder = EmbedderSettings(type=sub.str("type", "local", choices=EMBEDDERS) or "local")
    if embedder.type == "local":
        embedder.dims = sub.int("dims", 256, minimum=16)
    elif embedder.type == "provider":
        embedder.provider = sub.str("provider", None) or ""
        embedder.model = sub.str("model", "text-embedding-3-small")
        embedder.dimensions = sub.int("dimensions", None, minimum=1)
        embedder.timeout = sub.duration("timeout", 5.0)
        _check_embedding_provider(sub, gateway, embedder.provider)
    else:
        embedder.model = sub.str("model", None) or ""
        embedder.device = sub.str("device", "cpu")
        if importlib.util.find_spec("sentence_transformers") is None:
            sub.error("type", "sentence_transformers needs the optional extra: pip install sentence-transformers")
    sub.done()
    return embedder


def _check_embedding_provider(sub: Section, gateway: Gateway, name: str) -> None:
    if not name:
        return  # "is required" was recorded by the getter
    provider = gateway.providers.get(name)
    if provider is None:
        sub.error("provider", f"no provider named '{name}' is configured")
    elif not provider.supports_embeddings:
        sub.error("provider", f"provider '{name}' (type {provider.type}) has no embeddings endpoint")


def _read_backend(section: Section, gateway: Gateway, settings: CacheSettings) -> None:
    """`auto` means Redis when `storage.redis` is set (several instances share one cache),
    else SQLite beside the logs (or `cache.sqlite`)."""
    settings.backend = section.str("backend", "auto", choices=BACKENDS)
    redis_url = gateway.config.redis_url or ""
    if settings.backend == "auto":
        settings.backend = "redis" if redis_url else "sqlite"
    if settings.backend == "redis" and not redis_url:
        section.error("backend", "redis needs storage.redis (redis://host:port/db)")
    settings.redis_url = redis_url
    settings.sqlite_path = str(config_path(section, "sqlite", gateway) or default_sqlite(gateway))


def default_sqlite(gateway: Gateway) -> str:
    """The database of `storage.logs` when it is SQLite (kept as its URL: `gateway.storage`
    resolves it and shares the one connection with the cost log), else a file of our own
    beside the config."""
    logs_url = gateway.config.logs_url
    return logs_url if logs_url.startswith("sqlite://") else str(resolve_path(gateway, "bifrost-cache.db"))


def describe(settings: CacheSettings) -> dict[str, Any]:
    """For the admin API: the settings in force (no secrets in here)."""
    embedder = settings.embedder
    return {
        "enabled": settings.enabled,
        "mode": settings.mode,
        "ttl_seconds": settings.ttl,
        "threshold": settings.threshold,
        "embedder": {"type": embedder.type, "model": embedder.model or None, "provider": embedder.provider or None},
        "semantic_on": settings.semantic_on,
        "scope": "shared" if settings.shared else settings.scope,
        "sampled": settings.sampled,
        "tool_use": settings.tool_use,
        "max_entries": settings.max_entries,
        "max_answer_bytes": settings.max_answer_bytes,
        "backend": settings.backend,
    }
