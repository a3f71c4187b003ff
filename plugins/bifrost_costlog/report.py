"""`bifrost-py report`: the usage aggregates as a table for people, CSV for spreadsheets or
JSON for scripts. Money is shown in the configured currency; unknown prices are called out."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from .present import Presenter, iso

HEADERS = (
    "requests",
    "errors",
    "input",
    "output",
    "cache read",
    "cache write",
    "cost",
    "unpriced",
    "p50 ms",
    "p95 ms",
)
CSV_HEADERS = (
    "requests",
    "attempts",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "cost",
    "currency",
    "unpriced",
    "cache_hits",
    "saved_by_cache_usd",
    "saved_by_routing_usd",
    "fallbacks",
    "p50_ms",
    "p95_ms",
)
NO_GROUP = "(none)"


def render(
    groups: list[dict[str, Any]],
    totals: dict[str, Any],
    *,
    by: str,
    since: float,
    until: float,
    fmt: str,
    presenter: Presenter,
) -> str:
    if fmt == "json":
        return _json(groups, totals, by, since, until, presenter)
    if fmt == "csv":
        return _csv(groups, totals, by, presenter)
    if fmt == "table":
        return _table(groups, totals, by, since, until, presenter)
    raise ValueError(f"format: expected table, csv or json, got {fmt!r}")


def _json(
    groups: list[dict[str, Any]],
    totals: dict[str, Any],
    by: str,
    since: float,
    until: float,
    presenter: Presenter,
) -> str:
    document = {
        "by": by,
        "since": iso(since),
        "until": iso(until),
        "currency": presenter.currency(),
        "groups": [presenter.aggregate(g) for g in groups],
        "totals": presenter.aggregate(totals),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def _csv(groups: list[dict[str, Any]], totals: dict[str, Any], by: str, presenter: Presenter) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((by, *CSV_HEADERS))
    for group in [*groups, {**totals, "group": "TOTAL"}]:
        shown = presenter.aggregate(group)
        shown["currency"] = presenter.code
        writer.writerow(
            (_label(group["group"]), *("" if shown[h] is None else shown[h] for h in CSV_HEADERS))
        )
    return buffer.getvalue().rstrip("\n")


def _table(
    groups: list[dict[str, Any]],
    totals: dict[str, Any],
    by: str,
    since: float,
    until: float,
    presenter: Presenter,
) -> str:
    title = f"Cost by {by}, {iso(since)} to {iso(until)} ({presenter.code})"
    lines = [title]
    body = [_cells(g, presenter) for g in groups]
    total = _cells({**totals, "group": "TOTAL"}, presenter)
    header = (by, *HEADERS)
    widths = [max(len(str(row[i])) for row in [header, *body, total]) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines += [line(header), rule, *(line(row) for row in body), rule, line(total)]
    if not groups:
        lines.append("(no requests in this period)")
    if totals["unpriced"]:
        lines.append(
            f"note: {totals['unpriced']} attempt(s) used tokens of a model with no known price; their cost is NOT "
            "in these totals. Add the model under `pricing:` in the config."
        )
    return "\n".join(lines)


def _cells(group: dict[str, Any], presenter: Presenter) -> tuple[str, ...]:
    return (
        _label(group["group"]),
        f"{group['requests']:,}",
        f"{group['errors']:,}",
        f"{group['input_tokens']:,}",
        f"{group['output_tokens']:,}",
        f"{group['cache_read_tokens']:,}",
        f"{group['cache_write_tokens']:,}",
        presenter.format_money(group["cost_usd"]),
        f"{group['unpriced']:,}" if group["unpriced"] else "",
        _ms(group["p50_ms"]),
        _ms(group["p95_ms"]),
    )


def _label(value: Any) -> str:
    return NO_GROUP if value is None or value == "" else str(value)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"
