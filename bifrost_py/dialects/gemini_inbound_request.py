"""A Gemini generateContent request (a Gemini client: the google-genai SDKs, Gemini CLI) as an
Anthropic Messages request: the inverse of `gemini_request.py`, so a Gemini client can be served
by any provider (the Anthropic request goes on to Chat Completions, and so Bedrock, from there).

Decided here:

* Tool-call ids: Gemini's ``functionCall.id`` is optional. An id that can be an Anthropic id is
  kept (the gateway's own answers carry the provider's ids, which Gemini CLI echoes in
  ``functionResponse.id``); a call without one gets an id from its position, and a
  ``functionResponse`` finds its call by id, else by name among the previous turn's calls. A
  response that matches no call becomes text (Anthropic refuses an unmatched tool_result).
* Thoughts: ``thought`` parts of the history are dropped (only Google can read them back). But
  Anthropic needs the thinking block of a turn that called tools echoed with its signature, so
  our answers carry that block inside the first ``functionCall``'s ``thoughtSignature``
  (`gemini_thought_carrier.py`) and it is put back here.
* ``thinkingConfig`` turns on Anthropic thinking only when the client asks to see thoughts
  (``includeThoughts``); the budget is ``thinkingBudget``, or one per ``thinkingLevel``, cut to
  fit under max_tokens. Anthropic refuses sampling knobs with thinking, so they are dropped then.
* ``maxOutputTokens`` is optional in Gemini and required by Anthropic: DEFAULT_MAX_TOKENS.
* A JSON answer (``responseMimeType: application/json`` with a schema) is asked for in the
  system prompt: Anthropic has no such setting.

Every field is read in Gemini's JSON spelling (camelCase) or the proto spelling (snake_case),
as Google's REST API accepts both. Translation never fails on a field it does not know: it drops
it and says so in the notes; a field it reads with the wrong type is a `TranslationError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .fields import REQUEST as F
from .fields import path
from .gemini_schema import MAX_SCHEMA_NESTING
from .gemini_thought_carrier import thinking_blocks
from .notes import note
from .translate_errors import TranslationError

JSON = dict[str, Any]
DEFAULT_MAX_TOKENS = 8192
MIN_THINKING_BUDGET = 1024          # Anthropic's minimum budget_tokens
THINKING_LEVELS = {"MINIMAL": 1024, "LOW": 2048, "MEDIUM": 4096, "HIGH": 8192}
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
_CAMEL = re.compile(r"_([a-z])")
_HANDLED = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "model"})
_SILENT = frozenset({"safetySettings", "labels", "cachedContent", "sessionId"})
_GENERATION_HANDLED = frozenset({
    "maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "thinkingConfig", "candidateCount",
    "responseMimeType", "responseSchema", "responseJsonSchema",
})  # fmt: skip


def field(obj: Mapping[str, Any], name: str) -> Any:
    """`obj[name]` in camelCase, else in snake_case (Google accepts both spellings)."""
    value = obj.get(name)
    return obj.get(_SNAKE.sub("_", name).lower()) if value is None else value


def _camel(key: str) -> str:
    return _CAMEL.sub(lambda match: match.group(1).upper(), key)


def _object(obj: Mapping[str, Any], name: str, where: str) -> JSON | None:
    value = field(obj, name)
    if value is None or isinstance(value, dict):
        return value
    raise F.fail(path(where, name), "an object")


def _objects(obj: Mapping[str, Any], name: str, where: str) -> list[JSON]:
    value = field(obj, name)
    return [] if value is None else F.objects(value, path(where, name))


def gemini_request_to_anthropic(body: Mapping[str, Any], *, model: str) -> tuple[JSON, list[str]]:
    """(Anthropic Messages request for `model`, notes on what could not be carried over)."""
    body = F.an_object(body, "request body")
    notes: list[str] = []
    generation = _object(body, "generationConfig", "") or {}
    out: JSON = {"model": model, "max_tokens": _max_tokens(generation)}
    system = _system(field(body, "systemInstruction"), generation, notes)
    if system:
        out["system"] = system
    out["messages"] = _messages(_objects(body, "contents", ""), notes)
    tools = _tools(_objects(body, "tools", ""), notes)
    if tools:
        out["tools"] = tools
        choice = _tool_choice(_object(body, "toolConfig", "") or {})
        if choice:
            out["tool_choice"] = choice
    _generation(generation, out, notes)
    for key, value in body.items():
        if _camel(key) not in _HANDLED and _camel(key) not in _SILENT and value is not None:
            note(notes, f"dropped unsupported field {key!r}")
    return out, notes


# ---------------------------------------------------------------------- system and messages


def _texts(content: object, where: str) -> list[str]:
    """The texts of a Content (or of a bare string, as some SDKs send a system instruction)."""
    if isinstance(content, str):
        return [content]
    content = F.an_object(content, where)
    return [F.opt_str(part, "text", path(path(where, "parts"), j)) or ""
            for j, part in enumerate(_objects(content, "parts", where)) if not part.get("thought")]


def _system(instruction: object, generation: JSON, notes: list[str]) -> str:
    texts = [] if instruction is None else [t for t in _texts(instruction, "systemInstruction") if t]
    schema = field(generation, "responseJsonSchema") or field(generation, "responseSchema")
    if field(generation, "responseMimeType") == "application/json":
        wanted = "Answer with one JSON value only, no prose and no code fences"
        if isinstance(schema, dict):
            wanted += ", matching this JSON schema: " + F.dumps(json_schema(schema, "generationConfig"), "generationConfig")
        texts.append(wanted + ".")
        note(notes, "JSON output asked for in the system prompt (responseMimeType)")
    return "\n\n".join(texts)


class _Turns:
    """Builds the Anthropic messages: tool ids given and matched, same-role turns merged."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.messages: list[JSON] = []
        self.pending: list[tuple[str, str]] = []  # (name, id) of the last model turn's calls

    def model_turn(self, parts: list[JSON], where: str) -> None:
        blocks: list[JSON] = []
        self.pending = []
        for j, part in enumerate(parts):
            at = path(path(where, "parts"), j)
            call = _object(part, "functionCall", at)
            if call is not None:
                if not any(b["type"] == "tool_use" for b in blocks):
                    blocks[:0] = thinking_blocks(field(part, "thoughtSignature"))
                blocks.append(self._tool_use(call, f"toolu_g{len(self.messages)}_{j}", path(at, "functionCall")))
            elif part.get("thought"):
                note(self.notes, "dropped thought parts of the history")
            else:
                blocks.extend(_plain_blocks(part, at, self.notes))
        self._add("assistant", blocks)

    def _tool_use(self, call: JSON, fallback_id: str, where: str) -> JSON:
        name = F.opt_str(call, "name", where) or ""
        call_id = F.opt_str(call, "id", where)
        tool_id = call_id if call_id and _ID.fullmatch(call_id) else fallback_id
        self.pending.append((name, tool_id))
        arguments = F.storable(F.opt_object(call, "args", where) or {}, path(where, "args"))
        return {"type": "tool_use", "id": tool_id, "name": name, "input": arguments}

    def user_turn(self, parts: list[JSON], where: str) -> None:
        results: list[JSON] = []
        blocks: list[JSON] = []
        for j, part in enumerate(parts):
            at = path(path(where, "parts"), j)
            response = _object(part, "functionResponse", at)
            if response is not None:
                self._tool_result(response, path(at, "functionResponse"), results, blocks)
            else:
                blocks.extend(_plain_blocks(part, at, self.notes))
        self._add("user", results + blocks)  # Anthropic wants tool results first

    def _tool_result(self, response: JSON, where: str, results: list[JSON], blocks: list[JSON]) -> None:
        name = F.opt_str(response, "name", where) or ""
        output = _object(response, "response", where) or {}
        tool_id = self._match(F.opt_str(response, "id", where), name)
        if tool_id is None:
            note(self.notes, "functionResponse without a matching functionCall sent as text")
            blocks.append({"type": "text", "text": f"Result of {name or 'a tool'}: {F.dumps(output, where)}"})
            return
        error = "error" in output and "output" not in output
        value = output.get("error" if error else "output", output) if len(output) == 1 else output
        text = value if isinstance(value, str) else F.dumps(value, path(where, "response"))
        result: JSON = {"type": "tool_result", "tool_use_id": tool_id, "content": text}
        if error:
            result["is_error"] = True
        results.append(result)

    def _match(self, wanted_id: str | None, name: str) -> str | None:
        """The id of the pending call this response answers: same id, else the first of that
        name, else none. Matched calls are no longer pending."""
        for candidates in ([p for p in self.pending if p[1] == wanted_id], [p for p in self.pending if p[0] == name]):
            if candidates:
                self.pending.remove(candidates[0])
                return candidates[0][1]
        return None

    def _add(self, role: str, blocks: list[JSON]) -> None:
        if not blocks:
            return
        if self.messages and self.messages[-1]["role"] == role:
            self.messages[-1]["content"].extend(blocks)
        else:
            self.messages.append({"role": role, "content": blocks})


def _messages(contents: list[JSON], notes: list[str]) -> list[JSON]:
    turns = _Turns(notes)
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        parts = _objects(content, "parts", where)
        if F.opt_str(content, "role", where) == "model":
            turns.model_turn(parts, where)
        else:
            turns.user_turn(parts, where)
    return turns.messages


def _plain_blocks(part: JSON, where: str, notes: list[str]) -> list[JSON]:
    """Text and media parts; anything else is dropped and noted."""
    text = F.opt_str(part, "text", where)
    if text is not None:
        return [{"type": "text", "text": text}] if text else []
    inline = _object(part, "inlineData", where)
    if inline is not None:
        mime, data = field(inline, "mimeType"), inline.get("data")
        if not isinstance(mime, str) or not isinstance(data, str):
            raise F.fail(path(where, "inlineData"), "an object with a string mimeType and data")
        if mime.startswith("image/"):
            return [{"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}]
        if mime == "application/pdf":
            return [{"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}]
        note(notes, f"dropped inline data of type {mime!r}")
        return []
    kinds = [key for key in part if key not in ("thoughtSignature", "thought_signature", "videoMetadata")]
    note(notes, f"dropped unsupported part {kinds[0] if kinds else 'empty'!r}")
    return []


# ---------------------------------------------------------------------- tools


def _tools(tools: list[JSON], notes: list[str]) -> list[JSON]:
    out: list[JSON] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        declarations = _objects(tool, "functionDeclarations", where)
        for key in tool:
            if key not in ("functionDeclarations", "function_declarations"):
                note(notes, f"dropped server tool {key!r}")
        for j, declaration in enumerate(declarations):
            at = path(path(where, "functionDeclarations"), j)
            name = F.opt_str(declaration, "name", at)
            if not name:
                raise TranslationError(f"{at}.name: a function declaration needs a name")
            out.append({"name": name, "description": F.opt_str(declaration, "description", at) or "",
                        "input_schema": _input_schema(declaration, at)})
    return out


def _input_schema(declaration: JSON, where: str) -> JSON:
    schema = field(declaration, "parametersJsonSchema")
    if isinstance(schema, dict):
        return {"type": "object", **schema} if "type" not in schema else schema
    parameters = _object(declaration, "parameters", where)
    if parameters is None:
        return {"type": "object", "properties": {}}
    return json_schema(parameters, path(where, "parameters"))


def json_schema(schema: object, where: str, level: int = 0) -> JSON:
    """A Gemini (OpenAPI 3.0) Schema as JSON Schema: types in lower case, ``nullable`` as a
    ``null`` type, Gemini's own keywords (propertyOrdering) dropped."""
    if not isinstance(schema, dict):
        return {}
    if level > MAX_SCHEMA_NESTING:
        raise TranslationError(f"{where}: nested more than {MAX_SCHEMA_NESTING} levels deep")
    out: JSON = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema(sub, where, level + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = json_schema(value, where, level + 1)
        elif key in ("anyOf", "any_of") and isinstance(value, list):
            out["anyOf"] = [json_schema(sub, where, level + 1) for sub in value]
        elif key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key not in ("nullable", "propertyOrdering", "property_ordering", "example"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("type") == "type_unspecified":
        del out["type"]
    return out


def _tool_choice(config: JSON) -> JSON | None:
    calling = _object(config, "functionCallingConfig", "toolConfig") or {}
    mode = F.opt_str(calling, "mode", "toolConfig.functionCallingConfig")
    allowed = field(calling, "allowedFunctionNames")
    names = F.strings(allowed, "toolConfig.functionCallingConfig.allowedFunctionNames") if allowed else []
    if mode == "ANY":
        return {"type": "tool", "name": names[0]} if len(names) == 1 else {"type": "any"}
    if mode == "NONE":
        return {"type": "none"}
    return None if mode in (None, "AUTO", "VALIDATED", "MODE_UNSPECIFIED") else {"type": "auto"}


# ---------------------------------------------------------------------- generation settings


def _max_tokens(generation: JSON) -> int:
    value = field(generation, "maxOutputTokens")
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise F.fail("generationConfig.maxOutputTokens", "a positive integer")
    return value


def _generation(generation: JSON, out: JSON, notes: list[str]) -> None:
    where = "generationConfig"
    for source, target in (("temperature", "temperature"), ("topP", "top_p"), ("topK", "top_k")):
        value = field(generation, source)
        if value is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise F.fail(path(where, source), "a number")
            out[target] = round(value) if target == "top_k" else value
    stops = field(generation, "stopSequences")
    if stops:
        out["stop_sequences"] = F.strings(stops, path(where, "stopSequences"))
    count = field(generation, "candidateCount")
    if isinstance(count, int) and count > 1:
        note(notes, "candidateCount above 1 is not supported: one candidate answered")
    _thinking(_object(generation, "thinkingConfig", where) or {}, out, notes)
    for key, value in generation.items():
        if _camel(key) not in _GENERATION_HANDLED and value is not None:
            note(notes, f"dropped generationConfig.{key}")


def _thinking(config: JSON, out: JSON, notes: list[str]) -> None:
    where = "generationConfig.thinkingConfig"
    include = field(config, "includeThoughts")
    budget = field(config, "thinkingBudget")
    level = field(config, "thinkingLevel")
    if include is not True or budget == 0:
        return
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)):
        raise F.fail(path(where, "thinkingBudget"), "an integer")
    if budget is None or budget < 0:
        budget = THINKING_LEVELS.get(str(level).upper(), THINKING_LEVELS["MEDIUM"])
    budget = min(budget, out["max_tokens"] - MIN_THINKING_BUDGET)
    if budget < MIN_THINKING_BUDGET:
        note(notes, "dropped thinking: maxOutputTokens leaves no room for Anthropic's minimum budget")
        return
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if out.get("tool_choice", {}).get("type") in ("any", "tool"):
        out["tool_choice"] = {"type": "auto"}
        note(notes, "forced function calling relaxed to AUTO: not allowed with thinking")
    if out.get("temperature", 1) != 1:
        del out["temperature"]
        note(notes, "dropped temperature: only 1 is allowed with thinking")
    if out.pop("top_k", None) is not None:
        note(notes, "dropped top_k: not allowed with thinking")
    if out.get("top_p", 1) < 0.95:
        del out["top_p"]
        note(notes, "dropped top_p: below 0.95 is not allowed with thinking")
