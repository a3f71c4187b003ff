"""A batch of one row is inserted without its NULL columns: the stored row is the one the
statement with every column stores."""

from __future__ import annotations

import sqlite3

from bifrost_costlog.columns import COLUMNS, INT, REAL, TABLE, TEXT
from bifrost_costlog.stores import sqlite as store
from hypothesis import given
from hypothesis import strategies as st

_VALUES = {
    TEXT: st.none() | st.text(max_size=5),
    INT: st.none() | st.integers(-(2**63), 2**63 - 1),
    REAL: st.none() | st.floats(allow_nan=False),
}


def _column(kind: str) -> st.SearchStrategy[object]:
    return _VALUES.get(kind, st.none() | st.sampled_from([0, 1]))


@given(st.tuples(*(_column(kind) for _, kind in COLUMNS)))
def test_a_row_inserted_without_its_null_columns_is_the_row_inserted_whole(record: tuple[object, ...]) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    columns = ", ".join(name for name, _ in COLUMNS)
    conn.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, {columns})")
    first = conn.execute(*store._insert_one(record)).lastrowid
    conn.execute(store._INSERT, record)
    second = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    rows = conn.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall()
    assert (first, second) == (1, 2)
    assert rows[0][1:] == rows[1][1:] == record
