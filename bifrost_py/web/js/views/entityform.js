// The create / edit form of a customer, team or virtual key, in a dialog: every field of the
// admin API's schema but a key's secret, including a key's per-provider entries (the
// provider-config tier), fallbacks and cache setting. An entry from the YAML file is shown in
// the same form with every control disabled. The API validates; its messages are shown in the
// form, and those about a provider entry next to that entry too.

import { api } from "../api.js";
import { field, fill, h, openDialog, select } from "../dom.js";
import { currencyCode } from "../format.js";

export const KINDS = {
  keys: { noun: "virtual key", path: "/governance/keys" },
  teams: { noun: "team", path: "/governance/teams" },
  customers: { noun: "customer", path: "/governance/customers" },
};

/** Open the form. `entity` is null to create; `context` = {teams, customers, providers} names for
 * selects. A read-only entity (from the YAML file) is only shown. */
export function openEntityForm(kind, entity, context, onsaved) {
  const { noun, path } = KINDS[kind];
  const creating = !entity;
  const e = entity || {};
  const readOnly = Boolean(e.read_only || e.view_only);  // view_only: the role may read, not change
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
  const budgets = repeater({ legend: "Budgets", noun: "budget", readOnly,
    hint: `Each cap is in ${currencyCode()} and is enforced on its own.` }, e.budgets || [], budgetRow);
  const limits = repeater({ legend: "Rate limits", noun: "rate limit", readOnly,
    hint: "Requests and/or tokens (input + output) per window." }, e.rate_limits || [], rateRow);
  const extras = kind === "keys" ? keyExtras(e, context.providers || [], readOnly) : null;
  const problems = h("div", { role: "alert" });
  const submit = readOnly ? null : h("button", { type: "submit", class: "primary" }, creating ? `Create ${noun}` : "Save changes");
  const cancel = h("button", { type: "button", class: "secondary" }, readOnly ? "Done" : "Cancel");

  const form = h("form", { class: "entity-form" },
    readOnly ? h("p", { class: "alert info" }, e.view_only ? "Your role may view this, not change it."
      : "Defined in the config file: read-only here. Change it in the file.") : null,
    problems,
    h("fieldset", { class: "plain", disabled: readOnly }, h("div", { class: "form-grid" },
      creating ? field("Name", inputs.name, "Letters, digits and . _ @ -") : null,
      field("Description", inputs.description),
      inputs.team ? field("Team", inputs.team, "The team's budgets and customer apply too.") : null,
      inputs.customer ? field("Customer", inputs.customer, kind === "keys" ? "Only for a key without a team." : null) : null,
      inputs.models ? field("Allowed models", inputs.models, "Names or patterns, comma-separated (claude-haiku-*). Empty: every model.") : null,
      inputs.max_concurrent ? field("Max concurrent requests", inputs.max_concurrent) : null,
      inputs.expires_at ? field("Expires on", inputs.expires_at, "At 00:00 UTC that day. Empty: never.") : null,
      inputs.active ? h("div", { class: "field check" }, inputs.active, h("label", { for: "entity-active" }, "Active (requests with this key are accepted)")) : null),
    budgets.element, limits.element, extras ? extras.element : null),
    h("datalist", { id: "dl-resets" }, RESETS.map((r) => h("option", { value: r }))),
    h("div", { class: "form-actions" }, cancel, submit));

  if (inputs.team) {
    const sync = () => { inputs.customer.disabled = Boolean(inputs.team.value); if (inputs.team.value) inputs.customer.value = ""; };
    inputs.team.addEventListener("change", sync);
    sync();
  }
  const title = creating ? `New ${noun}` : readOnly ? `${capital(noun)} ${e.name} (config file)` : `Edit ${noun} ${e.name}`;
  const dialog = openDialog(title, form, { wide: true });
  cancel.addEventListener("click", () => dialog.close());
  if (readOnly) {
    cancel.focus();
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const body = { ...collect(kind, inputs, budgets.values(), limits.values(), creating), ...(extras ? extras.read(creating) : {}) };
    submit.disabled = true;
    if (extras) extras.showProblems([]);
    try {
      const saved = creating
        ? await api("POST", path, { body })
        : await api("PATCH", `${path}/${encodeURIComponent(e.name)}`, { body });
      dialog.close();
      onsaved(saved, creating);
    } catch (error) {
      const list = problemsIn(error.message);
      problems.replaceChildren(h("div", { class: "alert error" }, list.length > 1
        ? ["Not saved:", h("ul", {}, list.map((text) => h("li", {}, text)))]
        : `Not saved: ${error.message}`));
      if (extras) extras.showProblems(list);
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

/** A fieldset of rows (budgets, rate limits, provider entries) with add and remove buttons
 * ("Add a budget", "Remove this budget"); read-only: the rows only, or "None". */
function repeater({ legend, noun, hint, readOnly }, initial, makeRow) {
  const rows = h("div", { class: "repeat-rows" });
  const add = readOnly ? null : h("button", { type: "button", class: "secondary small" }, `Add a ${noun}`);
  const element = h("fieldset", {}, h("legend", {}, legend), hint ? h("p", { class: "hint" }, hint) : null, rows, add,
    readOnly && !initial.length ? h("p", {}, "None.") : null);
  const addRow = (value) => {
    const row = makeRow(value);
    const remove = readOnly ? null : h("button", { type: "button", class: "secondary small", "aria-label": `Remove this ${noun}` }, "Remove");
    const wrapper = h("div", { class: "repeat-row" }, row.element, remove);
    wrapper.row = row;
    if (remove) remove.addEventListener("click", () => { wrapper.remove(); add.focus(); });
    rows.append(wrapper);
    return row;
  };
  if (add) add.addEventListener("click", () => addRow({}).focus());
  initial.forEach(addRow);
  const all = () => [...rows.children].map((wrapper) => wrapper.row);
  return { element, rows: all, values: () => all().map((row) => row.read()).filter(Boolean) };
}

/** A key's provider entries, fallbacks and cache setting; `read` gives their part of the body. */
function keyExtras(e, providers, readOnly) {
  const entries = repeater({ legend: "Providers", noun: "provider entry", readOnly,
    hint: "Only these providers may serve the key, each with its own weight, budgets and rate limits (the provider tier). None: every provider." },
  e.providers || [], (value) => providerRow(value, providers, readOnly));
  const fallbacks = h("input", { name: "fallbacks", value: (e.fallbacks || []).join(", "), autocomplete: "off", placeholder: "none" });
  const cache = select({ name: "cache" }, [["", "The gateway's default"], ["on", "On"], ["off", "Off"]],
    e.cache ? (e.cache.enabled ? "on" : "off") : "");
  const ttl = h("input", { name: "cache_ttl", value: e.cache && e.cache.ttl != null ? duration(e.cache.ttl) : "", autocomplete: "off", placeholder: "default" });
  const sync = () => { ttl.disabled = cache.value !== "on"; };
  cache.addEventListener("change", sync);
  sync();
  return {
    element: [entries.element, h("fieldset", {}, h("legend", {}, "Fallbacks and cache"), h("div", { class: "form-grid" },
      field("Fallbacks", fallbacks, "provider/model to try when a request fails, in order, comma-separated (openai/gpt-4o)."),
      field("Cache", cache, "Whether the cache plugin may answer this key's requests."),
      field("Cache TTL", ttl, "How long its answers are kept: 10m, 1h, 1d. Empty: the cache's default.")))],
    read: (creating) => {
      const [list, seconds] = [entries.values(), ttl.value.trim()];
      const targets = fallbacks.value.split(/[\s,]+/).filter(Boolean);
      const body = {
        providers: list.length ? list : null,
        fallbacks: targets.length ? targets : null,
        cache: !cache.value ? null : cache.value === "on" && seconds ? { enabled: true, ttl: seconds } : { enabled: cache.value === "on" },
      };
      if (creating) for (const name of Object.keys(body)) if (body[name] === null) delete body[name];
      return body;
    },
    // The API names an entry by its place in the list ("key.providers[1].provider: ..."): the
    // rows are that list, in order (a row always has a provider, so none is left out).
    showProblems: (list) => entries.rows().forEach((row, i) => row.problems(list.filter((text) => text.includes(`providers[${i}]`)))),
  };
}

/** One provider entry: the provider, its routing weight, and its own budgets and rate limits. */
function providerRow(value, providers, readOnly) {
  const names = !value.provider || providers.includes(value.provider) ? providers : [value.provider, ...providers];
  const provider = select({ required: true }, [["", "Choose a provider"], ...names.map((p) => [p, p])], value.provider || "");
  const weight = h("input", { type: "number", min: 0, step: "any", inputmode: "decimal", value: value.weight ?? 1 });
  const budgets = repeater({ legend: "Budgets", noun: "provider budget", readOnly }, value.budgets || [], budgetRow);
  const limits = repeater({ legend: "Rate limits", noun: "provider rate limit", readOnly,
    hint: "Each attempt on this provider counts as one request." }, value.rate_limits || [], rateRow);
  const legend = h("legend", {});
  const error = h("div", { class: "field-error", hidden: true });
  const named = () => { legend.textContent = provider.value ? `Provider ${provider.value}` : "New provider entry"; };
  provider.addEventListener("change", named);
  named();
  return {
    element: h("fieldset", { class: "provider-entry" }, legend, error,
      h("div", { class: "form-grid" }, field("Provider", provider),
        field("Weight", weight, "Its share of this key's traffic when routing chooses among the key's providers.")),
      budgets.element, limits.element),
    read: () => {
      const entry = { provider: provider.value, weight: weight.value === "" ? 1 : Number(weight.value) };
      const caps = [budgets.values(), limits.values()];
      if (caps[0].length) entry.budgets = caps[0];
      if (caps[1].length) entry.rate_limits = caps[1];
      return entry;
    },
    focus: () => provider.focus(),
    problems: (list) => {
      fill(error, list.map((text) => h("p", {}, text)));
      error.hidden = !list.length;
      error.id = `${provider.id}-error`;
      provider.setAttribute("aria-invalid", list.length ? "true" : "false");
      if (list.length) provider.setAttribute("aria-describedby", error.id);
      else provider.removeAttribute("aria-describedby");
    },
  };
}

/** The API joins its problems with "; " and each starts with the path it is about
 * ("key.providers[0].budget.limit: must be ..."): split them there, and only there. */
function problemsIn(message) {
  return message.split(/; (?=[\w.[\]]+: )/);
}

function duration(seconds) {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function capital(text) {
  return text[0].toUpperCase() + text.slice(1);
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
