"""bifrost-py built-in plugin: the semantic cache (config section `cache:`, docs/cache.md).

Exact and semantic hits, replayed as real streams in the caller's dialect; safe by default
(off unless enabled, per-key scope, no sampled requests, no errors or partial answers).

    requestkey   the canonical request and its keys        policy     per-request decisions
    embed_*      the embedders (local, provider, s-t)      index      numpy vectors per partition
    catalog      entry metadata, LRU and expiry            store_*    memory, SQLite, Redis
    assemble     a stream's final message                  cache      lookups and stores
    plugin       the hooks                                 admin      /api/cache routes
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plugin import CachePlugin

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

PLUGIN_NAME = "cache"


def bifrost_plugin(gateway: Gateway) -> CachePlugin:
    """A fresh plugin instance per Gateway (no module-level state)."""
    return CachePlugin(gateway)
