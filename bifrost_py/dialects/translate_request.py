"""Request bodies, Anthropic Messages ⇄ OpenAI Chat Completions.

Each function returns `(request, notes)`. A note is a short human-readable string naming something
that has no equivalent on the other side and was dropped or approximated ("dropped cache_control",
"dropped thinking"); each note appears once. Unknown fields and roles become notes, never
exceptions, because clients such as Claude Code add new fields faster than any gateway. Every field
that IS read is type-checked before it is used (`fields.REQUEST`), so a wrongly typed one raises
`TranslationError` naming its path (`messages[2].content[0].text: must be a string`) and nothing
else ever escapes; so does input that cannot mean anything on the other side.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from .fields import REQUEST as F
from .fields import describe, path
from .translate_errors import TranslationError

JSON = dict[str, Any]

# o1, o3-mini, o4-mini...: reasoning models that reject max_tokens and sampling parameters.
_O_SERIES = re.compile(r"o\d")
_DATA_URL = re.compile(r"data:([^;,]+)((?:;[^;,]*)*);base64,(.*)", re.DOTALL)
_TOOL_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
# OpenAI accepts at most four stop sequences.
_OPENAI_MAX_STOP = 4
_OPENAI_MAX_USER = 64
_ANTHROPIC_DEFAULT_MAX_TOKENS = 4096
# thinking budget (tokens) -> reasoning_effort, for o-series targets.
_EFFORT_STEPS = ((4096, "low"), (16384, "medium"))

_ANTHROPIC_HANDLED = frozenset(
    {
        "model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
        "stop_sequences", "stream", "metadata", "tools", "tool_choice", "thinking",
    }
)  # fmt: skip
_OPENAI_HANDLED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
        "stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "user",
        "response_format",
    }
)  # fmt: skip


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def _note_unhandled(body: JSON, handled: frozenset[str], notes: list[str]) -> None:
    """Name every top-level field we did not translate, so a lost setting is visible in logs."""
    for key in body:
        if key not in handled and body[key] is not None:
            _note(notes, f"dropped {key}")


def _target_model(body: JSON, model: str | None) -> str:
    target = model or F.opt_str(body, "model")
    if not target:
        raise TranslationError("model is required")
    return target


def _require_object(value: object, where: str) -> JSON:
    return F.an_object(value, where)


def _kind(block: JSON, where: str) -> str | None:
    """The `type` of a content block, part or tool."""
    return F.opt_str(block, "type", where)


def is_o_series(model: str) -> bool:
    """Reasoning models take max_completion_tokens and reasoning_effort instead of sampling knobs."""
    return bool(_O_SERIES.match(model))


def anthropic_tool_id(raw: object, where: str) -> str:
    """Anthropic ids must match ^[a-zA-Z0-9_-]+$; other providers' ids are made to fit, the same
    way every time so a tool_use and its tool_result still pair up."""
    if not isinstance(raw, str) or not raw:
        raise TranslationError(f"{where}: needs a non-empty id")
    return _TOOL_ID_UNSAFE.sub("_", raw)


def parse_arguments(raw: object, where: str) -> JSON:
    """OpenAI carries tool input as a JSON string; Anthropic needs the object itself."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError as exc:
        raise TranslationError(f"{where}: is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TranslationError(f"{where}: must be a JSON object")
    return value


# ---------------------------------------------------------------- Anthropic -> OpenAI


def anthropic_request_to_openai(body: JSON, *, model: str | None = None) -> tuple[JSON, list[str]]:
    """Anthropic Messages request -> OpenAI chat.completions request, plus notes on what was lost."""
    body = _require_object(body, "request body")
    notes: list[str] = []
    target = _target_model(body, model)
    out: JSON = {"model": target, "messages": _a2o_messages(body, notes)}
    _a2o_sampling(body, out, target, notes)
    _a2o_tools(body, out, notes)
    _a2o_metadata(F.opt_object(body, "metadata"), out, notes)
    _a2o_thinking(F.opt_object(body, "thinking"), out, target, notes)
    _note_unhandled(body, _ANTHROPIC_HANDLED, notes)
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
            _note(notes, f"dropped {key} (not supported by {target})")
        else:
            out[key] = value
    if body.get("top_k") is not None:
        _note(notes, "dropped top_k")
    stops = F.opt_list(body, "stop_sequences")
    if stops:
        F.strings(stops, "stop_sequences")
        if len(stops) > _OPENAI_MAX_STOP:
            _note(notes, f"kept the first {_OPENAI_MAX_STOP} stop_sequences of {len(stops)}")
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
        _note(notes, "dropped metadata other than user_id")


def _a2o_thinking(thinking: JSON | None, out: JSON, target: str, notes: list[str]) -> None:
    if thinking is None or F.opt_str(thinking, "type", "thinking") == "disabled":
        return
    budget = F.opt_int(thinking, "budget_tokens", "thinking")
    if is_o_series(target):
        out["reasoning_effort"] = _reasoning_effort(budget)
    else:
        _note(notes, "dropped thinking")


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
    kind = _kind(choice, "tool_choice")
    if not functions:
        if kind not in (None, "none", "auto"):
            _note(notes, "dropped tool_choice (no function tools left)")
        return
    mapped = _a2o_tool_choice(choice, kind)
    if mapped is not None:
        out["tool_choice"] = mapped
    if F.opt_bool(choice, "disable_parallel_tool_use", "tool_choice"):
        out["parallel_tool_calls"] = False


def _a2o_tool(tool: JSON, where: str, notes: list[str]) -> JSON | None:
    """Custom tools become functions; Anthropic server tools (web_search, bash, text_editor...)
    run on Anthropic's side and have no OpenAI equivalent."""
    kind = _kind(tool, where)
    if kind not in (None, "custom"):
        _note(notes, f"dropped server tool {describe(tool.get('name'))} ({kind})")
        return None
    if "cache_control" in tool:
        _note(notes, "dropped cache_control")
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


def _a2o_messages(body: JSON, notes: list[str]) -> list[JSON]:
    out: list[JSON] = []
    system = _a2o_text(body.get("system"), "system", notes)
    if system:
        out.append({"role": "system", "content": system})
    messages = F.a_list(body.get("messages"), "messages")
    for i, message in enumerate(messages):
        out.extend(_a2o_message(_require_object(message, f"messages[{i}]"), f"messages[{i}]", notes))
    return _tool_messages_adjacent(out)


def _tool_messages_adjacent(messages: list[JSON]) -> list[JSON]:
    """OpenAI rejects anything between an assistant's tool_calls and their `tool` messages, so a
    system message that Claude Code placed there moves to just after the tool messages."""
    out: list[JSON] = []
    deferred: list[JSON] = []
    awaiting = False
    for message in messages:
        role = message["role"]
        if awaiting and role == "system":
            deferred.append(message)
            continue
        if role != "tool":
            out.extend(deferred)
            deferred.clear()
        out.append(message)
        awaiting = bool(message.get("tool_calls")) or (awaiting and role == "tool")
    return out + deferred


def _blocks(content: object, where: str, notes: list[str]) -> list[JSON]:
    """Anthropic content is a string or a list of blocks; always hand back blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}: must be a string or a list of content blocks")
    blocks = F.objects(content, where)
    if any("cache_control" in block for block in blocks):
        _note(notes, "dropped cache_control")
    return blocks


def _text(block: JSON, where: str) -> str:
    return F.opt_str(block, "text", where) or ""


def _a2o_text(content: object, where: str, notes: list[str]) -> str:
    """System prompts and mid-conversation system messages carry text only."""
    texts = []
    for j, block in enumerate(_blocks(content, where, notes)):
        kind = _kind(block, path(where, j))
        if kind == "text":
            texts.append(_text(block, path(where, j)))
        else:
            _note(notes, f"dropped {kind} block in {where}")
    return "\n\n".join(texts)


def _a2o_message(message: JSON, where: str, notes: list[str]) -> list[JSON]:
    role = F.opt_str(message, "role", where)
    content = path(where, "content")
    if role == "system":
        # Claude Code sends these mid-conversation; OpenAI takes system messages anywhere.
        return [{"role": "system", "content": _a2o_text(message.get("content"), content, notes)}]
    if role == "assistant":
        return [_a2o_assistant(_blocks(message.get("content"), content, notes), content, notes)]
    if role != "user":
        _note(notes, f"treated message role {role!r} as user")
    return _a2o_user(_blocks(message.get("content"), content, notes), content, notes)


def _a2o_assistant(blocks: list[JSON], where: str, notes: list[str]) -> JSON:
    texts: list[str] = []
    calls: list[JSON] = []
    for j, block in enumerate(blocks):
        at = path(where, j)
        kind = _kind(block, at)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            calls.append(_a2o_tool_call(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            _note(notes, "dropped thinking blocks")
        else:
            _note(notes, f"dropped {kind} block")
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _a2o_tool_call(block: JSON, where: str) -> JSON:
    name = F.opt_str(block, "name", where)
    if not name:
        raise TranslationError(f"{where}.name: a tool_use block needs a name")
    call_id = F.opt_str(block, "id", where)
    if not call_id:
        raise TranslationError(f"{where}.id: a tool_use block needs an id")
    arguments = F.dumps(F.opt_object(block, "input", where) or {}, path(where, "input"))
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _a2o_user(blocks: list[JSON], where: str, notes: list[str]) -> list[JSON]:
    """Tool results become `tool` messages, which OpenAI wants right after the assistant's
    tool_calls; whatever else the user turn holds follows them as one user message."""
    results: list[JSON] = []
    parts: list[JSON] = []
    for j, block in enumerate(blocks):
        at = path(where, j)
        kind = _kind(block, at)
        if kind == "tool_result":
            result, images = _a2o_tool_result(block, at, notes)
            results.append(result)
            parts.extend(images)
        elif kind == "text":
            parts.append({"type": "text", "text": _text(block, at)})
        elif kind == "image":
            parts.extend(_a2o_image(block, at, notes))
        elif kind == "document":
            parts.extend(_a2o_document(block, at, notes))
        else:
            _note(notes, f"dropped {kind} block")
    if parts:
        results.append({"role": "user", "content": _a2o_user_content(parts)})
    return results


def _a2o_user_content(parts: list[JSON]) -> str | list[JSON]:
    """A lone text stays a plain string, which every OpenAI-compatible server accepts."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        return str(parts[0]["text"])
    return parts


def _a2o_tool_result(block: JSON, where: str, notes: list[str]) -> tuple[JSON, list[JSON]]:
    """OpenAI tool messages hold text only, so images in a result move to the user message that
    follows the tool messages."""
    call_id = F.opt_str(block, "tool_use_id", where)
    if not call_id:
        raise TranslationError(f"{where}.tool_use_id: a tool_result block needs a tool_use_id")
    texts: list[str] = []
    images: list[JSON] = []
    content = path(where, "content")
    for j, part in enumerate(_blocks(block.get("content"), content, notes)):
        kind = _kind(part, path(content, j))
        if kind == "text":
            texts.append(_text(part, path(content, j)))
        elif kind == "image":
            images.extend(_a2o_image(part, path(content, j), notes))
        else:
            _note(notes, f"dropped {kind} block in tool_result")
    text = "\n".join(texts)
    if images:
        _note(notes, "moved tool_result images into a user message")
        text = text or "(the result is the image that follows)"
    if F.opt_bool(block, "is_error", where):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _source(block: JSON, where: str) -> tuple[JSON, str | None, str]:
    """(source, its type, its path) of an image or document block."""
    source = F.opt_object(block, "source", where) or {}
    at = path(where, "source")
    return source, _kind(source, at), at


def _base64_url(source: JSON, where: str) -> str:
    media_type = F.opt_str(source, "media_type", where)
    return f"data:{media_type};base64,{F.opt_str(source, 'data', where)}"


def _a2o_image(block: JSON, where: str, notes: list[str]) -> list[JSON]:
    source, kind, at = _source(block, where)
    if kind == "base64":
        url = _base64_url(source, at)
    elif kind == "url":
        url = str(F.opt_str(source, "url", at))
    else:
        _note(notes, f"dropped image with {kind} source")
        return []
    return [{"type": "image_url", "image_url": {"url": url}}]


def _a2o_document(block: JSON, where: str, notes: list[str]) -> list[JSON]:
    source, kind, at = _source(block, where)
    if kind == "text":
        return [{"type": "text", "text": F.opt_str(source, "data", at) or ""}]
    if kind == "base64":
        filename = F.opt_str(block, "title", where) or "document.pdf"
        return [{"type": "file", "file": {"filename": filename, "file_data": _base64_url(source, at)}}]
    _note(notes, f"dropped document with {kind} source")
    return []


# ---------------------------------------------------------------- OpenAI -> Anthropic


def openai_request_to_anthropic(body: JSON, *, model: str | None = None) -> tuple[JSON, list[str]]:
    """OpenAI chat.completions request -> Anthropic Messages request, plus notes on what was lost."""
    body = _require_object(body, "request body")
    notes: list[str] = []
    target = _target_model(body, model)
    if F.opt_int(body, "n") not in (None, 1):
        raise TranslationError("n: n > 1 is not supported by Anthropic models")
    system, messages = _o2a_messages(body.get("messages"), notes)
    out: JSON = {"model": target, "max_tokens": _o2a_max_tokens(body), "messages": messages}
    if system:
        out["system"] = system
    _o2a_sampling(body, out, notes)
    _o2a_tools(body, out, notes)
    user = F.opt_str(body, "user")
    if user:
        out["metadata"] = {"user_id": user}
    _o2a_response_format(F.opt_object(body, "response_format"), notes)
    _note_unhandled(body, _OPENAI_HANDLED, notes)
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
            _note(notes, f"lowered temperature {temperature} to 1 (Anthropic's maximum)")
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
    kind = _kind(response_format, "response_format")
    if kind not in (None, "text"):
        _note(notes, f"dropped response_format ({kind})")


def _o2a_tools(body: JSON, out: JSON, notes: list[str]) -> None:
    tools = [
        t for i, tool in enumerate(F.opt_objects(body, "tools")) if (t := _o2a_tool(tool, f"tools[{i}]", notes))
    ]
    if not tools:
        return
    out["tools"] = tools
    choice = _o2a_tool_choice(body.get("tool_choice"), notes)
    if F.opt_bool(body, "parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def _o2a_tool(tool: JSON, where: str, notes: list[str]) -> JSON | None:
    kind = _kind(tool, where)
    if kind != "function":
        _note(notes, f"dropped {kind} tool")
        return None
    at = path(where, "function")
    function = _require_object(tool.get("function"), at)
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
    if _kind(choice, "tool_choice") == "function":
        function = F.opt_object(choice, "function", "tool_choice") or {}
        return {"type": "tool", "name": F.opt_str(function, "name", "tool_choice.function")}
    _note(notes, "dropped tool_choice")
    return None


def _o2a_messages(messages: object, notes: list[str]) -> tuple[str, list[JSON]]:
    """Leading system/developer messages become `system`. Anthropic takes no system messages
    mid-conversation, so later ones are folded into the user turn; turns of the same role are
    merged because Anthropic wants user and assistant to alternate."""
    system: list[str] = []
    turns: list[JSON] = []
    leading = True
    for i, message in enumerate(F.a_list(messages, "messages")):
        where = f"messages[{i}]"
        message = _require_object(message, where)
        role = message.get("role")
        if role in ("system", "developer"):
            text = _o2a_text(message.get("content"), f"{where}.content")
            if leading:
                system.append(text)
            else:
                _note(notes, "folded a mid-conversation system message into the user turn")
                _append_turn(turns, "user", [{"type": "text", "text": f"System: {text}"}])
            continue
        leading = False
        role, blocks = _o2a_message(message, role, where, notes)
        _append_turn(turns, role, blocks)
    _tool_results_first(turns)
    _trim_final_assistant(turns)
    return "\n\n".join(text for text in system if text), turns


def _o2a_message(message: JSON, role: object, where: str, notes: list[str]) -> tuple[str, list[JSON]]:
    if message.get("name"):
        _note(notes, "dropped message name")
    if role == "user":
        return "user", _o2a_user(message.get("content"), f"{where}.content", notes)
    if role == "assistant":
        return "assistant", _o2a_assistant(message, where)
    if role == "tool":
        return "user", [_o2a_tool_result(message, where)]
    if role == "function":
        raise TranslationError(f"{where}.role: legacy role 'function' is not supported; use tools")
    raise TranslationError(f"{where}.role: unknown role {describe(role)}")


def _append_turn(turns: list[JSON], role: str, blocks: list[JSON]) -> None:
    # Anthropic rejects empty text blocks and empty turns.
    blocks = [block for block in blocks if block.get("type") != "text" or block["text"]]
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _tool_results_first(turns: list[JSON]) -> None:
    """Anthropic wants a user turn's tool_result blocks before anything else in it."""
    for turn in turns:
        if turn["role"] == "user":
            content = turn["content"]
            content.sort(key=lambda block: block.get("type") != "tool_result")


def _trim_final_assistant(turns: list[JSON]) -> None:
    """A final assistant turn is a prefill, and Anthropic rejects one ending in whitespace."""
    if turns and turns[-1]["role"] == "assistant":
        last = turns[-1]["content"][-1]
        if last.get("type") == "text":
            last["text"] = last["text"].rstrip()
            if not last["text"]:
                turns[-1]["content"].pop()
                if not turns[-1]["content"]:
                    turns.pop()


def _o2a_text(content: object, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise TranslationError(f"{where}: must be a string or a list of content parts")
    texts = []
    for j, part in enumerate(F.objects(content, where)):
        texts.append(F.opt_str(part, "text", path(where, j)) or F.opt_str(part, "refusal", path(where, j)) or "")
    return "".join(texts)


def _o2a_user(content: object, where: str, notes: list[str]) -> list[JSON]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content or ""}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}: must be a string or a list of content parts")
    blocks: list[JSON] = []
    for j, part in enumerate(F.objects(content, where)):
        blocks.extend(_o2a_part(part, path(where, j), notes))
    return blocks


def _o2a_part(part: JSON, where: str, notes: list[str]) -> list[JSON]:
    kind = _kind(part, where)
    if kind == "text":
        return [{"type": "text", "text": F.opt_str(part, "text", where) or ""}]
    if kind == "image_url":
        return [_o2a_image(part, where, notes)]
    if kind == "file":
        return _o2a_file(F.opt_object(part, "file", where) or {}, path(where, "file"), notes)
    _note(notes, f"dropped {kind} content part")
    return []


def _o2a_image(part: JSON, where: str, notes: list[str]) -> JSON:
    image = part.get("image_url")
    at = path(where, "image_url")
    if isinstance(image, dict):
        url = F.opt_str(image, "url", at)
        if image.get("detail") not in (None, "auto"):
            _note(notes, "dropped image detail")
    elif image is None or isinstance(image, str):
        url = image
    else:
        raise F.fail(at, "an object or a string")
    if url is None:
        raise TranslationError(f"{at}.url: image_url needs a url")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise TranslationError(f"{at}.url: image_url must be an http(s) or base64 data URL")
    source = {"type": "base64", "media_type": match[1], "data": match[3]}
    return {"type": "image", "source": source}


def _o2a_file(file: JSON, where: str, notes: list[str]) -> list[JSON]:
    match = _DATA_URL.fullmatch(F.opt_str(file, "file_data", where) or "")
    if match is None:
        _note(notes, "dropped file part without inline file_data")
        return []
    block: JSON = {
        "type": "document",
        "source": {"type": "base64", "media_type": match[1], "data": match[3]},
    }
    filename = F.opt_str(file, "filename", where)
    if filename:
        block["title"] = filename
    return [block]


def _o2a_assistant(message: JSON, where: str) -> list[JSON]:
    blocks: list[JSON] = []
    text = _o2a_text(message.get("content"), f"{where}.content")
    if text:
        blocks.append({"type": "text", "text": text})
    if message.get("function_call"):
        raise TranslationError(f"{where}.function_call: legacy function_call is not supported; use tools")
    for j, call in enumerate(F.opt_objects(message, "tool_calls", where)):
        blocks.append(_o2a_tool_use(call, f"{where}.tool_calls[{j}]"))
    return blocks


def _o2a_tool_use(call: JSON, where: str) -> JSON:
    at = path(where, "function")
    function = _require_object(call.get("function"), at)
    name = F.opt_str(function, "name", at)
    if not name:
        raise TranslationError(f"{at}.name: a tool call needs a name")
    arguments = parse_arguments(function.get("arguments"), f"{at}.arguments")
    return {
        "type": "tool_use",
        "id": anthropic_tool_id(call.get("id"), path(where, "id")),
        "name": name,
        "input": F.storable(arguments, f"{at}.arguments"),
    }


def _o2a_tool_result(message: JSON, where: str) -> JSON:
    block: JSON = {
        "type": "tool_result",
        "tool_use_id": anthropic_tool_id(message.get("tool_call_id"), f"{where}.tool_call_id"),
    }
    text = _o2a_text(message.get("content"), f"{where}.content")
    if text:
        block["content"] = text
    return block
