"""Google's Gemini API (generateContent, streamGenerateContent) on the wire.

Answers are the same deterministic ones as every other dialect, rendered as Gemini renders
them: `candidates[0].content.parts` (text, `functionCall` with whole `args`, thought parts),
`finishReason`, `usageMetadata`. A stream (`?alt=sse`) is SSE whose every `data:` is a whole
GenerateContentResponse holding the new parts, CRLF-framed as Google frames it; without
`alt=sse` it is one JSON array sent piece by piece. Function calls carry a `thoughtSignature`,
and for Gemini 3 models a history whose function calls lack one is refused, as Google does.

One `GeminiWire` serves one request: it knows the model of the path and whether the path
asked for a stream.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..dialects.gemini_errors import gemini_error_body
from ..dialects.gemini_mock import encode_gemini_sse
from .answers import Answer, Block, Prompt, ToolSpec, estimate_tokens, json_bytes
from .pacing import Event
from .wire import BadRequest, Ids, Reply

USUAL_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}
FINISH_REASONS = {"end": "STOP", "tool": "STOP", "length": "MAX_TOKENS"}  # Gemini has no tool stop
NO_SIGNATURE = "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {position}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."


@dataclass(slots=True)
class GeminiWire:
    model: str
    streaming: bool
    sse: bool = True

    name = "gemini"
    request_id_header = "x-mock-request-id"  # Google sends no documented request id; ours
    stream_content_type = "text/event-stream"

    def request_id(self, ids: Ids) -> str:
        return ids.new_id(24)

    def message_id(self, ids: Ids) -> str:
        return ids.new_id(22)

    def prompt(self, body: dict[str, Any]) -> Prompt:
        contents = _validate(body, self.model)
        parts = _last_user_texts(contents)
        generation = body.get("generationConfig") or {}
        limit = generation.get("maxOutputTokens") if isinstance(generation, dict) else None
        return Prompt(
            model=self.model,
            text="\n".join(parts),
            focus=parts[-1] if parts else "",
            tools=_tool_specs(body.get("tools")),
            tool_choice=_tool_choice(body.get("toolConfig")),
            max_tokens=limit if isinstance(limit, int) else None,
            input_tokens=estimate_tokens(*(json_bytes(body.get(k)) for k in ("systemInstruction", "contents", "tools"))),
            json_schema=_json_mode(generation),
        )

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return self.streaming

    def message(self, answer: Answer, reply: Reply) -> bytes:
        parts = [part for block in answer.blocks for part in _parts(block, whole=True)]
        return orjson.dumps(_response(parts, reply, answer, final=True))

    def stream(self, answer: Answer, reply: Reply, body: dict[str, Any]) -> list[Event]:
        pieces = [part for block in answer.blocks for part in _parts(block, whole=False)] or [{"text": ""}]
        events = []
        for position, part in enumerate(pieces):
            final = position == len(pieces) - 1
            chunk = _response([part], reply, answer, final=final)
            events.append(Event(self._frame(chunk, position, final), True))
        return events

    def _frame(self, chunk: dict[str, Any], position: int, final: bool) -> bytes:
        if self.sse:
            return encode_gemini_sse(chunk)
        head = b"[" if position == 0 else b",\r\n"
        return head + orjson.dumps(chunk) + (b"]" if final else b"")

    def stream_error(self) -> Event:
        error = gemini_error_body(503, USUAL_MESSAGES[503])
        return Event(encode_gemini_sse(error) if self.sse else b",\r\n" + orjson.dumps(error) + b"]")

    def error(self, status: int, message: str | None, request_id: str, bad: BadRequest | None = None) -> bytes:
        usual = USUAL_MESSAGES.get(status) or USUAL_MESSAGES[500 if status >= 500 else 400]
        return orjson.dumps(gemini_error_body(status, message or usual))


def thought_signature(block: Block) -> str:
    """An opaque signature, as Gemini attaches to function calls (stable per call)."""
    return base64.b64encode(hashlib.sha256(("sig:" + block.ident).encode()).digest()).decode("ascii")


def _parts(block: Block, whole: bool) -> list[dict[str, Any]]:
    """A block as parts: text and thoughts piece by piece in a stream, whole otherwise; a
    function call always whole (Gemini never splits one)."""
    if block.kind == "tool_use":
        call = {"name": block.name, "args": orjson.loads(block.text)}
        return [{"functionCall": call, "thoughtSignature": thought_signature(block)}]
    extra = {"thought": True} if block.kind == "thinking" else {}
    texts = [block.text] if whole else block.pieces
    return [{"text": text, **extra} for text in texts]


def _response(parts: list[dict[str, Any]], reply: Reply, answer: Answer, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    prompt_tokens = answer.usage.prompt_tokens
    usage: dict[str, int] = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
    if final:
        candidate["finishReason"] = FINISH_REASONS[answer.stop]
        usage = _usage(answer)
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": reply.model, "responseId": reply.message_id}


def _usage(answer: Answer) -> dict[str, int]:
    thoughts = sum(len(b.pieces) for b in answer.blocks if b.kind == "thinking")
    prompt = answer.usage.prompt_tokens
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer.usage.output_tokens - thoughts,
        "totalTokenCount": prompt + answer.usage.output_tokens,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _validate(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified\n")
    for number, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
            raise BadRequest(f"* GenerateContentRequest.contents[{number}].parts: contents.parts must not be empty.\n")
    if "gemini-3" in model:
        _check_signatures(contents)
    return contents


def _check_signatures(contents: list[dict[str, Any]]) -> None:
    """Gemini 3 refuses a model turn whose first function call lost its thought signature."""
    for position, content in enumerate(contents):
        if content.get("role") != "model":
            continue
        calls = [part for part in content["parts"] if isinstance(part, dict) and "functionCall" in part]
        if calls and not calls[0].get("thoughtSignature"):
            name = (calls[0]["functionCall"] or {}).get("name", "")
            raise BadRequest(NO_SIGNATURE.format(name=name, position=position + 1))


def _last_user_texts(contents: list[dict[str, Any]]) -> list[str]:
    """Text parts of the last user turn, else the outputs of its function responses."""
    for content in reversed(contents):
        if content.get("role", "user") != "user":
            continue
        parts = [p for p in content["parts"] if isinstance(p, dict)]
        texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
        if texts:
            return texts
        return [_response_text(p["functionResponse"]) for p in parts if isinstance(p.get("functionResponse"), dict)]
    return []


def _response_text(function_response: dict[str, Any]) -> str:
    response = function_response.get("response")
    if isinstance(response, dict):
        value = response.get("output", response.get("error", response.get("content", response)))
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    return "" if response is None else str(response)


def _json_mode(generation: Any) -> dict[str, Any] | None:
    """The schema a JSON-mode answer must fit ({} for any JSON), None when not in JSON mode:
    Gemini answers `responseMimeType: application/json` with JSON only."""
    if not isinstance(generation, dict) or generation.get("responseMimeType") != "application/json":
        return None
    schema = generation.get("responseJsonSchema") or generation.get("responseSchema")
    return _lower_types(schema) if isinstance(schema, dict) else {}


def _tool_specs(tools: Any) -> list[ToolSpec]:
    if not isinstance(tools, list):
        return []
    specs = []
    for tool in tools:
        for declaration in (tool.get("functionDeclarations") or []) if isinstance(tool, dict) else []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                schema = declaration.get("parameters") or declaration.get("parametersJsonSchema") or {}
                specs.append(ToolSpec(declaration["name"], _lower_types(schema)))
    return specs


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI schemas may spell types `OBJECT`, `STRING`; the answers read lower case."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    return schema


def _tool_choice(config: Any) -> str | None:
    calling = config.get("functionCallingConfig") if isinstance(config, dict) else None
    mode = str(calling.get("mode", "AUTO")).upper() if isinstance(calling, dict) else "AUTO"
    if mode == "NONE":
        return "none"
    if mode in ("ANY", "VALIDATED"):
        names = calling.get("allowedFunctionNames") if isinstance(calling, dict) else None
        return str(names[0]) if isinstance(names, list) and len(names) == 1 else ""
    return None
