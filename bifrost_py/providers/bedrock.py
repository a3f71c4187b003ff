"""Amazon Bedrock: Anthropic models through InvokeModel / InvokeModelWithResponseStream.

The adapter speaks Anthropic to the pipeline (`dialects = ("anthropic",)`), so Anthropic
clients pass through almost untouched and OpenAI clients arrive already translated. Inside
`send()` it moves the Messages body into Bedrock's envelope (model in the path, `stream` as the
choice of path, `anthropic_version` and the `anthropic-beta` header in the body), signs the
request with SigV4 (botocore's signer) or a Bedrock API key, and turns the answer back:

* non-streamed: Bedrock's body already is an Anthropic message; it passes through;
* streamed: the binary AWS event stream is decoded as it arrives into Anthropic SSE; an
  exception inside the stream (`throttlingException`...) becomes an Anthropic `error` event,
  which the pipeline treats as a failed attempt before the first event and relays after it;
  a corrupt frame (CRC mismatch), a cut-off message or a chunk that is not base64 JSON raises
  `MalformedAnswer` (after the events before it were yielded): the answer is Bedrock's fault;
* errors: Bedrock's status is kept, its `x-amzn-ErrorType` / message become an Anthropic error.

A request body that cannot be put in the envelope (an `anthropic_beta` that is not a list of
strings, JSON nested too deeply to write) is the client's fault: `send()` raises InvalidRequest.

Model names are mapped through the provider's `models:` table (name or glob -> Bedrock model
id or inference profile, ARNs included); the path is sent byte for byte as signed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from yarl import URL

from ..config import ProviderConfig, ProviderKey
from ..dialects.bedrock import (
    SIGNING_SERVICE,
    BedrockStreamError,
    BedrockStreamReader,
    bedrock_error_to_anthropic,
    bedrock_invoke_path,
    betas_from_header,
    to_bedrock_body,
)
from ..dialects.sigv4 import sign_request
from ..dialects.translate_errors import TranslationError
from ..errors import InvalidRequest
from .awsauth import AWSCredentialSource
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

log = logging.getLogger("bifrost_py.providers.bedrock")
JSON = "application/json"


class BedrockProvider(Provider):
    type = "bedrock"
    dialects = ("anthropic",)
    supports_count_tokens = False
    supports_embeddings = False

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.credentials = AWSCredentialSource(
            config.name, config.access_key_id, config.secret_access_key, config.session_token
        )

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        if request.endpoint != "messages":
            raise InvalidRequest(f"provider '{self.name}' (bedrock) cannot serve {request.endpoint} requests")
        betas = betas_from_header(request.headers.get("anthropic-beta"))
        try:
            body = orjson.dumps(to_bedrock_body(request.json, betas))
        except TranslationError as exc:
            raise InvalidRequest(f"cannot put this request in the Bedrock envelope of provider '{self.name}': {exc}") from exc
        except orjson.JSONEncodeError as exc:
            raise InvalidRequest(f"request body is nested too deeply for provider '{self.name}' (bedrock)") from exc
        url = self.config.base_url + bedrock_invoke_path(request.model, request.stream)
        headers = await self._authorized(url, self._headers(request.stream), body, key)
        response = await self._post(URL(url, encoded=True), headers, body, request.extra_headers)
        return await _answer(response, request.stream)

    def describe(self) -> dict[str, Any]:
        """For the admin API: also the region and how requests are authenticated (no secrets)."""
        access_key = self.config.access_key_id
        if access_key:
            auth = f"sigv4: access key {access_key[:4]}…{access_key[-4:]}"
        elif len(self.keys):
            auth = "bedrock api key (bearer)"
        else:
            auth = "sigv4: AWS default credential chain"
        return {**super().describe(), "region": self.config.region, "auth": auth}

    def _headers(self, stream: bool) -> dict[str, str]:
        # As boto3 sends them: InvokeModel's `accept` is the Accept header, the stream's is
        # X-Amzn-Bedrock-Accept (its Accept is the event stream).
        accept = {"x-amzn-bedrock-accept": JSON} if stream else {"accept": JSON}
        return {"content-type": JSON, **accept, **self.config.headers}

    async def _authorized(self, url: str, headers: dict[str, str], body: bytes, key: ProviderKey | None) -> dict[str, str]:
        """SigV4 with the configured or discovered AWS keys; a Bedrock API key (`keys:`) as a
        bearer token when no access key is configured."""
        if not self.credentials.configured and key is not None and key.value:
            return {**headers, "authorization": f"Bearer {key.value}"}
        aws = await self.credentials.keys()
        return sign_request(
            "POST", url, headers, body,
            region=self.config.region, service=SIGNING_SERVICE,
            access_key=aws.access_key, secret_key=aws.secret_key, session_token=aws.session_token,
        )


async def _answer(response: UpstreamResponse, stream: bool) -> UpstreamResponse:
    if response.status >= 300:
        raw = await read_error(response)
        kind, message = bedrock_error_to_anthropic(response.status, raw, response.headers)
        body = orjson.dumps(anthropic_error(kind, message))
        return BufferedResponse(response.status, converted_headers(response.headers), body)
    if stream:
        return ConvertedResponse(response, stream=anthropic_stream)
    return response  # InvokeModel's body is the Anthropic message itself


async def anthropic_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """InvokeModelWithResponseStream bytes in, Anthropic SSE bytes out, one read at a time. An
    exception in the stream ends it with an Anthropic `error` event; bytes that cannot be decoded
    raise MalformedAnswer."""
    reader = BedrockStreamReader()
    try:
        async for chunk in chunks:
            events = reader.feed(chunk)
            if events:
                yield anthropic_sse(events)
        reader.close()
    except BedrockStreamError as exc:
        log.info("Bedrock stream exception %s: %s", exc.exception_type, exc.message)
        yield anthropic_error_event(exc.anthropic_error_type, f"{exc.exception_type}: {exc.message}")
