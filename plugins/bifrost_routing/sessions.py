"""Where each client session was last served, so it stays there while that target is healthy.

A bounded LRU map, session id -> `SessionState`, forgotten after `ttl` seconds idle. Per
session it holds, for each routing group (the model a request resolved to), the target and
API key that last answered it, and the targets that failed it recently (`avoid`).

Kept in this process's memory: with several gateway instances each remembers its own sessions.
That costs little, because the first draw of a session is a hash of its id (draw.py), which
every instance computes alike; only "this session moved away after a failure" is per instance.
The clock is injected so tests need not sleep.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

TargetKey = tuple[str, str]  # (provider, model)


@dataclass(slots=True)
class Placement:
    provider: str
    model: str
    key_name: str | None = None

    @property
    def key(self) -> TargetKey:
        return (self.provider, self.model)


@dataclass(slots=True)
class SessionState:
    seen: float
    placements: dict[str, Placement] = field(default_factory=dict)   # group -> placement
    avoid: dict[TargetKey, float] = field(default_factory=dict)      # target -> until (clock)

    def avoided(self, now: float) -> set[TargetKey]:
        if not self.avoid:
            return set()
        for key in [k for k, until in self.avoid.items() if until <= now]:
            del self.avoid[key]
        return set(self.avoid)


class SessionMemory:
    """Not thread-safe: one event loop owns it."""

    def __init__(self, max_sessions: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.ttl = ttl
        self.clock = clock
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session: str) -> SessionState | None:
        """The session's state if it is remembered and not expired (marks it recently used)."""
        state = self._sessions.get(session)
        if state is None:
            return None
        now = self.clock()
        if now - state.seen > self.ttl:
            del self._sessions[session]
            return None
        state.seen = now
        self._sessions.move_to_end(session)
        return state

    def state(self, session: str) -> SessionState:
        """The session's state, created when absent; expired and surplus sessions are dropped."""
        state = self.get(session)
        if state is None:
            state = self._sessions[session] = SessionState(seen=self.clock())
            self._trim()
        return state

    def remember(self, session: str, group: str, placement: Placement) -> None:
        state = self.state(session)
        state.placements[group] = placement
        state.avoid.pop(placement.key, None)

    def avoid(self, session: str, group: str, target: TargetKey, seconds: float) -> None:
        """`target` failed this session: draw elsewhere for a while, and forget it as the place
        to stay."""
        state = self.state(session)
        state.avoid[target] = self.clock() + seconds
        placement = state.placements.get(group)
        if placement is not None and placement.key == target:
            del state.placements[group]

    def forget(self, session: str) -> bool:
        return self._sessions.pop(session, None) is not None

    def snapshot(self, session: str) -> dict[str, object] | None:
        """What the admin API shows for one session."""
        state = self.get(session)
        if state is None:
            return None
        now = self.clock()
        return {
            "placements": {group: {"provider": p.provider, "model": p.model, "key": p.key_name}
                           for group, p in state.placements.items()},
            "avoiding": [{"target": f"{p}/{m}", "for_seconds": round(until - now, 1)}
                         for (p, m), until in state.avoid.items() if until > now],
        }

    def _trim(self) -> None:
        """Drop sessions idle longer than `ttl` (the oldest are first) and any beyond the bound."""
        now = self.clock()
        sessions = self._sessions
        while sessions:
            oldest = next(iter(sessions.values()))
            if len(sessions) <= self.max_sessions and now - oldest.seen <= self.ttl:
                break
            sessions.popitem(last=False)
