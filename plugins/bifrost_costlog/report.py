"""`bifrost-py report`: the usage aggregates as a table for people, CSV for spreadsheets or
JSON for scripts, with the savings next to the spend. Money is shown in the configured
currency; unknown prices are called out, never guessed.

Savings are sums of the log rows (`rows.py` prices each one): "saved by the cache" is what the
cached answers would have cost at the price of what would have been served, "saved by
routing" what the requested models would have cost minus what was paid. "Without the gateway"
is spend plus both, and the savings rate their share of it. `top` keeps the groups that cost
most and sums the rest into one "others" line, so the totals are those of every row.

By session, each session also shows its key, team, client app and when it was first and last
seen (a table of its own; extra CSV columns; fields of each JSON group).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import orjson

from .present import Presenter, iso
from .rollup import FLOATS, INTS

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
    "saved_total_usd",
    "without_gateway_usd",
    "savings_rate",
    "savings_unpriced",
    "fallbacks",
    "p50_ms",
    "p95_ms",
)
SAVINGS_HEADERS = ("requests", "cache hits", "spent", "saved by cache", "saved by routing", "without gateway", "saved")
SESSION_HEADERS = ("key", "team", "client", "first seen", "last seen", "requests", "spent", "saved")
SESSION_CSV = ("key", "team", "client", "first_seen", "last_seen")
NO_GROUP = "(none)"


def limited(
    groups: list[dict[str, Any]], top: int | None, rank: Callable[[dict[str, Any]], Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The `top` groups first by `rank` (default: that cost most, then most requests), in their
    order, and the rest summed as one group (None when nothing was left out). Percentiles and
    session details of the rest are not known."""
    if top is None or len(groups) <= top:
        return groups, None
    order = rank or (lambda g: (-g["cost_usd"], -g["requests"]))
    ranked = sorted(range(len(groups)), key=lambda i: (order(groups[i]), i))
    keep = set(ranked[:top])
    rest = [g for i, g in enumerate(groups) if i not in keep]
    others: dict[str, Any] = {"group": f"({len(rest)} others)", "p50_ms": None, "p95_ms": None}
    if "first_ts" in groups[0]:
        others.update(dict.fromkeys(("key", "team", "client", "first_ts", "last_ts")))
    for name in INTS:
        others[name] = sum(g[name] for g in rest)
    for name in FLOATS:
        others[name] = sum(g[name] for g in rest)
    return [g for i, g in enumerate(groups) if i in keep], others


def render(
    groups: list[dict[str, Any]],
    totals: dict[str, Any],
    *,
    by: str,
    since: float,
    until: float,
    fmt: str,
    presenter: Presenter,
    top: int | None = None,
) -> str:
    if top is not None and top < 1:
        raise ValueError(f"--top: expected a whole number of at least 1, got {top}")
    shown, others = limited(groups, top)
    if fmt == "json":
        return _json(shown, others, totals, by, since, until, presenter)
    if fmt == "csv":
        return _csv([*shown, *([others] if others else [])], totals, by, presenter)
    if fmt == "table":
        return _table([*shown, *([others] if others else [])], totals, by, since, until, presenter)
    raise ValueError(f"format: expected table, csv or json, got {fmt!r}")


def _json(
    groups: list[dict[str, Any]],
    others: dict[str, Any] | None,
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
        "others": None if others is None else presenter.aggregate(others),
        "totals": presenter.aggregate(totals),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def _csv(groups: list[dict[str, Any]], totals: dict[str, Any], by: str, presenter: Presenter) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = SESSION_CSV if by == "session" else ()
    writer.writerow((by, *extra, *CSV_HEADERS))
    for group in [*groups, {**totals, "group": "TOTAL"}]:
        shown = presenter.aggregate(group)
        shown["currency"] = presenter.code
        writer.writerow(
            (_label(group["group"]), *("" if shown.get(h) is None else shown[h] for h in (*extra, *CSV_HEADERS)))
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
    lines += _grid((by, *HEADERS), body, total)
    if not groups:
        lines.append("(no requests in this period)")
    else:
        lines += ["", f"Savings by {by} ({presenter.code})", *_grid(
            (by, *SAVINGS_HEADERS),
            [_savings(presenter.aggregate(g), presenter) for g in groups],
            _savings(presenter.aggregate({**totals, "group": "TOTAL"}), presenter),
        )]
        if by == "session":
            lines += ["", f"Sessions ({presenter.code}, times UTC)", *_grid(
                ("session", *SESSION_HEADERS),
                [_session(presenter.aggregate(g), presenter) for g in groups],
                _session(presenter.aggregate({**totals, "group": "TOTAL"}), presenter),
                left=6,
            )]
    if totals["unpriced"]:
        lines.append(
            f"note: {totals['unpriced']} attempt(s) used tokens of a model with no known price; their cost is NOT "
            "in these totals. Add the model under `pricing:` in the config."
        )
    if totals.get("savings_unpriced"):
        lines.append(
            f"note: {totals['savings_unpriced']} answer(s) were routed or cached for a model with no known price; "
            "their savings are NOT in these totals."
        )
    return "\n".join(lines)


def _grid(header: tuple[str, ...], body: list[tuple[str, ...]], total: tuple[str, ...], left: int = 1) -> list[str]:
    """Aligned lines: the header, a rule, the body, a rule, the total; the first `left` columns
    (text) aligned left, the rest (numbers) right."""
    widths = [max(len(str(row[i])) for row in [header, *body, total]) for i in range(len(header))]
    rule = "  ".join("-" * w for w in widths)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header), rule, *(line(row) for row in body), rule, line(total)]


def _savings(group: dict[str, Any], presenter: Presenter) -> tuple[str, ...]:
    return (
        _label(group["group"]),
        f"{group['requests']:,}",
        f"{group['cache_hits']:,}",
        presenter.format_money(group["cost_usd"]),
        presenter.format_money(group["saved_by_cache_usd"]),
        presenter.format_money(group["saved_by_routing_usd"]),
        presenter.format_money(group["without_gateway_usd"]),
        f"{group['savings_rate']:.1%}" if group["without_gateway_usd"] > 0 else "",
    )


def _session(group: dict[str, Any], presenter: Presenter) -> tuple[str, ...]:
    return (
        _label(group["group"]),
        group.get("key") or "",
        group.get("team") or "",
        group.get("client") or "",
        _minute(group.get("first_seen")),
        _minute(group.get("last_seen")),
        f"{group['requests']:,}",
        presenter.format_money(group["cost_usd"]),
        presenter.format_money(group["saved_total_usd"]),
    )


def _minute(moment: str | None) -> str:
    """2026-12-05T08:14:03.120Z -> 2026-12-05 08:14"""
    return "" if not moment else moment[:16].replace("T", " ")


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
