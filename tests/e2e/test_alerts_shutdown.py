"""A SIGTERM while an alert is still being retried: the gateway stops only after the delivery
went through (deliveries are drained at shutdown, not dropped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import yaml
from bifrost_alerts.testing import running_webhook_receiver

from bifrost_py.testing import GatewayProcess


async def test_sigterm_waits_for_an_alert_that_is_being_retried(tmp_path: Path) -> None:
    async with running_webhook_receiver(fail_first=3) as hook:
        config = tmp_path / "bifrost.yaml"
        config.write_text(yaml.safe_dump({
            "providers": {"mock": {"type": "mock", "models": ["claude-*"]}},
            "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
            "governance": {"virtual_keys": {"dev": {"key": "vk-dev-shutdown-1"}}},
            "alerts": {"channels": {"hook": {"type": "webhook", "url": hook.url, "backoff": "300ms"}},
                       "loop": {"repeats": 1, "within": "1m"}},
        }))
        gateway = GatewayProcess(config, tmp_path / "gateway.log")
        body: dict[str, Any] = {"model": "claude-sonnet-4-20250514", "max_tokens": 20,
                                "messages": [{"role": "user", "content": "again"}]}
        async with aiohttp.ClientSession() as client:
            await gateway.ready(client)
            for _ in range(2):  # the second one is a loop: an alert whose first three deliveries fail
                async with client.post(gateway.url + "/anthropic/v1/messages", json=body,
                                       headers={"x-bf-session-id": "s1", "x-api-key": "vk-dev-shutdown-1"}) as answer:
                    assert answer.status == 200
        assert await gateway.stop() == 0
        assert hook.refused == 3
        assert [r.json()["type"] for r in hook.received] == ["loop"]
