"""Request bodies, Anthropic Messages -> OpenAI Chat Completions: the top-level fields.

`anthropic_request_to_openai` returns `(request, notes)`; a note names something that has no
OpenAI equivalent and was dropped or approximated (`notes.py`). Here are the settings around the
conversation (sampling, stop sequences, tools and tool_choice, metadata, thinking), and the
o-series rules (reasoning models take max_completion_tokens and reasoning_effort instead of
sampling knobs); the conversation itself is `translate_messages_to_openai.py`.

Unknown fields become notes, never exceptions, because clients such as Claude Code add new fields
faster than any gateway. Every field that IS read is type-checked before it is used
(`fields.REQUEST`), so a wrongly typed one raises `TranslationError` naming its path and nothing
else ever escapes; so does input that cannot mean anything on the other side.
"""

from __future__ import annotations

import re
from typing import Any

from .fields import REQUEST as F
from .fields import describe
from .notes import note, note_unhandled
from .translate_errors import TranslationError
from .translate_messages_to_openai import anthropic_messages_to_openai
from .translate_shared import target_model, type_of

JSON = dict[str, Any]

# o1, o3-mini, o4-mini...: reasoning models that reject max_tokens and sampling parameters.
_O_SERIES = re.compile(r"o\d")
# OpenAI accepts at most four stop sequences.
_OPENAI_MAX_STOP = 4
_OPENAI_MAX_USER = 64
# thinking budget (tokens) -> reasoning_effort, for o-series targets.
_EFFORT_STEPS = ((4096, "low"), (16384, "medium"))

_ANTHROPIC_HANDLED = frozenset(
    {
        "model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
        "stop_sequences", "stream", "metadata", "tools", "tool_choice", "thinking",
    }
)  # fmt: skip


def is_o_series(model: str) -> bool:
    """Reasoning models take max_completion_tokens and reasoning_effort instead of sampling knobs."""
    return bool(_O_SERIES.match(model))


def anthropic_request_to_openai(body: JSON, *, model: str | None = None) -> tuple[JSON, list[str]]:
    """Anthropic Messages request -> OpenAI chat.completions request, plus notes on what was lost."""
    body = F.an_object(body, "request body")
    notes: list[str] = []
    target = target_model(body, model)
    out: JSON = {"model": target, "messages": anthropic_messages_to_openai(body, notes)}
    _a2o_sampling(body, out, target, notes)
    _a2o_tools(body, out, notes)
    _a2o_metadata(F.opt_object(body, "metadata"), out, notes)
    _a2o_thinking(F.opt_object(body, "thinking"), out, target, notes)
    note_unhandled(body, _ANTHROPIC_HANDLED, notes)
    return out, notes


def _a2o_sampling(body: JSON, out: JSON, target: str, notes: list[str]) -> None:
    reasoning = is_o_series(target)
    max_tokens = F.opt_int(body, "max_tokens")
    if max_tokens is not None:
        out["max_completion_tokens" if reasoning else "max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        value = F.opt_number(body, key)
        if value is None:
            continue
        if reasoning:
            note(notes, f"dropped {key} (not supported by {target})")
        else:
            out[key] = value
    if body.get("top_k") is not None:
        note(notes, "dropped top_k")
    stops = F.opt_list(body, "stop_sequences")
    if stops:
        F.strings(stops, "stop_sequences")
        if len(stops) > _OPENAI_MAX_STOP:
            note(notes, f"kept the first {_OPENAI_MAX_STOP} stop_sequences of {len(stops)}")
        out["stop"] = list(stops[:_OPENAI_MAX_STOP])
    if F.opt_bool(body, "stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}


def _a2o_metadata(metadata: JSON | None, out: JSON, notes: list[str]) -> None:
    if metadata is None:
        return
    user = F.opt_str(metadata, "user_id", "metadata")
    if user:
        out["user"] = user[:_OPENAI_MAX_USER]
    if any(key != "user_id" for key in metadata):
        note(notes, "dropped metadata other than user_id")


def _a2o_thinking(thinking: JSON | None, out: JSON, target: str, notes: list[str]) -> None:
    if thinking is None or F.opt_str(thinking, "type", "thinking") == "disabled":
        return
    budget = F.opt_int(thinking, "budget_tokens", "thinking")
    if is_o_series(target):
        out["reasoning_effort"] = _reasoning_effort(budget)
    else:
        note(notes, "dropped thinking")


def _reasoning_effort(budget: int | None) -> str:
    """Adaptive thinking (no budget) maps to the middle setting."""
    if budget is None:
        return "medium"
    for limit, effort in _EFFORT_STEPS:
        if budget <= limit:
            return effort
    return "high"


def _a2o_tools(body: JSON, out: JSON, notes: list[str]) -> None:
    tools = F.opt_objects(body, "tools")
    functions = [f for i, tool in enumerate(tools) if (f := _a2o_tool(tool, f"tools[{i}]", notes))]
    if functions:
        out["tools"] = functions
    choice = F.opt_object(body, "tool_choice")
    if choice is None:
        return
    kind = type_of(choice, "tool_choice")
    if not functions:
        if kind not in (None, "none", "auto"):
            note(notes, "dropped tool_choice (no function tools left)")
        return
    mapped = _a2o_tool_choice(choice, kind)
    if mapped is not None:
        out["tool_choice"] = mapped
    if F.opt_bool(choice, "disable_parallel_tool_use", "tool_choice"):
        out["parallel_tool_calls"] = False


def _a2o_tool(tool: JSON, where: str, notes: list[str]) -> JSON | None:
    """Custom tools become functions; Anthropic server tools (web_search, bash, text_editor...)
    run on Anthropic's side and have no OpenAI equivalent."""
    kind = type_of(tool, where)
    if kind not in (None, "custom"):
        note(notes, f"dropped server tool {describe(tool.get('name'))} ({kind})")
        return None
    if "cache_control" in tool:
        note(notes, "dropped cache_control")
    name = F.opt_str(tool, "name", where)
    if not name:
        raise TranslationError(f"{where}.name: a tool needs a name")
    schema = F.opt_object(tool, "input_schema", where)
    function: JSON = {
        "name": name,
        "parameters": F.storable(schema, f"{where}.input_schema") if schema else {"type": "object", "properties": {}},
    }
    description = F.opt_str(tool, "description", where)
    if description:
        function["description"] = description
    strict = F.opt_bool(tool, "strict", where)
    if strict is not None:
        function["strict"] = strict
    return {"type": "function", "function": function}


def _a2o_tool_choice(choice: JSON, kind: str | None) -> str | JSON | None:
    if kind == "tool":
        return {"type": "function", "function": {"name": F.opt_str(choice, "name", "tool_choice")}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
