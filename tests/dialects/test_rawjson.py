"""Replacing the model name leaves every other byte of the client's body untouched."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.dialects.rawjson import replace_top_level_string

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k != "model"), json_values, max_size=5),
       st.text(max_size=20), st.text(max_size=20), st.integers(0, 5), st.sampled_from([", ", ",", ",\n  "]))
def test_only_the_model_changes(rest: dict, old: str, new: str, position: int, separator: str) -> None:
    items = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in rest.items()]
    at = min(position, len(items))
    before = "{" + separator.join(items[:at]) + (separator if at else "") + '"model": '
    after = (separator if at < len(items) else "") + separator.join(items[at:]) + "}"
    raw = (before + json.dumps(old) + after).encode()
    replaced = replace_top_level_string(raw, "model", new)
    assert replaced == before.encode() + orjson.dumps(new) + after.encode()
    assert json.loads(replaced) == {**rest, "model": new}


def test_nested_model_keys_are_not_touched() -> None:
    raw = b'{"messages":[{"model":"inner","content":"\\"model\\": \\"x\\""}],"model" : "outer","n":1.50}'
    assert replace_top_level_string(raw, "model", "new") == (
        b'{"messages":[{"model":"inner","content":"\\"model\\": \\"x\\""}],"model" : "new","n":1.50}'
    )


def test_absent_or_non_string_model() -> None:
    assert replace_top_level_string(b'{"a":"model"}', "model", "x") is None
    assert replace_top_level_string(b'{"model":3}', "model", "x") is None
