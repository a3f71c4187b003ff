"""Request bodies, OpenAI Responses API -> Anthropic Messages.

`responses_request_to_anthropic` returns `(request, notes)` like the other request translators
(`notes.py`). The Responses conversation is a flat list of items; Anthropic wants alternating
messages of content blocks, so items are turned into blocks and consecutive blocks of one role
are merged (parallel `function_call`s become one assistant turn of `tool_use`s, their
`function_call_output`s one user turn of `tool_result`s, as Anthropic insists).

    instructions, system/developer messages   system (in order)
    message user/assistant                    text, images (input_image), refusals as text
    function_call / function_call_output      tool_use / tool_result (call_id made to fit)
    reasoning                                 a thinking block when its encrypted_content was
                                              made by this gateway from an Anthropic answer
                                              (`responses_reasoning.py`); dropped otherwise
    tools: function, namespace                tools (a namespace's tools flattened as
                                              `<namespace>__<name>`)
    tools: web_search and other server tools  dropped, with a note (a provider of another
                                              dialect cannot run OpenAI's hosted tools)
    reasoning.effort                          extended thinking with a budget per effort

`store`, `include`, `prompt_cache_key`, `client_metadata`, `service_tier` and `truncation` are
read by the gateway or have no Anthropic meaning and are ignored silently; other unknown fields
become notes. Every field read is type-checked (`fields.REQUEST`): a wrong type raises
`TranslationError` naming its path.
"""

from __future__ import annotations

from typing import Any

from .fields import REQUEST as F
from .fields import path
from .notes import note, note_unhandled
from .responses_reasoning import thinking_block
from .translate_errors import TranslationError
from .translate_messages_to_anthropic import _o2a_image
from .translate_shared import (
    anthropic_tool_id,
    parse_arguments,
    set_anthropic_tools,
    target_model,
    type_of,
)

JSON = dict[str, Any]

DEFAULT_MAX_TOKENS = 8192
THINKING_MAX_TOKENS = 16384
THINKING_BUDGET = {"low": 2048, "medium": 6144, "high": 12288, "xhigh": 12288}
NAMESPACE_SEPARATOR = "__"
_HANDLED = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "stream", "tools",
    "tool_choice", "parallel_tool_calls", "reasoning", "user", "safety_identifier", "metadata", "text",
    # read by the gateway, or meaningless once translated: ignored without a note
    "store", "include", "prompt_cache_key", "client_metadata", "service_tier", "truncation",
    "stream_options", "previous_response_id",
})  # fmt: skip
_SYSTEM_ROLES = ("system", "developer")


def responses_request_to_anthropic(body: JSON, *, model: str | None = None) -> tuple[JSON, list[str]]:
    """OpenAI responses.create request -> Anthropic Messages request, plus notes on what was lost."""
    body = F.an_object(body, "request body")
    notes: list[str] = []
    system: list[str] = []
    instructions = F.opt_str(body, "instructions")
    if instructions:
        system.append(instructions)
    messages = _conversation(body.get("input"), system, notes)
    out: JSON = {"model": target_model(body, model), "max_tokens": DEFAULT_MAX_TOKENS, "messages": messages}
    if system:
        out["system"] = "\n\n".join(system)
    _sampling(body, out, notes)
    _thinking(body, out)
    _tools(body, out, notes)
    user = F.opt_str(body, "safety_identifier") or F.opt_str(body, "user")
    if user:
        out["metadata"] = {"user_id": user}
    _text_format(F.opt_object(body, "text"), notes)
    note_unhandled(body, _HANDLED, notes)
    return out, notes


# ---------------------------------------------------------------- the conversation


def _conversation(raw: object, system: list[str], notes: list[str]) -> list[JSON]:
    if isinstance(raw, str):
        return [{"role": "user", "content": [{"type": "text", "text": raw}]}]
    turns: list[JSON] = []
    for i, item in enumerate(F.objects(raw, "input")):
        where = f"input[{i}]"
        kind = type_of(item, where) or ("message" if "role" in item else None)
        if kind == "message":
            role = F.opt_str(item, "role", where)
            if role in _SYSTEM_ROLES:
                blocks = _content(item.get("content"), path(where, "content"), notes)
                text = "\n".join(b["text"] for b in blocks if b["type"] == "text")
                if text:
                    system.append(text)
                continue
            if role not in ("user", "assistant"):
                raise TranslationError(f"{where}.role: must be user, assistant, system or developer")
            _append(turns, role, _content(item.get("content"), path(where, "content"), notes))
        elif kind == "function_call":
            _append(turns, "assistant", [_tool_use(item, where)])
        elif kind == "function_call_output":
            _append(turns, "user", [_tool_result(item, where, notes)])
        elif kind == "reasoning":
            block = thinking_block(item, where)
            if block is None:
                note(notes, "dropped reasoning made by another provider")
            else:
                _append(turns, "assistant", [block])
        else:
            note(notes, f"dropped {kind} input item")
    return [turn for turn in turns if turn["content"]]


def _append(turns: list[JSON], role: str, blocks: list[JSON]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def _content(content: object, at: str, notes: list[str]) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[JSON] = []
    for i, part in enumerate(F.objects(content, at)):
        part_at = path(at, i)
        kind = type_of(part, part_at)
        if kind in ("input_text", "output_text", "text"):
            blocks.append({"type": "text", "text": F.opt_str(part, "text", part_at) or ""})
        elif kind == "refusal":
            blocks.append({"type": "text", "text": F.opt_str(part, "refusal", part_at) or ""})
        elif kind == "input_image":
            url = F.opt_str(part, "image_url", part_at)
            if url is None:
                note(notes, "dropped input_image given by file_id")
                continue
            blocks.append(_o2a_image({"image_url": {"url": url, "detail": part.get("detail")}}, part_at, notes))
        else:
            note(notes, f"dropped {kind} content part")
    return [b for b in blocks if b["type"] != "text" or b["text"]]


def _tool_use(item: JSON, where: str) -> JSON:
    name = F.opt_str(item, "name", where)
    if not name:
        raise TranslationError(f"{where}.name: a function_call needs a name")
    namespace = F.opt_str(item, "namespace", where)
    return {
        "type": "tool_use",
        "id": anthropic_tool_id(item.get("call_id"), path(where, "call_id")),
        "name": f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name,
        "input": parse_arguments(item.get("arguments"), path(where, "arguments")),
    }


def _tool_result(item: JSON, where: str, notes: list[str]) -> JSON:
    output = item.get("output")
    at = path(where, "output")
    if isinstance(output, list):
        content: object = _content(output, at, notes)
    elif isinstance(output, str) or output is None:
        content = output or ""
    else:
        raise F.fail(at, "a string or a list of content parts")
    return {"type": "tool_result", "tool_use_id": anthropic_tool_id(item.get("call_id"), path(where, "call_id")),
            "content": content}


# ---------------------------------------------------------------- the settings around it


def _sampling(body: JSON, out: JSON, notes: list[str]) -> None:
    limit = F.opt_int(body, "max_output_tokens")
    if limit is not None:
        out["max_tokens"] = limit
    temperature = F.opt_number(body, "temperature")
    if temperature is not None:
        if temperature > 1:
            note(notes, f"lowered temperature {temperature} to 1 (Anthropic's maximum)")
        out["temperature"] = min(temperature, 1)
    top_p = F.opt_number(body, "top_p")
    if top_p is not None:
        out["top_p"] = top_p
    if F.opt_bool(body, "stream"):
        out["stream"] = True


def _thinking(body: JSON, out: JSON) -> None:
    """reasoning.effort as extended thinking; `summary` needs nothing (thinking text is the summary)."""
    reasoning = F.opt_object(body, "reasoning") or {}
    effort = F.opt_str(reasoning, "effort", "reasoning")
    budget = THINKING_BUDGET.get(effort or "")
    if budget is None:
        return
    if "max_output_tokens" not in body:
        out["max_tokens"] = THINKING_MAX_TOKENS
    if out["max_tokens"] <= budget:
        budget = out["max_tokens"] // 2
    if budget >= 1024:  # Anthropic's minimum budget
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        out.pop("temperature", None)  # thinking allows no temperature but 1
        out.pop("top_p", None)


def _text_format(text: JSON | None, notes: list[str]) -> None:
    if text is None:
        return
    format_ = F.opt_object(text, "format", "text")
    kind = type_of(format_, "text.format") if format_ else None
    if kind not in (None, "text"):
        note(notes, f"dropped text.format ({kind})")
    if text.get("verbosity") is not None:
        note(notes, "dropped text.verbosity")


def _tools(body: JSON, out: JSON, notes: list[str]) -> None:
    tools: list[JSON] = []
    for i, tool in enumerate(F.opt_objects(body, "tools")):
        tools.extend(_tool(tool, f"tools[{i}]", notes))
    if tools:
        set_anthropic_tools(out, tools, _tool_choice(body.get("tool_choice"), notes), F.opt_bool(body, "parallel_tool_calls"))


def _tool(tool: JSON, where: str, notes: list[str], prefix: str = "") -> list[JSON]:
    kind = type_of(tool, where)
    if kind == "namespace":
        name = F.opt_str(tool, "name", where)
        if not name:
            raise TranslationError(f"{where}.name: a namespace needs a name")
        return [t for i, inner in enumerate(F.opt_objects(tool, "tools", where))
                for t in _tool(inner, f"{where}.tools[{i}]", notes, name + NAMESPACE_SEPARATOR)]
    if kind != "function":
        note(notes, f"dropped {kind} tool")
        return []
    name = F.opt_str(tool, "name", where)
    if not name:
        raise TranslationError(f"{where}.name: a function needs a name")
    schema = F.opt_object(tool, "parameters", where)
    out: JSON = {
        "name": prefix + name,
        "input_schema": F.storable(schema, f"{where}.parameters") if schema else {"type": "object", "properties": {}},
    }
    description = F.opt_str(tool, "description", where)
    if description:
        out["description"] = description
    return [out]


def _tool_choice(choice: object, notes: list[str]) -> JSON | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mapped = {"auto": "auto", "required": "any", "none": "none"}.get(choice)
        return {"type": mapped} if mapped else None
    choice = F.an_object(choice, "tool_choice")
    if type_of(choice, "tool_choice") == "function":
        name = F.opt_str(choice, "name", "tool_choice")
        if name:
            return {"type": "tool", "name": name}
    note(notes, "dropped tool_choice")
    return None


def namespaced_tools(body: JSON) -> dict[str, tuple[str, str]]:
    """Flattened tool name -> (namespace, name), to give an answer's calls their namespace back."""
    out: dict[str, tuple[str, str]] = {}
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict) and tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
            for inner in tool.get("tools") or ():
                if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                    out[tool["name"] + NAMESPACE_SEPARATOR + inner["name"]] = (tool["name"], inner["name"])
    return out
