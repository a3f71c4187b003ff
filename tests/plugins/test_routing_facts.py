"""The request facts rules ask about, over generated bodies of both dialects: an image, a
web-search tool or thinking is found exactly when one is there, wherever it is."""

from __future__ import annotations

from typing import Any

from bifrost_routing.facts import RequestFacts, has_images, thinking_enabled, wants_web_search
from hypothesis import given, settings
from hypothesis import strategies as st

text_block = st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=30))
tool_use = st.builds(lambda n: {"type": "tool_use", "id": "t", "name": n, "input": {"image": "not one"}},
                     st.sampled_from(["Read", "image", "Screenshot"]))
plain_blocks = st.lists(st.one_of(text_block, tool_use), max_size=4)
image_blocks = st.sampled_from([
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
])


def messages_of(contents: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(contents)]


@settings(max_examples=200, deadline=None)
@given(contents=st.lists(plain_blocks, min_size=1, max_size=5), image=image_blocks, data=st.data())
def test_an_image_is_found_wherever_it_is(contents: list[list[dict[str, Any]]], image: dict[str, Any],
                                           data: st.DataObject) -> None:
    assert not has_images({"messages": messages_of(contents)}), "words like 'image' are not images"
    where = data.draw(st.integers(0, len(contents) - 1))
    position = data.draw(st.integers(0, len(contents[where])))
    in_result = data.draw(st.booleans())
    block = {"type": "tool_result", "tool_use_id": "t", "content": [image]} if in_result else image
    contents[where].insert(position, block)
    assert RequestFacts({"messages": messages_of(contents)}).images


function_tool = st.builds(lambda n: {"name": n, "description": "d", "input_schema": {"type": "object"}},
                          st.sampled_from(["WebSearch", "web_search", "Read", "WebFetch"]))
openai_function = st.builds(lambda n: {"type": "function", "function": {"name": n, "parameters": {}}},
                            st.sampled_from(["web_search", "search"]))
server_search = st.sampled_from([
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    {"type": "web_search_preview"},
    {"type": "web_search"},
])


@settings(max_examples=200, deadline=None)
@given(tools=st.lists(st.one_of(function_tool, openai_function), max_size=6), search=server_search,
       data=st.data())
def test_only_a_server_web_search_tool_counts(tools: list[dict[str, Any]], search: dict[str, Any],
                                              data: st.DataObject) -> None:
    assert not wants_web_search({"tools": tools}), "tools merely named like a search are not one"
    tools.insert(data.draw(st.integers(0, len(tools))), search)
    assert wants_web_search({"tools": tools})


@given(kind=st.sampled_from(["enabled", "adaptive", "disabled"]),
       effort=st.sampled_from([None, "none", "minimal", "low", "medium", "high"]))
def test_thinking_in_either_dialect(kind: str, effort: str | None) -> None:
    assert thinking_enabled({"thinking": {"type": kind}}) == (kind != "disabled")
    body = {} if effort is None else {"reasoning_effort": effort}
    assert thinking_enabled(body) == (effort not in (None, "none"))
    assert thinking_enabled({"reasoning": {"effort": effort}}) == (effort not in (None, "none"))


def test_facts_are_computed_once() -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    facts = RequestFacts(body)
    first = facts.input_tokens
    body["messages"].append({"role": "user", "content": "x" * 10_000})
    assert facts.input_tokens == first, "kept from the first computation"
    assert RequestFacts(body).input_tokens > first
