// The audit log: every change made through the UI or the admin API — who, when, what, and the
// resource before and after (secrets masked by the gateway) — filtered, paged, exported.

import { api, download } from "../api.js";
import { emptyState, field, fill, h, openDialog, select } from "../dom.js";

const SINCE = [["", "Any time"], ["3600", "Last hour"], ["86400", "Last 24 hours"], ["604800", "Last 7 days"], ["2592000", "Last 30 days"]];

/** A time (unix seconds) as the browser's local date and time. */
export function when(seconds) {
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export async function render(main, parts, settings, search) {
  main.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Audit log"),
      h("p", {}, "Who changed what, and when: providers, keys, budgets, rules and people. Secrets are masked."))));
  const actor = h("input", { name: "actor", autocomplete: "off", value: search.get("actor") || "" });
  const action = h("input", { name: "action", autocomplete: "off", placeholder: "e.g. governance/keys", value: search.get("action") || "" });
  const resource = h("input", { name: "resource", autocomplete: "off", value: search.get("resource") || "" });
  const since = select({ name: "since" }, SINCE, search.get("since") || "");
  const filters = () => {
    const ago = Number(since.value);
    return { actor: actor.value.trim(), action: action.value.trim(), resource: resource.value.trim(),
      since: ago ? Math.floor(Date.now() / 1000) - ago : "" };
  };
  const status = h("div", { role: "status", "aria-live": "polite" });
  const body = h("div", { id: "audit" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Older entries");
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter the audit log" },
    field("Who", actor), field("Action", action), field("Resource", resource), field("When", since),
    h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, "Filter"),
      h("button", { type: "button", class: "secondary", onclick: () => exportAs("csv") }, "Export CSV"),
      h("button", { type: "button", class: "secondary", onclick: () => exportAs("json") }, "Export JSON")));
  main.append(form, status, body, h("div", { class: "toolbar section" }, more));
  let entries = [];
  let next = null;

  async function load(append = false) {
    const page = await api("GET", "/audit", { params: { ...filters(), before: append ? next : "" } });
    entries = append ? entries.concat(page.entries) : page.entries;
    next = page.next;
    more.hidden = !next;
    draw();
  }

  function draw() {
    if (!entries.length) {
      fill(body, emptyState("No changes recorded here yet.", "Every change made through this UI or the admin API appears here with its author."));
      return;
    }
    fill(body, h("div", { class: "table-wrap" }, h("table", { id: "table-audit" },
      h("caption", { class: "visually-hidden" }, "Audit log"),
      h("thead", {}, h("tr", {}, ["When", "Who", "Role", "What", "Resource", "Result", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, entries.map((e) => h("tr", { "data-id": e.id },
        h("td", {}, when(e.ts)), h("th", { scope: "row" }, e.actor), h("td", {}, e.role ? e.role.replace("_", " ") : "—"),
        h("td", { class: "mono" }, e.action), h("td", {}, e.resource || "—"),
        h("td", {}, h("span", { class: `badge ${e.status < 400 ? "ok" : "bad"}` }, String(e.status))),
        h("td", {}, h("button", { type: "button", class: "secondary small", "aria-label": `Details of ${e.action} by ${e.actor}`, onclick: () => details(e) }, "Details"))))))));
  }

  async function exportAs(format) {
    try {
      const size = await download("/audit/export", { ...filters(), format }, `bifrost-audit.${format}`);
      fill(status, h("p", { class: "alert info" }, `Exported ${size} bytes as ${format.toUpperCase()}.`));
    } catch (error) {
      fill(status, h("p", { class: "alert error" }, error.message));
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load().catch((error) => fill(status, h("p", { class: "alert error" }, error.message))); });
  more.addEventListener("click", () => load(true).catch((error) => fill(status, h("p", { class: "alert error" }, error.message))));
  await load();
  return null;
}

function details(entry) {
  const block = (title, value) => (value === null || value === undefined ? null
    : h("div", { class: "section" }, h("h3", {}, title), h("pre", { class: "mono", tabindex: "0" }, JSON.stringify(value, null, 2))));
  openDialog(`${entry.action} by ${entry.actor}`, h("div", { id: "audit-detail" },
    h("dl", { class: "detail-grid" },
      ...[["When", entry.time], ["Who", entry.actor], ["Role", entry.role || "—"], ["Signed in with", entry.via],
        ["Request", `${entry.method} ${entry.path}`], ["Result", String(entry.status)], ["From", entry.address]]
        .map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
    block("Sent", entry.request), block("Before", entry.before), block("After", entry.after)), { wide: true });
}
