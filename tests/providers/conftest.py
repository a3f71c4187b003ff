"""Helpers shared by the provider adapter and provider mock tests."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bifrost_py.config import ProviderConfig, ProviderKey
from bifrost_py.dialects.sse import SSEDecoder
from bifrost_py.mockupstream.bedrock_endpoints import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from bifrost_py.providers.base import UpstreamRequest

BEDROCK_MODEL_ID = "us.anthropic.claude-sonnet-4-20250514-v1:0"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


def bedrock_config(url: str, **overrides: Any) -> ProviderConfig:
    fields: dict[str, Any] = {
        "name": "bedrock", "type": "bedrock", "base_url": url, "keys": [], "region": "us-east-1",
        "access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY,
    }
    fields.update(overrides)
    return ProviderConfig(**fields)


def messages_request(text: str, *, model: str, stream: bool = False, **extra: Any) -> UpstreamRequest:
    """An Anthropic Messages request as the pipeline hands it to an adapter."""
    body: dict[str, Any] = {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": text}], **extra}
    if stream:
        body["stream"] = True
    headers = {"anthropic-version": "2023-06-01"}
    return UpstreamRequest("messages", "anthropic", orjson.dumps(body), body, stream, model, headers)


def key(value: str) -> ProviderKey:
    return ProviderKey(value=value, name="key-1")


def sse_events(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, parsed data) of every event in SSE bytes."""
    decoder = SSEDecoder()
    events = decoder.feed(data) + decoder.close()
    return [(event.event, orjson.loads(event.data)) for event in events]


async def read_stream(response: Any) -> bytes:
    return b"".join([chunk async for chunk in response.chunks()])


@pytest.fixture
async def mock_records(mock_upstream: Any) -> Any:
    """`await mock_records()`: the requests the mock saw, oldest first."""

    async def records() -> list[dict[str, Any]]:
        return orjson.loads((await mock_upstream.get("/_mock/requests"))[2])

    return records
