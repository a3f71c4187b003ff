"""What a team manager reads of the alert history: only alerts about their teams.

Everyone else reads every alert. A team manager (`Principal.scoped`) sees

    budget      of one of their teams; of a virtual key or a session of one of their teams; of a
                customer when one of their teams is among its top spenders, the list (and the
                alert's "Top spenders" line) cut to their teams
    loop, spend_rate   when the key's team (recorded in the alert) is one of theirs

and no test alert, no report, no provider-config budget (those are the whole gateway's). A key's
or a session's team comes from the cost log's `request_log`, the table the alert's own top
spenders come from; when it cannot answer, the alert is not shown (closed, not open).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bifrost_py.accounts.roles import Principal
    from bifrost_py.gateway import Gateway

log = logging.getLogger("bifrost_py.alerts")
OWNED_BY = {"key": "key_name", "session": "session_id"}  # budget tier -> request_log column naming it
TOP_LINE = "Top spenders: "
PAGE = 200                    # alerts read per round while filtering for a team manager
MAX_SCANNED = 20_000          # a team manager's list looks back at most this many alerts

History = Callable[[int, "float | None"], Awaitable[list[dict[str, Any]]]]


async def scoped_history(gateway: Gateway | None, who: Principal, history: History, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` alerts `who` may read, newest first, read page by page from `history(n,
    before_ts)` (the store's newest-first list older than `before_ts`)."""
    if not who.scoped:
        return await history(limit, None)
    shown: list[dict[str, Any]] = []
    before: float | None = None
    scanned = 0
    while len(shown) < limit and scanned < MAX_SCANNED:
        page = await history(PAGE, before)
        if not page:
            break
        scanned += len(page)
        shown += await visible(gateway, who, page)
        before = page[-1]["ts"]
        if len(page) < PAGE:
            break
    return shown[:limit]


async def visible(gateway: Gateway | None, who: Principal, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`alerts` as `who` may read them (see the module's docstring)."""
    if not who.scoped:
        return alerts
    owners = await teams_of(gateway, [(a["details"].get("tier"), a["details"].get("entity"),
                                       (a["details"].get("window") or {}).get("start"))
                                      for a in alerts if a["kind"] == "budget" and a["details"].get("tier") in OWNED_BY])
    shown = (readable(who, alert, owners) for alert in alerts)
    return [alert for alert in shown if alert is not None]


def readable(who: Principal, alert: dict[str, Any], owners: dict[tuple[str, str], set[str]]) -> dict[str, Any] | None:
    """`alert` as the team manager `who` may read it, or None."""
    details = alert["details"]
    if alert["kind"] in ("loop", "spend_rate"):
        return alert if who.sees(details.get("team")) else None
    if alert["kind"] != "budget":
        return None
    tier, entity = details.get("tier"), details.get("entity")
    if tier == "customer":
        return customer_alert(who, alert)
    if tier == "team":
        return alert if who.sees(entity) else None
    return alert if any(who.sees(team) for team in owners.get((tier, entity), ())) else None


def customer_alert(who: Principal, alert: dict[str, Any]) -> dict[str, Any] | None:
    """A customer's budget alert with its top spenders (teams) cut to `who`'s, or None when none
    of their teams is among them."""
    details = alert["details"]
    top = [t for t in details.get("top_spenders") or () if who.sees(t.get("name"))]
    if not top:
        return None
    currency = details.get("currency", "")
    line = TOP_LINE + ", ".join(f"{t['name']} {t['spent']:,.2f} {currency}".rstrip() for t in top)
    text = "\n".join(line if row.startswith(TOP_LINE) else row for row in alert["text"].split("\n"))
    return {**alert, "text": text, "details": {**details, "top_spenders": top}}


async def teams_of(gateway: Gateway | None, named: Iterable[tuple[str, str, float | None]]) -> dict[tuple[str, str], set[str]]:
    """(tier, name) -> the teams the cost log recorded for that key or session since its budget
    window began (it spent in that window: that is what the alert is about; the time bound lets
    the `ts` index narrow the scan); nothing for one it cannot answer for."""
    wanted: dict[str, set[str]] = {}
    since: dict[str, float] = {}
    for tier, name, start in named:
        if isinstance(name, str):
            wanted.setdefault(tier, set()).add(name)
            since[tier] = min(since.get(tier, float("inf")), start if isinstance(start, (int, float)) else 0.0)
    found: dict[tuple[str, str], set[str]] = {}
    if gateway is None:
        return found
    for tier, names in wanted.items():
        column = OWNED_BY[tier]
        try:
            db = await gateway.storage.sql(gateway.config.logs_url)
            rows = await db.fetch(f"SELECT DISTINCT {column} AS name, team FROM request_log WHERE ts >= ? AND "
                                  f"{column} IN ({', '.join('?' for _ in names)})", since[tier], *sorted(names))
        except Exception as exc:  # noqa: BLE001 - no cost log table, another schema, a store that is down
            log.debug("alerts: no teams for %s %s: %s", tier, sorted(names), exc)
            continue
        for row in rows:
            found.setdefault((tier, row["name"]), set()).add(row["team"])
    return found
