"""Request bodies, Anthropic Messages -> OpenAI Chat Completions: the conversation.

The system prompt and the messages, block by block: text, tool_use as `tool_calls`, tool_result
as `tool` messages (kept right after the tool_calls they answer, as OpenAI insists), images and
documents as content parts. Thinking blocks, server-tool blocks and cache_control have no OpenAI
equivalent and become notes (`notes.py`). `translate_request_to_openai.py` translates the fields
around the conversation and calls `anthropic_messages_to_openai`.

Every field read is type-checked first (`fields.REQUEST`): a wrongly typed one raises
`TranslationError` naming its path (`messages[2].content[0].text: must be a string`).
"""

from __future__ import annotations

from typing import Any

from .fields import REQUEST as F
from .fields import path
from .notes import note
from .translate_errors import TranslationError
from .translate_shared import type_of

JSON = dict[str, Any]


def anthropic_messages_to_openai(body: JSON, notes: list[str]) -> list[JSON]:
    """The system prompt and messages of an Anthropic request as OpenAI messages."""
    out: list[JSON] = []
    system = _a2o_text(body.get("system"), "system", notes)
    if system:
        out.append({"role": "system", "content": system})
    messages = F.a_list(body.get("messages"), "messages")
    for i, message in enumerate(messages):
        out.extend(_a2o_message(F.an_object(message, f"messages[{i}]"), f"messages[{i}]", notes))
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
        note(notes, "dropped cache_control")
    return blocks


def _text(block: JSON, where: str) -> str:
    return F.opt_str(block, "text", where) or ""


def _a2o_text(content: object, where: str, notes: list[str]) -> str:
    """System prompts and mid-conversation system messages carry text only."""
    texts = []
    for j, block in enumerate(_blocks(content, where, notes)):
        kind = type_of(block, path(where, j))
        if kind == "text":
            texts.append(_text(block, path(where, j)))
        else:
            note(notes, f"dropped {kind} block in {where}")
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
        note(notes, f"treated message role {role!r} as user")
    return _a2o_user(_blocks(message.get("content"), content, notes), content, notes)


def _a2o_assistant(blocks: list[JSON], where: str, notes: list[str]) -> JSON:
    texts: list[str] = []
    calls: list[JSON] = []
    for j, block in enumerate(blocks):
        at = path(where, j)
        kind = type_of(block, at)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            calls.append(_a2o_tool_call(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            note(notes, "dropped thinking blocks")
        else:
            note(notes, f"dropped {kind} block")
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
        kind = type_of(block, at)
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
            note(notes, f"dropped {kind} block")
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
        kind = type_of(part, path(content, j))
        if kind == "text":
            texts.append(_text(part, path(content, j)))
        elif kind == "image":
            images.extend(_a2o_image(part, path(content, j), notes))
        else:
            note(notes, f"dropped {kind} block in tool_result")
    text = "\n".join(texts)
    if images:
        note(notes, "moved tool_result images into a user message")
        text = text or "(the result is the image that follows)"
    if F.opt_bool(block, "is_error", where):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _source(block: JSON, where: str) -> tuple[JSON, str | None, str]:
    """(source, its type, its path) of an image or document block."""
    source = F.opt_object(block, "source", where) or {}
    at = path(where, "source")
    return source, type_of(source, at), at


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
        note(notes, f"dropped image with {kind} source")
        return []
    return [{"type": "image_url", "image_url": {"url": url}}]


def _a2o_document(block: JSON, where: str, notes: list[str]) -> list[JSON]:
    source, kind, at = _source(block, where)
    if kind == "text":
        return [{"type": "text", "text": F.opt_str(source, "data", at) or ""}]
    if kind == "base64":
        filename = F.opt_str(block, "title", where) or "document.pdf"
        return [{"type": "file", "file": {"filename": filename, "file_data": _base64_url(source, at)}}]
    note(notes, f"dropped document with {kind} source")
    return []
