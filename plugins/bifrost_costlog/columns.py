"""The request log's columns: one list, so the SQLite and PostgreSQL schemas, the writer's
records, the CSV export and the API's JSON cannot drift apart.

A row is one attempt of one request. `id` is assigned by the store when the row is written and is
the cursor for paging (newest first = highest id first).
"""

from __future__ import annotations

import math
from typing import Any

from .text import bounded, escaped

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
    ("served_model", TEXT),  # the provider's own id the attempt was sent as (and priced at)
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
    ("savings_unpriced", BOOL),  # the requested (or cached) model has no price: no saving counted
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

# Text that a client (or an upstream) chooses, and the most of it a row keeps, in bytes of UTF-8:
# the model names are part of the usage rollup's key, whose PostgreSQL index entries must stay
# under ~2.7 KB. Rows are bounded to these when they are built (`rows.RowBuilder.finish`).
CLIENT_TEXT: tuple[tuple[str, int], ...] = (
    ("requested_model", 256),
    ("model", 256),
    ("answered_model", 256),
    ("served_model", 256),
    ("session_id", 128),
    ("client_app", 128),
    ("key_id", 128),
    ("key_name", 128),
    ("error_type", 128),
    ("error_message", 2000),
    ("stop_reason", 128),
)
OTHER_TEXT_LIMIT = 1024  # any other text column of a row the store refused (bodies excepted)
INT64 = (-(2**63), 2**63 - 1)  # what an INTEGER (SQLite) or BIGINT (PostgreSQL) column holds

SQLITE_TYPES = {TEXT: "TEXT", INT: "INTEGER", REAL: "REAL", BOOL: "INTEGER"}
POSTGRES_TYPES = {TEXT: "TEXT", INT: "BIGINT", REAL: "DOUBLE PRECISION", BOOL: "SMALLINT"}

# Indexes that the API's filters and the retention pruning use.
INDEXES = (("ts",), ("request_id",), ("session_id",))


_NAMES = tuple(name for name, _ in COLUMNS)
_BOOLS = tuple(index for index, (_, kind) in enumerate(COLUMNS) if kind == BOOL)
_REALS = tuple(index for index, (_, kind) in enumerate(COLUMNS) if kind == REAL)
assert _NAMES[-len(BODIES) :] == BODIES
_IN_ORDER = _NAMES[: -len(BODIES)]   # the keys of a row without bodies, in column order
_NO_BODIES = (None,) * len(BODIES)


def record(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row dict as a tuple in column order, typed for both drivers (bools as 0/1, reals as
    floats: asyncpg refuses an int where it expects a double). (The values are looked up by
    `map`, and only the bool and real columns visited in Python: a third of the loop's cost. A
    row as RowBuilder makes it without bodies has every other column in order: its values are
    taken as they are.)"""
    if tuple(row) == _IN_ORDER:
        out = list(row.values())
        out += _NO_BODIES
    else:
        out = list(map(row.get, _NAMES))
    for index in _BOOLS:
        value = out[index]
        if value is not None:
            out[index] = 1 if value else 0
    for index in _REALS:
        value = out[index]
        if value is not None:
            out[index] = float(value)
    return tuple(out)


def escaped_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a row that a store refused, with every value made storable: text escaped
    (control characters and surrogates as backslash escapes) and cut to size, numbers that no
    column can hold (beyond 64 bits, not finite, not numbers) as NULL. The writer's last try
    for that row."""
    out = dict(row)
    limits = dict(CLIENT_TEXT)
    for name, kind in COLUMNS:
        value = row.get(name)
        if value is None:
            continue
        if kind == TEXT:
            text = value if isinstance(value, str) else _text_of(value)
            out[name] = escaped(text) if name in BODIES else bounded(text, limits.get(name, OTHER_TEXT_LIMIT))
        elif kind == BOOL:
            out[name] = value if isinstance(value, (bool, int)) and value in (0, 1) else None
        elif kind == INT:
            out[name] = _whole(value)
        else:
            out[name] = _real(value)
    return out


def _text_of(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a value whose str() fails is logged by its type
        return f"<{type(value).__name__}>"


def _real(value: object) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _whole(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and INT64[0] <= value <= INT64[1]:
        return value
    return None
