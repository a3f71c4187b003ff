// Aggregates from the cost log (/api/usage, /api/usage/summary), in one shape for every view:
// {name, requests, errors, cost_usd, ...}. The costlog plugin keeps amounts in USD.

import { api } from "./api.js";

/** Groups of `by` (key, team, customer, model, provider, client, session, day, hour) for the
 * given filters (and `sort`, `top`). By session each row also has key, team, client, first_ts
 * and last_ts. */
export async function usageRows(by, filters = {}) {
  const data = await api("GET", "/usage", { params: { by, ...filters } });
  const rows = Array.isArray(data) ? data : data.rows || data.groups || data.usage || [];
  return rows.map((row) => ({ ...row, name: row.group ?? row.name ?? row[by] ?? "" }));
}

/** Spend today / this week / this month and the headline figures of the dashboard. */
export async function usageSummary(params = {}) {
  return api("GET", "/usage/summary", { params });
}
