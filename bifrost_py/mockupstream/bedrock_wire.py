"""Amazon Bedrock's InvokeModel / InvokeModelWithResponseStream on the wire, for Anthropic models.

The answer is the Anthropic one (Bedrock relays Anthropic's Messages API): the same message
JSON, and the same stream events each wrapped as a base64 `chunk` in the binary AWS event
stream, with the invocation metrics added to `message_stop`. What differs is the envelope:
the model id is in the path, the body carries `anthropic_version` and may not carry `model` or
`stream`, and errors are `{"message": ...}` with the exception name in `x-amzn-ErrorType`.

One `BedrockWire` serves one request: it knows the model id of the path, whether the path asked
for a stream, and which in-stream exception the prompt asked for (`[[exception:KIND]]`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from ..dialects.bedrock import (
    BEDROCK_ANTHROPIC_VERSION,
    EVENTSTREAM_CONTENT_TYPE,
    encode_bedrock_chunk,
    encode_bedrock_exception,
    invocation_metrics,
)
from ..dialects.sse import SSEDecoder
from .answers import Answer, Prompt
from .anthropic_wire import WIRE as ANTHROPIC
from .faults import parse_markers
from .pacing import Event
from .wire import BadRequest, Ids, Reply

ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
# The exception Bedrock names for a status, and its usual message.
EXCEPTIONS = {
    400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "Could not resolve the foundation model from the provided model identifier."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request. Try your request again."),
    424: ("ModelErrorException", "The system encountered an unexpected error during processing. Try your request again."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The system encountered an unexpected error during processing. Try your request again."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}
STREAM_EXCEPTION = "serviceUnavailableException"  # [[stream_error]] alone: the "overloaded" of Bedrock
_EXCEPTION_MARKER = re.compile(r"\[\[exception(?::([A-Za-z]+))?\]\]")
_REGION_PREFIX = re.compile(r"^(?:[a-z]{2}(?:-gov)?|apac|global)\.")
_VERSION_SUFFIX = re.compile(r"-v\d+(?::\d+)?$")


def exception_for(status: int) -> tuple[str, str]:
    """(exception name, usual message) Bedrock sends with `status`."""
    if status in EXCEPTIONS:
        return EXCEPTIONS[status]
    return EXCEPTIONS[500] if status >= 500 else EXCEPTIONS[400]


def anthropic_model_name(model_id: str) -> str:
    """The model name Bedrock puts in its answers: `us.anthropic.claude-x-v1:0` -> `claude-x`
    (an ARN's last segment is read the same way)."""
    name = model_id.rsplit("/", 1)[-1]
    name = _REGION_PREFIX.sub("", name)
    name = name.removeprefix("anthropic.")
    return _VERSION_SUFFIX.sub("", name)


def asked_exception(text: str) -> tuple[str | None, bool]:
    """(`[[exception:KIND]]`'s KIND or None, whether the marker was there at all)."""
    match = _EXCEPTION_MARKER.search(text)
    if match is None:
        return None, False
    kind = match.group(1) or "throttlingException"
    return kind[:1].lower() + kind[1:], True


@dataclass(slots=True)
class BedrockWire:
    model_id: str
    streaming: bool
    exception: str | None = None      # set while reading the prompt
    exception_first: bool = False     # the exception is the stream's first message

    name = "bedrock"
    request_id_header = "x-amzn-RequestId"
    stream_content_type = EVENTSTREAM_CONTENT_TYPE

    def request_id(self, ids: Ids) -> str:
        digest = hashlib.md5(ids.new_id(16).encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"

    def message_id(self, ids: Ids) -> str:
        return "msg_bdrk_01" + ids.new_id(22)

    def prompt(self, body: dict[str, Any]) -> Prompt:
        _validate(body)
        prompt = ANTHROPIC.prompt({**body, "model": anthropic_model_name(self.model_id)})
        kind, asked = asked_exception(prompt.text)
        if asked:
            self.exception = kind
            self.exception_first = not parse_markers(prompt.text).stream_error
        return prompt

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return self.streaming

    def message(self, answer: Answer, reply: Reply) -> bytes:
        return ANTHROPIC.message(answer, reply)

    def stream(self, answer: Answer, reply: Reply, body: dict[str, Any]) -> list[Event]:
        if self.exception_first:
            return [Event(self._exception())]
        usage = answer.usage
        metrics = invocation_metrics(usage.prompt_tokens, usage.output_tokens, 0, 0)
        events = []
        for data, is_delta in ANTHROPIC.stream(answer, reply, body):
            framed = b"".join(_frames(data, metrics))
            if framed:
                events.append(Event(framed, is_delta))
        return events

    def stream_error(self) -> Event:
        return Event(self._exception())

    def _exception(self) -> bytes:
        kind = self.exception or STREAM_EXCEPTION
        status = {"throttlingException": 429, "serviceUnavailableException": 503}.get(kind, 500)
        return encode_bedrock_exception(kind, exception_for(status)[1])

    def error(self, status: int, message: str | None, request_id: str, bad: BadRequest | None = None) -> bytes:
        return orjson.dumps({"message": message or exception_for(status)[1]})


def _frames(sse: bytes, metrics: dict[str, int]) -> list[bytes]:
    """The Anthropic SSE events of one stream event as Bedrock `chunk` frames (no pings: Bedrock
    sends none)."""
    frames = []
    for event in SSEDecoder().feed(sse):
        data = orjson.loads(event.data)
        if data.get("type") == "ping":
            continue
        extra = metrics if data.get("type") == "message_stop" else None
        frames.append(encode_bedrock_chunk(data, invocation_metrics=extra))
    return frames


def _validate(body: dict[str, Any]) -> None:
    """What Bedrock checks in the envelope before the model sees the request."""
    for key in ("model", "stream"):
        if key in body:
            raise BadRequest(f"Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again.")
    if "anthropic_version" not in body:
        raise BadRequest("Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.")
    if body["anthropic_version"] != BEDROCK_ANTHROPIC_VERSION:
        raise BadRequest(f"Invalid API version: {body['anthropic_version']!r}; supported: {BEDROCK_ANTHROPIC_VERSION}")
