// Usage bars: spent against a cap, and the current rate-limit window. Each bar is an ARIA
// progressbar whose text says the numbers, so nothing is colour-only.

import { h } from "./dom.js";
import { count, money, until } from "./format.js";

const PERIOD = { daily: "today", weekly: "this week", monthly: "this month", never: "in total" };

function bar(used, limit, text, label) {
  const share = limit > 0 ? Math.min(1, used / limit) : used > 0 ? 1 : 0;
  const fill = h("span");
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  const tone = share >= 1 ? "bad" : share >= 0.8 ? "warn" : "";
  return h("div", {
    class: `bar ${tone}`, role: "progressbar", "aria-label": label,
    "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": Number(used.toFixed(6)), "aria-valuetext": text,
  }, fill);
}

/** One budget of the governance usage view: {reset, limit, spent, in_flight, resets_at}. */
export function budgetBar(budget, owner) {
  const spent = Number(budget.spent || 0) + Number(budget.in_flight || 0);
  const period = PERIOD[budget.reset] || `per ${budget.reset}`;
  const resets = budget.resets_at ? `resets ${until(budget.resets_at)}` : "never resets";
  const text = `${money(spent)} of ${money(budget.limit)} ${period}`;
  return h("div", { class: "usage", "data-usage": "budget" },
    bar(spent, Number(budget.limit), `${text}, ${resets}`, `Budget of ${owner} ${period}`),
    h("div", { class: "caption" }, h("span", { class: "spent" }, text), h("span", {}, resets)));
}

/** One rate limit: {kind: requests|tokens, window, limit, used, in_flight, resets_at, sliding}.
 * A sliding window counts the last `window`; its resets_at is when the oldest counted request
 * leaves it (room frees up then), not the end of a fixed window. */
export function rateBar(limit, owner) {
  const used = Number(limit.used || 0) + Number(limit.in_flight || 0);
  const unit = limit.kind === "tokens" ? "tokens" : "requests";
  const span = limit.sliding ? `in the last ${limit.window}` : `per ${limit.window}`;
  const text = `${count(used)} of ${count(limit.limit)} ${unit} ${span}`;
  const when = limit.sliding ? "oldest leaves" : "window ends";
  const resets = limit.resets_at ? `${when} ${until(limit.resets_at)}` : "";
  return h("div", { class: "usage", "data-usage": "rate" },
    bar(used, Number(limit.limit), `${text}, ${resets}`, `Rate limit of ${owner}: ${unit} per ${limit.window}`),
    h("div", { class: "caption" }, h("span", {}, text), h("span", {}, resets)));
}

/** Every budget and rate limit of one entity's usage entry (provider-config tiers included). */
export function usageCell(usage, owner) {
  if (!usage) return h("span", { class: "hint" }, "—");
  const budgets = (usage.budgets || []).map((b) => budgetBar(b, owner));
  const rates = (usage.rate_limits || []).map((r) => rateBar(r, owner));
  const providers = Object.entries(usage.providers || {}).map(([provider, tier]) => h("div", { class: "provider-tier" },
    h("span", { class: "hint" }, `on ${provider}:`),
    (tier.budgets || []).map((b) => budgetBar(b, `${owner} on ${provider}`)),
    (tier.rate_limits || []).map((r) => rateBar(r, `${owner} on ${provider}`))));
  const concurrent = usage.in_flight
    ? h("div", { class: "hint" }, `${count(usage.in_flight.in_flight)} of ${count(usage.in_flight.max_concurrent)} concurrent requests`)
    : null;
  if (!budgets.length && !rates.length && !providers.length && !concurrent) return h("span", { class: "hint" }, "no cap");
  return h("div", { class: "usage-stack" }, budgets, rates, providers, concurrent);
}
