// Routing: the routing rules and failover chains in the order the gateway evaluates them (the
// config file's first, read-only; then the ones added here, which can be edited, moved and
// deleted), and "Try it": where a request for a model would go, and which rule sent it there.
// The gateway checks every change with the same reader as the config file; its messages (one
// per problem, with the path) are listed in the form. A change serves the next request.

import { api, hasRoute, may } from "../api.js";
import { emptyState, field, fill, h, openDialog, select } from "../dom.js";

const FLAGS = [["tools", "Uses tools"], ["thinking", "Asks for thinking"], ["images", "Has images"], ["web_search", "Uses web search"]];
const GLOBS = [["model", "Model", "claude-*haiku*, gpt-4o"], ["key", "Virtual key", "ci-*"], ["team", "Team", "backend"],
  ["customer", "Customer", "acme"], ["client", "Client app", "codex, claude-code"]];

export async function render(main) {
  const [rulesOn, chainsOn] = await Promise.all([hasRoute("GET", "/routing/rules"), hasRoute("GET", "/failover/chains")]);
  const notice = h("div", { role: "status", "aria-live": "polite" });
  const say = (text, tone = "ok") => fill(notice, text ? h("div", { class: `alert ${tone === "ok" ? "info" : "error"}` }, text) : null);
  const rules = h("section", { class: "section", id: "routing-rules", "aria-labelledby": "rules-head" });
  const chains = h("section", { class: "section", id: "failover-chains", "aria-labelledby": "chains-head" });
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Routing"),
    h("p", {}, "Which provider and model answer a request: rules are tried in order and the first that matches decides; a failover chain says where to go when that target fails."))),
    notice);
  if (!rulesOn && !chainsOn) {
    main.append(emptyState("Routing and failover are not loaded.", "Enable the routing and failover plugins (docs/routing.md)."));
    return;
  }
  // explain is a POST, so admin-only like every other non-GET route: other roles see no "Try it".
  if (rulesOn) main.append(rules);
  if (rulesOn && mayWrite()) main.append(tryIt());
  if (chainsOn) main.append(chains);
  const refresh = async () => {
    if (rulesOn) drawRules(rules, await api("GET", "/routing/rules"), { refresh, say });
    if (chainsOn) drawChains(chains, await api("GET", "/failover/chains"), { refresh, say });
  };
  await refresh();
}

function mayWrite() {
  return may("write");
}

// ------------------------------------------------------------------ rules

function drawRules(el, data, actions) {
  const add = h("button", { type: "button", class: "primary" }, "Add rule");
  add.addEventListener("click", () => ruleForm(null, actions));
  const list = data.rules || [];
  const added = list.filter((r) => !r.read_only).map((r) => r.name);
  fill(el,
    h("div", { class: "page-head" }, h("div", {}, h("h2", { id: "rules-head" }, "Routing rules"), h("p", { class: "hint" }, `Order: ${data.order}.`)),
      mayWrite() ? add : null),
    list.length ? h("div", { class: "table-wrap" }, h("table", { id: "rules-table" },
      h("caption", { class: "visually-hidden" }, "Routing rules in evaluation order"),
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Name"), h("th", {}, "When"), h("th", {}, "Sends to"),
        h("th", {}, "From"), h("th", {}, h("span", { class: "visually-hidden" }, "Actions")))),
      h("tbody", {}, list.map((rule) => [h("tr", { dataset: { rule: rule.name } },
        h("td", { class: "num" }, rule.position + 1),
        h("th", { scope: "row" }, rule.name),
        h("td", { class: "wrap" }, whenText(rule.when)),
        h("td", { class: "mono" }, String(rule.to ?? "")),
        h("td", {}, sourceBadge(rule)),
        h("td", {}, rule.read_only || !mayWrite() ? null : ruleButtons(rule, added, actions))),
      problemRow(rule.problems, 6)])))) :
      emptyState("No routing rules.", "Without rules a request goes to the provider that serves its model. Add a rule to send, say, long or tool-using requests elsewhere."));
}

function sourceBadge(entry) {
  return entry.read_only
    ? h("span", { class: "badge", title: "Defined in the config file: read-only here" }, "config file")
    : h("span", { class: "badge accent", title: "Added in the web UI or admin API" }, "added here");
}

function problemRow(problems, span) {
  return problems && problems.length
    ? h("tr", { class: "sub-row" }, h("td", { colspan: span, class: "wrap" },
      h("span", { class: "badge bad" }, "not in service"), " ", problems.join("; ")))
    : null;
}

function whenText(when) {
  if (!when || typeof when !== "object" || !Object.keys(when).length) return "every request";
  return Object.entries(when).map(([name, value]) => {
    if (name === "header" && value && typeof value === "object") return Object.entries(value).map(([k, v]) => `header ${k} = ${v}`).join(", ");
    if (typeof value === "boolean") return value ? name.replace("_", " ") : `no ${name.replace("_", " ")}`;
    if (name === "min_input_tokens") return `≥ ${value} input tokens`;
    if (name === "max_input_tokens") return `≤ ${value} input tokens`;
    return `${name} ${Array.isArray(value) ? value.join(" or ") : value}`;
  }).join(" and ");
}

function ruleButtons(rule, added, { refresh, say }) {
  const i = added.indexOf(rule.name);
  const move = (to) => async () => {
    const order = [...added];
    order.splice(i, 1);
    order.splice(to, 0, rule.name);
    await change(() => api("PUT", "/routing/rules", { body: { order } }), `Rule ${rule.name} moved.`, say);
    await refresh();
  };
  const up = h("button", { type: "button", class: "secondary small", "aria-label": `Move ${rule.name} up`, disabled: i === 0, onclick: move(i - 1) }, "↑");
  const down = h("button", { type: "button", class: "secondary small", "aria-label": `Move ${rule.name} down`, disabled: i === added.length - 1, onclick: move(i + 1) }, "↓");
  const edit = h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${rule.name}`, onclick: () => ruleForm(rule, { refresh, say }) }, "Edit");
  const remove = h("button", {
    type: "button", class: "secondary small danger", "aria-label": `Delete ${rule.name}`,
    onclick: async () => {
      if (!window.confirm(`Delete routing rule ${rule.name}?`)) return;
      await change(() => api("DELETE", `/routing/rules/${encodeURIComponent(rule.name)}`), `Rule ${rule.name} deleted.`, say);
      await refresh();
    },
  }, "Delete");
  return h("div", { class: "toolbar" }, up, down, edit, remove);
}

function ruleForm(rule, { refresh, say }) {
  const creating = !rule;
  const when = (rule && rule.when) || {};
  const text = (name, value, attrs = {}) => h("input", { name, autocomplete: "off", value: value ?? "", ...attrs });
  const inputs = {
    name: text("name", "", { required: true, placeholder: "long-prompts-to-sonnet" }),
    to: text("to", rule ? rule.to : "", { required: true, placeholder: "anthropic/claude-sonnet-4-5" }),
    min: text("min_input_tokens", when.min_input_tokens, { type: "number", min: 0, step: 1 }),
    max: text("max_input_tokens", when.max_input_tokens, { type: "number", min: 0, step: 1 }),
    header: h("textarea", { name: "header", rows: 2, placeholder: "x-team: backend" }),
  };
  inputs.header.value = Object.entries(when.header || {}).map(([k, v]) => `${k}: ${v}`).join("\n");
  const globs = Object.fromEntries(GLOBS.map(([name, , hint]) =>
    [name, text(name, [].concat(when[name] ?? []).join(", "), { placeholder: hint })]));
  const flags = Object.fromEntries(FLAGS.map(([name]) => [name, select({ name },
    [["", "either"], ["true", "yes"], ["false", "no"]], when[name] === undefined ? "" : String(when[name]))]));
  const problems = h("div", { role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, creating ? "Add rule" : "Save rule");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { class: "entity-form rule-form" }, problems,
    h("div", { class: "form-grid" },
      creating ? field("Name", inputs.name, "Unique; shown in logs and the x-bf-route header.") : null,
      field("Send to", inputs.to, "provider/model, a provider name (same model), or a model name.")),
    h("fieldset", {}, h("legend", {}, "When (every condition set must hold; empty matches every request)"),
      h("div", { class: "form-grid" },
        GLOBS.map(([name, label]) => field(label, globs[name], "Names or patterns, comma-separated.")),
        field("At least … input tokens", inputs.min), field("At most … input tokens", inputs.max),
        FLAGS.map(([name, label]) => field(label, flags[name])),
        field("Headers", inputs.header, "One per line: name: pattern"))),
    h("div", { class: "form-actions" }, cancel, submit));
  const dialog = openDialog(creating ? "Add a routing rule" : `Edit rule ${rule.name}`, form, { wide: true });
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    const body = { to: inputs.to.value.trim(), when: collectWhen(inputs, globs, flags) };
    try {
      const saved = creating
        ? await api("POST", "/routing/rules", { body: { name: inputs.name.value.trim(), ...body } })
        : await api("PUT", `/routing/rules/${encodeURIComponent(rule.name)}`, { body });
      dialog.close();
      say(`Rule ${saved.name} saved: it routes the next request (position ${saved.position + 1}).`);
      await refresh();
    } catch (error) {
      showProblems(problems, error);
    } finally {
      submit.disabled = false;
    }
  });
  (creating ? inputs.name : inputs.to).focus();
}

function collectWhen(inputs, globs, flags) {
  const when = {};
  for (const [name] of GLOBS) {
    const items = globs[name].value.split(",").map((s) => s.trim()).filter(Boolean);
    if (items.length) when[name] = items.length === 1 ? items[0] : items;
  }
  // Numbers go as typed: a wrong one is the gateway's to explain, as in the config file.
  if (inputs.min.value !== "") when.min_input_tokens = Number(inputs.min.value);
  if (inputs.max.value !== "") when.max_input_tokens = Number(inputs.max.value);
  for (const [name] of FLAGS) if (flags[name].value) when[name] = flags[name].value === "true";
  const headers = inputs.header.value.split("\n").map((line) => line.trim()).filter(Boolean);
  if (headers.length) {
    when.header = Object.fromEntries(headers.map((line) => {
      const at = line.indexOf(":");
      return at < 0 ? [line, "*"] : [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    }));
  }
  return when;
}

function showProblems(el, error) {
  const list = error.message.split("; ").filter(Boolean);
  fill(el, h("div", { class: "alert error" }, list.length > 1
    ? ["Not saved:", h("ul", {}, list.map((text) => h("li", {}, text)))]
    : `Not saved: ${error.message}`));
}

async function change(call, done, say) {
  try {
    await call();
    say(done);
  } catch (error) {
    say(`Not changed: ${error.message}`, "error");
  }
}

// ------------------------------------------------------------------ try it

function tryIt() {
  const model = h("input", { name: "try-model", required: true, autocomplete: "off", placeholder: "claude-sonnet-4-5" });
  const key = h("input", { name: "try-key", autocomplete: "off", placeholder: "virtual key name" });
  const team = h("input", { name: "try-team", autocomplete: "off" });
  const prompt = h("textarea", { name: "try-prompt", rows: 2, placeholder: "hi (its length counts as input tokens)" });
  const tools = h("input", { type: "checkbox", id: "try-tools", name: "try-tools" });
  const thinking = h("input", { type: "checkbox", id: "try-thinking", name: "try-thinking" });
  const result = h("div", { id: "try-result", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-labelledby": "try-head" },
    h("h2", { id: "try-head" }, "Try it"),
    h("p", { class: "hint" }, "Where would a request go? Nothing is sent to a provider."),
    h("div", { class: "form-grid" }, field("Model", model), field("Virtual key", key), field("Team", team), field("Prompt", prompt),
      h("div", { class: "field check" }, tools, h("label", { for: tools.id }, "With tools")),
      h("div", { class: "field check" }, thinking, h("label", { for: thinking.id }, "With thinking"))),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, "Where does it go?")),
    result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const body = { model: model.value.trim(), max_tokens: 1024, messages: [{ role: "user", content: prompt.value || "hi" }] };
    if (tools.checked) body.tools = [{ name: "Read", description: "Read a file", input_schema: { type: "object", properties: {} } }];
    if (thinking.checked) body.thinking = { type: "enabled", budget_tokens: 1024 };
    const ask = { body };
    if (key.value.trim()) ask.key = key.value.trim();
    if (team.value.trim()) ask.team = team.value.trim();
    try {
      const answer = await api("POST", "/routing/explain", { body: ask });
      fill(result, h("p", { class: "alert info" }, answer.target
        ? [answer.rule ? ["Rule ", h("strong", {}, answer.rule), " matches"] : "No rule matches", ": ",
          h("strong", { class: "mono" }, answer.target), " answers", answer.key ? ` (API key ${answer.key})` : "", "."]
        : "No provider serves this model."));
    } catch (error) {
      fill(result, h("p", { class: "alert error" }, error.message));
    }
  });
  return h("section", { class: "section" }, form);
}

// ------------------------------------------------------------------ failover chains

function drawChains(el, data, actions) {
  const add = h("button", { type: "button", class: "primary" }, "Add chain");
  add.addEventListener("click", () => chainForm(null, actions));
  const list = data.chains || [];
  fill(el,
    h("div", { class: "page-head" }, h("div", {}, h("h2", { id: "chains-head" }, "Failover chains"), h("p", { class: "hint" }, `Lookup: ${data.order}.`)),
      mayWrite() ? add : null),
    list.length ? h("div", { class: "table-wrap" }, h("table", { id: "chains-table" },
      h("caption", { class: "visually-hidden" }, "Failover chains in lookup order"),
      h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", {}, "Then tries"), h("th", {}, "From"),
        h("th", {}, h("span", { class: "visually-hidden" }, "Actions")))),
      h("tbody", {}, list.map((chain) => [h("tr", { dataset: { chain: chain.model } },
        h("th", { scope: "row", class: "mono" }, chain.model),
        h("td", { class: "mono wrap" }, [].concat(chain.chain ?? []).join(" → ")),
        h("td", {}, sourceBadge(chain)),
        h("td", {}, chain.read_only || !mayWrite() ? null : chainButtons(chain, actions))),
      problemRow(chain.problems, 4)])))) :
      emptyState("No failover chains.", "A chain names where a model's requests go when its provider fails: another provider (same model) or provider/model."));
}

function chainButtons(chain, { refresh, say }) {
  const path = `/failover/chains/${encodeURIComponent(chain.model)}`;
  return h("div", { class: "toolbar" },
    h("button", { type: "button", class: "secondary small", "aria-label": `Edit chain of ${chain.model}`, onclick: () => chainForm(chain, { refresh, say }) }, "Edit"),
    h("button", {
      type: "button", class: "secondary small danger", "aria-label": `Delete chain of ${chain.model}`,
      onclick: async () => {
        if (!window.confirm(`Delete the failover chain of ${chain.model}?`)) return;
        await change(() => api("DELETE", path), `Chain of ${chain.model} deleted.`, say);
        await refresh();
      },
    }, "Delete"));
}

function chainForm(chain, { refresh, say }) {
  const creating = !chain;
  const model = h("input", { name: "chain-model", required: true, autocomplete: "off", placeholder: "claude-sonnet-*" });
  const entries = h("input", { name: "chain-entries", required: true, autocomplete: "off", placeholder: "bedrock, openai/gpt-4o",
    value: chain ? [].concat(chain.chain ?? []).join(", ") : "" });
  const problems = h("div", { role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, creating ? "Add chain" : "Save chain");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { class: "entity-form chain-form" }, problems,
    h("div", { class: "form-grid" },
      creating ? field("Model", model, "A model name, or a pattern like claude-*.") : null,
      field("Then try", entries, "Comma-separated, in order: a provider (same model), provider/model, or a model name.")),
    h("div", { class: "form-actions" }, cancel, submit));
  const dialog = openDialog(creating ? "Add a failover chain" : `Edit the chain of ${chain.model}`, form);
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    const body = { chain: entries.value.split(",").map((s) => s.trim()).filter(Boolean) };
    try {
      const saved = creating
        ? await api("POST", "/failover/chains", { body: { model: model.value.trim(), ...body } })
        : await api("PUT", `/failover/chains/${encodeURIComponent(chain.model)}`, { body });
      dialog.close();
      say(`Chain of ${saved.model} saved: the next failing request follows it.`);
      await refresh();
    } catch (error) {
      showProblems(problems, error);
    } finally {
      submit.disabled = false;
    }
  });
  (creating ? model : entries).focus();
}
