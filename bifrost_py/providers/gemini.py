"""Google Gemini (the Gemini API, generativelanguage.googleapis.com): generateContent and
streamGenerateContent?alt=sse, with the key in `x-goog-api-key`.

The adapter speaks Anthropic to the pipeline (`dialects = ("anthropic",)`) and translates
inside `send()` with the dialects layer (`dialects/gemini.py` documents what is carried over
and what is dropped): the Messages body becomes a Gemini request, the answer an Anthropic
message, the SSE stream Anthropic SSE as each chunk arrives. What the translation dropped is
logged. Gemini's errors keep their status (but a rejected API key, which Gemini answers 400,
is reported as 401 so the gateway treats it as a refused key) and a RetryInfo delay becomes
`retry-after`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from ..config import ProviderKey
from ..dialects.gemini import (
    GEMINI_API_KEY_HEADER,
    GeminiError,
    GeminiStreamToAnthropic,
    anthropic_request_to_gemini,
    gemini_error_to_anthropic,
    gemini_path,
    gemini_response_to_anthropic,
)
from ..dialects.sse import SSEDecoder, SSEEvent
from ..dialects.tokens import estimate_input_tokens
from ..errors import CredentialsRefused, InvalidRequest
from .base import Provider, UpstreamRequest, UpstreamResponse
from .converted import (
    BufferedResponse,
    ConvertedResponse,
    anthropic_error,
    anthropic_error_event,
    anthropic_sse,
    converted_headers,
    read_error,
)

log = logging.getLogger("bifrost_py.providers.gemini")
_DELAY = re.compile(r"^\s*([0-9]*\.?[0-9]+)s\s*$")


class GeminiProvider(Provider):
    type = "gemini"
    dialects = ("anthropic",)
    supports_count_tokens = False
    supports_embeddings = False

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        if request.endpoint != "messages":
            raise InvalidRequest(f"provider '{self.name}' (gemini) cannot serve {request.endpoint} requests")
        if key is None or not key.value:
            raise CredentialsRefused(f"provider '{self.name}' has no usable API key")
        body, notes = anthropic_request_to_gemini(request.json)
        if notes:
            log.info("provider %s: request to %s translated with losses: %s", self.name, request.model, "; ".join(notes))
        url = self.config.base_url + gemini_path(request.model, request.stream)
        headers = {"content-type": "application/json", GEMINI_API_KEY_HEADER: key.value, **self.config.headers}
        response = await self._post(url, headers, orjson.dumps(body))
        return await _answer(response, request)


async def _answer(response: UpstreamResponse, request: UpstreamRequest) -> UpstreamResponse:
    if response.status >= 300:
        return await _error(response)
    model = request.model
    if request.stream:
        estimate = estimate_input_tokens(request.json)
        return ConvertedResponse(
            response, stream=lambda chunks: anthropic_stream(chunks, GeminiStreamToAnthropic(model, estimate))
        )
    return ConvertedResponse(response, body=lambda raw: _message(raw, model), headers=converted_headers(response.headers))


def _message(raw: bytes, model: str) -> bytes:
    """A generateContent answer as an Anthropic message (non-JSON stays as it came, so the
    pipeline reports it as a broken answer)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    if not isinstance(data, dict):
        return raw
    return orjson.dumps(gemini_response_to_anthropic(data, model=model))


async def _error(response: UpstreamResponse) -> BufferedResponse:
    raw = await read_error(response)
    kind, message = gemini_error_to_anthropic(response.status, raw)
    status = 401 if kind == "authentication_error" else response.status
    headers = converted_headers(response.headers, retry_after(raw))
    return BufferedResponse(status, headers, orjson.dumps(anthropic_error(kind, message)))


async def anthropic_stream(chunks: AsyncIterator[bytes], translator: GeminiStreamToAnthropic) -> AsyncIterator[bytes]:
    """streamGenerateContent SSE in, Anthropic SSE out, one read at a time; a Gemini `error`
    chunk ends it with an Anthropic `error` event."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        out, error = _translate(decoder.feed(chunk), translator)
        if out:
            yield out
        if error is not None:
            yield error
            return
    out, error = _translate(decoder.close(), translator)
    yield out + (error if error is not None else anthropic_sse(translator.finish()))


def _translate(events: list[SSEEvent], translator: GeminiStreamToAnthropic) -> tuple[bytes, bytes | None]:
    """(Anthropic SSE for the events, the error event that ends the stream, if one came)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        try:
            out.extend(translator.feed(_chunk(event.data)))
        except GeminiError as exc:
            log.info("Gemini stream error %s %s: %s", exc.code, exc.status, exc.message)
            return anthropic_sse(out), anthropic_error_event(exc.anthropic_error_type, exc.message)
    return anthropic_sse(out), None


def _chunk(data: str) -> Mapping[str, Any]:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise aiohttp.ClientPayloadError(f"Gemini sent a stream chunk that is not JSON: {data[:200]!r}") from exc
    if not isinstance(chunk, dict):
        raise aiohttp.ClientPayloadError("Gemini sent a stream chunk that is not a JSON object")
    return chunk


def retry_after(raw: bytes) -> str | None:
    """Seconds from a google.rpc.RetryInfo `retryDelay` ("37s", "1.5s") in an error body."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return str(max(1, math.ceil(float(match.group(1)))))
    return None
