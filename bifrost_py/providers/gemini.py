"""Google Gemini (the Gemini API, generativelanguage.googleapis.com): generateContent and
streamGenerateContent?alt=sse, with the key in `x-goog-api-key`.

A Gemini client's request (the `gemini` dialect) goes to Google as it came, the model in the
path, and its answer comes back untouched. For every other client the adapter speaks Anthropic
to the pipeline and translates inside `send()` with the dialects layer (`dialects/gemini.py` documents what is carried over
and what is dropped): the Messages body becomes a Gemini request, the answer an Anthropic
message, the SSE stream Anthropic SSE as each chunk arrives. What the translation dropped is
logged. Gemini's errors keep their status (but a rejected API key, which Gemini answers 400,
is reported as 401 so the gateway treats it as a refused key) and a RetryInfo delay becomes
`retry-after`.

Whose fault: a request field of the wrong type is the client's (`InvalidRequest`, 400, raised by
`send()`); a 200 whose body is not a generateContent answer, or a stream chunk that is not JSON or
not Gemini's shape, is Gemini's (`MalformedAnswer`, raised by `read()` or by the stream after the
events before it were yielded). An ``error`` chunk Gemini sends in a stream is not malformed: it
ends the stream as an Anthropic ``error`` event.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ..config import ProviderKey
from ..context import COUNT_TOKENS
from ..dialects.gemini import GEMINI, GEMINI_API_KEY_HEADER, gemini_path
from ..dialects.gemini_errors import GeminiError, gemini_error_to_anthropic
from ..dialects.gemini_request import anthropic_request_to_gemini
from ..dialects.gemini_response import gemini_response_to_anthropic
from ..dialects.gemini_stream import GeminiStreamToAnthropic
from ..dialects.sse import SSEDecoder, SSEEvent
from ..dialects.tokens import estimate_input_tokens
from ..dialects.translate_errors import MalformedAnswer, TranslationError
from ..dialects.usage import answer_object
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
MAX_RETRY_AFTER = 86_400.0  # a day: more is a garbled delay (and 400 digits would be inf)


class GeminiProvider(Provider):
    type = "gemini"
    dialects = ("anthropic", GEMINI)  # Gemini clients are passed through, the others translated
    supports_count_tokens = False
    supports_embeddings = False

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        if key is None or not key.value:
            raise CredentialsRefused(f"provider '{self.name}' has no usable API key")
        if request.dialect == GEMINI:
            return await self._passthrough(request, key.value)
        if request.endpoint != "messages":
            raise InvalidRequest(f"provider '{self.name}' (gemini) cannot serve {request.endpoint} requests")
        try:
            body, notes = anthropic_request_to_gemini(request.json)
            raw = orjson.dumps(body)
        except TranslationError as exc:
            raise InvalidRequest(f"cannot translate this request for provider '{self.name}' (gemini): {exc}") from exc
        except orjson.JSONEncodeError as exc:
            raise InvalidRequest(f"request body is nested too deeply for provider '{self.name}' (gemini)") from exc
        if notes:
            log.info("provider %s: request to %s translated with losses: %s", self.name, request.model, "; ".join(notes))
        url = self.config.base_url + gemini_path(request.model, request.stream)
        headers = {"content-type": "application/json", GEMINI_API_KEY_HEADER: key.value, **self.config.headers}
        response = await self._post(url, headers, raw, request.extra_headers)
        return await _answer(response, request)

    async def _passthrough(self, request: UpstreamRequest, key: str) -> UpstreamResponse:
        """A Gemini client's body as it came (the model is in the path), the answer untouched;
        an error answer as the translated ones are (a rejected key is a 401)."""
        body = request.body
        if "model" in request.json:  # a plugin's replace_body() names it; Google wants it in the path only
            body = orjson.dumps({k: v for k, v in request.json.items() if k != "model"})
        method = ":countTokens" if request.endpoint == COUNT_TOKENS else ""
        path = gemini_path(request.model, request.stream) if not method else f"/v1beta/models/{request.model}{method}"
        headers = {"content-type": "application/json", GEMINI_API_KEY_HEADER: key, **self.config.headers}
        response = await self._post(self.config.base_url + path, headers, body, request.extra_headers)
        return await _error(response) if response.status >= 300 else response


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
    """A generateContent answer as an Anthropic message; MalformedAnswer when it is not one."""
    data = answer_object(raw, "Gemini's answer")
    return orjson.dumps(gemini_response_to_anthropic(data, model=model))


async def _error(response: UpstreamResponse) -> BufferedResponse:
    raw = await read_error(response)
    kind, message = gemini_error_to_anthropic(response.status, raw)
    status = 401 if kind == "authentication_error" else response.status
    headers = converted_headers(response.headers, retry_after(raw))
    return BufferedResponse(status, headers, orjson.dumps(anthropic_error(kind, message)))


async def anthropic_stream(chunks: AsyncIterator[bytes], translator: GeminiStreamToAnthropic) -> AsyncIterator[bytes]:
    """streamGenerateContent SSE in, Anthropic SSE out, one read at a time. A Gemini `error`
    chunk ends it with an Anthropic `error` event; a malformed chunk raises MalformedAnswer after
    the events before it."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        out, ending = _translate(decoder.feed(chunk), translator)
        if out:
            yield out
        if ending is not None:
            yield _ended(ending)
            return
    out, ending = _translate(decoder.close(), translator)
    if out:
        yield out
    yield _ended(ending) if ending is not None else anthropic_sse(translator.finish())


def _ended(ending: bytes | MalformedAnswer) -> bytes:
    if isinstance(ending, MalformedAnswer):
        raise ending
    return ending


def _translate(
    events: list[SSEEvent], translator: GeminiStreamToAnthropic
) -> tuple[bytes, bytes | MalformedAnswer | None]:
    """(Anthropic SSE for the events, what ends the stream if something does: the error event
    for a Gemini `error` chunk, or the MalformedAnswer of a chunk that is not Gemini's shape)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        try:
            out.extend(translator.feed(answer_object(event.data, "a Gemini stream chunk")))
        except GeminiError as exc:
            log.info("Gemini stream error %s %s: %s", exc.code, exc.status, exc.message)
            return anthropic_sse(out), anthropic_error_event(exc.anthropic_error_type, exc.message)
        except MalformedAnswer as exc:
            return anthropic_sse(out), exc
    return anthropic_sse(out), None


def retry_after(raw: bytes) -> str | None:
    """Seconds from a google.rpc.RetryInfo `retryDelay` ("37s", "1.5s") in an error body."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict) or not _is_str_ending(detail.get("@type"), "google.rpc.RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        match = _DELAY.match(delay) if isinstance(delay, str) else None
        if match:
            return str(max(1, math.ceil(min(float(match.group(1)), MAX_RETRY_AFTER))))
    return None


def _is_str_ending(value: object, suffix: str) -> bool:
    return isinstance(value, str) and value.endswith(suffix)
