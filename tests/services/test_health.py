"""The provider-health API: failover publishes a target's circuit, routing reads it with types,
and the admin API keeps showing it under the provider's `state`."""

from __future__ import annotations

from typing import Any

import aiohttp

from bifrost_py.health import Circuit, ProviderHealth, TargetHealth
from bifrost_py.hookspecs import hookimpl

MODEL = "claude-sonnet-4"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_published_is_closed() -> None:
    health = ProviderHealth()
    assert health.circuit(MODEL) is Circuit.CLOSED
    assert not health.is_open(MODEL)
    assert health.describe() == {}
    assert not health


def test_an_open_circuit_turns_half_open_when_its_cooldown_ends() -> None:
    clock = Clock()
    health = ProviderHealth(clock)
    health.publish(MODEL, TargetHealth(Circuit.OPEN, reopens_at=130.0, details={"recent_failures": 5}))
    assert health.is_open(MODEL)
    assert health.circuit(MODEL) is Circuit.OPEN
    assert health.describe() == {"circuit": {MODEL: {"state": "open", "recent_failures": 5, "retry_in_seconds": 30.0}}}
    assert not health.is_open("other-model")
    clock.now = 130.0
    assert not health.is_open(MODEL)
    assert health.circuit(MODEL) is Circuit.HALF_OPEN
    assert health.describe()["circuit"][MODEL]["state"] == "half_open"


def test_an_open_circuit_without_a_reopening_time_stays_open_until_published_again() -> None:
    clock = Clock()
    health = ProviderHealth(clock)
    health.publish(MODEL, TargetHealth(Circuit.OPEN))
    clock.now = 1e9
    assert health.is_open(MODEL)
    health.publish(MODEL, TargetHealth(Circuit.CLOSED))
    assert not health.is_open(MODEL)
    health.clear(MODEL)
    assert health.get(MODEL) is None


class Breaker:
    """A failover-like plugin that opens a circuit on the anthropic provider at start-up."""

    @hookimpl
    async def bifrost_startup(self, gateway: Any) -> None:
        gateway.providers["anthropic"].health.publish(
            MODEL, TargetHealth(Circuit.OPEN, reopens_at=None, details={"last_error": "529 overloaded"}))


async def test_the_admin_api_shows_published_health_under_state(gateway: Any) -> None:
    gw = await gateway(plugins=[Breaker()], admin={"token": "t"})
    async with aiohttp.ClientSession() as session, session.get(
            gw.url + "/api/providers", headers={"authorization": "Bearer t"}) as response:
        assert response.status == 200
        body = await response.json()
    shown = {p["name"]: p["state"] for p in body["providers"]}
    assert shown["anthropic"] == {"circuit": {MODEL: {"state": "open", "last_error": "529 overloaded",
                                                      "retry_in_seconds": 0.0}}}
    assert shown["openai"] == {}
