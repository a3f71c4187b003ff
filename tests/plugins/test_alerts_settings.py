"""The alerts: and reports: sections: any value a YAML file can hold is either read or turned
into problems that name their path (`bifrost-py check`), never a crash (hypothesis)."""

from __future__ import annotations

from typing import Any

import bifrost_alerts
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.gateway import Gateway

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
CHANNEL_KEYS = st.sampled_from(["type", "url", "secret", "smtp", "to", "from", "starttls", "path", "retries",
                                "backoff", "timeout", "ca_file"])
channels = st.dictionaries(st.text(min_size=1, max_size=6),
                           st.dictionaries(CHANNEL_KEYS, yaml_values | st.sampled_from(
                               ["webhook", "slack", "email", "folder", "http://127.0.0.1:9/x", "smtp://h:25"]),
                                           max_size=5), max_size=2)
alerts = st.fixed_dictionaries({}, optional={
    "channels": channels, "send_to": yaml_values, "budget_thresholds": yaml_values, "thresholds_for": yaml_values,
    "loop": yaml_values, "spend_rate": yaml_values, "top_spenders": yaml_values, "surprise": yaml_values})
reports = st.dictionaries(st.text(min_size=1, max_size=6), st.fixed_dictionaries({}, optional={
    "schedule": yaml_values | st.sampled_from(["0 9 * * MON", "* * * * * */2", "61 * * * *"]),
    "timezone": yaml_values | st.sampled_from(["Asia/Kolkata", "Mars/Olympus"]),
    "since": yaml_values, "by": yaml_values, "format": yaml_values, "send_to": yaml_values}), max_size=2)


def build(section: dict[str, Any], report_section: dict[str, Any] | None = None) -> Gateway:
    config = {"providers": {"mock": {"type": "mock"}}, "alerts": section}
    if report_section is not None:
        config["reports"] = report_section
    return Gateway(config_from_dict(config), plugins=[bifrost_alerts], builtins=False)


@given(alerts, reports)
def test_any_section_is_read_or_reported_with_its_path(section: dict[str, Any], report_section: dict[str, Any]) -> None:
    try:
        build(section, report_section)
    except ConfigError as error:
        assert error.problems
        assert all(p.startswith(("alerts", "reports")) for p in error.problems), error.problems


@pytest.mark.parametrize("report, problem", [
    ({"schedule": "61 * * * *"}, "reports.r.schedule: is not a cron schedule"),
    ({"schedule": "0 9 * * MON", "timezone": "Mars/Olympus"}, "reports.r.timezone: unknown time zone 'Mars/Olympus'"),
    ({"schedule": "0 9 * * MON", "format": "xlsx"}, "reports.r.format: must be one of csv, html, json"),
    ({"schedule": "0 9 * * MON", "send_to": ["nowhere"]}, "reports.r.send_to: no channel named 'nowhere'"),
])
def test_report_mistakes_name_their_path(report: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build({"channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/x"}}}, {"r": report})
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
