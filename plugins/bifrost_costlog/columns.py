"""The request log's columns: one list, so the SQLite and PostgreSQL schemas, the writer's
records, the CSV export and the API's JSON cannot drift apart.

A row is one attempt of one request. `id` is assigned by the store when the row is written and is
the cursor for paging (newest first = highest id first).
"""

from __future__ import annotations

from typing import Any

TABLE = "request_log"

TEXT, INT, REAL, BOOL = "text", "int", "real", "bool"

# (name, kind). Order is the order of records and of CSV columns; add new columns at the end of
# their group only if you also accept that old databases get them through ALTER TABLE.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", TEXT),
    ("attempt", INT),  # 1, 2, ... ; 0 = the request never reached an attempt
    ("final", BOOL),  # the last row of its request (exactly one per request)
    ("ts", REAL),  # epoch seconds when the attempt (or the request) started
    ("key_id", TEXT),
    ("key_name", TEXT),
    ("team", TEXT),
    ("customer", TEXT),
    ("endpoint", TEXT),
    ("dialect", TEXT),
    ("provider", TEXT),
    ("provider_type", TEXT),
    ("provider_key", TEXT),  # which of the provider's API keys was used (its name)
    ("requested_model", TEXT),
    ("model", TEXT),  # the model this attempt targeted (gateway name)
    ("answered_model", TEXT),  # the model named in the answer
    ("status", INT),
    ("error_type", TEXT),
    ("error_message", TEXT),
    ("refused_by", TEXT),
    ("input_tokens", INT),
    ("output_tokens", INT),
    ("cache_read_tokens", INT),
    ("cache_write_tokens", INT),
    ("cost_usd", REAL),  # NULL when tokens were used but the price is unknown
    ("price_unknown", BOOL),
    ("saved_usd", REAL),  # cache hit: what the cached answer cost when it was made
    ("requested_cost_usd", REAL),  # routed to another model: this usage on the requested one
    ("latency_ms", REAL),
    ("ttft_ms", REAL),  # streams: time to the first event
    ("upstream_ms", REAL),
    ("overhead_ms", REAL),  # latency - upstream: the gateway's own time
    ("request_ms", REAL),  # the whole request, all attempts (same on every row)
    ("streamed", BOOL),
    ("completed", BOOL),
    ("client_disconnected", BOOL),
    ("cache_hit", BOOL),
    ("fallback", BOOL),  # attempt > 1: a retry or a fallback
    ("translated", BOOL),
    ("stop_reason", TEXT),
    ("route_rule", TEXT),
    ("session_id", TEXT),
    ("client_app", TEXT),
    ("request_body", TEXT),
    ("response_body", TEXT),
)

NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)
KINDS: dict[str, str] = dict(COLUMNS)
BOOLS: frozenset[str] = frozenset(name for name, kind in COLUMNS if kind == BOOL)
REALS: frozenset[str] = frozenset(name for name, kind in COLUMNS if kind == REAL)
BODIES = ("request_body", "response_body")

SQLITE_TYPES = {TEXT: "TEXT", INT: "INTEGER", REAL: "REAL", BOOL: "INTEGER"}
POSTGRES_TYPES = {TEXT: "TEXT", INT: "BIGINT", REAL: "DOUBLE PRECISION", BOOL: "SMALLINT"}

# Indexes that the API's filters and the retention pruning use.
INDEXES = (("ts",), ("request_id",), ("session_id",))


def record(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row dict as a tuple in column order, typed for both drivers (bools as 0/1, reals as
    floats: asyncpg refuses an int where it expects a double)."""
    out = []
    for name, kind in COLUMNS:
        value = row.get(name)
        if value is not None:
            if kind == BOOL:
                value = 1 if value else 0
            elif kind == REAL:
                value = float(value)
        out.append(value)
    return tuple(out)
