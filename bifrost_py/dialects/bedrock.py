"""Amazon Bedrock InvokeModel with Anthropic models: the request body and path, the streamed
answer, and errors.

Bedrock speaks the Anthropic Messages dialect inside its own envelope: the body is the Messages
body without ``model`` (it is in the path) and ``stream`` (it is the choice of path), plus
``anthropic_version`` and, instead of the ``anthropic-beta`` header, an ``anthropic_beta`` list.
The stream is the AWS binary event stream; each ``chunk`` event carries one Anthropic stream event
as base64 JSON, so decoding it gives back the exact Anthropic SSE sequence.

Both directions are here: the provider adapter reads, the mock upstream writes. Reading, an
exception the stream declares raises `BedrockStreamError` (relayed as an Anthropic ``error``
event); bytes that cannot be decoded, a chunk that is not base64 JSON of an object or an event
type that is not a plain string raise `MalformedAnswer`; nothing else escapes. Writing the request
body, an ``anthropic_beta`` that is not a list of strings is the client's `TranslationError`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from .eventstream import EventStreamDecoder, EventStreamMessage, encode_message
from .fields import REQUEST, describe
from .translate_errors import MalformedAnswer

__all__ = [
    "BEDROCK_ANTHROPIC_VERSION",
    "EVENTSTREAM_CONTENT_TYPE",
    "INVOCATION_METRICS_KEY",
    "BedrockStreamError",
    "BedrockStreamReader",
    "anthropic_error_type",
    "bedrock_error_response",
    "bedrock_error_to_anthropic",
    "bedrock_invoke_path",
    "bedrock_response_headers",
    "bedrock_runtime_url",
    "betas_from_header",
    "encode_bedrock_chunk",
    "encode_bedrock_exception",
    "encode_bedrock_stream",
    "invocation_metrics",
    "to_bedrock_body",
]

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
INVOCATION_METRICS_KEY = "amazon-bedrock-invocationMetrics"
SIGNING_SERVICE = "bedrock"  # the SigV4 service name of bedrock-runtime.*.amazonaws.com
_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


# --------------------------------------------------------------------------- request


def bedrock_runtime_url(region: str) -> str:
    """Base URL of the runtime endpoint in a region."""
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def bedrock_invoke_path(model_id: str, stream: bool) -> str:
    """``/model/{id}/invoke`` or ``.../invoke-with-response-stream``, the id escaped as botocore
    sends it (everything but unreserved characters, so ``:`` is ``%3A`` and an ARN's ``/`` is
    ``%2F``). Send it byte for byte as signed (yarl: ``URL(..., encoded=True)``)."""
    action = "invoke-with-response-stream" if stream else "invoke"
    return f"/model/{quote(model_id, safe='')}/{action}"


def betas_from_header(value: str | None) -> list[str]:
    """The ``anthropic-beta`` header (comma separated, possibly repeated) as a list."""
    if not value:
        return []
    return [beta.strip() for beta in value.split(",") if beta.strip()]


def to_bedrock_body(anthropic_body: Mapping[str, Any], betas: Iterable[str] = ()) -> dict[str, Any]:
    """The InvokeModel body for an Anthropic Messages body. Everything else passes through
    untouched, so cache_control, thinking blocks and new fields survive."""
    anthropic_body = REQUEST.an_object(anthropic_body, "request body")
    body = {key: value for key, value in anthropic_body.items() if key not in ("model", "stream")}
    body.setdefault("anthropic_version", BEDROCK_ANTHROPIC_VERSION)
    listed = REQUEST.strings(body.get("anthropic_beta") or [], "anthropic_beta")
    merged = list(dict.fromkeys([*listed, *betas]))
    if merged:
        body["anthropic_beta"] = merged
    return body


# --------------------------------------------------------------------------- errors


# Bedrock's exception name -> (HTTP status Bedrock uses, Anthropic error type).
_EXCEPTIONS: dict[str, tuple[int, str]] = {
    "ValidationException": (400, "invalid_request_error"),
    "ServiceQuotaExceededException": (400, "rate_limit_error"),
    "AccessDeniedException": (403, "permission_error"),
    "UnrecognizedClientException": (403, "authentication_error"),
    "InvalidSignatureException": (403, "authentication_error"),
    "IncompleteSignatureException": (403, "authentication_error"),
    "MissingAuthenticationTokenException": (403, "authentication_error"),
    "ExpiredTokenException": (403, "authentication_error"),
    "ResourceNotFoundException": (404, "not_found_error"),
    "ModelTimeoutException": (408, "timeout_error"),
    "ModelErrorException": (424, "api_error"),
    "ModelStreamErrorException": (424, "api_error"),
    "ThrottlingException": (429, "rate_limit_error"),
    "ModelNotReadyException": (429, "rate_limit_error"),
    "InternalServerException": (500, "api_error"),
    "ServiceUnavailableException": (503, "overloaded_error"),
}

_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def _exception_name(kind: str) -> str:
    """Stream exceptions are camelCase (``throttlingException``), HTTP ones PascalCase."""
    return kind[:1].upper() + kind[1:]


def anthropic_error_type(kind: str | None, status: int = 500) -> str:
    """The Anthropic error type for a Bedrock exception name, else for the HTTP status."""
    if kind and _exception_name(kind) in _EXCEPTIONS:
        return _EXCEPTIONS[_exception_name(kind)][1]
    return _BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def bedrock_error_to_anthropic(
    status: int, body: bytes, headers: Mapping[str, str]
) -> tuple[str, str]:
    """(Anthropic error type, message) for a non-streamed Bedrock error response."""
    payload = _json_object(body)
    named = payload.get("__type")
    raw_kind = _header(headers, "x-amzn-errortype") or (named if isinstance(named, str) else "")
    kind = raw_kind.split(":", 1)[0].rsplit("#", 1)[-1] or None
    message = payload.get("message") or payload.get("Message")
    if not isinstance(message, str):
        message = body.decode("utf-8", "replace").strip() or f"Bedrock returned HTTP {status}"
    return anthropic_error_type(kind, status), message


def bedrock_error_response(kind: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a Bedrock error as AWS sends it; for the mock upstream."""
    name = _exception_name(kind)
    status = _EXCEPTIONS.get(name, (500, "api_error"))[0]
    headers = {"content-type": "application/json", "x-amzn-ErrorType": name + _ERROR_TYPE_SUFFIX}
    return status, headers, orjson.dumps({"message": message})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


# --------------------------------------------------------------------------- stream: reading


class BedrockStreamError(Exception):
    """An exception or error message inside a Bedrock event stream, after the HTTP 200."""

    def __init__(
        self, exception_type: str, message: str, original_status_code: int | None = None
    ) -> None:
        super().__init__(f"{exception_type}: {message}")
        self.exception_type = exception_type
        self.message = message
        self.original_status_code = original_status_code

    @property
    def anthropic_error_type(self) -> str:
        """What to put in the Anthropic ``error`` event relayed to the client."""
        return anthropic_error_type(self.exception_type, self.original_status_code or 500)


class BedrockStreamReader:
    """Bytes of an InvokeModelWithResponseStream body in, Anthropic ``(event, data)`` pairs out.

    Chunks may split messages at any byte. The ``amazon-bedrock-invocationMetrics`` that Bedrock
    adds to ``message_stop`` is taken out (the client asked Anthropic, not Bedrock) and kept in
    `invocation_metrics`. A stream exception raises `BedrockStreamError` — after the events that
    preceded it in the same chunk have been returned, from the next `feed` or `close`; so does a
    `MalformedAnswer` for bytes or chunks that cannot be decoded.
    """

    __slots__ = ("_decoder", "_pending_error", "invocation_metrics")

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()
        self._pending_error: BedrockStreamError | MalformedAnswer | None = None
        self.invocation_metrics: dict[str, Any] | None = None

    def feed(self, data: bytes) -> list[tuple[str, dict[str, Any]]]:
        """Consume a chunk; return the Anthropic events it completed."""
        self._raise_pending()
        events: list[tuple[str, dict[str, Any]]] = []
        for message in self._decoder.feed(data):
            try:
                event = self._event(message)
            except (BedrockStreamError, MalformedAnswer) as exc:
                if not events:
                    raise
                self._pending_error = exc
                break
            if event is not None:
                events.append(event)
        return events

    def close(self) -> None:
        """End of the body: raise a pending stream exception or a cut-off message."""
        self._raise_pending()
        self._decoder.close()

    def _raise_pending(self) -> None:
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            raise error

    def _event(self, message: EventStreamMessage) -> tuple[str, dict[str, Any]] | None:
        kind = message.message_type
        if kind == "exception":
            raise _stream_exception(message)
        if kind == "error":
            code = message.headers.get(":error-code", "UnknownError")
            text = message.headers.get(":error-message", "")
            raise BedrockStreamError(str(code), str(text))
        if message.event_type != "chunk":
            return None  # e.g. initial-response: nothing for the client
        event = _chunk_event(message.payload)
        metrics = event.pop(INVOCATION_METRICS_KEY, None)
        if isinstance(metrics, dict):
            self.invocation_metrics = metrics
        kind = event.get("type", "completion")
        # The type becomes an SSE `event:` line: a line break in it would forge events.
        if not isinstance(kind, str) or not kind or "\n" in kind or "\r" in kind:
            raise MalformedAnswer(f"Bedrock chunk type is not an event name: {describe(kind)}")
        return kind, event


def _stream_exception(message: EventStreamMessage) -> BedrockStreamError:
    payload = _json_object(message.payload)
    status = payload.get("originalStatusCode")
    text = payload.get("message") or payload.get("originalMessage") or ""
    return BedrockStreamError(
        message.exception_type or "unknownException",
        text if isinstance(text, str) else describe(text),
        status if isinstance(status, int) else None,
    )


def _chunk_event(payload: bytes) -> dict[str, Any]:
    try:
        envelope = orjson.loads(payload)
        event = orjson.loads(base64.b64decode(envelope["bytes"], validate=True))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedAnswer(f"undecodable Bedrock chunk: {exc}") from None
    if not isinstance(event, dict):
        raise MalformedAnswer("Bedrock chunk is not a JSON object")
    return event


# --------------------------------------------------------------------------- stream: writing

_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def encode_bedrock_chunk(
    event: Mapping[str, Any], *, invocation_metrics: Mapping[str, int] | None = None
) -> bytes:
    """One ``chunk`` event-stream message carrying an Anthropic stream event, as Bedrock frames
    it: ``{"bytes": base64(json), "p": padding}``. Bedrock pads each chunk to hide token lengths
    from traffic analysis; the mock pads too so readers that choke on ``p`` fail in tests."""
    if invocation_metrics is not None:
        event = {**event, INVOCATION_METRICS_KEY: dict(invocation_metrics)}
    raw = orjson.dumps(event)
    padding = _PADDING[: 1 + len(raw) % len(_PADDING)]
    payload = orjson.dumps({"bytes": base64.b64encode(raw).decode("ascii"), "p": padding})
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, payload)


def encode_bedrock_exception(kind: str, message: str, **extra: Any) -> bytes:
    """An exception message inside the stream, e.g. ``throttlingException``; ``extra`` adds
    fields such as ``originalStatusCode`` for ``modelStreamErrorException``."""
    name = kind[:1].lower() + kind[1:]
    headers = {
        ":exception-type": name,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, orjson.dumps({"message": message, **extra}))


def invocation_metrics(
    input_tokens: int, output_tokens: int, invocation_latency_ms: int, first_byte_latency_ms: int
) -> dict[str, int]:
    """The metrics object Bedrock appends to the final ``message_stop``."""
    return {
        "inputTokenCount": input_tokens,
        "outputTokenCount": output_tokens,
        "invocationLatency": invocation_latency_ms,
        "firstByteLatency": first_byte_latency_ms,
    }


def encode_bedrock_stream(
    events: Iterable[Mapping[str, Any]],
    *,
    invocation_latency_ms: int = 0,
    first_byte_latency_ms: int = 0,
) -> Iterator[bytes]:
    """Frame a whole Anthropic event sequence, adding the invocation metrics (token counts read
    from ``message_start`` and ``message_delta`` usage) to ``message_stop``."""
    input_tokens = output_tokens = 0
    for event in events:
        kind = event.get("type")
        if kind == "message_start":
            usage = event.get("message", {}).get("usage", {})
            input_tokens = usage.get("input_tokens", 0)
            output_tokens = usage.get("output_tokens", 0)
        elif kind == "message_delta":
            output_tokens = event.get("usage", {}).get("output_tokens", output_tokens)
        metrics = None
        if kind == "message_stop":
            metrics = invocation_metrics(
                input_tokens, output_tokens, invocation_latency_ms, first_byte_latency_ms
            )
        yield encode_bedrock_chunk(event, invocation_metrics=metrics)


def bedrock_response_headers(
    input_tokens: int, output_tokens: int, invocation_latency_ms: int = 0
) -> dict[str, str]:
    """Headers of a non-streamed InvokeModel answer (its body is the Anthropic message)."""
    return {
        "content-type": "application/json",
        "x-amzn-bedrock-input-token-count": str(input_tokens),
        "x-amzn-bedrock-output-token-count": str(output_tokens),
        "x-amzn-bedrock-invocation-latency": str(invocation_latency_ms),
    }
