"""The guards' counters and the loop fingerprint, for any sequence of requests (hypothesis)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from bifrost_alerts.channels.webhook import signature
from bifrost_alerts.guards import LoopDetector, SpendRateGuard, fingerprint
from bifrost_alerts.settings import LoopGuard, SpendRate
from hypothesis import given
from hypothesis import strategies as st

START = 1_764_547_200.0
spends = st.lists(st.tuples(st.floats(0, 7200), st.floats(0.01, 1000)), min_size=1, max_size=60)


@given(spends)
def test_the_last_hours_spend_is_the_sum_of_its_minutes(events: list[tuple[float, float]]) -> None:
    guard = SpendRateGuard(SpendRate(max_per_hour=0.0))
    at = START
    seen: list[tuple[float, float]] = []
    for gap, amount in events:
        at += gap
        seen.append((at, amount))
        found = guard.add("dev", amount, now=at)
        assert found is not None
        minute = int(at // 60)
        expected = sum(a for t, a in seen if int(t // 60) > minute - 60)
        assert abs(found[0] - expected) <= 1e-6 * max(1.0, expected)


@given(st.floats(1, 500), st.integers(2, 12))
def test_a_key_that_jumps_past_its_multiple_is_reported_and_a_steady_one_is_not(hourly: float, multiple: int) -> None:
    guard = SpendRateGuard(SpendRate(multiple=float(multiple), baseline=24 * 3600))
    for hour in range(24):  # a steady day: the same spend every hour
        assert guard.add("dev", hourly, now=START + hour * 3600) is None
    found = guard.add("dev", hourly * (multiple + 1), now=START + 24 * 3600 + 60)
    assert found is not None and found[0] > multiple * found[1]


messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                           "content": st.text(min_size=1, max_size=30)}), min_size=1, max_size=6)


@given(messages, st.text(min_size=1, max_size=8))
def test_a_resent_turn_has_the_same_fingerprint_whatever_its_ids(conversation: list[dict[str, Any]], tag: str) -> None:
    def with_ids(suffix: str) -> dict[str, Any]:
        tail = [{**m, "content": [{"type": "tool_result", "tool_use_id": f"toolu_{suffix}", "content": m["content"],
                                   "cache_control": {"type": "ephemeral"} if suffix else None}]}
                for m in conversation]
        return {"model": "claude-sonnet-4-20250514", "messages": tail, "metadata": {"user_id": suffix}}

    assert fingerprint(with_ids("a" + tag)) == fingerprint(with_ids("b"))


@given(messages, st.text(min_size=1, max_size=30))
def test_a_new_turn_changes_the_fingerprint(conversation: list[dict[str, Any]], question: str) -> None:
    before = {"model": "m", "messages": conversation}
    after = {"model": "m", "messages": [*conversation, {"role": "user", "content": "next: " + question}]}
    assert fingerprint(before) != fingerprint(after)


@given(st.lists(st.floats(0, 120), min_size=1, max_size=40))
def test_the_loop_count_is_the_repeats_within_the_window(gaps: list[float]) -> None:
    detector = LoopDetector(LoopGuard(repeats=3, within=300.0))
    body = {"model": "m", "messages": [{"role": "user", "content": "again"}]}
    at, times = 0.0, []
    for gap in gaps:
        at += gap
        times.append(at)
        assert detector.add("s", body, now=at) == sum(1 for t in times if t >= at - 300.0)
    assert detector.add("other-session", body, now=at) == 1


@given(st.binary(max_size=2000), st.text(min_size=1, max_size=40))
def test_the_signature_is_the_hmac_of_the_exact_body(body: bytes, secret: str) -> None:
    header = signature(secret, body)
    assert header == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert signature(secret, body + b" ") != header
