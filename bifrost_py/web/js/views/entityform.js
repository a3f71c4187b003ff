// The create / edit form of a customer, team or virtual key, in a dialog. It edits the fields
// a person sets by hand; others a key may carry (provider entries, fallbacks, cache) are left
// as they are by an edit, because PATCH changes only the fields it is sent.

import { api } from "../api.js";
import { field, h, openDialog, select } from "../dom.js";
import { currencyCode } from "../format.js";

export const KINDS = {
  keys: { noun: "virtual key", path: "/governance/keys" },
  teams: { noun: "team", path: "/governance/teams" },
  customers: { noun: "customer", path: "/governance/customers" },
};

/** Open the form. `entity` is null to create; `context` = {teams, customers} names for selects. */
export function openEntityForm(kind, entity, context, onsaved) {
  const { noun, path } = KINDS[kind];
  const creating = !entity;
  const e = entity || {};
  const inputs = {
    name: h("input", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._@\\-]{0,127}", autocomplete: "off", value: e.name || "" }),
    description: h("input", { name: "description", value: e.description || "", autocomplete: "off" }),
  };
  if (kind === "teams") inputs.customer = select({ name: "customer" }, [["", "No customer"], ...context.customers.map((c) => [c, c])], e.customer || "");
  if (kind === "keys") {
    inputs.team = select({ name: "team" }, [["", "No team"], ...context.teams.map((t) => [t, t])], e.team || "");
    inputs.customer = select({ name: "customer" }, [["", "No customer"], ...context.customers.map((c) => [c, c])], e.customer || "");
    inputs.models = h("input", { name: "models", value: (e.models || []).join(", "), autocomplete: "off", placeholder: "every model" });
    inputs.max_concurrent = h("input", { name: "max_concurrent", type: "number", min: 1, step: 1, value: e.max_concurrent ?? "" });
    inputs.expires_at = h("input", { name: "expires_at", type: "date", value: (e.expires_at || "").slice(0, 10) });
    inputs.active = h("input", { id: "entity-active", name: "active", type: "checkbox", checked: e.active !== false });
  }
  const budgets = repeater("Budgets", `Each cap is in ${currencyCode()} and is enforced on its own.`, "Add a budget",
    e.budgets || [], budgetRow);
  const limits = repeater("Rate limits", "Requests and/or tokens (input + output) per window.", "Add a rate limit",
    e.rate_limits || [], rateRow);
  const problems = h("div", { role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, creating ? `Create ${noun}` : "Save changes");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");

  const form = h("form", { class: "entity-form", novalidate: false },
    problems,
    h("div", { class: "form-grid" },
      creating ? field("Name", inputs.name, "Letters, digits and . _ @ -") : null,
      field("Description", inputs.description),
      inputs.team ? field("Team", inputs.team, "The team's budgets and customer apply too.") : null,
      inputs.customer ? field("Customer", inputs.customer, kind === "keys" ? "Only for a key without a team." : null) : null,
      inputs.models ? field("Allowed models", inputs.models, "Names or patterns, comma-separated (claude-haiku-*). Empty: every model.") : null,
      inputs.max_concurrent ? field("Max concurrent requests", inputs.max_concurrent) : null,
      inputs.expires_at ? field("Expires on", inputs.expires_at, "At 00:00 UTC that day. Empty: never.") : null,
      inputs.active ? h("div", { class: "field check" }, inputs.active, h("label", { for: "entity-active" }, "Active (requests with this key are accepted)")) : null),
    budgets.element, limits.element,
    h("datalist", { id: "dl-resets" }, RESETS.map((r) => h("option", { value: r }))),
    h("div", { class: "form-actions" }, cancel, submit));

  if (inputs.team) {
    const sync = () => { inputs.customer.disabled = Boolean(inputs.team.value); if (inputs.team.value) inputs.customer.value = ""; };
    inputs.team.addEventListener("change", sync);
    sync();
  }
  const dialog = openDialog(creating ? `New ${noun}` : `Edit ${noun} ${e.name}`, form, { wide: true });
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const body = collect(kind, inputs, budgets.values(), limits.values(), creating);
    submit.disabled = true;
    try {
      const saved = creating
        ? await api("POST", path, { body })
        : await api("PATCH", `${path}/${encodeURIComponent(e.name)}`, { body });
      dialog.close();
      onsaved(saved, creating);
    } catch (error) {
      problems.replaceChildren(h("p", { class: "alert error" }, `Not saved: ${error.message}`));
    } finally {
      submit.disabled = false;
    }
  });
  (creating ? inputs.name : inputs.description).focus();
}

/** The request body: for an edit, an emptied field is sent as null (PATCH removes it). */
function collect(kind, inputs, budgets, limits, creating) {
  const text = (input) => input.value.trim();
  const body = {
    description: text(inputs.description) || null,
    budgets: budgets.length ? budgets : null,
    rate_limits: limits.length ? limits : null,
  };
  if (creating) body.name = text(inputs.name);
  if (kind === "teams") body.customer = inputs.customer.value || null;
  if (kind === "keys") {
    body.team = inputs.team.value || null;
    body.customer = inputs.team.value ? null : inputs.customer.value || null;
    const models = text(inputs.models).split(/[\s,]+/).filter(Boolean);
    body.models = models.length ? models : null;
    body.max_concurrent = inputs.max_concurrent.value ? Number(inputs.max_concurrent.value) : null;
    body.expires_at = inputs.expires_at.value || null;
    body.active = inputs.active.checked;
  }
  if (creating) for (const name of Object.keys(body)) if (body[name] === null) delete body[name];
  return body;
}

/** A fieldset of rows (budgets, rate limits) with add and remove buttons. */
function repeater(legend, hint, addText, initial, makeRow) {
  const rows = h("div", { class: "repeat-rows" });
  const add = h("button", { type: "button", class: "secondary small" }, addText);
  const element = h("fieldset", {}, h("legend", {}, legend), h("p", { class: "hint" }, hint), rows, add);
  const addRow = (value) => {
    const row = makeRow(value);
    const remove = h("button", { type: "button", class: "secondary small", "aria-label": `Remove this ${legend.toLowerCase().replace(/s$/, "")}` }, "Remove");
    const wrapper = h("div", { class: "repeat-row" }, row.element, remove);
    wrapper.read = row.read;
    remove.addEventListener("click", () => { wrapper.remove(); add.focus(); });
    rows.append(wrapper);
    return row;
  };
  add.addEventListener("click", () => addRow({}).focus());
  initial.forEach(addRow);
  return { element, values: () => [...rows.children].map((row) => row.read()).filter(Boolean) };
}

const RESETS = ["daily", "weekly", "monthly", "never", "30m", "12h", "7d"];

function budgetRow(value) {
  const limit = h("input", { type: "number", min: 0, step: "any", required: true, value: value.limit ?? "", inputmode: "decimal" });
  const reset = h("input", { list: "dl-resets", value: value.reset || "monthly", required: true, autocomplete: "off" });
  return {
    element: h("div", { class: "form-grid" }, field(`Limit (${currencyCode()})`, limit), field("Resets", reset, "daily, weekly, monthly, never, or 30m / 12h / 7d")),
    read: () => (limit.value === "" ? null : { limit: Number(limit.value), reset: reset.value.trim() || "monthly" }),
    focus: () => limit.focus(),
  };
}

function rateRow(value) {
  const requests = h("input", { type: "number", min: 1, step: 1, value: value.requests ?? "" });
  const tokens = h("input", { type: "number", min: 1, step: 1, value: value.tokens ?? "" });
  const window = h("input", { value: value.window || "1m", required: true, autocomplete: "off" });
  return {
    element: h("div", { class: "form-grid" }, field("Requests", requests), field("Tokens", tokens), field("Per window", window, "e.g. 1m, 1h, 1d")),
    read: () => {
      if (!requests.value && !tokens.value) return null;
      const limit = { window: window.value.trim() || "1m" };
      if (requests.value) limit.requests = Number(requests.value);
      if (tokens.value) limit.tokens = Number(tokens.value);
      return limit;
    },
    focus: () => requests.focus(),
  };
}
