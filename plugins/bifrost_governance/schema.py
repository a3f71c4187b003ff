"""Governance's tables in the SQL database at `storage.logs` (SQLite or PostgreSQL).

The database itself is the gateway's (`gateway.storage.sql`): one connection (SQLite) or pool
(PostgreSQL) per URL, shared with the cost log, closed by the gateway. Governance only keeps a
few small tables of its own there (prefixed `gov_`), written with `?` placeholders; both speak
`INSERT ... ON CONFLICT ... DO UPDATE`.
"""

from __future__ import annotations

from bifrost_py.storage import Database, Storage

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS gov_entities (
        kind TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (kind, name))""",
    """CREATE TABLE IF NOT EXISTS gov_counters (
        meter TEXT PRIMARY KEY, used BIGINT NOT NULL, held BIGINT NOT NULL, expires DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS gov_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)""",
    # Sliding rate-limit windows of the in-memory store: one row per window, its entries one row
    # each in gov_window_entries (numbered in admission order; journal.py). `entries`: '[]', or
    # the whole log as JSON [[admitted at, amount], ...] as the journal wrote it before.
    """CREATE TABLE IF NOT EXISTS gov_windows (
        meter TEXT PRIMARY KEY, seconds DOUBLE PRECISION NOT NULL, entries TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS gov_window_entries (
        meter TEXT NOT NULL, seq BIGINT NOT NULL, admitted DOUBLE PRECISION NOT NULL, amount BIGINT NOT NULL,
        PRIMARY KEY (meter, seq))""",
    # With counters in Redis: what settled on each budget meter, by the Redis generation it was
    # counted in ('' = none: Redis had lost its data), so that a Redis that comes back empty can
    # be given its spend again (spend.py). `expires`: when the meter's key expires (NULL: never).
    """CREATE TABLE IF NOT EXISTS gov_spend (
        meter TEXT NOT NULL, gen TEXT NOT NULL, used BIGINT NOT NULL, expires DOUBLE PRECISION,
        PRIMARY KEY (meter, gen))""",
)


async def open_database(storage: Storage, url: str) -> Database:
    """The database `url` names, opened through the gateway's storage, with governance's
    tables made sure of."""
    db = await storage.sql(url)
    for statement in SCHEMA:
        await db.execute(statement)
    return db
