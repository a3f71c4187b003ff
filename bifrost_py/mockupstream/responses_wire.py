"""The OpenAI Responses API on the wire (`POST /v1/responses`), as api.openai.com sends it.

Same answers as the other dialects (`answers.py`). What is particular to this API:

* The last user turn is the last `user` message item, or the `function_call_output` items
  after the last `function_call` (so after a tool call the answer is about the tool's output).
* Tools are the top-level `function` tools; other tool types (`namespace`, `web_search`...)
  are accepted and never called.
* `reasoning.effort` (not `none`/`minimal`) gives a `reasoning` item first: its summary is the
  thinking text, its `encrypted_content` an opaque `gAAAAB...` string.
* Prompt caching, as OpenAI's automatic prefix cache: `instructions`, `tools` and the leading
  system/developer messages are the prefix; the second request with the same prefix (and model)
  reports their tokens in `input_tokens_details.cached_tokens`. `input_tokens` includes them.
* The server keeps nothing: `previous_response_id` is answered 400, as for an unknown id.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import openai_wire
from .answers import Answer, Block, Prompt, ToolSpec, estimate_tokens, json_bytes
from .pacing import Event
from .wire import BadRequest, Ids, Reply

STATUS = {"end": "completed", "tool": "completed", "length": "incomplete"}


class ResponsesWire:
    """One per request: a failed stream's `response.failed` names the response it ends."""

    name = "responses"
    request_id_header = "x-request-id"
    stream_content_type = "text/event-stream; charset=utf-8"

    def __init__(self) -> None:
        self.response_id = "resp_failed"

    def request_id(self, ids: Ids) -> str:
        return "req_" + ids.new_id(32)

    def message_id(self, ids: Ids) -> str:
        return "resp_" + ids.new_id(40)

    def prompt(self, body: dict[str, Any]) -> Prompt:
        _validate(body)
        items = _items(body["input"])
        parts = _last_turn_texts(items)
        tools = json_bytes(body.get("tools"))
        prompt = Prompt(
            model=body["model"],
            text="\n".join(parts),
            focus=parts[-1] if parts else "",
            tools=_tool_specs(body.get("tools")),
            tool_choice=_tool_choice(body.get("tool_choice")),
            max_tokens=body.get("max_output_tokens") if isinstance(body.get("max_output_tokens"), int) else None,
            thinking=_reasoning_on(body.get("reasoning")),
            input_tokens=estimate_tokens(json_bytes(body.get("instructions")), json_bytes(items), tools),
        )
        prefix = [json_bytes(body.get("instructions")), tools]
        for item in items:
            if not (isinstance(item, dict) and item.get("role") in ("system", "developer")):
                break
            prefix.append(orjson.dumps(item))
        prompt.cache_blocks, prompt.cache_upto = prefix, len(prefix) - 1
        return prompt

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def message(self, answer: Answer, reply: Reply) -> bytes:
        response = _response(reply, "completed")
        response["output"] = [_item(block, reply, i) for i, block in enumerate(answer.blocks)]
        return orjson.dumps(_finished(response, answer))

    def stream(self, answer: Answer, reply: Reply, body: dict[str, Any]) -> list[Event]:
        events = _Events()
        self.response_id = reply.message_id
        head = _response(reply, "in_progress")
        events.add("response.created", response=head)
        events.add("response.in_progress", response=head)
        output = []
        for index, block in enumerate(answer.blocks):
            output.append(_block_events(events, block, reply, index))
        response = _finished({**head, "output": output}, answer)
        events.add("response.completed" if response["status"] == "completed" else "response.incomplete",
                   response=response)
        return events.events

    def stream_error(self) -> Event:
        failed = {"type": "response.failed", "sequence_number": 99, "response": {
            "id": self.response_id, "object": "response", "status": "failed", "output": [],
            "error": {"code": "server_error", "message": "The server is overloaded or not ready yet."}}}
        return Event(b"event: response.failed\ndata: " + orjson.dumps(failed) + b"\n\n")

    def error(self, status: int, message: str | None, request_id: str, bad: BadRequest | None = None) -> bytes:
        return openai_wire.WIRE.error(status, message, request_id, bad)


class _Events:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, kind: str, is_delta: bool = False, **fields: Any) -> None:
        data = orjson.dumps({"type": kind, "sequence_number": len(self.events), **fields})
        self.events.append(Event(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n", is_delta))


def _block_events(events: _Events, block: Block, reply: Reply, index: int) -> dict[str, Any]:
    done = _item(block, reply, index)
    started = {**done, "status": "in_progress"} if "status" in done else dict(done)
    item_id = done["id"]
    if block.kind == "text":
        started["content"] = []
    elif block.kind == "tool_use":
        started["arguments"] = ""
    else:
        started["summary"] = []
        started.pop("encrypted_content", None)
    at = {"item_id": item_id, "output_index": index}
    events.add("response.output_item.added", output_index=index, item=started)
    if block.kind == "text":
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        events.add("response.content_part.added", **at, content_index=0, part=empty)
        for piece in block.pieces:
            events.add("response.output_text.delta", True, **at, content_index=0, delta=piece, logprobs=[])
        events.add("response.output_text.done", **at, content_index=0, text=block.text, logprobs=[])
        events.add("response.content_part.done", **at, content_index=0, part=done["content"][0])
    elif block.kind == "tool_use":
        for piece in block.pieces:
            events.add("response.function_call_arguments.delta", True, **at, delta=piece)
        events.add("response.function_call_arguments.done", **at, arguments=block.text)
    else:
        part = {"type": "summary_text", "text": ""}
        events.add("response.reasoning_summary_part.added", **at, summary_index=0, part=part)
        for piece in block.pieces:
            events.add("response.reasoning_summary_text.delta", True, **at, summary_index=0, delta=piece)
        events.add("response.reasoning_summary_text.done", **at, summary_index=0, text=block.text)
        events.add("response.reasoning_summary_part.done", **at, summary_index=0, part=done["summary"][0])
    events.add("response.output_item.done", output_index=index, item=done)
    return done


def _response(reply: Reply, status: str) -> dict[str, Any]:
    return {
        "id": reply.message_id, "object": "response", "created_at": reply.created, "status": status,
        "background": False, "error": None, "incomplete_details": None, "instructions": None,
        "max_output_tokens": None, "model": reply.model, "output": [], "parallel_tool_calls": True,
        "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
        "store": False, "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": None, "metadata": {},
    }


def _finished(response: dict[str, Any], answer: Answer) -> dict[str, Any]:
    usage = answer.usage
    reasoning = sum(len(b.pieces) for b in answer.blocks if b.kind == "thinking")
    response["status"] = STATUS[answer.stop]
    if answer.stop == "length":
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    response["usage"] = {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cache_read},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
    }
    return response


def _item(block: Block, reply: Reply, index: int) -> dict[str, Any]:
    suffix = f"{reply.message_id[5:21]}{index:02d}"
    if block.kind == "text":
        return {"id": "msg_" + suffix, "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": block.text, "annotations": [], "logprobs": []}]}
    if block.kind == "tool_use":
        return {"id": "fc_" + suffix, "type": "function_call", "status": "completed",
                "arguments": block.text, "call_id": "call_" + block.ident, "name": block.name}
    return {"id": "rs_" + suffix, "type": "reasoning", "summary": [{"type": "summary_text", "text": block.text}],
            "encrypted_content": "gAAAAB" + block.signature}


def _validate(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str):
        raise BadRequest("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if body.get("previous_response_id") is not None:
        raise BadRequest(f"Previous response with id '{body['previous_response_id']}' not found.",
                         "previous_response_id", "previous_response_not_found")
    if not isinstance(body.get("input"), str | list):
        raise BadRequest("Invalid type for 'input': expected a string or an array.", "input", "invalid_type")


def _items(raw: str | list[Any]) -> list[Any]:
    return [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw


def _last_turn_texts(items: list[Any]) -> list[str]:
    """The texts of the last user message, or of the tool outputs that came after it."""
    outputs: list[str] = []
    for item in reversed(items):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call_output":
            outputs.insert(0, _text(item.get("output")))
        elif item.get("type") == "function_call" or outputs:
            return outputs
        elif item.get("role") == "user":
            return [_text(part) for part in _parts(item.get("content"))]
    return outputs


def _parts(content: Any) -> list[Any]:
    return [content] if isinstance(content, str) else content if isinstance(content, list) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(part) for part in value)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    return ""


def _tool_specs(tools: Any) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "function" and isinstance(tool.get("name"), str):
            specs.append(ToolSpec(tool["name"], tool.get("parameters") or {}))
    return specs


def _tool_choice(choice: Any) -> str | None:
    if choice == "required":
        return ""
    if choice == "none":
        return "none"
    if isinstance(choice, dict) and choice.get("type") == "function":
        return str(choice.get("name", ""))
    return None


def _reasoning_on(reasoning: Any) -> bool:
    return isinstance(reasoning, dict) and reasoning.get("effort") not in (None, "none", "minimal")

