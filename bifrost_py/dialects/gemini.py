"""Google Gemini generateContent / streamGenerateContent, translated from and to the Anthropic
Messages shape (the core reaches OpenAI clients through Anthropic).

Paths: ``/v1beta/models/{model}:generateContent`` and
``/v1beta/models/{model}:streamGenerateContent?alt=sse``; the key goes in ``x-goog-api-key``. A
stream is SSE whose every ``data:`` is a whole GenerateContentResponse holding the new parts.

Things with no exact equivalent, decided once here:

* Tool-call ids: Gemini has none, so we make ``toolu_gemini_<hex>`` ids, and a later
  ``tool_result`` finds its function name through the ``tool_use`` with that id.
* Thought signatures: Gemini 3 rejects a history whose function calls lack the opaque
  ``thoughtSignature`` it returned. Anthropic clients echo only what Anthropic defines, so the
  signature rides inside the tool_use id (``..._sig_<base64url>``) and is put back on the way
  out; a call without one (made by another model) gets Google's documented bypass value.
* Gemini says STOP also when a stop sequence matched, so ``stop_sequence`` is never reported.
* Thinking is requested through ``thinkingBudget``; thought summaries are not returned.

Translation never fails on a field it does not know: it drops it and says so in the notes,
which the adapter logs.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = [
    "GEMINI_API_KEY_HEADER",
    "GEMINI_BASE_URL",
    "GeminiError",
    "GeminiStreamToAnthropic",
    "anthropic_request_to_gemini",
    "anthropic_usage",
    "encode_gemini_sse",
    "gemini_error_body",
    "gemini_error_to_anthropic",
    "gemini_path",
    "gemini_request_text",
    "gemini_response",
    "gemini_response_to_anthropic",
    "gemini_schema",
    "gemini_stream_chunks",
]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
GEMINI_API_KEY_HEADER = "x-goog-api-key"
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
MAX_STOP_SEQUENCES = 5

Event = tuple[str, dict[str, Any]]


def gemini_path(model: str, stream: bool) -> str:
    """The request path (and query, for streams) of a model."""
    model = model.removeprefix("models/")
    if stream:
        return f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
    return f"/v1beta/models/{model}:generateContent"


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


# --------------------------------------------------------------------------- tool-call ids

_ID_PREFIX = "toolu_gemini_"
_SIG_MARK = "_sig_"


def _tool_use_id(signature: str | None = None) -> str:
    tool_id = _ID_PREFIX + secrets.token_hex(12)
    if signature:
        url_safe = signature.replace("+", "-").replace("/", "_").rstrip("=")
        tool_id += _SIG_MARK + url_safe
    return tool_id


def _signature_from_id(tool_id: str) -> str | None:
    if not tool_id.startswith(_ID_PREFIX):
        return None
    _, mark, url_safe = tool_id.partition(_SIG_MARK)
    if not mark or not url_safe:
        return None
    standard = url_safe.replace("-", "+").replace("_", "/")
    return standard + "=" * (-len(standard) % 4)


def _needs_signature(model: str | None) -> bool:
    """Gemini 3 and later validate thought signatures; 1.x/2.x do not, so leave them alone."""
    match = re.search(r"gemini-(\d+)", model or "")
    return match is None or int(match.group(1)) >= 3


# --------------------------------------------------------------------------- request

_TOP_LEVEL_HANDLED = {
    "model", "stream", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
    "stop_sequences", "tools", "tool_choice", "thinking", "metadata",
}  # fmt: skip


def anthropic_request_to_gemini(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(Gemini request body, notes on what could not be carried over)."""
    notes: list[str] = []
    out: dict[str, Any] = {}
    system = _system_instruction(body.get("system"), notes)
    if system:
        out["systemInstruction"] = system
    out["contents"] = _contents(
        body.get("messages") or [], _needs_signature(body.get("model")), notes
    )
    tools = _tools(body.get("tools") or [], notes)
    if tools:
        out["tools"] = tools
        tool_config = _tool_config(body.get("tool_choice"), notes)
        if tool_config:
            out["toolConfig"] = tool_config
    generation = _generation_config(body, notes)
    if generation:
        out["generationConfig"] = generation
    for key in body:
        if key not in _TOP_LEVEL_HANDLED:
            _note(notes, f"dropped unsupported field {key!r}")
    return out, notes


def _system_instruction(system: Any, notes: list[str]) -> dict[str, Any] | None:
    if isinstance(system, str):
        return {"parts": [{"text": system}]} if system else None
    texts = [block.get("text", "") for block in system or [] if block.get("type") == "text"]
    if len(texts) != len(system or []):
        _note(notes, "dropped non-text system blocks")
    parts = [{"text": text} for text in texts if text]
    return {"parts": parts} if parts else None


def _contents(
    messages: Iterable[Mapping[str, Any]], sign: bool, notes: list[str]
) -> list[dict[str, Any]]:
    """Gemini wants alternating user/model turns, so consecutive same-role messages merge."""
    names: dict[str, str] = {}
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = "model" if message.get("role") == "assistant" else "user"
        parts = _parts(message.get("content"), names, notes)
        if role == "model" and sign:
            _sign_first_call(parts)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _sign_first_call(parts: list[dict[str, Any]]) -> None:
    calls = [part for part in parts if "functionCall" in part]
    if calls and "thoughtSignature" not in calls[0]:
        calls[0]["thoughtSignature"] = SKIP_THOUGHT_SIGNATURE


def _parts(content: Any, names: dict[str, str], notes: list[str]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content or []:
        parts.extend(_block_parts(block, names, notes))
    return parts


def _block_parts(
    block: Mapping[str, Any], names: dict[str, str], notes: list[str]
) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        return [{"text": block["text"]}] if block.get("text") else []
    if kind in ("image", "document"):
        return _media_parts(block, notes)
    if kind == "tool_use":
        return [_function_call(block, names)]
    if kind == "tool_result":
        return _function_response(block, names, notes)
    if kind in ("thinking", "redacted_thinking"):
        _note(notes, "dropped thinking blocks (Gemini cannot verify Anthropic signatures)")
        return []
    _note(notes, f"dropped unsupported content block {kind!r}")
    return []


def _media_parts(block: Mapping[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        return [
            {
                "inlineData": {
                    "mimeType": source.get("media_type", ""),
                    "data": source.get("data", ""),
                }
            }
        ]
    if kind == "text":
        return [{"text": source["data"]}] if source.get("data") else []
    if kind == "content":
        return _parts(source.get("content"), {}, notes)
    if kind == "url":
        default = "application/pdf" if block.get("type") == "document" else "image/jpeg"
        mime = mimetypes.guess_type(source.get("url", ""))[0] or default
        return [{"fileData": {"mimeType": mime, "fileUri": source.get("url", "")}}]
    _note(notes, f"dropped {block.get('type')} with unsupported source {kind!r}")
    return []


def _function_call(block: Mapping[str, Any], names: dict[str, str]) -> dict[str, Any]:
    tool_id = str(block.get("id", ""))
    names[tool_id] = block.get("name", "")
    part: dict[str, Any] = {
        "functionCall": {"name": block.get("name", ""), "args": block.get("input") or {}}
    }
    signature = _signature_from_id(tool_id)
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(
    block: Mapping[str, Any], names: dict[str, str], notes: list[str]
) -> list[dict[str, Any]]:
    """Gemini reads ``output`` as the result and ``error`` as a failure; media a tool returned
    (screenshots) follow as ordinary parts, since function responses hold only JSON."""
    name = names.get(str(block.get("tool_use_id", "")))
    if name is None:
        _note(notes, "tool_result without a matching tool_use; sent as function 'unknown_tool'")
        name = "unknown_tool"
    content = block.get("content")
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    for item in content if isinstance(content, list) else []:
        if item.get("type") == "text":
            texts.append(item.get("text", ""))
        else:
            media.extend(_block_parts(item, {}, notes))
    key = "error" if block.get("is_error") else "output"
    response = {"functionResponse": {"name": name, "response": {key: "\n".join(texts)}}}
    return [response, *media]


def _tools(tools: Iterable[Mapping[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    declarations = []
    for tool in tools:
        if "input_schema" not in tool:
            _note(notes, f"dropped server tool {tool.get('type') or tool.get('name')!r}")
            continue
        declaration: dict[str, Any] = {
            "name": tool["name"],
            "description": tool.get("description", ""),
        }
        parameters = gemini_schema(tool["input_schema"], notes)
        # Gemini rejects an OBJECT with empty properties; a function without arguments omits them.
        if parameters.get("properties") or parameters.get("type") not in (None, "object"):
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: Any, notes: list[str]) -> dict[str, Any] | None:
    if not isinstance(choice, Mapping):
        return None
    if choice.get("disable_parallel_tool_use"):
        _note(notes, "disable_parallel_tool_use is not supported by Gemini")
    kind = choice.get("type")
    modes = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}
    if kind not in modes:
        return None
    config: dict[str, Any] = {"mode": modes[kind]}
    if kind == "tool":
        config["allowedFunctionNames"] = [choice.get("name", "")]
    return {"functionCallingConfig": config}


def _generation_config(body: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for source, target in (
        ("max_tokens", "maxOutputTokens"),
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
    ):
        if body.get(source) is not None:
            config[target] = body[source]
    stops = list(body.get("stop_sequences") or [])
    if len(stops) > MAX_STOP_SEQUENCES:
        _note(notes, f"kept the first {MAX_STOP_SEQUENCES} of {len(stops)} stop sequences")
    if stops:
        config["stopSequences"] = stops[:MAX_STOP_SEQUENCES]
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled":
        config["thinkingConfig"] = {"thinkingBudget": thinking.get("budget_tokens", -1)}
    elif thinking.get("type") == "adaptive":
        config["thinkingConfig"] = {"thinkingBudget": -1}
    return config


# --------------------------------------------------------------------------- JSON schema

# The OpenAPI 3.0 subset Gemini's Schema accepts; every other keyword is rejected with a 400.
_SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "enum", "items", "properties",
    "required", "minItems", "maxItems", "minProperties", "maxProperties", "minLength",
    "maxLength", "pattern", "minimum", "maximum", "anyOf", "propertyOrdering", "default",
    "example",
}  # fmt: skip
_FORMATS = {
    "string": {"enum", "date-time"},
    "number": {"float", "double"},
    "integer": {"int32", "int64"},
}
_MAX_REF_DEPTH = 8


def gemini_schema(schema: Mapping[str, Any], notes: list[str] | None = None) -> dict[str, Any]:
    """A JSON Schema reduced to what Gemini accepts: ``$ref`` inlined, ``oneOf`` as ``anyOf``,
    ``["x", "null"]`` as ``nullable``, ``const`` as a one-value enum, unsupported keywords and
    string formats dropped (listed once in ``notes``)."""
    dropped: set[str] = set()
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    cleaned = _clean(schema, definitions, dropped, 0)
    if notes is not None and dropped:
        _note(notes, "dropped tool schema keywords Gemini rejects: " + ", ".join(sorted(dropped)))
    return cleaned


def _clean(
    schema: Any, definitions: Mapping[str, Any], dropped: set[str], depth: int
) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        return {}
    schema, depth = _resolve(schema, definitions, dropped, depth)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, Mapping):
            out["properties"] = {
                name: _clean(sub, definitions, dropped, depth) for name, sub in value.items()
            }
        elif key == "items":
            out["items"] = _clean(
                value if isinstance(value, Mapping) else {}, definitions, dropped, depth
            )
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out["anyOf"] = [_clean(sub, definitions, dropped, depth) for sub in value]
        elif key in ("type", "const", "enum", "format", "required"):
            continue  # handled below, they depend on each other
        elif key in _SCHEMA_KEYS:
            out[key] = value
        else:
            dropped.add(key)
    _clean_type(schema, out, dropped)
    if "required" in schema and "properties" in out:
        out["required"] = [name for name in schema["required"] if name in out["properties"]]
    if out.get("properties") == {}:
        del out["properties"]
    return out


def _resolve(
    schema: Mapping[str, Any], definitions: Mapping[str, Any], dropped: set[str], depth: int
) -> tuple[Mapping[str, Any], int]:
    """Inline ``$ref`` and merge ``allOf``, which Gemini does not know. ``depth`` counts the
    references expanded on the way down, so a recursive type is cut off, not followed forever."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = definitions.get(ref.rsplit("/", 1)[-1])
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        if not isinstance(target, Mapping) or depth >= _MAX_REF_DEPTH:
            dropped.add("$ref")
            return (rest or {"type": "object"}), depth
        return _resolve({**target, **rest}, definitions, dropped, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: Mapping[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        deepest = depth
        for part in schema["allOf"]:
            if isinstance(part, Mapping):
                part, part_depth = _resolve(part, definitions, dropped, depth)
                deepest = max(deepest, part_depth)
                merged = _merge(merged, part)
        return _resolve(merged, definitions, dropped, deepest)
    return schema, depth


def _merge(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**right, **left}
    if "properties" in left or "properties" in right:
        merged["properties"] = {**right.get("properties", {}), **left.get("properties", {})}
    if "required" in left or "required" in right:
        merged["required"] = list(
            dict.fromkeys([*left.get("required", []), *right.get("required", [])])
        )
    return merged


def _clean_type(schema: Mapping[str, Any], out: dict[str, Any], dropped: set[str]) -> None:
    kind = schema.get("type")
    if isinstance(kind, list):
        real = [name for name in kind if name != "null"]
        if len(real) < len(kind):
            out["nullable"] = True
        if len(real) == 1:
            kind = real[0]
        elif real:
            out.setdefault("anyOf", [{"type": name} for name in real])
            kind = None
        else:
            kind = None
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    if isinstance(values, list):
        strings = [value for value in values if isinstance(value, str)]
        if strings and len(strings) == len([v for v in values if v is not None]):
            out["enum"] = strings
            kind = kind or "string"
        else:
            dropped.add("enum")
    if isinstance(kind, str):
        out["type"] = kind
    fmt = schema.get("format")
    if isinstance(fmt, str):
        if fmt in _FORMATS.get(str(kind), ()):
            out["format"] = fmt
        else:
            dropped.add(f"format:{fmt}")


# --------------------------------------------------------------------------- response

_STOP_REASONS = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
}


def _stop_reason(finish_reason: str | None, used_tools: bool, blocked: bool) -> str:
    if used_tools:
        return "tool_use"
    if blocked:
        return "refusal"
    return _STOP_REASONS.get(finish_reason or "STOP", "end_turn")


def anthropic_usage(metadata: Mapping[str, Any] | None) -> dict[str, int]:
    """Gemini usageMetadata as Anthropic usage. Anthropic's input_tokens exclude cache reads, and
    thinking tokens are billed as output, so both are moved accordingly."""
    metadata = metadata or {}
    cached = int(metadata.get("cachedContentTokenCount", 0))
    prompt = int(metadata.get("promptTokenCount", 0)) + int(
        metadata.get("toolUsePromptTokenCount", 0)
    )
    output = int(metadata.get("candidatesTokenCount", 0)) + int(
        metadata.get("thoughtsTokenCount", 0)
    )
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _candidate(resp: Mapping[str, Any]) -> Mapping[str, Any]:
    candidates = resp.get("candidates") or [{}]
    return candidates[0]


def _is_blocked(resp: Mapping[str, Any]) -> bool:
    return bool((resp.get("promptFeedback") or {}).get("blockReason"))


def _message_id(resp: Mapping[str, Any]) -> str:
    response_id = resp.get("responseId")
    return f"msg_{response_id}" if response_id else "msg_" + secrets.token_hex(12)


def gemini_response_to_anthropic(resp: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """A generateContent answer as an Anthropic Messages response."""
    parts = (_candidate(resp).get("content") or {}).get("parts") or []
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if part.get("thought"):
            continue
        if "functionCall" in part:
            blocks.append(_tool_use_block(part, part["functionCall"].get("args") or {}))
        elif part.get("text"):
            if blocks and blocks[-1]["type"] == "text":
                blocks[-1]["text"] += part["text"]
            else:
                blocks.append({"type": "text", "text": part["text"]})
    used_tools = any(block["type"] == "tool_use" for block in blocks)
    return {
        "id": _message_id(resp),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": _stop_reason(
            _candidate(resp).get("finishReason"), used_tools, _is_blocked(resp)
        ),
        "stop_sequence": None,
        "usage": anthropic_usage(resp.get("usageMetadata")),
    }


def _tool_use_block(part: Mapping[str, Any], tool_input: Any) -> dict[str, Any]:
    call = part["functionCall"]
    return {
        "type": "tool_use",
        "id": _tool_use_id(part.get("thoughtSignature")),
        "name": call.get("name", ""),
        "input": tool_input,
    }


class GeminiError(Exception):
    """An ``error`` object from Gemini, e.g. inside a stream that had already started."""

    def __init__(self, code: int, status: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.reason = reason

    @property
    def anthropic_error_type(self) -> str:
        """The Anthropic error type to relay."""
        return _anthropic_error_type(self.code, self.status, self.message, self.reason)


class GeminiStreamToAnthropic:
    """streamGenerateContent chunks (parsed ``data:`` JSON) in, Anthropic stream events out.

    The output is always a valid sequence: one ``message_start``, blocks with consecutive
    indexes each started, delta'd and stopped, one ``message_delta``, one ``message_stop`` —
    also when the upstream ends early, as long as `finish` is called.
    """

    def __init__(self, model: str, input_tokens_estimate: int = 0) -> None:
        self.model = model
        self.input_tokens_estimate = input_tokens_estimate
        self._started = False
        self._finished = False
        self._index = 0
        self._open: str | None = None
        self._used_tools = False
        self._blocked = False
        self._finish_reason: str | None = None
        self._metadata: Mapping[str, Any] | None = None

    @property
    def usage(self) -> dict[str, int]:
        """Usage so far, Anthropic-shaped: what to bill if the stream is cut off."""
        usage = anthropic_usage(self._metadata)
        if self._metadata is None or "promptTokenCount" not in self._metadata:
            usage["input_tokens"] = self.input_tokens_estimate
        return usage

    def feed(self, chunk: Mapping[str, Any]) -> list[Event]:
        """Translate one chunk; raises `GeminiError` for an in-stream ``error`` object."""
        if self._finished:
            return []
        if "error" in chunk:
            raise _gemini_error(chunk["error"])
        if chunk.get("usageMetadata"):
            self._metadata = chunk["usageMetadata"]
        events = self._start(chunk)
        candidate = _candidate(chunk)
        for part in (candidate.get("content") or {}).get("parts") or []:
            events.extend(self._part(part))
        self._finish_reason = candidate.get("finishReason") or self._finish_reason
        self._blocked = self._blocked or _is_blocked(chunk)
        return events

    def finish(self) -> list[Event]:
        """End of the upstream stream: close what is open and end the message (once)."""
        if self._finished:
            return []
        self._finished = True
        events = self._start({})
        events.extend(self._close_block())
        usage = self.usage
        delta = {
            "stop_reason": _stop_reason(self._finish_reason, self._used_tools, self._blocked),
            "stop_sequence": None,
        }
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _start(self, chunk: Mapping[str, Any]) -> list[Event]:
        if self._started:
            return []
        self._started = True
        message = {
            "id": _message_id(chunk),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**self.usage, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _part(self, part: Mapping[str, Any]) -> list[Event]:
        if part.get("thought"):
            return []
        if "functionCall" in part:
            return self._tool_use(part)
        text = part.get("text")
        if not text:
            return []
        events = (
            []
            if self._open == "text"
            else [*self._close_block(), *self._open_block({"type": "text", "text": ""})]
        )
        delta = {"type": "text_delta", "text": text}
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": self._index, "delta": delta},
            )
        )
        return events

    def _tool_use(self, part: Mapping[str, Any]) -> list[Event]:
        """Gemini sends a function call whole, so its block opens, fills and closes at once."""
        self._used_tools = True
        block = _tool_use_block(part, {})
        events = [*self._close_block(), *self._open_block(block)]
        arguments = orjson.dumps(part["functionCall"].get("args") or {}).decode()
        delta = {"type": "input_json_delta", "partial_json": arguments}
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": self._index, "delta": delta},
            )
        )
        events.extend(self._close_block())
        return events

    def _open_block(self, block: dict[str, Any]) -> list[Event]:
        self._open = block["type"]
        return [
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        ]

    def _close_block(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        self._index += 1
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index - 1})]


# --------------------------------------------------------------------------- errors

_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "DEADLINE_EXCEEDED": "timeout_error",
    "UNAVAILABLE": "overloaded_error",
    "INTERNAL": "api_error",
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}  # fmt: skip


def _anthropic_error_type(code: int, status: str, message: str, reason: str | None) -> str:
    # Gemini answers a bad API key with 400 INVALID_ARGUMENT; clients must see a 401-type error.
    if reason == "API_KEY_INVALID" or "API key not valid" in message:
        return "authentication_error"
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    fallback = "api_error" if code >= 500 else "invalid_request_error"
    return _ERROR_TYPES.get(_STATUS_NAMES.get(code, ""), fallback)


def _gemini_error(error: Any) -> GeminiError:
    error = error if isinstance(error, Mapping) else {"message": str(error)}
    code = error["code"] if isinstance(error.get("code"), int) else 500
    reasons = [d.get("reason") for d in error.get("details") or [] if isinstance(d, Mapping)]
    reason = next((r for r in reasons if isinstance(r, str)), None)
    return GeminiError(code, str(error.get("status", "")), str(error.get("message", "")), reason)


def gemini_error_to_anthropic(status: int, body: bytes) -> tuple[str, str]:
    """(Anthropic error type, message) for a non-2xx Gemini response."""
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        parsed = {}
    if isinstance(parsed, list) and parsed:  # some endpoints wrap the error in a list
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    if not isinstance(error, Mapping):
        text = body.decode("utf-8", "replace").strip() or f"Gemini returned HTTP {status}"
        return _anthropic_error_type(status, "", text, None), text
    err = _gemini_error({"code": status, **error})
    return err.anthropic_error_type, err.message


def gemini_error_body(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    """A Gemini error body as Google sends it; for the mock upstream."""
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }


# --------------------------------------------------------------------------- mock side


def gemini_request_text(body: Mapping[str, Any]) -> str:
    """The text of the last user turn of a Gemini request: what the mock answers to."""
    for content in reversed(body.get("contents") or []):
        if content.get("role", "user") == "user":
            texts = [part["text"] for part in content.get("parts") or [] if "text" in part]
            if texts:
                return "".join(texts)
    return ""


def _usage_metadata(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": input_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": input_tokens + output_tokens,
    }


def gemini_response(
    text: str, *, input_tokens: int, output_tokens: int, model: str
) -> dict[str, Any]:
    """A complete generateContent answer carrying ``text``."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _usage_metadata(input_tokens, output_tokens),
        "modelVersion": model,
        "responseId": secrets.token_urlsafe(16),
    }


def gemini_stream_chunks(
    pieces: Iterable[str], *, input_tokens: int = 0, output_tokens: int = 0, model: str = "gemini"
) -> list[dict[str, Any]]:
    """The streamGenerateContent chunks for ``pieces`` of text, as Google sends them: every
    chunk has the prompt count, the last one the finish reason and the full usage."""
    response_id = secrets.token_urlsafe(16)
    pieces = list(pieces) or [""]
    chunks = []
    for position, piece in enumerate(pieces):
        last = position == len(pieces) - 1
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": piece}], "role": "model"},
            "index": 0,
        }
        usage: dict[str, int] = {"promptTokenCount": input_tokens, "totalTokenCount": input_tokens}
        if last:
            candidate["finishReason"] = "STOP"
            usage = _usage_metadata(input_tokens, output_tokens)
        chunks.append(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
        )
    return chunks


def encode_gemini_sse(chunk: Mapping[str, Any]) -> bytes:
    """One SSE event as Gemini frames it (``data:`` only, CRLF line ends)."""
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"
