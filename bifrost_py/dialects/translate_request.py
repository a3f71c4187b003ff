"""Request bodies, Anthropic Messages ⇄ OpenAI Chat Completions.

Each function returns `(request, notes)`. A note is a short human-readable string naming something
that has no equivalent on the other side and was dropped or approximated ("dropped cache_control",
"dropped thinking"); each note appears once. Unknown fields and roles become notes, never
exceptions, because clients such as Claude Code add new fields faster than any gateway; only input
that cannot mean anything on the other side raises `TranslationError`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

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
    target = model or body.get("model")
    if not isinstance(target, str) or not target:
        raise TranslationError("model is required")
    return target


def _require_object(value: object, where: str) -> JSON:
    if not isinstance(value, dict):
        raise TranslationError(f"{where} must be an object")
    return value


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


def is_o_series(model: str) -> bool:
    """Reasoning models take max_completion_tokens and reasoning_effort instead of sampling knobs."""
    return bool(_O_SERIES.match(model))


def anthropic_tool_id(raw: object, where: str) -> str:
    """Anthropic ids must match ^[a-zA-Z0-9_-]+$; other providers' ids are made to fit, the same
    way every time so a tool_use and its tool_result still pair up."""
    if not isinstance(raw, str) or not raw:
        raise TranslationError(f"{where} needs a non-empty id")
    return _TOOL_ID_UNSAFE.sub("_", raw)


def parse_arguments(raw: object, where: str) -> JSON:
    """OpenAI carries tool input as a JSON string; Anthropic needs the object itself."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw) if isinstance(raw, (str, bytes)) else None
    except orjson.JSONDecodeError as exc:
        raise TranslationError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TranslationError(f"{where} must be a JSON object")
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
    _a2o_metadata(body.get("metadata"), out, notes)
    _a2o_thinking(body.get("thinking"), out, target, notes)
    _note_unhandled(body, _ANTHROPIC_HANDLED, notes)
    return out, notes


def _a2o_sampling(body: JSON, out: JSON, target: str, notes: list[str]) -> None:
    reasoning = is_o_series(target)
    if body.get("max_tokens") is not None:
        out["max_completion_tokens" if reasoning else "max_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is None:
            continue
        if reasoning:
            _note(notes, f"dropped {key} (not supported by {target})")
        else:
            out[key] = body[key]
    if body.get("top_k") is not None:
        _note(notes, "dropped top_k")
    stops = body.get("stop_sequences")
    if stops:
        if len(stops) > _OPENAI_MAX_STOP:
            _note(notes, f"kept the first {_OPENAI_MAX_STOP} stop_sequences of {len(stops)}")
        out["stop"] = list(stops[:_OPENAI_MAX_STOP])
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}


def _a2o_metadata(metadata: object, out: JSON, notes: list[str]) -> None:
    if not isinstance(metadata, dict):
        return
    user = metadata.get("user_id")
    if isinstance(user, str) and user:
        out["user"] = user[:_OPENAI_MAX_USER]
    if any(key != "user_id" for key in metadata):
        _note(notes, "dropped metadata other than user_id")


def _a2o_thinking(thinking: object, out: JSON, target: str, notes: list[str]) -> None:
    if not isinstance(thinking, dict) or thinking.get("type") == "disabled":
        return
    if is_o_series(target):
        out["reasoning_effort"] = _reasoning_effort(thinking.get("budget_tokens"))
    else:
        _note(notes, "dropped thinking")


def _reasoning_effort(budget: object) -> str:
    """Adaptive thinking (no budget) maps to the middle setting."""
    if not isinstance(budget, int):
        return "medium"
    for limit, effort in _EFFORT_STEPS:
        if budget <= limit:
            return effort
    return "high"


def _a2o_tools(body: JSON, out: JSON, notes: list[str]) -> None:
    tools = [_a2o_tool(tool, notes) for tool in body.get("tools") or ()]
    functions = [tool for tool in tools if tool is not None]
    if functions:
        out["tools"] = functions
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    if not functions:
        if choice.get("type") not in (None, "none", "auto"):
            _note(notes, "dropped tool_choice (no function tools left)")
        return
    mapped = _a2o_tool_choice(choice)
    if mapped is not None:
        out["tool_choice"] = mapped
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False


def _a2o_tool(tool: object, notes: list[str]) -> JSON | None:
    """Custom tools become functions; Anthropic server tools (web_search, bash, text_editor...)
    run on Anthropic's side and have no OpenAI equivalent."""
    tool = _require_object(tool, "tools[]")
    kind = tool.get("type")
    if kind not in (None, "custom"):
        _note(notes, f"dropped server tool {tool.get('name')!r} ({kind})")
        return None
    if "cache_control" in tool:
        _note(notes, "dropped cache_control")
    function: JSON = {
        "name": tool.get("name"),
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _a2o_tool_choice(choice: JSON) -> str | JSON | None:
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


def _a2o_messages(body: JSON, notes: list[str]) -> list[JSON]:
    out: list[JSON] = []
    system = _a2o_text(body.get("system"), "system", notes)
    if system:
        out.append({"role": "system", "content": system})
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise TranslationError("messages must be a list")
    for i, message in enumerate(messages):
        out.extend(_a2o_message(_require_object(message, f"messages[{i}]"), i, notes))
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
        raise TranslationError(f"{where} must be a string or a list of content blocks")
    blocks = [_require_object(block, f"{where}[]") for block in content]
    if any("cache_control" in block for block in blocks):
        _note(notes, "dropped cache_control")
    return blocks


def _a2o_text(content: object, where: str, notes: list[str]) -> str:
    """System prompts and mid-conversation system messages carry text only."""
    texts = []
    for block in _blocks(content, where, notes):
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        else:
            _note(notes, f"dropped {block.get('type')} block in {where}")
    return "\n\n".join(texts)


def _a2o_message(message: JSON, i: int, notes: list[str]) -> list[JSON]:
    role = message.get("role")
    where = f"messages[{i}].content"
    if role == "system":
        # Claude Code sends these mid-conversation; OpenAI takes system messages anywhere.
        return [{"role": "system", "content": _a2o_text(message.get("content"), where, notes)}]
    if role == "assistant":
        return [_a2o_assistant(_blocks(message.get("content"), where, notes), i, notes)]
    if role != "user":
        _note(notes, f"treated message role {role!r} as user")
    return _a2o_user(_blocks(message.get("content"), where, notes), i, notes)


def _a2o_assistant(blocks: list[JSON], i: int, notes: list[str]) -> JSON:
    texts: list[str] = []
    calls: list[JSON] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(_a2o_tool_call(block, i))
        elif kind in ("thinking", "redacted_thinking"):
            _note(notes, "dropped thinking blocks")
        else:
            _note(notes, f"dropped {kind} block")
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _a2o_tool_call(block: JSON, i: int) -> JSON:
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"messages[{i}]: tool_use block needs a name")
    call_id = block.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"messages[{i}]: tool_use block needs an id")
    arguments = _json_text(block.get("input") or {})
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _a2o_user(blocks: list[JSON], i: int, notes: list[str]) -> list[JSON]:
    """Tool results become `tool` messages, which OpenAI wants right after the assistant's
    tool_calls; whatever else the user turn holds follows them as one user message."""
    results: list[JSON] = []
    parts: list[JSON] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "tool_result":
            result, images = _a2o_tool_result(block, i, notes)
            results.append(result)
            parts.extend(images)
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text") or ""})
        elif kind == "image":
            parts.extend(_a2o_image(block, notes))
        elif kind == "document":
            parts.extend(_a2o_document(block, notes))
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


def _a2o_tool_result(block: JSON, i: int, notes: list[str]) -> tuple[JSON, list[JSON]]:
    """OpenAI tool messages hold text only, so images in a result move to the user message that
    follows the tool messages."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"messages[{i}]: tool_result block needs a tool_use_id")
    texts: list[str] = []
    images: list[JSON] = []
    for part in _blocks(block.get("content"), f"messages[{i}] tool_result", notes):
        if part.get("type") == "text":
            texts.append(part.get("text") or "")
        elif part.get("type") == "image":
            images.extend(_a2o_image(part, notes))
        else:
            _note(notes, f"dropped {part.get('type')} block in tool_result")
    text = "\n".join(texts)
    if images:
        _note(notes, "moved tool_result images into a user message")
        text = text or "(the result is the image that follows)"
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _a2o_image(block: JSON, notes: list[str]) -> list[JSON]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url":
        url = str(source.get("url"))
    else:
        _note(notes, f"dropped image with {source.get('type')} source")
        return []
    return [{"type": "image_url", "image_url": {"url": url}}]


def _a2o_document(block: JSON, notes: list[str]) -> list[JSON]:
    source = block.get("source") or {}
    if source.get("type") == "text":
        return [{"type": "text", "text": source.get("data") or ""}]
    if source.get("type") == "base64":
        data = f"data:{source.get('media_type')};base64,{source.get('data')}"
        filename = block.get("title") or "document.pdf"
        return [{"type": "file", "file": {"filename": filename, "file_data": data}}]
    _note(notes, f"dropped document with {source.get('type')} source")
    return []


# ---------------------------------------------------------------- OpenAI -> Anthropic


def openai_request_to_anthropic(body: JSON, *, model: str | None = None) -> tuple[JSON, list[str]]:
    """OpenAI chat.completions request -> Anthropic Messages request, plus notes on what was lost."""
    body = _require_object(body, "request body")
    notes: list[str] = []
    target = _target_model(body, model)
    if body.get("n") not in (None, 1):
        raise TranslationError("n > 1 is not supported by Anthropic models")
    system, messages = _o2a_messages(body.get("messages"), notes)
    out: JSON = {"model": target, "max_tokens": _o2a_max_tokens(body), "messages": messages}
    if system:
        out["system"] = system
    _o2a_sampling(body, out, notes)
    _o2a_tools(body, out, notes)
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    _o2a_response_format(body.get("response_format"), notes)
    _note_unhandled(body, _OPENAI_HANDLED, notes)
    return out, notes


def _o2a_max_tokens(body: JSON) -> int:
    """Anthropic requires max_tokens; OpenAI leaves it optional."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int):
            return value
    return _ANTHROPIC_DEFAULT_MAX_TOKENS


def _o2a_sampling(body: JSON, out: JSON, notes: list[str]) -> None:
    temperature = body.get("temperature")
    if temperature is not None:
        if temperature > 1:
            _note(notes, f"lowered temperature {temperature} to 1 (Anthropic's maximum)")
        out["temperature"] = min(temperature, 1)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = list(stop)
    if body.get("stream"):
        out["stream"] = True


def _o2a_response_format(response_format: object, notes: list[str]) -> None:
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        _note(notes, f"dropped response_format ({response_format.get('type')})")


def _o2a_tools(body: JSON, out: JSON, notes: list[str]) -> None:
    tools = [_o2a_tool(tool, notes) for tool in body.get("tools") or ()]
    tools = [tool for tool in tools if tool is not None]
    if not tools:
        return
    out["tools"] = tools
    choice = _o2a_tool_choice(body.get("tool_choice"), notes)
    if body.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def _o2a_tool(tool: object, notes: list[str]) -> JSON | None:
    tool = _require_object(tool, "tools[]")
    if tool.get("type") != "function":
        _note(notes, f"dropped {tool.get('type')} tool")
        return None
    function = _require_object(tool.get("function"), "tools[].function")
    out: JSON = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _o2a_tool_choice(choice: object, notes: list[str]) -> JSON | None:
    if isinstance(choice, str):
        mapped = {"auto": "auto", "required": "any", "none": "none"}.get(choice)
        return {"type": mapped} if mapped else None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    if choice is not None:
        _note(notes, "dropped tool_choice")
    return None


def _o2a_messages(messages: object, notes: list[str]) -> tuple[str, list[JSON]]:
    """Leading system/developer messages become `system`. Anthropic takes no system messages
    mid-conversation, so later ones are folded into the user turn; turns of the same role are
    merged because Anthropic wants user and assistant to alternate."""
    if not isinstance(messages, list):
        raise TranslationError("messages must be a list")
    system: list[str] = []
    turns: list[JSON] = []
    leading = True
    for i, message in enumerate(messages):
        message = _require_object(message, f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            text = _o2a_text(message.get("content"), f"messages[{i}].content")
            if leading:
                system.append(text)
            else:
                _note(notes, "folded a mid-conversation system message into the user turn")
                _append_turn(turns, "user", [{"type": "text", "text": f"System: {text}"}])
            continue
        leading = False
        role, blocks = _o2a_message(message, role, i, notes)
        _append_turn(turns, role, blocks)
    _tool_results_first(turns)
    _trim_final_assistant(turns)
    return "\n\n".join(text for text in system if text), turns


def _o2a_message(message: JSON, role: object, i: int, notes: list[str]) -> tuple[str, list[JSON]]:
    if message.get("name"):
        _note(notes, "dropped message name")
    if role == "user":
        return "user", _o2a_user(message.get("content"), i, notes)
    if role == "assistant":
        return "assistant", _o2a_assistant(message, i)
    if role == "tool":
        return "user", [_o2a_tool_result(message, i)]
    if role == "function":
        raise TranslationError(f"messages[{i}]: legacy role 'function' is not supported; use tools")
    raise TranslationError(f"messages[{i}]: unknown role {role!r}")


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
        raise TranslationError(f"{where} must be a string or a list of content parts")
    texts = [
        part.get("text") or part.get("refusal") or "" for part in content if isinstance(part, dict)
    ]
    return "".join(texts)


def _o2a_user(content: object, i: int, notes: list[str]) -> list[JSON]:
    where = f"messages[{i}].content"
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content or ""}]
    if not isinstance(content, list):
        raise TranslationError(f"{where} must be a string or a list of content parts")
    blocks: list[JSON] = []
    for part in content:
        blocks.extend(_o2a_part(_require_object(part, f"{where}[]"), where, notes))
    return blocks


def _o2a_part(part: JSON, where: str, notes: list[str]) -> list[JSON]:
    kind = part.get("type")
    if kind == "text":
        return [{"type": "text", "text": part.get("text") or ""}]
    if kind == "image_url":
        return [_o2a_image(part, where, notes)]
    if kind == "file":
        return _o2a_file(part.get("file") or {}, notes)
    _note(notes, f"dropped {kind} content part")
    return []


def _o2a_image(part: JSON, where: str, notes: list[str]) -> JSON:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if isinstance(image, dict) and image.get("detail") not in (None, "auto"):
        _note(notes, "dropped image detail")
    if not isinstance(url, str):
        raise TranslationError(f"{where}: image_url needs a url")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise TranslationError(f"{where}: image_url must be an http(s) or base64 data URL")
    source = {"type": "base64", "media_type": match[1], "data": match[3]}
    return {"type": "image", "source": source}


def _o2a_file(file: JSON, notes: list[str]) -> list[JSON]:
    match = _DATA_URL.fullmatch(file.get("file_data") or "")
    if match is None:
        _note(notes, "dropped file part without inline file_data")
        return []
    block: JSON = {
        "type": "document",
        "source": {"type": "base64", "media_type": match[1], "data": match[3]},
    }
    if file.get("filename"):
        block["title"] = file["filename"]
    return [block]


def _o2a_assistant(message: JSON, i: int) -> list[JSON]:
    blocks: list[JSON] = []
    text = _o2a_text(message.get("content"), f"messages[{i}].content")
    if text:
        blocks.append({"type": "text", "text": text})
    if message.get("function_call"):
        raise TranslationError(f"messages[{i}]: legacy function_call is not supported; use tools")
    for j, call in enumerate(message.get("tool_calls") or ()):
        blocks.append(_o2a_tool_use(_require_object(call, f"messages[{i}].tool_calls[{j}]"), i, j))
    return blocks


def _o2a_tool_use(call: JSON, i: int, j: int) -> JSON:
    where = f"messages[{i}].tool_calls[{j}]"
    function = _require_object(call.get("function"), f"{where}.function")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{where}.function needs a name")
    return {
        "type": "tool_use",
        "id": anthropic_tool_id(call.get("id"), where),
        "name": name,
        "input": parse_arguments(function.get("arguments"), f"{where}.function.arguments"),
    }


def _o2a_tool_result(message: JSON, i: int) -> JSON:
    block: JSON = {
        "type": "tool_result",
        "tool_use_id": anthropic_tool_id(message.get("tool_call_id"), f"messages[{i}] (tool)"),
    }
    text = _o2a_text(message.get("content"), f"messages[{i}].content")
    if text:
        block["content"] = text
    return block
