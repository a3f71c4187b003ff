"""Which targets of a chain a request may use now: not those whose circuit is open, and not
those whose provider has no usable API key left.

When that leaves nothing, `circuit.when_all_open` decides: `try` (the default) uses the targets
with open circuits anyway, in chain order, since with no alternative a failing target is still
the request's best chance; `fail` answers 503 at once with a `retry-after` of the earliest probe.
A chain whose every provider lost all its keys always ends in a 502 that says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bifrost_py.context import Target
from bifrost_py.errors import CredentialsRefused, GatewayError, UpstreamUnavailable
from bifrost_py.providers.base import Provider

from .breaker import BreakerBoard
from .keys import aside_reasons, no_usable_key

CIRCUIT_OPEN = "circuit_open"
NO_KEY = "no_key"


@dataclass(slots=True, frozen=True)
class Skipped:
    target: Target
    why: str          # CIRCUIT_OPEN or NO_KEY


def admit(targets: list[Target], holder: str, board: BreakerBoard,
          providers: Mapping[str, Provider]) -> tuple[list[Target], list[Skipped]]:
    """Split `targets` into those usable now and those skipped (with why), keeping order."""
    usable: list[Target] = []
    skipped: list[Skipped] = []
    any_open = bool(board.opened)
    for target in targets:
        provider = providers.get(target.provider)
        if provider is not None and no_usable_key(provider):
            skipped.append(Skipped(target, NO_KEY))
        elif any_open and not board.admits((target.provider, target.model), holder):
            skipped.append(Skipped(target, CIRCUIT_OPEN))
        else:
            usable.append(target)
    return usable, skipped


def when_nothing_admitted(skipped: list[Skipped], policy: str, board: BreakerBoard,
                          providers: Mapping[str, Provider]) -> list[Target]:
    """The targets to use anyway, or raise the error that explains why there are none."""
    open_ones = [s.target for s in skipped if s.why == CIRCUIT_OPEN]
    if open_ones and policy == "try":
        return open_ones
    if open_ones:
        raise all_open_error(open_ones, board)
    raise no_key_error([s.target for s in skipped], providers)


def all_open_error(targets: list[Target], board: BreakerBoard) -> GatewayError:
    wait = min(board.retry_in((t.provider, t.model)) for t in targets)
    listed = "; ".join(
        f"{t} (circuit {board.state((t.provider, t.model))}, next probe in "
        f"{board.retry_in((t.provider, t.model)):.0f}s, last error: "
        f"{board.snapshot((t.provider, t.model))['last_error'] or 'none'})"
        for t in targets
    )
    return UpstreamUnavailable(
        f"every target is cooling down after repeated failures: {listed}",
        status=503, headers={"retry-after": str(max(1, math.ceil(wait)))},
    )


def no_key_error(targets: list[Target], providers: Mapping[str, Provider]) -> GatewayError:
    names = list(dict.fromkeys(t.provider for t in targets))
    listed = "; ".join(
        f"provider '{name}' has no usable API key ({aside_reasons(providers[name])})" for name in names
    )
    return CredentialsRefused(f"the providers refused the gateway's credentials: {listed}", final=True)
