"""The token estimate reads Responses API bodies (Codex CLI) as it reads Messages: instructions,
input items, function calls and their outputs, images. A budget's worst-case reservation and
routing's token thresholds depend on it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.responses_request import responses_request_to_anthropic
from bifrost_py.dialects.tokens import IMAGE_TOKENS, estimate_input_tokens

INSTRUCTIONS = "You are Codex, a coding agent. " * 200


def codex_body(turns: list[str]) -> dict:
    items: list[dict] = [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be safe"}]}]
    for i, text in enumerate(turns):
        items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        items.append({"type": "function_call", "call_id": f"c{i}", "name": "shell", "arguments": '{"cmd": "ls -la"}'})
        items.append({"type": "function_call_output", "call_id": f"c{i}", "output": text[::-1]})
    return {"model": "gpt-5", "instructions": INSTRUCTIONS, "input": items, "stream": True}


def test_instructions_count() -> None:
    bare = {"model": "gpt-5", "input": "hi"}
    assert estimate_input_tokens({**bare, "instructions": INSTRUCTIONS}) - estimate_input_tokens(bare) >= len(INSTRUCTIONS) / 4


def test_an_image_item_counts_as_an_image() -> None:
    image = {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}
    assert estimate_input_tokens({"model": "gpt-5", "input": [image]}) >= IMAGE_TOKENS


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=400), min_size=1, max_size=6))
def test_a_codex_body_estimates_about_what_its_messages_form_does(turns: list[str]) -> None:
    body = codex_body(turns)
    translated, _ = responses_request_to_anthropic(body)
    ours, theirs = estimate_input_tokens(body), estimate_input_tokens(translated)
    assert 0.8 * theirs <= ours <= 1.25 * theirs + 20


def test_the_worst_case_reads_the_new_dialects_output_limits() -> None:
    from bifrost_governance.enforcement import max_output

    from bifrost_py.context import MESSAGES

    assert max_output({"max_output_tokens": 900, "input": "hi"}, MESSAGES, 4096) == 900           # Responses
    assert max_output({"generationConfig": {"maxOutputTokens": 300}, "contents": []}, MESSAGES, 4096) == 300  # Gemini
    assert max_output({"generationConfig": {"maxOutputTokens": True}}, MESSAGES, 4096) == 4096
