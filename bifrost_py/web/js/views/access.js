// Keys & teams: virtual keys, teams and customers of the governance plugin, each with its usage
// against its caps (refreshed every few seconds), and the actions a team lead needs: create,
// edit, disable, rotate, delete. Entries from the YAML file are marked, and can be viewed only.

import { api, hasRoute, managesTeam, may } from "../api.js";
import { copyable, emptyState, fill, h, openDialog } from "../dom.js";
import { until } from "../format.js";
import { usageCell } from "../usagebars.js";
import { KINDS, openEntityForm } from "./entityform.js";

const REFRESH_MS = 3000;
const TABS = [["keys", "Virtual keys"], ["teams", "Teams"], ["customers", "Customers"]];

export async function render(main, parts) {
  const kind = KINDS[parts[0]] ? parts[0] : "keys";
  main.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Keys & teams"),
      h("p", {}, "Who may use the gateway, and how much: virtual keys, the teams they belong to and the customers teams bill to."))));
  if (!(await hasRoute("GET", "/governance/keys"))) {
    main.append(emptyState("Virtual keys are not managed on this gateway.",
      "The governance plugin is disabled in this gateway's config, so any caller is let through without a key."));
    return null;
  }
  main.append(h("nav", { class: "tabs", "aria-label": "Kinds" }, TABS.map(([id, text]) =>
    h("a", { href: `#/access/${id}`, "aria-current": id === kind ? "page" : null }, text))));
  const page = new AccessPage(main, kind);
  await page.load();
  const timer = setInterval(() => { if (document.visibilityState === "visible") page.refreshUsage().catch(() => {}); }, REFRESH_MS);
  return () => clearInterval(timer);
}

class AccessPage {
  constructor(main, kind) {
    this.kind = kind;
    this.entities = [];
    this.context = { teams: [], customers: [] };
    this.usage = new Map();
    this.message = h("div", { role: "status", "aria-live": "polite" });
    this.body = h("div", { id: `access-${kind}` });
    const noun = KINDS[kind].noun;
    // Only what this role may do is offered: team managers create keys (in their teams), only
    // admins teams and customers; finance and viewers read. The button waits until load() has
    // fetched the teams, customers and providers the form offers.
    const creates = may("write") || (kind === "keys" && may("team"));
    this.newButton = creates ? h("button", { type: "button", class: "primary", disabled: true, onclick: () => this.edit(null) }, `New ${noun}`) : null;
    main.append(h("div", { class: "toolbar" }, this.newButton), this.message, this.body);
  }

  async load() {
    const [entities, teams, customers, providers] = await Promise.all([
      api("GET", KINDS[this.kind].path),
      this.kind === "teams" ? null : api("GET", "/governance/teams"),
      this.kind === "customers" ? null : api("GET", "/governance/customers"),
      this.kind === "keys" ? api("GET", "/providers") : null,
    ]);
    this.entities = entities[this.kind];
    this.context = {
      teams: (teams ? teams.teams : this.entities).map((t) => t.name),
      customers: (customers ? customers.customers : this.entities).map((c) => c.name),
      providers: providers ? providers.providers.map((p) => p.name) : [],
    };
    await this.refreshUsage(false);
    this.draw();
    if (this.newButton) this.newButton.disabled = false;
  }

  /** Usage moves with every request: fetch it again and update the bars in place. */
  async refreshUsage(redraw = true) {
    const data = await api("GET", "/governance/usage");
    this.usage = new Map((data[this.kind] || []).map((u) => [u.name, u]));
    if (!redraw) return;
    for (const cell of this.body.querySelectorAll("td[data-usage-of]")) {
      fill(cell, usageCell(this.usage.get(cell.dataset.usageOf), cell.dataset.usageOf));
    }
  }

  draw() {
    if (!this.entities.length) {
      fill(this.body, emptyState(`No ${KINDS[this.kind].noun}s yet.`, hintFor(this.kind)));
      return;
    }
    const columns = COLUMNS[this.kind];
    fill(this.body, h("div", { class: "table-wrap" }, h("table", { id: `table-${this.kind}` },
      h("caption", { class: "visually-hidden" }, TABS.find(([id]) => id === this.kind)[1]),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), columns.map(([title]) => h("th", { scope: "col" }, title)),
        h("th", { scope: "col" }, "Usage (current windows)"), h("th", { scope: "col" }, "Actions"))),
      h("tbody", {}, this.entities.map((entity) => h("tr", { "data-name": entity.name },
        h("th", { scope: "row" }, nameCell(entity)),
        columns.map(([, value]) => h("td", {}, value(entity))),
        h("td", { "data-usage-of": entity.name }, usageCell(this.usage.get(entity.name), entity.name)),
        h("td", {}, this.actions(entity))))))));
  }

  actions(entity) {
    const noun = KINDS[this.kind].noun;
    const label = (verb) => `${verb} ${noun} ${entity.name}`;
    if (entity.read_only) {
      return h("div", { class: "toolbar" },
        h("button", { type: "button", class: "secondary small", "aria-label": label("View"), onclick: () => this.edit(entity) }, "View"),
        h("span", { class: "hint" }, "Read-only: change it in the config file"));
    }
    if (!(this.kind === "keys" ? managesTeam(entity.team) : may("write"))) {
      return h("div", { class: "toolbar" },
        h("button", { type: "button", class: "secondary small", "aria-label": label("View"),
          onclick: () => this.edit({ ...entity, view_only: true }) }, "View"));
    }
    return h("div", { class: "toolbar" },
      h("button", { type: "button", class: "secondary small", "aria-label": label("Edit"), onclick: () => this.edit(entity) }, "Edit"),
      this.kind === "keys"
        ? h("button", { type: "button", class: "secondary small", "aria-label": label(entity.active === false ? "Enable" : "Disable"),
          onclick: () => this.setActive(entity, entity.active === false) }, entity.active === false ? "Enable" : "Disable")
        : null,
      this.kind === "keys"
        ? h("button", { type: "button", class: "secondary small", "aria-label": label("New secret for"), onclick: () => this.rotate(entity) }, "New secret")
        : null,
      h("button", { type: "button", class: "danger small", "aria-label": label("Delete"), onclick: () => this.remove(entity) }, "Delete"));
  }

  edit(entity) {
    openEntityForm(this.kind, entity, this.context, async (saved, created) => {
      await this.load();
      this.say(`${created ? "Created" : "Saved"} ${KINDS[this.kind].noun} ${saved.name}.`);
      if (created && saved.key) showSecret(saved.name, saved.key, false);
    });
  }

  async setActive(entity, active) {
    await this.run(() => api("PATCH", `${KINDS.keys.path}/${encodeURIComponent(entity.name)}`, { body: { active } }),
      `${active ? "Enabled" : "Disabled"} virtual key ${entity.name}.${active ? "" : " Requests with it are refused from now on."}`);
  }

  rotate(entity) {
    confirmDialog(`Give ${entity.name} a new secret?`,
      "The current secret stops working at once; whoever uses it needs the new one.", "Make a new secret", async () => {
        const saved = await this.run(() => api("POST", `${KINDS.keys.path}/${encodeURIComponent(entity.name)}/rotate`),
          `Virtual key ${entity.name} has a new secret.`);
        if (saved && saved.key) showSecret(entity.name, saved.key, true);
      });
  }

  remove(entity) {
    const noun = KINDS[this.kind].noun;
    confirmDialog(`Delete ${noun} ${entity.name}?`,
      this.kind === "keys" ? "Requests with this key will be refused. This cannot be undone." : "This cannot be undone.",
      `Delete ${noun}`, () => this.run(() => api("DELETE", `${KINDS[this.kind].path}/${encodeURIComponent(entity.name)}`), `Deleted ${noun} ${entity.name}.`));
  }

  async run(action, success) {
    try {
      const result = await action();
      await this.load();
      this.say(success);
      return result;
    } catch (error) {
      this.say(error.message, "error");
      return null;
    }
  }

  say(text, tone = "info") {
    fill(this.message, h("p", { class: `alert ${tone}` }, text));
  }
}

const COLUMNS = {
  keys: [
    ["Team / customer", (e) => e.team || e.customer || h("span", { class: "hint" }, "none")],
    ["Models", (e) => (e.models && e.models.length ? e.models.join(", ") : h("span", { class: "hint" }, "all"))],
    ["Providers", (e) => (e.providers && e.providers.length ? e.providers.map((p) => p.provider).join(", ") : h("span", { class: "hint" }, "all"))],
    ["Expires", (e) => (e.expires_at ? until(e.expires_at) : h("span", { class: "hint" }, "never"))],
  ],
  teams: [["Customer", (e) => e.customer || h("span", { class: "hint" }, "none")]],
  customers: [],
};

function nameCell(entity) {
  return [
    h("span", { class: "entity-name" }, entity.name),
    entity.read_only ? h("span", { class: "badge", title: "Defined in the YAML config file; read-only here" }, "config file") : null,
    entity.active === false ? h("span", { class: "badge bad" }, "disabled") : null,
    entity.expires_at && Date.parse(entity.expires_at) < Date.now() ? h("span", { class: "badge bad" }, "expired") : null,
    entity.description ? h("div", { class: "hint" }, entity.description) : null,
  ];
}

function hintFor(kind) {
  if (kind === "keys") return "Create one with “New virtual key”: its secret is shown once, with the two lines that point Claude Code at this gateway.";
  if (kind === "teams") return "Teams group keys under one budget. Create one, then choose it when you create or edit a key.";
  return "Customers group teams under one budget (for example a client you bill). Create one, then choose it on a team.";
}

/** The secret of a new (or rotated) key, shown once, with the Claude Code set-up lines. */
function showSecret(name, secret, rotated) {
  const base = `${location.origin}/anthropic`;
  const lines = `export ANTHROPIC_BASE_URL=${base}\nexport ANTHROPIC_API_KEY=${secret}`;
  openDialog(rotated ? `New secret for ${name}` : `Virtual key ${name} created`, h("div", { id: "new-key" },
    h("p", { class: "alert warn" }, "Copy the secret now: it is shown only this once. The gateway keeps only its SHA-256."),
    h("h3", {}, "Secret"), copyable(secret, "the secret"),
    h("h3", { class: "section" }, "Use it with Claude Code"),
    h("p", {}, "Run these two lines in the shell that starts Claude Code:"),
    copyable(lines, "the export lines"),
    h("p", { class: "hint" }, "The OpenAI SDK works too: base URL ", h("code", {}, `${location.origin}/v1`), " with this secret as the API key.")));
}

function confirmDialog(title, text, verb, action) {
  const yes = h("button", { type: "button", class: "danger" }, verb);
  const no = h("button", { type: "button", class: "secondary" }, "Cancel");
  const dialog = openDialog(title, h("div", {}, h("p", {}, text), h("div", { class: "form-actions" }, no, yes)));
  no.addEventListener("click", () => dialog.close());
  yes.addEventListener("click", async () => { yes.disabled = true; dialog.close(); await action(); });
  no.focus();
}
