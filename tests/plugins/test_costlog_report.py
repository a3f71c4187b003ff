"""`bifrost-py report` output: the table finance reads, CSV that parses, JSON that loads."""

from __future__ import annotations

import csv
import io
import json

import pytest
from bifrost_costlog.present import Presenter
from bifrost_costlog.report import render

from bifrost_py.config import Config
from bifrost_py.gateway import Gateway


def group(name: str | None, requests: int, cost: float, unpriced: int = 0) -> dict[str, object]:
    return {
        "group": name, "attempts": requests + 1, "requests": requests, "errors": 1, "input_tokens": 12_345,
        "output_tokens": 678, "cache_read_tokens": 9, "cache_write_tokens": 0, "unpriced": unpriced, "cache_hits": 2,
        "fallbacks": 1, "cost_usd": cost, "saved_by_cache_usd": 0.5, "saved_by_routing_usd": 0.25, "savings_unpriced": 0,
        "p50_ms": 812.4, "p95_ms": 2301.0,
    }


@pytest.fixture
def presenter() -> Presenter:
    gateway = Gateway(Config(currency_code="INR", currency_per_usd=84.0), builtins=False)
    return Presenter("INR", 84.0, gateway.format_money)


GROUPS = [group("backend", 40, 12.5), group(None, 3, 0.25, unpriced=2)]
TOTALS = group("", 43, 12.75, unpriced=2)
SINCE, UNTIL = 1_779_321_600.0, 1_779_926_400.0


def test_table(presenter: Presenter) -> None:
    text = render(GROUPS, TOTALS, by="team", since=SINCE, until=UNTIL, fmt="table", presenter=presenter)
    lines = text.splitlines()
    assert lines[0] == "Cost by team, 2026-05-21T00:00:00.000Z to 2026-05-28T00:00:00.000Z (INR)"
    assert lines[1].split()[:3] == ["team", "requests", "errors"]
    backend = next(line for line in lines if line.startswith("backend"))
    assert "₹1,050.00" in backend and "12,345" in backend and "812" in backend
    assert any(line.startswith("(none)") for line in lines)
    assert any(line.startswith("TOTAL") and "₹1,071.00" in line for line in lines)
    assert "2 attempt(s) used tokens of a model with no known price" in text


def test_csv(presenter: Presenter) -> None:
    text = render(GROUPS, TOTALS, by="team", since=SINCE, until=UNTIL, fmt="csv", presenter=presenter)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["team"] for r in parsed] == ["backend", "(none)", "TOTAL"]
    assert float(parsed[0]["cost_usd"]) == 12.5 and float(parsed[0]["cost"]) == 1050.0 and parsed[0]["currency"] == "INR"
    assert parsed[1]["unpriced"] == "2"


def test_json(presenter: Presenter) -> None:
    document = json.loads(render(GROUPS, TOTALS, by="team", since=SINCE, until=UNTIL, fmt="json", presenter=presenter))
    assert document["by"] == "team" and document["currency"] == {"code": "INR", "per_usd": 84.0}
    assert document["groups"][0]["cost"] == 1050.0
    assert document["totals"]["error_rate"] == pytest.approx(1 / 43)


def test_empty_period(presenter: Presenter) -> None:
    text = render([], group("", 0, 0.0), by="day", since=SINCE, until=UNTIL, fmt="table", presenter=presenter)
    assert "(no requests in this period)" in text


def test_unknown_format(presenter: Presenter) -> None:
    with pytest.raises(ValueError):
        render([], TOTALS, by="day", since=SINCE, until=UNTIL, fmt="xml", presenter=presenter)


def test_a_fraction_of_a_cent_keeps_its_digits(presenter: Presenter) -> None:
    assert presenter.display(0.0000412) == "₹0.003461"
    assert presenter.display(0.5) == "₹42.00"
    assert presenter.display(0.0) == "₹0.00"


def test_the_savings_section_sits_next_to_the_spend(presenter: Presenter) -> None:
    text = render(GROUPS, TOTALS, by="team", since=SINCE, until=UNTIL, fmt="table", presenter=presenter)
    savings = text.split("Savings by team (INR)", 1)[1].splitlines()
    assert savings[1].split()[:4] == ["team", "requests", "cache", "hits"]
    backend = next(line for line in savings if line.startswith("backend"))
    # spent ₹1,050, saved ₹42 by the cache and ₹21 by routing: ₹1,113 without the gateway, 5.7% saved
    assert "₹42.00" in backend and "₹21.00" in backend and "₹1,113.00" in backend and "5.7%" in backend
    total = next(line for line in savings if line.startswith("TOTAL"))
    assert "₹1,071.00" in total and "₹1,134.00" in total  # the fixture's totals save ₹42 + ₹21 too


def test_savings_that_could_not_be_priced_are_called_out(presenter: Presenter) -> None:
    totals = {**TOTALS, "savings_unpriced": 3}
    text = render(GROUPS, totals, by="team", since=SINCE, until=UNTIL, fmt="table", presenter=presenter)
    assert "3 answer(s) were routed or cached for a model with no known price" in text


def test_top_keeps_the_dearest_groups_and_sums_the_rest(presenter: Presenter) -> None:
    groups = [group("a", 5, 1.0), group("b", 7, 3.0), group("c", 2, 2.0), group("d", 1, 0.5)]
    totals = group("", 15, 6.5)
    document = json.loads(render(groups, totals, by="key", since=SINCE, until=UNTIL, fmt="json",
                                 presenter=presenter, top=2))
    assert [g["group"] for g in document["groups"]] == ["b", "c"]  # in the order given
    others = document["others"]
    assert others["group"] == "(2 others)" and others["cost_usd"] == 1.5 and others["requests"] == 6
    assert others["p50_ms"] is None
    assert document["totals"]["cost_usd"] == 6.5
    parsed = list(csv.DictReader(io.StringIO(render(groups, totals, by="key", since=SINCE, until=UNTIL, fmt="csv",
                                                    presenter=presenter, top=2))))
    assert [r["key"] for r in parsed] == ["b", "c", "(2 others)", "TOTAL"]
    text = render(groups, totals, by="key", since=SINCE, until=UNTIL, fmt="table", presenter=presenter, top=3)
    assert "(1 others)" in text
    assert render(groups, totals, by="key", since=SINCE, until=UNTIL, fmt="json", presenter=presenter, top=9)
    with pytest.raises(ValueError):
        render(groups, totals, by="key", since=SINCE, until=UNTIL, fmt="json", presenter=presenter, top=0)
