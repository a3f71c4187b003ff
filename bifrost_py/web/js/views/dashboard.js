// Dashboard: what was spent (today, this week, this month) against the budgets, spend over
// time, the biggest spenders, the sessions that cost most (each a link to its log rows), and
// the health figures of the chosen window. Refreshes itself.

import { events, hasRoute } from "../api.js";
import { barChart, rankBars } from "../chart.js";
import { emptyState, field, fill, h, select } from "../dom.js";
import { count, money, moneyUsd, ms, percent, toLocal, when } from "../format.js";
import { usageRows, usageSummary } from "../usage.js";
import { budgetOverview } from "./budgets.js";

const REFRESH_MS = 15000;
const TOP_SESSIONS = 10;
const WINDOWS = [["24h", "Last 24 hours"], ["7d", "Last 7 days"], ["30d", "Last 30 days"]];

export async function render(main, _parts, _settings, search) {
  const head = h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Dashboard"), h("p", {}, "Spend and health of the traffic through this gateway.")));
  if (!(await hasRoute("GET", "/usage/summary"))) {
    main.append(head, emptyState("Costs are not recorded on this gateway.",
      "The costlog plugin keeps the request log the dashboard is built from; it is disabled in this gateway's config."));
    return null;
  }
  let windowName = WINDOWS.some(([w]) => w === search.get("window")) ? search.get("window") : "7d";
  const picker = select({ name: "window" }, WINDOWS, windowName);
  head.append(h("div", { class: "toolbar" }, field("Window", picker)));
  const slots = Object.fromEntries(["spend", "budgets", "chart", "health", "sessions", "rankings"].map((name) => [name, h("div", { "data-slot": name })]));
  const body = h("div", { id: "dashboard" }, Object.values(slots));
  const status = h("p", { class: "hint", role: "status", id: "dashboard-status" }, "Loading…");
  main.append(head, body, status);

  let busy = false;
  let dirty = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    dirty = false;
    status.dataset.state = "loading";
    try {
      await load(slots, windowName);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}; updates itself while requests come in.`;
    } catch (error) {
      status.textContent = `Could not refresh: ${error.message}`;
    } finally {
      status.dataset.state = "complete";
      busy = false;
    }
  };
  picker.addEventListener("change", () => {
    windowName = picker.value;
    history.replaceState(null, "", `#/dashboard?window=${windowName}`);
    refresh();
  });
  // The aggregates cost the log store a scan of the window: they are asked again only when new
  // rows were written (the live stream says so), at most every REFRESH_MS, not on a blind timer.
  // The stream is connected before the first load, so a row written while the figures load is
  // not missed; a stream that (re)connects after the load began may have missed rows, so the
  // figures are asked again.
  const source = events("/logs/stream");
  source.addEventListener("row", () => { dirty = true; });
  let loading = false;
  await new Promise((resolve) => {
    source.addEventListener("open", () => { if (loading) dirty = true; resolve(); });
    source.addEventListener("error", resolve); // no live stream: the figures still load
    setTimeout(resolve, 2000);
  });
  loading = true;
  await refresh();
  const timer = setInterval(() => { if (dirty && document.visibilityState === "visible") refresh(); }, REFRESH_MS);
  return () => { clearInterval(timer); source.close(); };
}

/** Fill each section as its data arrives, the cheap spend figures first. */
async function load(slots, windowName) {
  const since = windowName;
  const byTime = windowName === "24h" ? "hour" : "day";
  const windowText = WINDOWS.find(([w]) => w === windowName)[1].toLowerCase();
  const budgets = budgetOverview();
  // Awaited below; if the summary is refused first (a token that stopped working), its error is
  // the one shown, and this one must not surface as an unhandled rejection.
  budgets.catch(() => {});
  // The log store answers one query at a time: asking for the spend figures alone first puts
  // them on screen before the heavier aggregates are computed.
  const first = await usageSummary({ since });
  const overTime = usageRows(byTime, { since });
  const rankings = ["team", "key", "model", "client"].map((by) => usageRows(by, { since }));
  // One more than shown: the requests without a session id are one group, left out below.
  const sessions = usageRows("session", { since, top: TOP_SESSIONS + 1 });
  fill(slots.spend, spendCards(first));
  const filled = [budgets.then((b) => fill(slots.budgets, b.section))];
  if (!first.requests && !first.spend.month.cost_usd) {
    fill(slots.chart, emptyState(`No requests in the ${windowText}.`,
      h("span", {}, "Send a request through the gateway (for Claude Code: ", h("code", {}, `export ANTHROPIC_BASE_URL=${location.origin}/anthropic`),
        " and a virtual key as ", h("code", {}, "ANTHROPIC_API_KEY"), "); spend and charts appear here within seconds.")));
    fill(slots.health);
    fill(slots.sessions);
    fill(slots.rankings);
  } else {
    fill(slots.health, healthCards(first, windowText));
    filled.push(overTime.then((rows) => fill(slots.chart, chartSection(rows, byTime, windowName, windowText, first.timezone))));
    filled.push(sessions.then((rows) => fill(slots.sessions, topSessions(rows, windowName, windowText))));
    filled.push(Promise.all(rankings).then(([teams, keys, models, clients]) => fill(slots.rankings, h("div", { class: "grid two" },
      ranking("By team", teams, "team"), ranking("By virtual key", keys, "key"), ranking("By model", models, "model"),
      ranking("By client app", clients, "client")))));
  }
  await Promise.all([...filled, overTime, sessions, ...rankings]);
}

/** The sessions (a Claude Code or Codex session id) that cost most in the window, each a link
 * to its log rows. */
function topSessions(rows, windowName, windowText) {
  const shown = rows.filter((row) => row.name).slice(0, TOP_SESSIONS);
  const link = (row) => h("a", { href: `#/logs?session=${encodeURIComponent(row.name)}&range=${windowName}`, title: row.name },
    row.name.length > 18 ? `${row.name.slice(0, 8)}…${row.name.slice(-6)}` : row.name);
  return h("section", { class: "card", "aria-labelledby": "h-top-sessions" },
    h("h2", { id: "h-top-sessions" }, `Top sessions, ${windowText}`),
    shown.length
      ? h("div", { class: "table-wrap" }, h("table", { id: "table-top-sessions" },
        h("caption", { class: "visually-hidden" }, `The sessions that cost most, ${windowText}`),
        h("thead", {}, h("tr", {}, ["Session", "Key", "Team", "Client app", "First seen", "Last seen", "Requests", "Spent", "Saved"]
          .map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, shown.map((row) => h("tr", { "data-session": row.name },
          h("th", { scope: "row" }, link(row)),
          h("td", {}, row.key || "—"), h("td", {}, row.team || "—"), h("td", {}, row.client || "—"),
          h("td", {}, when(row.first_ts)), h("td", {}, when(row.last_ts)),
          h("td", { class: "num" }, count(row.requests)), h("td", { class: "num" }, moneyUsd(row.cost_usd)),
          h("td", { class: "num" }, moneyUsd(row.saved_total_usd || 0)))))))
      : h("p", { class: "hint" }, "No requests with a session id in this window. Claude Code sends one with every request (X-Claude-Code-Session-Id)."));
}

function chartSection(rows, byTime, windowName, windowText, timeZone) {
  return h("section", { class: "card", "aria-labelledby": "h-over-time" },
    h("h2", { id: "h-over-time" }, `Spend per ${byTime}, ${windowText}`),
    rows.some((row) => row.cost_usd > 0)
      ? barChart(fillBuckets(rows, byTime, windowName, timeZone), {
        format: (v) => money(v), label: `Spend per ${byTime}`,
        tickLabel: (p) => (byTime === "hour" ? `${p.label.slice(11, 13)}h` : p.label.slice(5)),
      })
      : h("p", { class: "hint" }, `Nothing was spent in the ${windowText}: the requests were refused, failed, or answered from the cache.`));
}

function spendCards(summary) {
  const card = (title, period, sub) => h("div", { class: "card stat spend" },
    h("span", { class: "label" }, title),
    h("span", { class: "value" }, money(summary.spend[period].cost)),
    h("span", { class: "sub" }, sub));
  return h("section", { "aria-labelledby": "h-spend" },
    h("h2", { id: "h-spend", class: "visually-hidden" }, "Spend"),
    h("div", { class: "grid stats" },
      card("Spent today", "today", `since midnight (${summary.timezone || "UTC"})`),
      card("Spent this week", "week", "since Monday"),
      card("Spent this month", "month", "since the 1st")));
}

function healthCards(summary, windowText) {
  const stat = (label, value, sub) => h("div", { class: "card stat" }, h("span", { class: "label" }, label), h("span", { class: "value" }, value), sub ? h("span", { class: "sub" }, sub) : null);
  return h("section", { "aria-labelledby": "h-health" },
    h("h2", { id: "h-health" }, `Traffic, ${windowText}`),
    h("div", { class: "grid stats" },
      stat("Requests", count(summary.requests), `${money(summary.cost)} spent`),
      stat("Error rate", percent(summary.error_rate), `${count(summary.errors)} failed`),
      stat("Latency p50", ms(summary.p50_ms), "whole request"),
      stat("Latency p95", ms(summary.p95_ms), "whole request"),
      stat("Cache hit rate", percent(summary.cache_hit_rate), `${count(summary.cache_hits)} answered from cache`),
      stat("Saved by the cache", money(summary.saved_by_cache), "what the cached answers would have cost"),
      stat("Saved by routing", money(summary.saved_by_routing), "vs. the models asked for, at the served price"),
      summary.without_gateway !== undefined
        ? stat("Saved in all", percent(summary.savings_rate || 0), `of ${money(summary.without_gateway)} it would have cost`)
        : null,
      stat("Fallbacks", count(summary.fallbacks), "attempts after the first"),
      summary.unpriced ? stat("Unpriced rows", count(summary.unpriced), "models with no known price: add them under pricing:") : null,
      summary.savings_unpriced ? stat("Savings not priced", count(summary.savings_unpriced), "routed or cached for a model with no known price: not in the savings") : null));
}

function ranking(title, rows, by) {
  const id = `h-by-${by}`;
  const shown = rows.filter((row) => row.requests || row.cost_usd).slice(0, 10);
  const param = by === "key" ? "key" : by;
  return h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, title),
    shown.length
      ? rankBars(shown, {
        value: (row) => row.cost_usd, label: title, none: by === "model" ? "(no model)" : `(no ${by === "key" ? "key" : by})`,
        format: (row) => `${moneyUsd(row.cost_usd)} · ${count(row.requests)} req`,
        href: (row) => `#/logs?${param}=${encodeURIComponent(row.name)}&range=30d`,
      })
      : h("p", { class: "hint" }, by === "team" || by === "key"
        ? "No requests with a virtual key in this window. Create keys under Keys & teams."
        : "No requests in this window."));
}

/** Every hour/day of the window, zero where nothing happened, so gaps show as gaps. Bucket
 * labels are the cost log's ("2026-05-01" or "2026-05-01 13:00", in the gateway's time zone);
 * they are stepped through as if they were UTC, which keeps them in the gateway's format. */
function fillBuckets(rows, byTime, windowName, timeZone) {
  const values = new Map(rows.map((row) => [row.name, row.cost_usd || 0]));
  const n = windowName === "24h" ? 24 : windowName === "7d" ? 7 : 30;
  const size = byTime === "hour" ? 3600_000 : 86400_000;
  const end = parseBucket(currentBucket(byTime, timeZone));
  const points = [];
  for (let i = n - 1; i >= 0; i--) {
    const iso = new Date(end - i * size).toISOString();
    const label = byTime === "hour" ? `${iso.slice(0, 10)} ${iso.slice(11, 13)}:00` : iso.slice(0, 10);
    points.push({ label, title: label, value: toLocal(values.get(label) || 0) });
  }
  return points;
}

function parseBucket(label) {
  return Date.parse(label.length === 10 ? `${label}T00:00:00Z` : `${label.replace(" ", "T")}:00Z`);
}

/** The bucket label of "now" in the gateway's time zone. */
function currentBucket(byTime, timeZone) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-CA", { timeZone: timeZone || "UTC", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date());
  } catch {
    parts = new Intl.DateTimeFormat("en-CA", { timeZone: "UTC", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date());
  }
  const get = (type) => parts.find((p) => p.type === type).value;
  const day = `${get("year")}-${get("month")}-${get("day")}`;
  return byTime === "hour" ? `${day} ${get("hour")}:00` : day;
}
