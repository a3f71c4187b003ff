"""Request bodies, OpenAI Chat Completions -> Anthropic Messages: the conversation.

The messages, part by part: system/developer messages as `system` (or folded into the user turn
mid-conversation), text, images and files as content blocks, `tool_calls` as tool_use blocks and
`tool` messages as tool_result blocks; turns of one role merged, since Anthropic wants user and
assistant to alternate. `translate_request_to_anthropic.py` translates the fields around the
conversation and calls `openai_messages_to_anthropic`.

Every field read is type-checked first (`fields.REQUEST`): a wrongly typed one raises
`TranslationError` naming its path (`messages[2].content[0].text: must be a string`); so does a
legacy `function` role or `function_call`, which has no Anthropic equivalent.
"""

from __future__ import annotations

import re
from typing import Any

from .fields import REQUEST as F
from .fields import describe, path
from .notes import note
from .translate_errors import TranslationError
from .translate_shared import anthropic_tool_id, parse_arguments, type_of

JSON = dict[str, Any]

_DATA_URL = re.compile(r"data:([^;,]+)((?:;[^;,]*)*);base64,(.*)", re.DOTALL)


def openai_messages_to_anthropic(messages: object, notes: list[str]) -> tuple[str, list[JSON]]:
    """Leading system/developer messages become `system`. Anthropic takes no system messages
    mid-conversation, so later ones are folded into the user turn; turns of the same role are
    merged because Anthropic wants user and assistant to alternate."""
    system: list[str] = []
    turns: list[JSON] = []
    leading = True
    for i, message in enumerate(F.a_list(messages, "messages")):
        where = f"messages[{i}]"
        message = F.an_object(message, where)
        role = message.get("role")
        if role in ("system", "developer"):
            text = _o2a_text(message.get("content"), f"{where}.content")
            if leading:
                system.append(text)
            else:
                note(notes, "folded a mid-conversation system message into the user turn")
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
        note(notes, "dropped message name")
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
    kind = type_of(part, where)
    if kind == "text":
        return [{"type": "text", "text": F.opt_str(part, "text", where) or ""}]
    if kind == "image_url":
        return [_o2a_image(part, where, notes)]
    if kind == "file":
        return _o2a_file(F.opt_object(part, "file", where) or {}, path(where, "file"), notes)
    note(notes, f"dropped {kind} content part")
    return []


def _o2a_image(part: JSON, where: str, notes: list[str]) -> JSON:
    image = part.get("image_url")
    at = path(where, "image_url")
    if isinstance(image, dict):
        url = F.opt_str(image, "url", at)
        if image.get("detail") not in (None, "auto"):
            note(notes, "dropped image detail")
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
        note(notes, "dropped file part without inline file_data")
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
    function = F.an_object(call.get("function"), at)
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
