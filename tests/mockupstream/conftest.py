"""Fixtures: a real mock-upstream server on an OS-chosen loopback port, and SDK clients for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bifrost_py.mockupstream import STATE, MockOptions, MockState, build_app

ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"authorization": "Bearer test-key"}


@pytest.fixture
def make_server(aiohttp_server: Any) -> Callable[..., Awaitable[TestServer]]:
    async def make(**options: Any) -> TestServer:
        return await aiohttp_server(build_app(MockOptions(**options)), host="127.0.0.1")

    return make


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[TestServer]]) -> TestServer:
    return await make_server(seed=7)


@pytest.fixture
def url(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def state(server: TestServer) -> MockState:
    return server.app[STATE]


@pytest.fixture
async def http() -> Any:
    async with ClientSession() as session:
        yield session


@pytest.fixture
async def claude(url: str) -> Any:
    async with anthropic.AsyncAnthropic(base_url=url, api_key="test-key", max_retries=0) as client:
        yield client


@pytest.fixture
async def gpt(url: str) -> Any:
    async with openai.AsyncOpenAI(
        base_url=url + "/v1", api_key="test-key", max_retries=0
    ) as client:
        yield client


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city"],
    },
}
