// The log filters: one form, its state in the page URL (#/logs?team=backend, so a filtered view
// can be shared or linked from the dashboard), and the same state as API query parameters.

import { field, h, select } from "./dom.js";
import { localInputToEpoch } from "./format.js";

export const RANGES = [
  ["15m", "Last 15 minutes"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"],
  ["30d", "Last 30 days"], ["all", "All time"], ["custom", "Custom range…"],
];
const STATUSES = [
  ["", "Any status"], ["ok", "Succeeded"], ["error", "Failed (any error)"], ["4xx", "4xx: refused / bad request"],
  ["5xx", "5xx: provider or gateway error"], ["401", "401 unknown key"], ["402", "402 over budget"],
  ["403", "403 not allowed"], ["429", "429 rate limited"],
];
const FIELDS = ["key", "team", "model", "client", "session", "provider", "status", "cache", "range", "from", "to", "rows"];
export const DEFAULTS = { key: "", team: "", model: "", client: "", session: "", provider: "", status: "", cache: "", range: "24h", from: "", to: "", rows: "requests" };

export function fromSearch(search) {
  const state = { ...DEFAULTS };
  for (const name of FIELDS) if (search.has(name)) state[name] = search.get(name);
  return state;
}

export function toSearch(state) {
  const search = new URLSearchParams();
  for (const name of FIELDS) if (state[name] && state[name] !== DEFAULTS[name]) search.set(name, state[name]);
  return search.toString();
}

export function isFiltered(state) {
  return ["key", "team", "model", "client", "session", "provider", "status", "cache"].some((name) => state[name]);
}

/** The admin API's query parameters for this state (costlog's filters: key, team, model, ...). */
export function toParams(state) {
  const params = {
    key: state.key.trim(), team: state.team.trim(), model: state.model.trim(), client: (state.client || "").trim(),
    session: (state.session || "").trim(),
    provider: state.provider,
    status: state.status, cache_hit: state.cache === "hit" ? "true" : state.cache === "miss" ? "false" : "",
    final: state.rows === "requests" ? "true" : "",
  };
  if (state.range === "custom") {
    params.since = localInputToEpoch(state.from);
    params.until = localInputToEpoch(state.to);
  } else if (state.range !== "all") {
    params.since = state.range;
  }
  return params;
}

/** The filter form. `onchange(state)` runs when any filter changes (text: after typing stops).
 * `suggest(name)` gives the names offered under a text box; it is asked on the box's first
 * focus, so a page load never waits for (or pays for) suggestions nobody looks at. */
export function filterForm(state, { providers, suggest }, onchange) {
  const inputs = {
    key: h("input", { name: "key", type: "search", list: "dl-key", value: state.key, autocomplete: "off", placeholder: "any" }),
    team: h("input", { name: "team", type: "search", list: "dl-team", value: state.team, autocomplete: "off", placeholder: "any" }),
    model: h("input", { name: "model", type: "search", list: "dl-model", value: state.model, autocomplete: "off", placeholder: "any" }),
    client: h("input", { name: "client", type: "search", value: state.client, autocomplete: "off", placeholder: "any (codex, gemini-cli…)" }),
    session: h("input", { name: "session", type: "search", value: state.session, autocomplete: "off", placeholder: "any" }),
    provider: select({ name: "provider" }, [["", "Any provider"], ...providers.map((p) => [p, p])], state.provider),
    status: select({ name: "status" }, STATUSES, state.status),
    cache: select({ name: "cache" }, [["", "Hits and misses"], ["hit", "Cache hits only"], ["miss", "No cache hit"]], state.cache),
    range: select({ name: "range" }, RANGES, state.range),
    from: h("input", { name: "from", type: "datetime-local", value: state.from }),
    to: h("input", { name: "to", type: "datetime-local", value: state.to }),
    rows: select({ name: "rows" }, [["requests", "One row per request"], ["attempts", "Every attempt"]], state.rows),
  };
  const custom = [field("From", inputs.from), field("To", inputs.to)];
  const lists = ["key", "team", "model"].map((name) => h("datalist", { id: `dl-${name}` }));
  lists.forEach((list, i) => {
    const name = ["key", "team", "model"][i];
    inputs[name].addEventListener("focus", () => {
      suggest(name).then((names) => list.replaceChildren(...names.map((value) => h("option", { value })))).catch(() => {});
    }, { once: true });
  });
  const reset = h("button", { type: "reset", class: "secondary" }, "Clear filters");
  const form = h("form", { class: "filters card", role: "search", "aria-label": "Filter the log" },
    field("Virtual key", inputs.key), field("Team", inputs.team), field("Model", inputs.model), field("Client app", inputs.client),
    field("Session", inputs.session), field("Provider", inputs.provider), field("Status", inputs.status), field("Cache", inputs.cache),
    field("Time", inputs.range), custom, field("Show", inputs.rows),
    h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, "Apply"), reset), lists);

  const read = () => Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value]));
  const showCustom = () => custom.forEach((el) => { el.hidden = inputs.range.value !== "custom"; });
  let timer = null;
  const changed = (delay) => {
    clearTimeout(timer);
    showCustom();
    timer = setTimeout(() => onchange(read()), delay);
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); changed(0); });
  form.addEventListener("change", () => changed(0));
  form.addEventListener("input", (event) => { if (event.target.type === "search") changed(400); });
  form.addEventListener("reset", (event) => {
    event.preventDefault();
    for (const [name, input] of Object.entries(inputs)) input.value = DEFAULTS[name];
    changed(0);
  });
  showCustom();
  return form;
}
