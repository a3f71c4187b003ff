"""Fixtures shared by the whole suite: real servers on OS-chosen loopback ports."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Callable

import pytest

from bifrost_py.testing import RunningGateway, RunningServer, running_gateway, running_mock_upstream


@pytest.fixture
async def mock_upstream() -> AsyncIterator[RunningServer]:
    """The mock provider over HTTP (script it with POST /_mock/script)."""
    async with running_mock_upstream() as upstream:
        yield upstream


@pytest.fixture
async def start_gateway() -> AsyncIterator[Callable[..., Any]]:
    """`gw = await start_gateway(config_dict, plugins=[...], builtins=False)`; all stopped at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(config: Any, **kwargs: Any) -> RunningGateway:
            return await stack.enter_async_context(running_gateway(config, **kwargs))

        yield start
