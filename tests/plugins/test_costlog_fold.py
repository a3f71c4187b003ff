"""rollup.fold sums a batch group by group with C-level passes: it must give exactly what adding
the rows one by one gives (floats included: each sum goes through the rows in order)."""

from __future__ import annotations

import math
from typing import Any

from bifrost_costlog import rollup
from hypothesis import given
from hypothesis import strategies as st

NUMBER = st.one_of(st.none(), st.integers(0, 10**6))
MONEY = st.one_of(st.none(), st.floats(0, 10, allow_nan=False), st.just(0.0))
FLAG = st.one_of(st.none(), st.booleans())
NAME = st.sampled_from([None, "a", "b", "claude-code/2.0", ""])


@st.composite
def batch(draw: st.DrawFn, shape: rollup.Shape) -> list[tuple[Any, ...]]:
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        ts = draw(st.one_of(st.none(), st.just(math.nan), st.floats(1.7e9, 1.7e9 + 10_000)))
        rows.append((ts, draw(FLAG), draw(st.sampled_from([None, 200, 402, 500])), *draw(st.tuples(*[NUMBER] * 4)),
                     draw(MONEY), draw(FLAG), draw(FLAG), draw(MONEY), draw(MONEY), draw(FLAG), draw(FLAG),
                     draw(st.one_of(st.none(), st.just(math.nan), st.floats(0, 1e6))),
                     *[draw(NAME) for _ in shape.dims]))
    return rows


def one_by_one(rows: list[tuple[Any, ...]], shape: rollup.Shape) -> dict[tuple[Any, ...], rollup.Cell]:
    cells: dict[tuple[Any, ...], rollup.Cell] = {}
    for row in rows:
        ts, final, status, *tokens, cost, unknown, hit, saved, requested, fallback, unpriced, ms = row[:15]
        nulls, dims = 0, []
        for ((_, bit), convert), value in zip(zip(shape.dims, shape.convert), row[15:]):
            value = convert(value) if convert else value
            nulls |= bit if value is None else 0
            dims.append("" if value is None else value)
        bucket = rollup.bucket_of(ts, 3600)
        cell = cells.setdefault((bucket, nulls, *dims), rollup.Cell())
        if shape.seen and bucket != rollup.NO_TS:
            cell.first = ts if cell.first is None else min(cell.first, ts)
            cell.last = ts if cell.last is None else max(cell.last, ts)
        cell.ints[0] += 1
        if final:
            cell.ints[1] += 1
            cell.ints[2] += status is not None and status >= 400
            if ms is not None:
                cell.counts[rollup.latency_bin(ms)] = cell.counts.get(rollup.latency_bin(ms), 0) + 1
        for index, value in enumerate((*tokens, unknown, hit, fallback, unpriced), 3):
            cell.ints[index] += value or 0
        cell.floats[0] += cost or 0.0
        cell.floats[1] += saved or 0.0
        if requested is not None:
            cell.floats[2] += requested - (cost or 0.0)
    return cells


@given(st.data())
def test_fold_is_adding_the_rows_one_by_one(data: st.DataObject) -> None:
    for shape in rollup.SHAPES:
        rows = data.draw(batch(shape))
        got, want = rollup.fold(rows, 3600, shape), one_by_one(rows, shape)
        assert got.keys() == want.keys()
        for key, cell in want.items():
            assert (got[key].ints, got[key].floats, got[key].counts) == (cell.ints, cell.floats, cell.counts)
            assert (got[key].first, got[key].last) == (cell.first, cell.last)


COUNTS = st.dictionaries(st.integers(0, rollup.TOP_BIN), st.integers(1, 2**32 - 1), min_size=1, max_size=8)


@given(COUNTS, st.integers(0, rollup.TOP_BIN), st.integers(1, 2**32 - 1))
def test_adding_one_bin_to_a_histogram_is_the_integer_sum(counts: dict[int, int], b: int, n: int) -> None:
    a, one = rollup.counts_to_blob(counts), rollup.counts_to_blob({b: n})
    assert one == rollup.int_to_blob(n << (32 * b))
    assert rollup.hist_add(a, one) == rollup.int_to_blob(rollup.blob_to_int(a) + rollup.blob_to_int(one))
