"""Weighted draws: by chance for a lone request, by the session id for a session.

A session's draw is weighted rendezvous hashing (highest random weight): every candidate gets
the score ``weight / -ln(u)`` with ``u`` a hash of (session, candidate) in (0, 1), and the
highest score wins. Over many sessions each candidate wins in proportion to its weight; one
session always gets the same answer, on every gateway instance and after a restart, with no
shared state; and when a candidate drops out (unhealthy) only the sessions that were on it
move, each to its own second choice, while everyone else stays put.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
_SCALE = float(1 << 64)


def unit_hash(*parts: str) -> float:
    """A stable number in the open interval (0, 1) for `parts` (blake2b, not Python's
    per-process randomised hash, so every instance agrees)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / _SCALE


def by_session(session: str, items: Sequence[T], weights: Sequence[float], names: Sequence[str]) -> T:
    """The item this session lands on (weighted rendezvous hashing). Zero weights only win
    when every weight is zero (then all count alike)."""
    if len(items) == 1:
        return items[0]
    if not any(w > 0 for w in weights):
        weights = [1.0] * len(items)
    best_index, best_score = 0, -1.0
    for index, (weight, name) in enumerate(zip(weights, names)):
        if weight <= 0:
            continue
        score = weight / -math.log(unit_hash(session, name))
        if score > best_score:
            best_index, best_score = index, score
    return items[best_index]


def by_chance(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> T:
    """A weighted random draw (for requests that belong to no session)."""
    if len(items) == 1:
        return items[0]
    if not any(w > 0 for w in weights):
        return rng.choice(items)
    return rng.choices(items, weights=weights)[0]
