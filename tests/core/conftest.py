"""Fixtures of the core tests: a gateway with only the test's own plugins, in front of the real
mock upstream (an anthropic- and an openai-type provider) and of a provider nobody listens for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bifrost_py.testing import RunningGateway, RunningServer, free_port, provider_config

GatewayFactory = Callable[..., Awaitable[RunningGateway]]


def providers(upstream_url: str) -> dict[str, Any]:
    """`anthropic` and `openai` on the mock upstream; `down` where nothing listens (its port was
    free a moment ago: a connection is refused, nothing waits)."""
    found = provider_config(upstream_url)
    found["down"] = {"type": "anthropic", "base_url": f"http://127.0.0.1:{free_port()}",
                     "keys": [{"value": "sk-down"}], "models": ["down-*"]}
    return found


@pytest.fixture
async def gateway(start_gateway: Any, mock_upstream: RunningServer) -> GatewayFactory:
    """`gw = await gateway(plugins=[...], extra={more providers}, **config)`: built-ins off,
    the providers above."""

    async def start(plugins: list[object] | None = None, extra: dict[str, Any] | None = None,
                    **config: Any) -> RunningGateway:
        merged = {"providers": {**providers(mock_upstream.url), **(extra or {})}, **config}
        return await start_gateway(merged, plugins=plugins or [], builtins=False)

    return start
