// Alerts: the channels (the config file's, read-only, and the ones added here: add, edit, disable,
// delete, send a test alert to each), the budget thresholds (global and per entity), the
// runaway guards and the scheduled reports, then what was sent with each delivery's result. Changes go through the admin
// API, which validates them with the same reader as the config file and applies them to the next
// alert on every instance; only roles that may change settings see the forms. Secrets (a
// webhook's signing secret, an SMTP password, a Slack URL) are write-only: never shown again,
// and an empty field in the edit form keeps the stored value.

import { api, may } from "../api.js";
import { emptyState, field, fill, h, openDialog, select } from "../dom.js";
import { when } from "../format.js";

const KINDS = [["", "All kinds"], ["budget", "Budget thresholds"], ["spend_rate", "Spend rate"], ["loop", "Loops"],
  ["report", "Reports"], ["test", "Tests"]];
const TYPES = [["webhook", "Webhook (signed JSON)"], ["slack", "Slack-compatible incoming webhook"],
  ["email", "Email (SMTP)"], ["folder", "Folder"]];
const TIERS = [["customer", "Customer"], ["team", "Team"], ["key", "Virtual key"], ["provider", "Provider config"]];

export async function render(main, parts, settings, search) {
  main.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Alerts"),
      h("p", {}, "Budget thresholds, spend-rate and loop guards, and scheduled reports: what was sent, where, and whether it arrived."))));
  const status = h("div", { role: "status", "aria-live": "polite" });
  const say = (text, kind = "info") => fill(status, h("p", { class: `alert ${kind}` }, text));
  const configEl = h("div", { id: "alerts-config" });
  const kind = select({ name: "kind" }, KINDS, search.get("kind") || "");
  const history = h("div", { id: "alerts-history" });
  main.append(status, configEl,
    h("section", { class: "section" }, h("h2", {}, "History"),
      h("div", { class: "toolbar" }, field("Show", kind)), history));

  let config = null;
  async function refresh() {
    config = await api("GET", "/alerts/config");
    drawConfig(configEl, config, { refresh, say, load });
  }
  async function load() {
    const found = await api("GET", "/alerts", { params: { kind: kind.value, limit: 200 } });
    draw(history, found.alerts, config);
  }
  kind.addEventListener("change", () => load().catch((error) => say(error.message, "error")));
  await refresh();
  await load();
  const timer = setInterval(() => load().catch(() => {}), 15000);
  return () => clearInterval(timer);
}

function drawConfig(el, config, actions) {
  const editable = config.editable && may("write");
  fill(el, channelsSection(config, editable, actions), thresholdsSection(config, editable, actions),
    guardsSection(config, editable, actions), reportsSection(config, editable, actions));
}

// ------------------------------------------------------------------ channels

function channelsSection(config, editable, actions) {
  const add = h("button", { type: "button", class: "primary" }, "Add a channel");
  add.addEventListener("click", () => channelForm(null, actions));
  const rows = config.channels.map((c) => h("tr", { "data-name": c.name },
    h("th", { scope: "row" }, c.name),
    h("td", {}, c.type),
    h("td", { class: "mono" }, c.url || (c.to ? c.to.join(", ") : "") || c.path || "—"),
    h("td", {}, !c.enabled ? h("span", { class: "badge warn" }, "disabled")
      : config.send_to.includes(c.name) ? "yes" : "reports only"),
    h("td", {}, sourceBadge(c)),
    h("td", {}, may("write") ? channelButtons(c, editable, actions) : null)));
  return h("section", { class: "section", id: "alerts-channels" },
    h("div", { class: "page-head" }, h("h2", {}, "Channels"), editable ? h("div", { class: "head-actions" }, add) : null),
    config.channels.length ? h("div", { class: "table-wrap" }, h("table", { id: "table-alert-channels" },
      h("caption", { class: "visually-hidden" }, "Alert channels"),
      h("thead", {}, h("tr", {}, ["Name", "Type", "Where", "Gets alerts", "Source", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))) :
      emptyState("No alert channels yet.", editable
        ? "Add a webhook, Slack, email or folder channel here, or under alerts.channels in the config file (docs/alerts-and-reports.md)."
        : "Add a webhook, Slack or email channel under alerts.channels in the config file (docs/alerts-and-reports.md), then restart the gateway."));
}

function sourceBadge(entry) {
  if (entry.problems && entry.problems.length) {
    return h("span", { class: "badge bad", title: entry.problems.join("; ") }, "not in service");
  }
  return entry.read_only
    ? h("span", { class: "badge", title: "Defined in the config file: read-only here" }, "config file")
    : h("span", { class: "badge accent", title: "Added in the web UI or admin API" }, "added here");
}

function channelButtons(channel, editable, { refresh, say, load }) {
  const buttons = [];
  if (channel.enabled && !(channel.problems && channel.problems.length)) {
    const test = h("button", { type: "button", class: "secondary small", "aria-label": `Send a test alert to ${channel.name}` }, "Test");
    test.addEventListener("click", async () => {
      test.disabled = true;
      say(`Sending a test alert to ${channel.name}…`);
      try {
        const answer = await api("POST", "/alerts/test", { body: { channel: channel.name } });
        say(`Test alert ${answer.id}: ${deliveryText(answer.deliveries)}`);
      } catch (error) {
        say(`Test alert to ${channel.name}: ${error.message}`, "error");
      } finally {
        test.disabled = false;
        load().catch(() => {});
      }
    });
    buttons.push(test);
  }
  if (editable && !channel.read_only) {
    const edit = h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${channel.name}` }, "Edit");
    edit.addEventListener("click", () => channelForm(channel, { refresh, say, load }));
    const toggle = h("button", { type: "button", class: "secondary small", "aria-label": `${channel.enabled ? "Disable" : "Enable"} ${channel.name}` },
      channel.enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", () => change(() => api("PATCH", `/alerts/channels/${encodeURIComponent(channel.name)}`,
      { body: { enabled: !channel.enabled } }), `Channel ${channel.name} ${channel.enabled ? "disabled" : "enabled"}.`, say, refresh));
    const remove = h("button", { type: "button", class: "secondary small danger", "aria-label": `Delete ${channel.name}` }, "Delete");
    remove.addEventListener("click", () => {
      if (!window.confirm(`Delete alert channel ${channel.name}?`)) return;
      change(() => api("DELETE", `/alerts/channels/${encodeURIComponent(channel.name)}`), `Channel ${channel.name} deleted.`, say, refresh);
    });
    buttons.push(edit, toggle, remove);
  }
  return h("div", { class: "toolbar" }, buttons);
}

function channelForm(channel, { refresh, say }) {
  const creating = !channel;
  const c = channel || {};
  const text = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });
  const secretHint = creating ? "" : "stored (type to replace)";
  const inputs = {
    name: text("name", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", placeholder: "ops-hook" }),
    type: select({ name: "type" }, TYPES, c.type || "webhook"),
    url: text("url", { type: "url", placeholder: creating ? "the receiver's http(s) URL" : `${c.url || ""} (type to replace)` }),
    secret: text("secret", { type: "password", placeholder: c.signed ? secretHint : "" }),
    smtp: text("smtp", { placeholder: creating ? "smtp://mail.example.com:587" : `${c.smtp || ""} (type to replace)` }),
    starttls: h("input", { name: "starttls", type: "checkbox", checked: Boolean(c.starttls) }),
    username: text("username"),
    password: text("password", { type: "password", placeholder: secretHint }),
    from: text("from", { type: "email", value: c.from || "", placeholder: "gateway@example.com" }),
    to: text("to", { value: (c.to || []).join(", "), placeholder: "finance@example.com, ops@example.com" }),
    path: text("path", { value: c.path || "", placeholder: "./alerts" }),
    enabled: h("input", { name: "enabled", type: "checkbox", checked: creating || Boolean(c.enabled) }),
  };
  inputs.type.disabled = !creating;
  const web = h("div", { class: "form-grid" },
    field("URL", inputs.url, "Where the alert is POSTed. A Slack URL is itself a secret: stored encrypted, never shown again."));
  const signed = h("div", { class: "form-grid" },
    field("Signing secret", inputs.secret, "Optional. Each body is signed: X-Bifrost-Signature: sha256=HMAC. Stored encrypted."));
  const mail = h("div", { class: "form-grid" },
    field("SMTP server", inputs.smtp, "smtp://host:587 (STARTTLS) or smtps://host:465."),
    field("From", inputs.from), field("To", inputs.to, "Comma-separated addresses."),
    field("User name", inputs.username), field("Password", inputs.password, "Stored encrypted."),
    h("div", { class: "field check" }, inputs.starttls, h("label", { for: checkId(inputs.starttls) }, "STARTTLS")));
  const folder = h("div", { class: "form-grid" }, field("Folder", inputs.path, "Each alert is written there as a file."));
  const problems = h("div", { role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, creating ? "Add channel" : "Save channel");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { class: "entity-form channel-form" }, problems,
    h("div", { class: "form-grid" },
      creating ? field("Name", inputs.name, "Letters, digits and . _ -") : null,
      field("Type", inputs.type, creating ? null : "The type of a channel cannot change.")),
    web, signed, mail, folder,
    h("div", { class: "field check" }, inputs.enabled, h("label", { for: checkId(inputs.enabled) }, "Enabled: gets every alert")),
    h("div", { class: "form-actions" }, cancel, submit));
  const syncType = () => {
    const type = inputs.type.value;
    web.hidden = !["webhook", "slack"].includes(type);
    signed.hidden = type !== "webhook";
    mail.hidden = type !== "email";
    folder.hidden = type !== "folder";
    inputs.url.required = creating && !web.hidden;
  };
  inputs.type.addEventListener("change", syncType);
  syncType();

  const dialog = openDialog(creating ? "Add an alert channel" : `Edit alert channel ${channel.name}`, form, { wide: true });
  cancel.addEventListener("click", () => dialog.close());
  onSave(form, submit, problems, dialog, "/alerts/channels", channel, () => collect(inputs, creating),
    (name) => `Channel ${name} saved; it gets the next alert.`, { refresh, say });
}

/** A checkbox's id for its label (field() puts the label first; a checkbox reads better after it). */
let checks = 0;
function checkId(input) {
  input.id = input.id || `alert-check-${++checks}`;
  return input.id;
}

/** The body of a create or an edit: the fields of the chosen type that have a value (an empty
 * secret or URL in an edit keeps the stored one). */
function collect(inputs, creating) {
  const type = inputs.type.value;
  const body = { type, enabled: inputs.enabled.checked };
  if (creating) body.name = inputs.name.value.trim();
  const put = (name, value) => { if (value !== "") body[name] = value; };
  if (type === "webhook" || type === "slack") put("url", inputs.url.value.trim());
  if (type === "webhook") put("secret", inputs.secret.value);
  if (type === "email") {
    put("smtp", inputs.smtp.value.trim());
    put("from", inputs.from.value.trim());
    put("username", inputs.username.value.trim());
    put("password", inputs.password.value);
    body.starttls = inputs.starttls.checked;
    const to = inputs.to.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (to.length || creating) body.to = to;
  }
  if (type === "folder") put("path", inputs.path.value.trim());
  return body;
}

// ------------------------------------------------------------------ thresholds

function thresholdsSection(config, editable, { refresh, say }) {
  const s = config.settings || {};
  const sources = s.sources || {};
  const perSource = s.thresholds_for_sources || {};
  const fromFile = sources.budget_thresholds === "config";
  const global = h("input", { name: "budget_thresholds", autocomplete: "off", value: (s.budget_thresholds || []).join(", "),
    placeholder: "50, 80, 100", readonly: !editable || fromFile });
  const saveGlobal = h("button", { type: "submit", class: "primary small" }, "Save thresholds");
  const reset = h("button", { type: "button", class: "secondary small" }, "Back to the default");
  const globalForm = h("form", { class: "toolbar", id: "form-global-thresholds" },
    field("Every cap (percent)", global, fromFile ? "Set in the config file (alerts.budget_thresholds): read-only here."
      : "Each fires once per budget window, for every budget of every tier."),
    editable && !fromFile ? [saveGlobal, sources.budget_thresholds === "ui" ? reset : null] : null);
  globalForm.addEventListener("submit", (event) => {
    event.preventDefault();
    change(() => api("PATCH", "/alerts/settings", { body: { budget_thresholds: percents(global.value) } }),
      "Thresholds saved: the next crossing uses them.", say, refresh);
  });
  reset.addEventListener("click", () => change(() => api("PATCH", "/alerts/settings", { body: { budget_thresholds: null } }),
    "Thresholds back to the default.", say, refresh));

  const entities = Object.entries(s.thresholds_for || {});
  const table = entities.length ? h("div", { class: "table-wrap" }, h("table", { id: "table-alert-thresholds" },
    h("caption", {}, "Own thresholds"),
    h("thead", {}, h("tr", {}, ["Entity", "Thresholds", "Source", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, entities.map(([entity, values]) => {
      const remove = h("button", { type: "button", class: "secondary small danger", "aria-label": `Remove the thresholds of ${entity}` }, "Remove");
      remove.addEventListener("click", () => change(() => api("PATCH", "/alerts/settings", { body: { thresholds_for: { [entity]: null } } }),
        `${entity} uses the global thresholds again.`, say, refresh));
      const ui = perSource[entity] === "ui";
      return h("tr", {}, h("th", { scope: "row" }, entity), h("td", {}, `${values.join("%, ")}%`),
        h("td", {}, sourceBadge({ read_only: !ui })), h("td", {}, editable && ui ? remove : null));
    })))) : h("p", { class: "hint" }, "No entity has its own thresholds.");

  let addForm = null;
  if (editable) {
    const tier = select({ name: "tier" }, TIERS, "team");
    const name = h("input", { name: "entity", autocomplete: "off", required: true, placeholder: "backend" });
    const values = h("input", { name: "entity_thresholds", autocomplete: "off", required: true, placeholder: "80, 100" });
    addForm = h("form", { class: "toolbar", id: "form-entity-thresholds" },
      field("Tier", tier), field("Name", name, "A provider config: key/provider."), field("Thresholds (percent)", values),
      h("button", { type: "submit", class: "secondary" }, "Set own thresholds"));
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const entity = `${tier.value}:${name.value.trim()}`;
      change(() => api("PATCH", "/alerts/settings", { body: { thresholds_for: { [entity]: percents(values.value) } } }),
        `Thresholds of ${entity} saved.`, say, refresh);
    });
  }
  const broken = (s.problems || []).length
    ? h("p", { class: "alert error" }, `Thresholds and guards stored here are not in service: ${s.problems.join("; ")}`) : null;
  return h("section", { class: "section", id: "alerts-thresholds" }, h("h2", {}, "Budget thresholds"), broken,
    h("p", {}, `Budget thresholds: ${(s.budget_thresholds || []).join("%, ")}% of every cap`,
      entities.length ? ` (own thresholds: ${entities.map(([k, v]) => `${k} ${v.join("/")}%`).join(", ")})` : "", "."),
    globalForm, table, addForm);
}

/** "50, 80 100" -> [50, 80, 100]; anything not a number is sent as typed, for the server to name. */
function percents(text) {
  return text.split(/[\s,%]+/).filter(Boolean).map((v) => (/^\d+$/.test(v) ? Number(v) : v));
}

// ------------------------------------------------------------------ guards

function guardsSection(config, editable, { refresh, say }) {
  const s = config.settings || {};
  const sources = s.sources || {};
  const loop = s.loop || config.loop;
  const rate = s.spend_rate || config.spend_rate;
  const described = [];
  if (rate.max_per_hour !== null) described.push(`spend rate above ${rate.max_per_hour} per hour`);
  if (rate.multiple !== null) described.push(`spend rate above ${rate.multiple}× the usual hourly spend`);
  if (loop.repeats) described.push(`loops: more than ${loop.repeats} near-identical requests in ${loop.within_seconds / 60} min${loop.refuse ? " (refused)" : ""}`);
  const forms = [];
  if (editable) {
    forms.push(sources.loop === "config" ? h("p", { class: "hint" }, "Loop detection is set in the config file (alerts.loop): read-only here.")
      : loopForm(loop, sources.loop === "ui", { refresh, say }));
    forms.push(sources.spend_rate === "config" ? h("p", { class: "hint" }, "The spend-rate alarm is set in the config file (alerts.spend_rate): read-only here.")
      : rateForm(rate, sources.spend_rate === "ui", { refresh, say }));
  }
  return h("section", { class: "section", id: "alerts-guards" }, h("h2", {}, "Runaway guards"),
    h("p", {}, `Guards: ${described.length ? described.join("; ") : "none"}.`), forms);
}

function loopForm(loop, stored, { refresh, say }) {
  const repeats = h("input", { name: "loop_repeats", type: "number", min: 1, step: 1, required: true, value: loop.repeats || 8 });
  const within = h("input", { name: "loop_within", autocomplete: "off", required: true, value: `${(loop.within_seconds || 300) / 60}m` });
  const refuse = h("input", { name: "loop_refuse", type: "checkbox", checked: Boolean(loop.refuse) });
  const off = h("button", { type: "button", class: "secondary small" }, "Turn off");
  const form = h("form", { class: "toolbar", id: "form-loop-guard" },
    field("Loop: more than (requests)", repeats), field("Within", within, "A duration: 90s, 5m, 1h."),
    h("div", { class: "field check" }, refuse, h("label", { for: checkId(refuse) }, "Refuse the repeats (429)")),
    h("button", { type: "submit", class: "secondary" }, "Save loop guard"), stored ? off : null);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    change(() => api("PATCH", "/alerts/settings", { body: { loop: { repeats: Number(repeats.value), within: within.value.trim(), refuse: refuse.checked } } }),
      "Loop guard saved.", say, refresh);
  });
  off.addEventListener("click", () => change(() => api("PATCH", "/alerts/settings", { body: { loop: null } }), "Loop guard off.", say, refresh));
  return form;
}

function rateForm(rate, stored, { refresh, say }) {
  const number = (name, value) => h("input", { name, type: "number", min: 0, step: "any", value: value ?? "" });
  const max = number("rate_max_per_hour", rate.max_per_hour);
  const multiple = number("rate_multiple", rate.multiple);
  const off = h("button", { type: "button", class: "secondary small" }, "Turn off");
  const form = h("form", { class: "toolbar", id: "form-spend-rate" },
    field("Spend rate: alarm above (per hour)", max, "In the gateway's currency; empty: no cap."),
    field("or above × usual", multiple, "Of the key's usual hourly spend; empty: off."),
    h("button", { type: "submit", class: "secondary" }, "Save spend-rate alarm"), stored ? off : null);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {};
    if (max.value !== "") body.max_per_hour = Number(max.value);
    if (multiple.value !== "") body.multiple = Number(multiple.value);
    change(() => api("PATCH", "/alerts/settings", { body: { spend_rate: Object.keys(body).length ? body : null } }),
      "Spend-rate alarm saved.", say, refresh);
  });
  off.addEventListener("click", () => change(() => api("PATCH", "/alerts/settings", { body: { spend_rate: null } }), "Spend-rate alarm off.", say, refresh));
  return form;
}

// ------------------------------------------------------------------ reports and history

const GROUPS = ["team", "key", "customer", "model", "provider", "client", "session", "day"].map((g) => [g, g]);
const FORMATS = [["csv", "CSV"], ["html", "HTML table"], ["json", "JSON"]];

function reportsSection(config, editable, actions) {
  const add = h("button", { type: "button", class: "primary" }, "Add a report");
  add.addEventListener("click", () => reportForm(null, config, actions));
  return h("section", { class: "section", id: "alerts-reports" },
    h("div", { class: "page-head" }, h("h2", {}, "Scheduled reports"), editable ? h("div", { class: "head-actions" }, add) : null),
    config.reports.length ? h("div", { class: "table-wrap" }, h("table", { id: "table-alert-reports" },
      h("caption", { class: "visually-hidden" }, "Scheduled reports"),
      h("thead", {}, h("tr", {}, ["Name", "Schedule", "By", "Format", "To", "Next", "Source", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, config.reports.map((r) => h("tr", { "data-name": r.name },
        h("th", { scope: "row" }, r.name), h("td", { class: "mono" }, r.schedule ? `${r.schedule} (${r.timezone})` : "—"),
        h("td", {}, r.by || "—"), h("td", {}, r.format || "—"), h("td", {}, (r.send_to || []).join(", ")),
        h("td", {}, config.next_reports[r.name] ? when(config.next_reports[r.name]) : "—"),
        h("td", {}, sourceBadge(r)),
        h("td", {}, editable && !r.read_only ? reportButtons(r, config, actions) : null)))))) :
      h("p", { class: "hint" }, "No scheduled reports. A report sends the `bifrost-py report` table on a cron schedule to channels."));
}

/** 604800 -> "7d", 7200 -> "2h", 90 -> "90s": as the config file would write it. */
function duration(seconds) {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function reportButtons(report, config, { refresh, say }) {
  const edit = h("button", { type: "button", class: "secondary small", "aria-label": `Edit report ${report.name}` }, "Edit");
  edit.addEventListener("click", () => reportForm(report, config, { refresh, say }));
  const remove = h("button", { type: "button", class: "secondary small danger", "aria-label": `Delete report ${report.name}` }, "Delete");
  remove.addEventListener("click", () => {
    if (!window.confirm(`Delete scheduled report ${report.name}?`)) return;
    change(() => api("DELETE", `/alerts/reports/${encodeURIComponent(report.name)}`), `Report ${report.name} deleted.`, say, refresh);
  });
  return h("div", { class: "toolbar" }, edit, remove);
}

function reportForm(report, config, { refresh, say }) {
  const creating = !report;
  const r = report || {};
  const text = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });
  const inputs = {
    name: text("name", { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", placeholder: "weekly-by-team" }),
    schedule: text("schedule", { required: true, value: r.schedule || "0 9 * * MON", class: "mono" }),
    timezone: text("timezone", { required: true, value: r.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" }),
    since: text("since", { required: true, value: r.since_seconds ? duration(r.since_seconds) : "7d" }),
    by: select({ name: "by" }, GROUPS, r.by || "team"),
    format: select({ name: "format" }, FORMATS, r.format || "csv"),
  };
  const targets = config.channels.filter((c) => !c.problems || !c.problems.length).map((c) => {
    const box = h("input", { type: "checkbox", name: "send_to", value: c.name, checked: (r.send_to || []).includes(c.name) });
    return h("div", { class: "field check" }, box, h("label", { for: checkId(box) }, `${c.name} (${c.type})`));
  });
  const problems = h("div", { role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, creating ? "Add report" : "Save report");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { class: "entity-form report-form" }, problems,
    h("div", { class: "form-grid" },
      creating ? field("Name", inputs.name, "Letters, digits and . _ -") : null,
      field("Schedule", inputs.schedule, "cron: minute hour day month weekday (0 9 * * MON: Mondays 09:00)."),
      field("Time zone", inputs.timezone, "Asia/Kolkata, Europe/Berlin, UTC…"),
      field("Covering the last", inputs.since, "A duration: 7d, 24h."),
      field("Grouped by", inputs.by), field("Format", inputs.format)),
    h("fieldset", {}, h("legend", {}, "Send to"), targets.length ? targets : h("p", { class: "hint" }, "Add a channel first.")),
    h("div", { class: "form-actions" }, cancel, submit));
  const dialog = openDialog(creating ? "Add a scheduled report" : `Edit report ${report.name}`, form, { wide: true });
  cancel.addEventListener("click", () => dialog.close());
  onSave(form, submit, problems, dialog, "/alerts/reports", report, () => {
    const body = { schedule: inputs.schedule.value.trim(), timezone: inputs.timezone.value.trim(), since: inputs.since.value.trim(),
      by: inputs.by.value, format: inputs.format.value,
      send_to: [...form.querySelectorAll("input[name=send_to]:checked")].map((box) => box.value) };
    if (creating) body.name = inputs.name.value.trim();
    return body;
  }, (name) => `Report ${name} saved.`, { refresh, say });
}

/** Submitting a channel or report form: POST to `path` (creating: `entry` is null) or PATCH its
 * item; the dialog closes on success, the problems are listed in the form otherwise. */
function onSave(form, submit, problems, dialog, path, entry, collectBody, saved, { refresh, say }) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    const body = collectBody();
    try {
      if (!entry) await api("POST", path, { body });
      else await api("PATCH", `${path}/${encodeURIComponent(entry.name)}`, { body });
      dialog.close();
      say(saved(entry ? entry.name : body.name));
      await refresh();
    } catch (error) {
      showProblems(problems, error);
    } finally {
      submit.disabled = false;
    }
  });
}

function showProblems(el, error) {
  const list = error.message.split("; ").filter(Boolean);
  fill(el, h("div", { class: "alert error" }, list.length > 1
    ? ["Not saved:", h("ul", {}, list.map((text) => h("li", {}, text)))]
    : `Not saved: ${error.message}`));
}

async function change(call, done, say, refresh) {
  try {
    await call();
    say(done);
  } catch (error) {
    say(`Not changed: ${error.message}`, "error");
    return;
  }
  await refresh();
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
