"""Request bodies, OpenAI Chat Completions -> Anthropic Messages: the top-level fields.

`openai_request_to_anthropic` returns `(request, notes)`; a note names something that has no
Anthropic equivalent and was dropped or approximated (`notes.py`). Here are the settings around
the conversation (max_tokens, which Anthropic requires, sampling, stop, tools and tool_choice,
user, response_format); the conversation itself is `translate_messages_to_anthropic.py`.

Unknown fields become notes, never exceptions, because clients add new fields faster than any
gateway. Every field that IS read is type-checked before it is used (`fields.REQUEST`), so a
wrongly typed one raises `TranslationError` naming its path and nothing else ever escapes; so
does input that cannot mean anything on the other side (`n > 1`).
"""

from __future__ import annotations

from typing import Any

from .fields import REQUEST as F
from .fields import path
from .notes import note, note_unhandled
from .translate_errors import TranslationError
from .translate_messages_to_anthropic import openai_messages_to_anthropic
from .translate_shared import set_anthropic_tools, target_model, type_of

JSON = dict[str, Any]

_ANTHROPIC_DEFAULT_MAX_TOKENS = 4096

_OPENAI_HANDLED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
        "stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "user",
        "response_format",
    }
)  # fmt: skip


def openai_request_to_anthropic(body: JSON, *, model: str | None = None) -> tuple[JSON, list[str]]:
    """OpenAI chat.completions request -> Anthropic Messages request, plus notes on what was lost."""
    body = F.an_object(body, "request body")
    notes: list[str] = []
    target = target_model(body, model)
    if F.opt_int(body, "n") not in (None, 1):
        raise TranslationError("n: n > 1 is not supported by Anthropic models")
    system, messages = openai_messages_to_anthropic(body.get("messages"), notes)
    out: JSON = {"model": target, "max_tokens": _o2a_max_tokens(body), "messages": messages}
    if system:
        out["system"] = system
    _o2a_sampling(body, out, notes)
    _o2a_tools(body, out, notes)
    user = F.opt_str(body, "user")
    if user:
        out["metadata"] = {"user_id": user}
    _o2a_response_format(F.opt_object(body, "response_format"), notes)
    note_unhandled(body, _OPENAI_HANDLED, notes)
    return out, notes


def _o2a_max_tokens(body: JSON) -> int:
    """Anthropic requires max_tokens; OpenAI leaves it optional."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = F.opt_int(body, key)
        if value is not None:
            return value
    return _ANTHROPIC_DEFAULT_MAX_TOKENS


def _o2a_sampling(body: JSON, out: JSON, notes: list[str]) -> None:
    temperature = F.opt_number(body, "temperature")
    if temperature is not None:
        if temperature > 1:
            note(notes, f"lowered temperature {temperature} to 1 (Anthropic's maximum)")
        out["temperature"] = min(temperature, 1)
    top_p = F.opt_number(body, "top_p")
    if top_p is not None:
        out["top_p"] = top_p
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list):
        if stop:
            out["stop_sequences"] = list(F.strings(stop, "stop"))
    elif stop is not None:
        raise F.fail("stop", "a string or a list of strings")
    if F.opt_bool(body, "stream"):
        out["stream"] = True
    # Anthropic always reports usage in a stream; include_usage is read by the gateway itself.
    options = F.opt_object(body, "stream_options")
    if options is not None:
        F.opt_bool(options, "include_usage", "stream_options")


def _o2a_response_format(response_format: JSON | None, notes: list[str]) -> None:
    if response_format is None:
        return
    kind = type_of(response_format, "response_format")
    if kind not in (None, "text"):
        note(notes, f"dropped response_format ({kind})")


def _o2a_tools(body: JSON, out: JSON, notes: list[str]) -> None:
    tools = [
        t for i, tool in enumerate(F.opt_objects(body, "tools")) if (t := _o2a_tool(tool, f"tools[{i}]", notes))
    ]
    if tools:
        set_anthropic_tools(out, tools, _o2a_tool_choice(body.get("tool_choice"), notes), F.opt_bool(body, "parallel_tool_calls"))


def _o2a_tool(tool: JSON, where: str, notes: list[str]) -> JSON | None:
    kind = type_of(tool, where)
    if kind != "function":
        note(notes, f"dropped {kind} tool")
        return None
    at = path(where, "function")
    function = F.an_object(tool.get("function"), at)
    name = F.opt_str(function, "name", at)
    if not name:
        raise TranslationError(f"{at}.name: a function needs a name")
    schema = F.opt_object(function, "parameters", at)
    out: JSON = {
        "name": name,
        "input_schema": F.storable(schema, f"{at}.parameters") if schema else {"type": "object", "properties": {}},
    }
    description = F.opt_str(function, "description", at)
    if description:
        out["description"] = description
    return out


def _o2a_tool_choice(choice: object, notes: list[str]) -> JSON | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mapped = {"auto": "auto", "required": "any", "none": "none"}.get(choice)
        return {"type": mapped} if mapped else None
    if not isinstance(choice, dict):
        raise F.fail("tool_choice", "a string or an object")
    if type_of(choice, "tool_choice") == "function":
        function = F.opt_object(choice, "function", "tool_choice") or {}
        return {"type": "tool", "name": F.opt_str(function, "name", "tool_choice.function")}
    note(notes, "dropped tool_choice")
    return None
