// Alerts: what was sent (budget thresholds, runaway guards, reports, tests) with each delivery's
// result, the configuration as the gateway read it from YAML (secrets masked), and a button that
// sends a test alert to one channel or to all of them.

import { api, session } from "../api.js";
import { emptyState, field, fill, h, select } from "../dom.js";
import { when } from "../format.js";

const KINDS = [["", "All kinds"], ["budget", "Budget thresholds"], ["spend_rate", "Spend rate"], ["loop", "Loops"],
  ["report", "Reports"], ["test", "Tests"]];

export async function render(main, parts, settings, search) {
  main.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Alerts"),
      h("p", {}, "Budget thresholds, spend-rate and loop guards, and scheduled reports: what was sent, where, and whether it arrived."))));
  const config = await api("GET", "/alerts/config");
  const status = h("div", { role: "status", "aria-live": "polite" });
  const kind = select({ name: "kind" }, KINDS, search.get("kind") || "");
  const history = h("div", { id: "alerts-history" });
  main.append(configSection(config, status), status,
    h("section", { class: "section" }, h("h2", {}, "History"),
      h("div", { class: "toolbar" }, field("Show", kind)), history));

  async function load() {
    const found = await api("GET", "/alerts", { params: { kind: kind.value, limit: 200 } });
    draw(history, found.alerts, config);
  }
  kind.addEventListener("change", () => load().catch((error) => fill(status, h("p", { class: "alert error" }, error.message))));
  main.addEventListener("alerts:sent", () => load().catch(() => {}));
  await load();
  const timer = setInterval(() => load().catch(() => {}), 15000);
  return () => clearInterval(timer);
}

function configSection(config, status) {
  if (!config.channels.length) {
    return emptyState("No alert channels are configured.",
      "Add a webhook, Slack or email channel under alerts.channels in the config file (docs/alerts-and-reports.md), then restart the gateway.");
  }
  const channel = select({ name: "channel" },
    [["", "Every channel"], ...config.channels.map((c) => [c.name, `${c.name} (${c.type})`])]);
  const send = h("button", { type: "button", class: "primary" }, "Send a test alert");
  send.addEventListener("click", async () => {
    send.disabled = true;
    fill(status, h("p", { class: "alert info" }, "Sending…"));
    try {
      const answer = await api("POST", "/alerts/test", { body: channel.value ? { channel: channel.value } : {} });
      fill(status, h("p", { class: "alert info" }, `Test alert ${answer.id}: ${deliveryText(answer.deliveries)}`));
    } catch (error) {
      fill(status, h("p", { class: "alert error" }, error.message));
    } finally {
      send.disabled = false;
      send.dispatchEvent(new CustomEvent("alerts:sent", { bubbles: true }));
    }
  });
  const guards = [];
  if (config.spend_rate.max_per_hour !== null) guards.push(`spend rate above ${config.spend_rate.max_per_hour} per hour`);
  if (config.spend_rate.multiple !== null) guards.push(`spend rate above ${config.spend_rate.multiple}× the usual hourly spend`);
  if (config.loop.repeats) guards.push(`loops: more than ${config.loop.repeats} near-identical requests in ${config.loop.within_seconds / 60} min${config.loop.refuse ? " (refused)" : ""}`);
  return h("section", { class: "section", id: "alerts-config" },
    h("h2", {}, "Configuration"),
    h("p", {}, "Read from the config file (alerts: and reports:). Secrets are not shown."),
    h("div", { class: "table-wrap" }, h("table", { id: "table-alert-channels" },
      h("caption", {}, "Channels"),
      h("thead", {}, h("tr", {}, ["Name", "Type", "Where", "Gets alerts"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, config.channels.map((c) => h("tr", {},
        h("th", { scope: "row" }, c.name), h("td", {}, c.type),
        h("td", { class: "mono" }, c.url || (c.to ? c.to.join(", ") : "") || c.path || "—"),
        h("td", {}, config.send_to.includes(c.name) ? "yes" : "reports only")))))),
    h("p", {}, `Budget thresholds: ${config.budget_thresholds.join("%, ")}% of every cap`,
      Object.keys(config.thresholds_for).length
        ? ` (own thresholds: ${Object.entries(config.thresholds_for).map(([k, v]) => `${k} ${v.join("/")}%`).join(", ")})` : "",
      "."),
    h("p", {}, `Guards: ${guards.length ? guards.join("; ") : "none"}.`),
    config.reports.length ? h("div", { class: "table-wrap" }, h("table", { id: "table-alert-reports" },
      h("caption", {}, "Scheduled reports"),
      h("thead", {}, h("tr", {}, ["Name", "Schedule", "By", "Format", "To", "Next"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, config.reports.map((r) => h("tr", {},
        h("th", { scope: "row" }, r.name), h("td", { class: "mono" }, `${r.schedule} (${r.timezone})`), h("td", {}, r.by),
        h("td", {}, r.format), h("td", {}, r.send_to.join(", ")), h("td", {}, when(config.next_reports[r.name]))))))) : null,
    mayWrite() ? h("div", { class: "toolbar" }, field("Test alert to", channel), send) : null);
}

/** Sending a test alert is a change (admins); other roles see the page without the button. */
function mayWrite() {
  const may = (session.me && session.me.may) || [];
  return !session.me || may.includes("write");
}

function draw(el, alerts, config) {
  if (!alerts.length) {
    fill(el, emptyState(config.active ? "No alerts sent yet." : "Alerts are off.",
      config.active ? "Alerts appear here when a budget crosses a threshold, a guard fires or a report is sent." :
        "Configure a channel to turn them on."));
    return;
  }
  const rows = alerts.map((a) => h("tr", { "data-id": a.id },
    h("td", {}, when(a.ts)),
    h("td", {}, a.kind.replace("_", " ")),
    h("th", { scope: "row" }, a.title, a.text.split("\n").slice(1).map((line) => h("div", { class: "muted" }, line))),
    h("td", {}, deliveryBadges(a.deliveries))));
  fill(el, h("div", { class: "table-wrap" }, h("table", { id: "table-alerts" },
    h("caption", { class: "visually-hidden" }, "Alert history"),
    h("thead", {}, h("tr", {}, ["When", "Kind", "Alert", "Deliveries"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows))));
}

function deliveryBadges(deliveries) {
  if (!deliveries.length) return h("span", { class: "badge warn" }, "sending");
  return deliveries.map((d) => h("span", {
    class: `badge ${d.ok ? "ok" : "bad"}`,
    title: d.ok ? `${d.attempts} attempt(s), ${Math.round(d.seconds * 1000)} ms` : `${d.attempts} attempt(s): ${d.error}`,
  }, `${d.channel} ${d.ok ? "✓" : "✗"}`));
}

function deliveryText(deliveries) {
  if (!deliveries.length) return "no channel.";
  return deliveries.map((d) => `${d.channel} ${d.ok ? "delivered" : `failed after ${d.attempts} attempt(s): ${d.error}`}`).join("; ");
}
