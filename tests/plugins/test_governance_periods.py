"""Budget windows: calendar-aligned in the configured zone, or fixed durations on the epoch."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from bifrost_governance.periods import FOREVER, Period, check_reset, iso
from hypothesis import given
from hypothesis import strategies as st

NOW = st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False)   # 1970 .. 2100
ZONES = st.sampled_from(["UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "Europe/Berlin"])


def ts(text: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


@given(now=NOW, reset=st.sampled_from(["daily", "weekly", "monthly", "30m", "12h", "7d", "90s"]), tz=ZONES)
def test_now_is_inside_its_window_and_the_next_window_starts_where_it_ends(now: float, reset: str, tz: str) -> None:
    period = Period(reset, ZoneInfo(tz))
    start, end = period.window(now)
    assert start <= now < end
    assert period.window(end)[0] == end
    assert period.window(start) == (start, end)


@given(now=NOW, tz=ZONES)
def test_calendar_windows_start_at_the_first_instant_of_their_day(now: float, tz: str) -> None:
    """Local midnight, or the end of a DST gap where a zone skips midnight (Lord Howe, 1981)."""
    zone = ZoneInfo(tz)
    for reset in ("daily", "weekly", "monthly"):
        start, _ = Period(reset, zone).window(now)
        first, before = datetime.fromtimestamp(start, zone), datetime.fromtimestamp(start - 1, zone)
        assert before.date() < first.date() and (first.hour, first.minute) <= (1, 0)
        if reset == "weekly":
            assert first.weekday() == 0
        if reset == "monthly":
            assert first.day == 1


def test_monthly_in_utc_and_in_india() -> None:
    now = ts("2026-11-15T12:00:00")
    assert Period("monthly").window(now) == (ts("2026-11-01T00:00:00"), ts("2026-12-01T00:00:00"))
    kolkata = Period("monthly", ZoneInfo("Asia/Kolkata"))
    start, end = kolkata.window(ts("2026-11-30T20:00:00"))   # already December 1st in India
    assert start == ts("2026-12-01T00:00:00", "Asia/Kolkata")
    assert kolkata.when(end) == "2027-01-01 00:00 Asia/Kolkata"


def test_daily_across_a_dst_change_is_23_hours() -> None:
    start, end = Period("daily", ZoneInfo("Europe/Berlin")).window(ts("2026-03-29T12:00:00", "Europe/Berlin"))
    assert end - start == 23 * 3600


def test_durations_are_epoch_aligned_and_never_is_forever() -> None:
    assert Period("12h").window(ts("2026-11-15T13:00:00")) == (ts("2026-11-15T12:00:00"), ts("2026-11-16T00:00:00"))
    assert Period("never").window(123.0) == (0.0, FOREVER)
    assert Period("never").when(FOREVER) == "never" and iso(FOREVER) is None
    assert Period("monthly").describe() == "this month" and Period("12h").describe() == "in the current 12h window"


@pytest.mark.parametrize("bad", ["yearly", "0s", "-1d", "soon", ""])
def test_bad_resets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_reset(bad)


def test_iso_is_utc() -> None:
    assert iso(datetime(2026, 12, 1, tzinfo=UTC).timestamp()) == "2026-12-01T00:00:00Z"
