"""Azure OpenAI's Chat Completions on the wire: OpenAI's format with Azure's additions.

Azure answers like OpenAI, plus content-filter annotations: `prompt_filter_results` in a
response and, in a stream, a first chunk with `choices: []`, an empty `model` and the prompt's
filter results (clients and gateways that assume every chunk has a choice break on it). Its own
errors (bad key, rate limit, unknown resource) are `{"error": {"code": "429", "message": ...}}`;
validation errors keep OpenAI's shape.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .answers import Answer, Prompt
from .openai_wire import WIRE as OPENAI
from .pacing import Event
from .wire import BadRequest, Ids, Reply

SAFE = {"filtered": False, "severity": "safe"}
CONTENT_FILTER = {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}
PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": {**CONTENT_FILTER, "jailbreak": {"filtered": False, "detected": False}}}]
MESSAGES = {
    401: (
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
        "a valid key for an active subscription and use a correct regional API endpoint for your resource."
    ),
    404: "Resource not found",
    429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The service is temporarily unable to process your request. Please try again later.",
}


class AzureWire:
    name = "azure"
    request_id_header = "apim-request-id"
    stream_content_type = OPENAI.stream_content_type

    def request_id(self, ids: Ids) -> str:
        digest = hashlib.md5(ids.new_id(16).encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"

    def message_id(self, ids: Ids) -> str:
        return OPENAI.message_id(ids)

    def prompt(self, body: dict[str, Any]) -> Prompt:
        return OPENAI.prompt(body)

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return OPENAI.wants_stream(body)

    def message(self, answer: Answer, reply: Reply) -> bytes:
        data = orjson.loads(OPENAI.message(answer, reply))
        data["prompt_filter_results"] = PROMPT_FILTER
        for choice in data["choices"]:
            choice["content_filter_results"] = CONTENT_FILTER
        return orjson.dumps(data)

    def stream(self, answer: Answer, reply: Reply, body: dict[str, Any]) -> list[Event]:
        first = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": PROMPT_FILTER}
        return [Event(b"data: " + orjson.dumps(first) + b"\n\n"), *OPENAI.stream(answer, reply, body)]

    def stream_error(self) -> Event:
        return OPENAI.stream_error()

    def error(self, status: int, message: str | None, request_id: str, bad: BadRequest | None = None) -> bytes:
        if status == 400 or bad is not None:
            return OPENAI.error(status, message, request_id, bad)
        usual = MESSAGES.get(status) or MESSAGES[500 if status >= 500 else 404]
        return orjson.dumps({"error": {"code": str(status), "message": message or usual}})


WIRE = AzureWire()
