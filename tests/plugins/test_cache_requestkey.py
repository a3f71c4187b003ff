"""The cache key: one canonical request for both dialects, stable under JSON key order, and
different whenever anything that changes the answer changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from bifrost_cache.requestkey import (
    Uncacheable,
    cache_request,
    canonical_request,
    exact_key,
    is_sampled,
    semantic_split,
)
from hypothesis import given, settings
from hypothesis import strategies as st

MODEL = "claude-sonnet-4-20250514"
TOOL = {"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def anthropic_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL, "max_tokens": 300, "temperature": 0, "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}], **extra,
    }


def openai_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL, "max_tokens": 300, "temperature": 0,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "What is the capital of France?"}], **extra,
    }


def key(body: dict[str, Any], dialect: str = "anthropic", scope: str = "key:a", **kw: Any) -> str:
    return cache_request(body, dialect, body["model"], scope, semantic=True, **kw).exact_key


# ---------------------------------------------------------------- dialect independence


def test_the_same_request_in_both_dialects_has_one_key() -> None:
    assert key(anthropic_body()) == key(openai_body(), "openai")


def test_tools_and_tool_choice_translate_to_the_same_key() -> None:
    openai_tool = {"type": "function", "function": {"name": TOOL["name"], "description": TOOL["description"],
                                                    "parameters": TOOL["input_schema"]}}
    a = anthropic_body(tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"})
    o = openai_body(tools=[openai_tool], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert key(a) == key(o, "openai")


def test_stop_sequences_and_max_completion_tokens_translate() -> None:
    a = anthropic_body(stop_sequences=["END"], max_tokens=99)
    o = openai_body(stop="END", max_completion_tokens=99)
    del o["max_tokens"]
    assert key(a) == key(o, "openai")


def test_openai_without_max_tokens_is_not_anthropic_default() -> None:
    o = openai_body()
    del o["max_tokens"]
    assert key(o, "openai") != key(anthropic_body(max_tokens=4096))


def test_content_shapes_and_cache_control_do_not_matter() -> None:
    blocks = anthropic_body(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?",
                                                "cache_control": {"type": "ephemeral"}}]}],
    )
    assert key(blocks) == key(anthropic_body())


def test_delivery_and_identity_fields_do_not_matter() -> None:
    plain = key(anthropic_body())
    assert key(anthropic_body(stream=True, metadata={"user_id": "u1"})) == plain
    assert key(openai_body(stream=True, stream_options={"include_usage": True}, user="u2"), "openai") == plain


def test_whole_number_floats_equal_ints() -> None:
    assert key(anthropic_body(temperature=0.0, max_tokens=300)) == key(anthropic_body(temperature=0))


def test_scope_is_part_of_the_key() -> None:
    assert key(anthropic_body(), scope="key:a") != key(anthropic_body(), scope="key:b")


def test_betas_are_part_of_the_key_in_any_order() -> None:
    one = key(anthropic_body(), betas="a-2025, b-2025")
    assert one == key(anthropic_body(), betas="b-2025,a-2025")
    assert one != key(anthropic_body())


def test_lossy_openai_fields_keep_the_entry_to_its_dialect() -> None:
    seeded = openai_body(seed=7)
    assert key(seeded, "openai") != key(openai_body(), "openai")
    assert key(seeded, "openai") != key(openai_body(seed=8), "openai")


@pytest.mark.parametrize("extra", [{"n": 2}, {"logprobs": True}, {"modalities": ["text", "audio"]}])
def test_unreplayable_openai_requests_are_uncacheable(extra: dict[str, Any]) -> None:
    with pytest.raises(Uncacheable):
        key(openai_body(**extra), "openai")


# ---------------------------------------------------------------- sampling


def test_only_an_explicit_temperature_above_zero_counts_as_sampled() -> None:
    body = anthropic_body()
    del body["temperature"]
    assert not is_sampled(canonical_request(body, "anthropic", MODEL))
    assert not is_sampled(canonical_request(anthropic_body(), "anthropic", MODEL))
    assert is_sampled(canonical_request(anthropic_body(temperature=0.2), "anthropic", MODEL))
    assert is_sampled(canonical_request(openai_body(temperature=1.5), "openai", MODEL))


# ---------------------------------------------------------------- semantic split


def test_semantic_split_compares_the_last_user_text_only() -> None:
    body = anthropic_body(messages=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What does HTTP 429 mean?"},
    ])
    rest, text = semantic_split(canonical_request(body, "anthropic", MODEL), "last_message", 2000)  # type: ignore[misc]
    assert text == "What does HTTP 429 mean?"
    assert rest["numbers"] == ["429"] and len(rest["history"]) == 2


def test_images_tool_results_and_long_texts_only_match_exactly() -> None:
    image = anthropic_body(messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "text", "text": "What is in this picture?"}]}])
    assert cache_request(image, "anthropic", MODEL, "s", semantic=True).partition is None
    long = anthropic_body(messages=[{"role": "user", "content": "word " * 1000}])
    assert cache_request(long, "anthropic", MODEL, "s", semantic=True, max_chars=2000).partition is None
    plain = cache_request(anthropic_body(), "anthropic", MODEL, "s", semantic=True)
    assert plain.partition is not None and plain.text == "What is the capital of France?"


def test_history_changes_the_partition_in_last_message_mode() -> None:
    def partition(history: str) -> str | None:
        body = anthropic_body(messages=[{"role": "user", "content": history}, {"role": "assistant", "content": "ok"},
                                        {"role": "user", "content": "and then?"}])
        return cache_request(body, "anthropic", MODEL, "s", semantic=True).partition

    assert partition("first") != partition("second")


# ---------------------------------------------------------------- properties

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=8))
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=12,
)


def reorder(value: Any, rnd: Any) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: reorder(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [reorder(v, rnd) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(extra=st.dictionaries(st.sampled_from(["top_k", "top_p", "x_new_field", "tool_choice"]), json_value, max_size=3),
       text=st.text(min_size=1, max_size=40), rnd=st.randoms(use_true_random=False))
def test_key_is_stable_under_reordering_of_object_keys(extra: dict[str, Any], text: str, rnd: Any) -> None:
    body = anthropic_body(messages=[{"role": "user", "content": [{"type": "text", "text": text}]}], tools=[TOOL], **extra)
    assert key(reorder(copy.deepcopy(body), rnd)) == key(body)


# Every field that changes the answer, each with a function giving a different value.
CHANGES = {
    "model": lambda b: b.update(model="claude-haiku-4-5-20251001"),
    "system": lambda b: b.update(system="Be verbose."),
    "message text": lambda b: b["messages"][0].update(content="What is the capital of Spain?"),
    "message role/turn": lambda b: b["messages"].append({"role": "assistant", "content": "Paris"}),
    "max_tokens": lambda b: b.update(max_tokens=301),
    "temperature": lambda b: b.update(temperature=0.5),
    "top_p": lambda b: b.update(top_p=0.9),
    "top_k": lambda b: b.update(top_k=5),
    "stop_sequences": lambda b: b.update(stop_sequences=["\n\n"]),
    "tools": lambda b: b.update(tools=[TOOL]),
    "tool schema": lambda b: b.update(tools=[{**TOOL, "input_schema": {"type": "object", "properties": {}}}]),
    "tool_choice": lambda b: b.update(tools=[TOOL], tool_choice={"type": "any"}),
    "thinking": lambda b: b.update(thinking={"type": "enabled", "budget_tokens": 1024}),
    "unknown new field": lambda b: b.update(brand_new_parameter={"level": 2}),
}


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=3, unique=True),
       dialect_base=st.booleans())
def test_key_changes_when_any_answer_changing_field_changes(names: list[str], dialect_base: bool) -> None:
    base = anthropic_body(top_k=3) if dialect_base else anthropic_body()
    changed = copy.deepcopy(base)
    for name in names:
        CHANGES[name](changed)
    assert key(changed) != key(base)


@settings(max_examples=80, deadline=None)
@given(text=st.text(min_size=1, max_size=60), temperature=st.sampled_from([0, 0.0, 0.3, 1]),
       max_tokens=st.integers(1, 5000))
def test_both_dialects_agree_for_any_plain_text_request(text: str, temperature: float, max_tokens: int) -> None:
    a = anthropic_body(messages=[{"role": "user", "content": text}], temperature=temperature, max_tokens=max_tokens)
    o = openai_body(temperature=temperature, max_tokens=max_tokens)
    o["messages"][1]["content"] = text
    assert exact_key(canonical_request(a, "anthropic", MODEL), "s") == exact_key(canonical_request(o, "openai", MODEL), "s")


def test_conversation_mode_compares_every_turn() -> None:
    body = anthropic_body(messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                                    {"role": "user", "content": "Tell me a joke"}])
    rest, text = semantic_split(canonical_request(body, "anthropic", MODEL), "conversation", 2000)  # type: ignore[misc]
    assert text == "user: Hi\nassistant: Hello!\nuser: Tell me a joke"
    assert "history" not in rest and "messages" not in rest
