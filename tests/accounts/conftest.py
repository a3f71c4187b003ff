"""Fixtures of the accounts tests: a gateway on real sockets with an admin token, its database
in the test's folder, and people signed in through the real HTTP path."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from accounts_wire import Person, gateway_config


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> Any:
    return await start_gateway(gateway_config(mock_upstream, tmp_path), builtins=False)


@pytest.fixture
async def people(gw: Any) -> AsyncIterator[Callable[[], Person]]:
    made: list[Person] = []

    def make() -> Person:
        made.append(Person(gw.url))
        return made[-1]

    yield make
    for person in made:
        await person.close()
