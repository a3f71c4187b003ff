"""The usage rollup: the request log summed per hour (see `grain_for`) and per (key, team, customer,
provider, model, requested model, answered model), with a latency histogram, so that the
dashboard, /api/usage and `bifrost-py report` read tens of thousands of small rows instead of
every log row of the window.

* It is kept by the store in the same transaction as the rows it sums (`fold` below turns a batch
  of records into `Cell`s, one per bucket and combination of names; the store adds them with
  an upsert), by the retention pruning (whole buckets are deleted; rows of the bucket the cut
  falls in are subtracted), and built from the rows already there when a database from an
  older version is opened (in chunks, in the background: `build_step` of each store).
* Counts, tokens and money are plain sums of the same per-row values the raw queries sum, so they
  are the same (money to within floating-point rounding: the additions happen in another order).
* Latency percentiles come from a histogram of the whole request's duration (final rows) with
  PER_OCTAVE log-spaced bins per doubling: the rank is exact, the value reported is the bin's
  geometric middle, at most 2^(1/32) - 1 = 2.2% away from the true nearest-rank value (0.5 ms
  below 1 ms; above TOP_MS, a request of more than 37 hours, there is no bound).
* Buckets are an hour long, or half an hour (quarter) when the configured time zone is at
  UTC+05:30 (+05:45), so that its days and hours are whole buckets; the length is fixed when the
  rollup is created (state table). A zone whose hours cut through the buckets gets its day and
  hour groups from the raw rows.

A second, smaller rollup (`SESSIONS`, table request_log_sessions) sums the same figures per
bucket and (session id, client app, key, team, customer), with the first and last time seen:
`--by session` and `--by client` read it. A coding-agent session is one key and one client for
a few hours, so it holds about one row per session and hour it was active (on the benchmark's
million rows, 5,000 sessions: ~11,000 rows against ~190,000 in the main rollup), and grouping by
team or key does not pay for it. It has its own build state (an older log gets it built in the
background like the main one). Retention cutting inside a bucket subtracts the rows as above;
a session's first time seen in that bucket is then clamped to the cut (within one bucket of
the first row kept).

A histogram is a dict {bin: count}. SQLite keeps it as a BLOB (2-byte first bin, then one
little-endian uint32 per bin: read as one Python integer, adding two histograms is one big-int
addition), PostgreSQL as `hist_lo` and an INTEGER[] (added element by element in SQL).
"""

from __future__ import annotations

import math
import operator
import sqlite3
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bifrost_py.clients import client_name

from .columns import NAMES, TABLE

if TYPE_CHECKING:
    from bifrost_py.storage import SQLiteDatabase

ROLLUP = f"{TABLE}_rollup"
STATE = f"{TABLE}_rollup_state"
GRAIN = 3600  # seconds per bucket, unless the time zone needs less (`grain_for`)
NO_TS = -1  # the bucket of rows without a timestamp (never a multiple of GRAIN)
PER_OCTAVE = 16
TOP_MS = 2.0**27  # ~37 hours; longer requests share the last bin
TOP_BIN = 1 + 27 * PER_OCTAVE
ERROR_BOUND = 2 ** (1 / (2 * PER_OCTAVE)) - 1  # relative, for values >= 1 ms
BUILD_CHUNK = 10_000  # rows per transaction when building the rollup of an older database

# (column, bit of `nulls`): NULL is stored as '' with its bit set, so that every column of the
# primary key is NOT NULL and an upsert finds the row.
DIMS: tuple[tuple[str, int], ...] = (
    ("key_name", 1),
    ("team", 2),
    ("customer", 4),
    ("provider", 8),
    ("model", 16),
    ("requested_model", 32),
    ("answered_model", 64),
)
DIM_BITS = dict(DIMS)
DIM_NAMES = tuple(name for name, _ in DIMS)
KEY = ("bucket", "nulls", *DIM_NAMES)
INTS = (
    "attempts",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "unpriced",
    "cache_hits",
    "fallbacks",
    "savings_unpriced",
)
FLOATS = ("cost_usd", "saved_by_cache_usd", "saved_by_routing_usd")
SUMS = (*INTS, *FLOATS)
_N_INTS, _N_FLOATS = len(INTS), len(FLOATS)
# What `fold` reads of a log row, in this order: the figures, then the names of a Shape.
MEASURES = (
    "ts",
    "final",
    "status",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "price_unknown",
    "cache_hit",
    "saved_usd",
    "requested_cost_usd",
    "fallback",
    "savings_unpriced",
    "request_ms",
)
SOURCE = (*MEASURES, *DIM_NAMES)


# --------------------------------------------------------------------------- histogram


def latency_bin(ms: float) -> int:
    """0: below 1 ms; i >= 1: [2^((i-1)/PER_OCTAVE), 2^(i/PER_OCTAVE)) ms; TOP_BIN: the rest."""
    if not ms >= 1.0:  # also NaN
        return 0
    if ms >= TOP_MS:
        return TOP_BIN
    return min(TOP_BIN, 1 + int(math.log2(ms) * PER_OCTAVE))


def bin_value(b: int) -> float:
    """What a bin stands for: its geometric middle (0.5 ms for bin 0)."""
    return 0.5 if b <= 0 else 2.0 ** ((b - 0.5) / PER_OCTAVE)


def percentile(counts: dict[int, int], p: float) -> float | None:
    """Nearest-rank percentile p (0..1) of a histogram, as its bin's value."""
    return percentiles(counts, (p,))[0]


def percentiles(counts: dict[int, int], ps: Sequence[float]) -> list[float | None]:
    """`percentile` for each of `ps` (ascending), in one pass."""
    n = sum(counts.values())
    if n <= 0:
        return [None] * len(ps)
    ranks = [max(1, math.ceil(p * n)) for p in ps]
    found: list[float | None] = []
    seen = 0
    target = ranks[0]
    for b in sorted(counts):
        seen += counts[b]
        while seen >= target:
            found.append(bin_value(b))
            if len(found) == len(ranks):
                return found
            target = ranks[len(found)]
    return found + [bin_value(max(counts))] * (len(ranks) - len(found))


def merge_into(target: dict[int, int], counts: dict[int, int]) -> None:
    for b, n in counts.items():
        target[b] = target.get(b, 0) + n


# SQLite encoding: one big integer, 32 bits per bin.


def blob_to_int(blob: bytes | None) -> int:
    if not blob:
        return 0
    return int.from_bytes(blob[2:], "little") << (32 * int.from_bytes(blob[:2], "little"))


def int_to_blob(value: int) -> bytes | None:
    if value <= 0:
        return None
    low = ((value & -value).bit_length() - 1) // 32
    value >>= 32 * low
    return low.to_bytes(2, "little") + value.to_bytes(4 * ((value.bit_length() + 31) // 32), "little")


def counts_to_blob(counts: dict[int, int]) -> bytes | None:
    if len(counts) == 1:   # a batch's cell often has one latency bin: its blob without big integers
        ((b, n),) = counts.items()
        if 0 < n < 2**32 and 0 <= b < 2**16:
            return b.to_bytes(2, "little") + n.to_bytes(4, "little")
    return int_to_blob(sum(n << (32 * b) for b, n in counts.items() if n > 0))


def int_to_counts(value: int) -> dict[int, int]:
    if value <= 0:
        return {}
    return _words(value.to_bytes(4 * ((value.bit_length() + 31) // 32), "little"), 0)


def blob_to_counts(blob: bytes | None) -> dict[int, int]:
    if not blob:
        return {}
    return _words(blob[2:], int.from_bytes(blob[:2], "little"))


def _words(data: bytes, first: int) -> dict[int, int]:
    """Little-endian uint32s, the first one bin `first`: {bin: count} of the non-zero ones (one
    unpack; shifting a big integer 32 bits at a time is quadratic in its length)."""
    words = struct.unpack(f"<{len(data) // 4}I", data[: len(data) // 4 * 4])
    return {first + b: n for b, n in enumerate(words) if n}


_FIRST_BIN = struct.Struct("<H")   # a blob's first bin
_BIN = struct.Struct("<I")         # one bin's count
_ONE_BIN = struct.Struct("<HI")    # the blob of a single bin


def hist_add(a: bytes | None, b: bytes | None) -> bytes | None:
    """SQL function of the SQLite writer: the sum of two histograms. Adding one bin (what a
    small batch brings) inside `a`'s range rewrites that bin's four bytes, without turning both
    into integers of 32 bits per bin and back."""
    if a is None:
        return b
    if b is None:
        return a
    if len(b) == 6 and len(a) >= 6:
        low, count = _ONE_BIN.unpack(b)
        at = 2 + 4 * (low - _FIRST_BIN.unpack_from(a)[0])
        if 2 <= at <= len(a) - 4:
            word = _BIN.unpack_from(a, at)[0] + count
            if word < 2**32:   # else it carries into the next bin: the general way below
                added = bytearray(a)
                _BIN.pack_into(added, at, word)
                return bytes(added)
    return int_to_blob(blob_to_int(a) + blob_to_int(b))


def hist_sub(a: bytes | None, b: bytes | None) -> bytes | None:
    """SQL function of the SQLite writer: `a` without the rows of `b` (which it contains)."""
    if b is None:
        return a
    return int_to_blob(max(0, blob_to_int(a) - blob_to_int(b)))


class HistSum:
    """SQL aggregate of the SQLite readers: the sum of a column of histograms."""

    def __init__(self) -> None:
        self.value = 0

    def step(self, blob: bytes | None) -> None:
        if blob:
            self.value += int.from_bytes(blob[2:], "little") << (32 * int.from_bytes(blob[:2], "little"))

    def finalize(self) -> bytes | None:
        return int_to_blob(self.value)


async def register_functions(db: SQLiteDatabase) -> None:
    """The rollup's SQL functions on every connection of the log's SQLite file (the storage
    service applies them to connections opened later too)."""
    await db.create_function("costlog_hist_add", 2, hist_add)
    await db.create_function("costlog_hist_sub", 2, hist_sub)
    await db.create_aggregate("costlog_hist_sum", 1, HistSum)


# --------------------------------------------------------------------------- folding rows


class Shape:
    """One rollup table: its names (the rollup's column, its bit of `nulls`, the log column it is
    read from and, for a name the rollup keeps in another form, how the log's value becomes it),
    its row of the build state, and whether it keeps the first and last time seen."""

    def __init__(
        self,
        table: str,
        state_id: int,
        dims: Sequence[tuple[str, int, str, Callable[[Any], Any] | None]],
        seen: bool = False,
    ) -> None:
        self.table = table
        self.state_id = state_id
        self.dims = tuple((name, bit) for name, bit, _, _ in dims)
        self.names = tuple(name for name, _ in self.dims)
        self.bits = dict(self.dims)
        self.key = ("bucket", "nulls", *self.names)
        self.columns = tuple(column for _, _, column, _ in dims)  # of the log
        self.source = (*MEASURES, *self.columns)
        self.convert = tuple(convert for _, _, _, convert in dims)
        self.seen = seen
        self.from_record = operator.itemgetter(*(NAMES.index(name) for name in self.source))

    def __repr__(self) -> str:
        return f"Shape({self.table})"


MAIN = Shape(ROLLUP, 1, [(name, bit, name, None) for name, bit in DIMS])
SESSIONS = Shape(
    f"{TABLE}_sessions",
    2,
    [
        ("session_id", 1, "session_id", None),
        ("client", 2, "client_app", client_name),  # the app (claude-code, codex...), never NULL
        ("key_name", 4, "key_name", None),
        ("team", 8, "team", None),
        ("customer", 16, "customer", None),
    ],
    seen=True,
)
SHAPES = (MAIN, SESSIONS)
SEEN = ("first_ts", "last_ts")
# The log columns a store reads to fold rows into every shape, and each shape's part of them.
READ = (*MEASURES, *dict.fromkeys(c for shape in SHAPES for c in shape.columns))
_PICK = {shape: operator.itemgetter(*(READ.index(name) for name in shape.source)) for shape in SHAPES}


def pick(rows: Iterable[Sequence[Any]], shape: Shape) -> list[tuple[Any, ...]]:
    """Rows read as READ, in `shape.source` order."""
    return [_PICK[shape](row) for row in rows]


@dataclass(slots=True, init=False)
class Cell:
    """The sums of some rows (one bucket and combination of names, or one group of a report)."""

    ints: list[int]
    floats: list[float]
    counts: dict[int, int]
    first: float | None  # the first and last time seen (SESSIONS only)
    last: float | None

    def __init__(self, ints: list[int] | None = None, floats: list[float] | None = None,
                 counts: dict[int, int] | None = None, first: float | None = None, last: float | None = None) -> None:
        # (Written out: the dataclass's default factories cost three calls per Cell, and a batch
        # of the log makes a Cell per key it touches.)
        self.ints = [0] * _N_INTS if ints is None else ints
        self.floats = [0.0] * _N_FLOATS if floats is None else floats
        self.counts = {} if counts is None else counts
        self.first = first
        self.last = last

    def add(self, other: Cell) -> None:
        for i, v in enumerate(other.ints):
            self.ints[i] += v
        for i, x in enumerate(other.floats):
            self.floats[i] += x
        merge_into(self.counts, other.counts)
        if other.first is not None and (self.first is None or other.first < self.first):
            self.first = other.first
        if other.last is not None and (self.last is None or other.last > self.last):
            self.last = other.last

    def as_row(self, group: Any) -> dict[str, Any]:
        """In the shape of `queries._typed`."""
        out: dict[str, Any] = {"group": group}
        out.update(zip(INTS, self.ints))
        out.update(zip(FLOATS, self.floats))
        out["p50_ms"], out["p95_ms"] = percentiles(self.counts, (0.50, 0.95))
        return out


def grain_for(timezone: str) -> int:
    """The longest bucket whose boundaries are whole hours in the zone all year: an hour, half
    an hour (UTC+05:30) or a quarter (UTC+05:45)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(timezone)
    except (ValueError, LookupError):  # reported by the config check
        return GRAIN
    year = datetime.now(zone).year
    offsets = {
        int((datetime(year, month, 1, tzinfo=zone).utcoffset() or timedelta(0)).total_seconds())
        for month in (1, 4, 7, 10)
    }
    for grain in (3600, 1800, 900):
        if all(offset % grain == 0 for offset in offsets):
            return grain
    return 900


def bucket_of(ts: float | None, grain: int = GRAIN) -> int:
    """The start of the bucket holding `ts`; rows without a usable time (None, NaN) share one."""
    if ts is None or math.isnan(ts):
        return NO_TS
    return int(ts // grain) * grain


def fold(rows: Iterable[Sequence[Any]], grain: int = GRAIN, shape: Shape | None = None) -> dict[tuple[Any, ...], Cell]:
    """Rows (tuples in `shape.source` order; SOURCE for the main rollup) summed per key (bucket,
    nulls, names with '' for NULL). The rows of a batch share a few combinations of names (the
    same keys, providers and models): each combination's part of the key is worked out once."""
    shape = shape or MAIN
    cells: dict[tuple[Any, ...], Cell] = {}
    dims_of_shape = tuple(zip(shape.dims, shape.convert))
    seen = shape.seen
    named: dict[Any, tuple[Any, ...]] = {}   # names (a tuple) -> (nulls, *dims)
    for row in rows:
        (ts, final, status, tin, tout, tread, twrite, cost, unknown, hit, saved, requested, fallback, unpriced,
         ms) = row[:15]
        names = row[15:]
        tail = named.get(names)
        if tail is None:
            nulls = 0
            dims = []
            for ((_, bit), convert), value in zip(dims_of_shape, names):
                if convert is not None:
                    value = convert(value)
                if value is None:
                    nulls |= bit
                    dims.append("")
                else:
                    dims.append(value)
            tail = named[names] = (nulls, *dims)
        bucket = NO_TS if ts is None or ts != ts else int(ts // grain) * grain  # noqa: PLR0124 - bucket_of inlined (NaN)
        key = (bucket, *tail)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell()
        if seen and bucket != NO_TS:
            if cell.first is None or ts < cell.first:
                cell.first = ts
            if cell.last is None or ts > cell.last:
                cell.last = ts
        ints = cell.ints
        ints[0] += 1
        if final:
            ints[1] += 1
            if status is not None and status >= 400:
                ints[2] += 1
            if ms is not None:
                b = latency_bin(ms)
                cell.counts[b] = cell.counts.get(b, 0) + 1
        ints[3] += tin or 0
        ints[4] += tout or 0
        ints[5] += tread or 0
        ints[6] += twrite or 0
        ints[7] += unknown or 0
        ints[8] += hit or 0
        ints[9] += fallback or 0
        ints[10] += unpriced or 0
        floats = cell.floats
        floats[0] += cost or 0.0
        floats[1] += saved or 0.0
        if requested is not None:
            floats[2] += requested - (cost or 0.0)
    return cells


def fold_records(
    records: Sequence[tuple[Any, ...]], grain: int = GRAIN, shape: Shape | None = None
) -> dict[tuple[Any, ...], Cell]:
    """`fold` of records in `columns.NAMES` order (what the writer hands a store)."""
    shape = shape or MAIN
    return fold(map(shape.from_record, records), grain, shape)


def dims_of(key: tuple[Any, ...], shape: Shape | None = None) -> dict[str, Any]:
    """The names of a fold key, None where NULL."""
    nulls = key[1]
    return {name: (None if nulls & bit else value) for (name, bit), value in zip((shape or MAIN).dims, key[2:])}


# --------------------------------------------------------------------------- SQL


def schema(dialect: str, grain: int = GRAIN) -> list[str]:
    """Every shape's table and its row of the build state. A rollup new to this log (a new log,
    or an older one gaining SESSIONS) covers rows written from now on; older rows (ids up to its
    `boundary`) are folded in by build steps. On an empty log there is nothing to build. Every
    shape has the main rollup's grain."""
    if dialect == "postgres":
        text, integer, real, hist = "TEXT", "BIGINT", "DOUBLE PRECISION", "hist_lo INTEGER, hist INTEGER[]"
        tail = ""
    else:
        text, integer, real, hist = "TEXT", "INTEGER", "REAL", "hist BLOB"
        tail = " WITHOUT ROWID"
    statements = [
        (f"CREATE TABLE IF NOT EXISTS {STATE} (id INTEGER PRIMARY KEY, built_to {integer} NOT NULL, "
         f"boundary {integer} NOT NULL, grain {integer} NOT NULL)"),
    ]
    for shape in SHAPES:
        columns = ", ".join(
            [
                f"bucket {integer} NOT NULL",
                f"nulls {integer} NOT NULL",
                *(f"{name} {text} NOT NULL" for name in shape.names),
                *(f"{name} {integer} NOT NULL" for name in INTS),
                *(f"{name} {real} NOT NULL" for name in FLOATS),
                *((f"{name} {real}" for name in SEEN) if shape.seen else ()),
                hist,
            ]
        )
        statements += [
            f"CREATE TABLE IF NOT EXISTS {shape.table} ({columns}, PRIMARY KEY ({', '.join(shape.key)})){tail}",
            (f"INSERT INTO {STATE} (id, built_to, boundary, grain) "
             f"SELECT {shape.state_id}, 0, (SELECT COALESCE(MAX(id), 0) FROM {TABLE}), "
             f"COALESCE((SELECT grain FROM {STATE} WHERE id = {MAIN.state_id}), {int(grain)}) "
             f"WHERE NOT EXISTS (SELECT 1 FROM {STATE} WHERE id = {shape.state_id})"),
        ]
    return statements


def upsert(dialect: str, subtract: bool = False, shape: Shape | None = None) -> str:
    """Adds a cell to its row (or subtracts it: the values passed are then negated, and for
    SQLite the histogram is taken away by costlog_hist_sub; the times seen are then NULL and
    leave the row's alone)."""
    shape = shape or MAIN
    seen_columns = SEEN if shape.seen else ()
    if dialect == "postgres":
        columns = (*shape.key, *SUMS, *seen_columns, "hist_lo", "hist")
        values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        hist = (
            "hist_lo = LEAST(t.hist_lo, excluded.hist_lo), "
            "hist = CASE WHEN t.hist IS NULL THEN excluded.hist WHEN excluded.hist IS NULL THEN t.hist "
            "ELSE ARRAY(SELECT COALESCE(t.hist[i - t.hist_lo + 1], 0) + COALESCE(excluded.hist[i - excluded.hist_lo + 1], 0) "
            "FROM generate_series(LEAST(t.hist_lo, excluded.hist_lo), "
            "GREATEST(t.hist_lo + cardinality(t.hist), excluded.hist_lo + cardinality(excluded.hist)) - 1) AS i "
            "ORDER BY i) END"
        )
        sums = ", ".join(f"{name} = t.{name} + excluded.{name}" for name in SUMS)
        if shape.seen:  # LEAST and GREATEST ignore NULL
            sums += ", first_ts = LEAST(t.first_ts, excluded.first_ts), last_ts = GREATEST(t.last_ts, excluded.last_ts)"
        target = f"{shape.table} AS t"
    else:
        columns = (*shape.key, *SUMS, *seen_columns, "hist")
        values = ", ".join("?" * len(columns))
        hist = f"hist = {'costlog_hist_sub' if subtract else 'costlog_hist_add'}(hist, excluded.hist)"
        sums = ", ".join(f"{name} = {name} + excluded.{name}" for name in SUMS)
        if shape.seen:  # SQLite's two-argument min and max are NULL when either is
            sums += "".join(
                f", {name} = CASE WHEN excluded.{name} IS NULL THEN {name} WHEN {name} IS NULL THEN excluded.{name} "
                f"ELSE {pick_one}({name}, excluded.{name}) END"
                for name, pick_one in zip(SEEN, ("min", "max"))
            )
        target = shape.table
    return (
        f"INSERT INTO {target} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(shape.key)}) DO UPDATE SET {sums}, {hist}"
    )


def params(
    cells: dict[tuple[Any, ...], Cell], dialect: str, subtract: bool = False, shape: Shape | None = None
) -> list[tuple[Any, ...]]:
    """Parameters of `upsert` for each cell, in key order (PostgreSQL: transactions of several
    instances lock the rows they add to in the same order, so they cannot deadlock)."""
    sign = -1 if subtract else 1
    seen = (shape or MAIN).seen
    out = []
    for key in sorted(cells):
        cell = cells[key]
        if subtract:
            sums: tuple[Any, ...] = (*(sign * v for v in cell.ints), *(sign * v for v in cell.floats))
        else:   # (every batch written adds: no generator per cell)
            sums = (*cell.ints, *cell.floats)
        if seen:
            sums += (None, None) if subtract else (cell.first, cell.last)
        counts = {b: n for b, n in cell.counts.items() if n}
        if dialect == "postgres":
            if counts:
                low, high = min(counts), max(counts)
                hist: tuple[Any, ...] = (low, [sign * counts.get(b, 0) for b in range(low, high + 1)])
            else:
                hist = (None, None)
        else:   # a bytearray: sqlite3 binds it as the same BLOB without asking its adapters
            blob = counts_to_blob(counts)   # (as it does for bytes: some 2,400 instructions)
            hist = (None if blob is None else bytearray(blob),)
        out.append((*key, *sums, *hist))
    return out


def clamp_first_seen(shape: Shape, dialect: str) -> str:
    """After retention cut inside a bucket (parameters: the cut's time, the bucket), no row kept
    is older than the cut."""
    mark = "$" if dialect == "postgres" else "?"
    return f"UPDATE {shape.table} SET first_ts = {mark}1 WHERE bucket = {mark}2 AND first_ts < {mark}1"


def dim_expression(name: str, shape: Shape | None = None) -> str:
    """A name column of the rollup as the log has it (NULL where it was NULL)."""
    return f"CASE WHEN (nulls & {(shape or MAIN).bits[name]}) = 0 THEN {name} END"


# Columns a rollup made by an older version lacks (its rows hold none of them: 0).
_ADDED_INTS = ("savings_unpriced",)
UPGRADE_POSTGRES = tuple(
    f"ALTER TABLE {ROLLUP} ADD COLUMN IF NOT EXISTS {name} BIGINT NOT NULL DEFAULT 0" for name in _ADDED_INTS
)


def upgrade_sqlite(conn: sqlite3.Connection) -> None:
    """Add the columns an older rollup lacks (inside the schema's transaction)."""
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({ROLLUP})").fetchall()}
    for name in _ADDED_INTS:
        if name not in present:
            conn.execute(f"ALTER TABLE {ROLLUP} ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0")
