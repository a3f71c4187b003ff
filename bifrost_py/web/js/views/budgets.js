// Budgets on the dashboard: the capped customers, teams and keys that are closest to their caps,
// from the governance plugin's usage view (amounts in the configured currency).

import { api, hasRoute } from "../api.js";
import { h } from "../dom.js";
import { budgetBar } from "../usagebars.js";

const SHOWN = 8;
const KIND = { customers: "customer", teams: "team", keys: "key" };

/** {section}: null when governance is not loaded, a hint when nothing has a budget. */
export async function budgetOverview() {
  if (!(await hasRoute("GET", "/governance/usage"))) return { section: null };
  const data = await api("GET", "/governance/usage");
  const capped = [];
  for (const [group, kind] of Object.entries(KIND)) {
    for (const usage of data[group] || []) {
      for (const budget of usage.budgets || []) {
        const used = (Number(budget.spent) + Number(budget.in_flight || 0)) / (Number(budget.limit) || Infinity);
        capped.push({ kind, group, name: usage.name, budget, used });
      }
    }
  }
  capped.sort((a, b) => b.used - a.used || a.name.localeCompare(b.name));
  const body = capped.length
    ? h("div", { class: "budget-list" }, capped.slice(0, SHOWN).map((c) => h("div", { class: "budget-row" },
      h("div", {}, h("a", { href: `#/access/${c.group}` }, c.name), " ", h("span", { class: "badge" }, c.kind)),
      budgetBar(c.budget, `${c.kind} ${c.name}`))))
    : h("p", { class: "hint" }, "No customer, team or key has a budget yet. Add one under Keys & teams to cap spend.");
  return {
    section: h("section", { class: "card", "aria-labelledby": "h-budgets" },
      h("h2", { id: "h-budgets" }, "Budgets closest to their caps"),
      body,
      capped.length > SHOWN ? h("p", { class: "hint section" }, `${capped.length - SHOWN} more under `, h("a", { href: "#/access/keys" }, "Keys & teams"), ".") : null),
  };
}
