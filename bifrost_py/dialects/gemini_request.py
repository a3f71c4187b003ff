"""An Anthropic Messages request as a Gemini generateContent request (see `dialects/gemini.py`
for what has no exact equivalent and how it is decided).

Translation never fails on a field it does not know: it drops it and says so in the notes. A
field it reads is type-checked first, so a wrongly typed one raises `TranslationError` naming
its path, and nothing else escapes. Tool schemas are the exception that proves the rule: they are
JSON Schema, which Gemini only partly accepts, so a keyword that does not fit is dropped (noted),
never an error; only a schema nested deeper than any real one is refused (`gemini_schema.py`).
Tool_use ids of ours give back the thought signatures inside them (`gemini_tool_ids.py`).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any

from .fields import REQUEST as F
from .fields import describe, path
from .gemini_schema import gemini_schema
from .gemini_tool_ids import SKIP_THOUGHT_SIGNATURE, needs_signature, signature_from_id
from .notes import note
from .translate_errors import TranslationError

JSON = dict[str, Any]
MAX_STOP_SEQUENCES = 5

_TOP_LEVEL_HANDLED = {
    "model", "stream", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
    "stop_sequences", "tools", "tool_choice", "thinking", "metadata",
}  # fmt: skip


def anthropic_request_to_gemini(body: Mapping[str, Any]) -> tuple[JSON, list[str]]:
    """(Gemini request body, notes on what could not be carried over)."""
    body = F.an_object(body, "request body")
    notes: list[str] = []
    out: JSON = {}
    system = _system_instruction(body.get("system"), notes)
    if system:
        out["systemInstruction"] = system
    messages = F.opt_objects(body, "messages")
    out["contents"] = _contents(messages, needs_signature(F.opt_str(body, "model")), notes)
    tools = _tools(F.opt_objects(body, "tools"), notes)
    if tools:
        out["tools"] = tools
        tool_config = _tool_config(F.opt_object(body, "tool_choice"), notes)
        if tool_config:
            out["toolConfig"] = tool_config
    generation = _generation_config(body, notes)
    if generation:
        out["generationConfig"] = generation
    for key in body:
        if key not in _TOP_LEVEL_HANDLED:
            note(notes, f"dropped unsupported field {key!r}")
    return out, notes


def _system_instruction(system: object, notes: list[str]) -> JSON | None:
    if system is None:
        return None
    if isinstance(system, str):
        return {"parts": [{"text": system}]} if system else None
    if not isinstance(system, list):
        raise F.fail("system", "a string or a list of content blocks")
    texts = [
        F.opt_str(block, "text", f"system[{j}]") or ""
        for j, block in enumerate(F.objects(system, "system"))
        if F.opt_str(block, "type", f"system[{j}]") == "text"
    ]
    if len(texts) != len(system):
        note(notes, "dropped non-text system blocks")
    parts = [{"text": text} for text in texts if text]
    return {"parts": parts} if parts else None


def _contents(messages: list[JSON], sign: bool, notes: list[str]) -> list[JSON]:
    """Gemini wants alternating user/model turns, so consecutive same-role messages merge."""
    names: dict[str, str] = {}
    contents: list[JSON] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = "model" if F.opt_str(message, "role", where) == "assistant" else "user"
        parts = _parts(message.get("content"), names, notes, path(where, "content"))
        if role == "model" and sign:
            _sign_first_call(parts)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _sign_first_call(parts: list[JSON]) -> None:
    calls = [part for part in parts if "functionCall" in part]
    if calls and "thoughtSignature" not in calls[0]:
        calls[0]["thoughtSignature"] = SKIP_THOUGHT_SIGNATURE


def _parts(content: object, names: dict[str, str], notes: list[str], where: str, nested: bool = False) -> list[JSON]:
    """Parts of a message's content. `nested` is content inside a block (a tool result, a
    content document), which holds only text and media, so it cannot nest further."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise F.fail(where, "a string or a list of content blocks")
    parts: list[JSON] = []
    for j, block in enumerate(F.objects(content, where)):
        parts.extend(_block_parts(block, names, notes, path(where, j), nested))
    return parts


def _block_parts(block: JSON, names: dict[str, str], notes: list[str], where: str, nested: bool) -> list[JSON]:
    kind = F.opt_str(block, "type", where)
    if kind == "text":
        text = F.opt_str(block, "text", where)
        return [{"text": text}] if text else []
    if kind in ("image", "document"):
        return _media_parts(block, notes, where, nested)
    if kind == "tool_use" and not nested:
        return [_function_call(block, names, where)]
    if kind == "tool_result" and not nested:
        return _function_response(block, names, notes, where)
    if kind in ("thinking", "redacted_thinking"):
        note(notes, "dropped thinking blocks (Gemini cannot verify Anthropic signatures)")
        return []
    note(notes, f"dropped unsupported content block {kind!r}" + (" inside a block" if nested else ""))
    return []


def _media_parts(block: JSON, notes: list[str], where: str, nested: bool) -> list[JSON]:
    at = path(where, "source")
    source = F.opt_object(block, "source", where) or {}
    kind = F.opt_str(source, "type", at)
    if kind == "base64":
        mime = F.opt_str(source, "media_type", at) or ""
        return [{"inlineData": {"mimeType": mime, "data": F.opt_str(source, "data", at) or ""}}]
    if kind == "text":
        text = F.opt_str(source, "data", at)
        return [{"text": text}] if text else []
    if kind == "content" and not nested:
        return _parts(source.get("content"), {}, notes, path(at, "content"), nested=True)
    if kind == "url":
        url = F.opt_str(source, "url", at) or ""
        default = "application/pdf" if block.get("type") == "document" else "image/jpeg"
        mime = mimetypes.guess_type(url)[0] or default
        return [{"fileData": {"mimeType": mime, "fileUri": url}}]
    note(notes, f"dropped {block.get('type')} with unsupported source {kind!r}")
    return []


def _function_call(block: JSON, names: dict[str, str], where: str) -> JSON:
    tool_id = F.opt_str(block, "id", where) or ""
    name = F.opt_str(block, "name", where) or ""
    names[tool_id] = name
    arguments = F.storable(F.opt_object(block, "input", where) or {}, path(where, "input"))
    part: JSON = {"functionCall": {"name": name, "args": arguments}}
    signature = signature_from_id(tool_id)
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(block: JSON, names: dict[str, str], notes: list[str], where: str) -> list[JSON]:
    """Gemini reads ``output`` as the result and ``error`` as a failure; media a tool returned
    (screenshots) follow as ordinary parts, since function responses hold only JSON."""
    name = names.get(F.opt_str(block, "tool_use_id", where) or "")
    if name is None:
        note(notes, "tool_result without a matching tool_use; sent as function 'unknown_tool'")
        name = "unknown_tool"
    content = block.get("content")
    at = path(where, "content")
    texts: list[str] = []
    media: list[JSON] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for j, item in enumerate(F.objects(content, at)):
            if F.opt_str(item, "type", path(at, j)) == "text":
                texts.append(F.opt_str(item, "text", path(at, j)) or "")
            else:
                media.extend(_block_parts(item, {}, notes, path(at, j), nested=True))
    elif content is not None:
        raise F.fail(at, "a string or a list of content blocks")
    key = "error" if F.opt_bool(block, "is_error", where) else "output"
    response = {"functionResponse": {"name": name, "response": {key: "\n".join(texts)}}}
    return [response, *media]


def _tools(tools: list[JSON], notes: list[str]) -> list[JSON]:
    declarations = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if "input_schema" not in tool:
            note(notes, f"dropped server tool {describe(tool.get('type') or tool.get('name'))}")
            continue
        name = F.opt_str(tool, "name", where)
        if not name:
            raise TranslationError(f"{where}.name: a tool needs a name")
        declaration: JSON = {"name": name, "description": F.opt_str(tool, "description", where) or ""}
        schema = F.opt_object(tool, "input_schema", where) or {}
        parameters = gemini_schema(schema, notes, path(where, "input_schema"))
        # Gemini rejects an OBJECT with empty properties; a function without arguments omits them.
        if parameters.get("properties") or parameters.get("type") not in (None, "object"):
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: JSON | None, notes: list[str]) -> JSON | None:
    if choice is None:
        return None
    if F.opt_bool(choice, "disable_parallel_tool_use", "tool_choice"):
        note(notes, "disable_parallel_tool_use is not supported by Gemini")
    kind = F.opt_str(choice, "type", "tool_choice")
    modes = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}
    if kind not in modes:
        return None
    config: JSON = {"mode": modes[kind]}
    if kind == "tool":
        config["allowedFunctionNames"] = [F.opt_str(choice, "name", "tool_choice") or ""]
    return {"functionCallingConfig": config}


def _generation_config(body: JSON, notes: list[str]) -> JSON:
    config: JSON = {}
    for source, target, read in (
        ("max_tokens", "maxOutputTokens", F.opt_int),
        ("temperature", "temperature", F.opt_number),
        ("top_p", "topP", F.opt_number),
        ("top_k", "topK", F.opt_int),
    ):
        value = read(body, source)
        if value is not None:
            config[target] = value
    stops = F.strings(F.opt_list(body, "stop_sequences") or [], "stop_sequences")
    if len(stops) > MAX_STOP_SEQUENCES:
        note(notes, f"kept the first {MAX_STOP_SEQUENCES} of {len(stops)} stop sequences")
    if stops:
        config["stopSequences"] = stops[:MAX_STOP_SEQUENCES]
    thinking = F.opt_object(body, "thinking") or {}
    kind = F.opt_str(thinking, "type", "thinking")
    if kind == "enabled":
        budget = F.opt_int(thinking, "budget_tokens", "thinking")
        config["thinkingConfig"] = {"thinkingBudget": -1 if budget is None else budget}
    elif kind == "adaptive":
        config["thinkingConfig"] = {"thinkingBudget": -1}
    return config
