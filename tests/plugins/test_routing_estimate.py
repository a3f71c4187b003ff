"""The prompt estimate is made once per call and shared: a token rule's figure, governance's
hold and count_tokens read the same number, equal to the estimate of the body itself."""

from __future__ import annotations

from typing import Any

import pytest
from bifrost_routing.facts import RequestFacts
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py import counting
from bifrost_py.context import ANTHROPIC, MESSAGES, Call
from bifrost_py.dialects.tokens import estimate_input_tokens

text = st.text(max_size=200)
block = st.one_of(text, st.fixed_dictionaries({"type": st.just("text"), "text": text}),
                  st.fixed_dictionaries({"type": st.just("image")}))
message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                 "content": st.one_of(text, st.lists(block, max_size=3))})
bodies = st.one_of(st.none(), st.fixed_dictionaries(
    {"model": st.just("claude-sonnet-4-5"), "messages": st.lists(message, max_size=4)},
    optional={"system": text, "tools": st.lists(st.fixed_dictionaries({"name": text}), max_size=2)},
))


def call_of(body: dict[str, Any] | None) -> Call:
    return Call(request_id="r", dialect=ANTHROPIC, endpoint=MESSAGES, headers=CIMultiDictProxy(CIMultiDict()),
                body=body, model="claude-sonnet-4-5")


@given(body=bodies)
def test_the_shared_estimate_is_the_estimate_of_the_body(body: dict[str, Any] | None) -> None:
    call = call_of(body)
    expected = estimate_input_tokens(body or {})
    assert counting.call_estimate(call) == expected
    assert counting.call_estimate(call) == expected
    assert RequestFacts(body, call).input_tokens == expected
    assert RequestFacts(body).input_tokens == expected


def test_routing_and_governance_walk_the_body_once(monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[object] = []

    def counted(body: Any) -> int:
        walks.append(body)
        return estimate_input_tokens(body)

    monkeypatch.setattr(counting, "estimate_input_tokens", counted)
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x" * 7000}]}
    call = call_of(body)
    assert RequestFacts(call.body, call).input_tokens == 2004   # routing's token rule
    assert counting.call_estimate(call) == 2004                   # governance's hold
    assert len(walks) == 1


def test_a_replaced_body_is_estimated_again() -> None:
    call = call_of({"messages": [{"role": "user", "content": "hi"}]})
    first = counting.call_estimate(call)
    call.body = {"messages": [{"role": "user", "content": "x" * 10_000}]}
    assert counting.call_estimate(call) == estimate_input_tokens(call.body) > first
    other = RequestFacts({"messages": []}, call)   # facts of another body do not take the call's
    assert other.input_tokens == estimate_input_tokens({"messages": []})
