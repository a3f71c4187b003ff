// Providers: what is configured (keys masked by the gateway), whether each key is usable or in
// cooldown, what plugins published about the provider (failover's health), and the recent error
// rate from the request log. Providers added here (not the config file's) can be edited,
// disabled and deleted; every provider can be tested with one minimal real request.

import { api, hasRoute, may } from "../api.js";
import { emptyState, fill, h } from "../dom.js";
import { count, percent } from "../format.js";
import { usageRows } from "../usage.js";
import { openProviderForm } from "./providerform.js";

const REFRESH_MS = 5000;

export async function render(main) {
  const body = h("div", { id: "providers" });
  const updated = h("span", { class: "hint", role: "status" });
  const add = h("button", { type: "button", class: "primary", hidden: true }, "Add provider");
  const notice = h("div", { role: "status", "aria-live": "polite" });
  main.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Providers"), h("p", {}, "Upstream providers this gateway sends requests to, their API keys and health.")),
      h("div", { class: "head-actions" }, updated, add)),
    notice, body);
  // Test results survive the periodic refresh: provider name -> the last answer.
  const tests = new Map();
  const refresh = async () => {
    const [data, errors] = await Promise.all([api("GET", "/providers"), recentErrors()]);
    add.hidden = !data.editable;
    fill(body, view(data, errors, { tests, refresh, say }));
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  };
  const say = (text, tone = "ok") => fill(notice, text ? h("div", { class: `alert ${tone === "ok" ? "info" : "error"}` }, text) : null);
  add.addEventListener("click", () => openProviderForm(null, async (saved) => {
    say(`Provider ${saved.name} added: it serves the next request.`);
    await refresh();
  }));
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  return () => clearInterval(timer);
}

/** provider name -> {attempts, failed} over the last hour, when the cost log is loaded. Counted
 * per attempt: a provider whose attempts fail is unwell even when a fallback saved the request. */
async function recentErrors() {
  if (!(await hasRoute("GET", "/usage"))) return null;
  const since = Math.floor(Date.now() / 1000) - 3600;
  const [all, failed] = await Promise.all([usageRows("provider", { since }), usageRows("provider", { since, status: "error" })]);
  const failures = new Map(failed.map((row) => [row.name, row.attempts]));
  return new Map(all.map((row) => [row.name, { attempts: row.attempts, failed: failures.get(row.name) || 0 }]));
}

function view(data, errors, actions) {
  const providers = data.providers || [];
  if (!providers.length) {
    return [emptyState("No providers are configured.", data.editable
      ? h("span", {}, "Choose ", h("strong", {}, "Add provider"), " and paste your Anthropic (or OpenAI, Bedrock, Gemini, Azure) API key: it serves the next request, no restart.")
      : h("span", {}, "Add one under ", h("code", {}, "providers:"), " in the gateway's config file (for example ",
        h("code", {}, "anthropic: {type: anthropic, keys: [{value: \"${ANTHROPIC_API_KEY}\"}]}"), ") and restart it."))];
  }
  const warnings = data.warnings || [];
  return [
    warnings.length ? h("div", { class: "alert warn", role: "note" }, "Check the models lists:",
      h("ul", {}, warnings.map((text) => h("li", {}, text)))) : null,
    h("div", { class: "grid providers" }, providers.map((p) => card(p, errors, actions)))];
}

function card(provider, errors, actions) {
  const keys = provider.keys || [];
  const usable = keys.filter((k) => k.usable).length;
  const recent = errors ? errors.get(provider.name) : null;
  const health = provider.enabled === false ? { tone: "warn", text: "disabled" } : healthOf(provider, keys, recent);
  return h("section", { class: "card provider", "aria-labelledby": `prov-${provider.name}` },
    h("div", { class: "provider-head" },
      h("h2", { id: `prov-${provider.name}` }, provider.name, " ", h("span", { class: "badge" }, provider.type)),
      h("span", { class: "provider-badges" },
        h("span", { class: "badge", title: provider.read_only ? "Defined in the config file: read-only here" : "Added in the web UI or admin API" },
          provider.read_only ? "config file" : "added here"),
        h("span", { class: `badge ${health.tone}` }, health.text))),
    provider.error ? h("p", { class: "alert error" }, `Not in service: ${provider.error}`) : null,
    h("dl", { class: "kv" },
      h("dt", {}, "Base URL"), h("dd", { class: "mono" }, provider.base_url || (provider.type === "mock" ? "built-in (in-process)" : "default")),
      h("dt", {}, "Models"), h("dd", {}, modelsText(provider.models)),
      h("dt", {}, "Last hour"), h("dd", {}, recentText(recent, errors)),
      stateEntries(provider.state)),
    keys.length ? keyTable(keys, usable) : h("p", { class: "hint" }, "No API keys (this provider type needs none, or they come from the environment)."),
    circuitTable(provider.state),
    cardActions(provider, actions));
}

function cardActions(provider, { tests, refresh, say }) {
  const result = h("div", { class: "test-result", role: "status", "aria-live": "polite" });
  const shown = tests.get(provider.name);
  if (shown) result.append(testText(shown));
  const test = h("button", { type: "button", class: "secondary small", "aria-label": `Test ${provider.name}` }, "Test");
  test.addEventListener("click", async () => {
    test.disabled = true;
    result.replaceChildren(h("span", { class: "hint" }, "Sending one short request…"));
    try {
      const answer = await api("POST", `/providers/${encodeURIComponent(provider.name)}/test`, { body: {} });
      tests.set(provider.name, answer);
      result.replaceChildren(testText(answer));
    } catch (error) {
      result.replaceChildren(h("p", { class: "alert error" }, `Test failed: ${error.message}`));
    } finally {
      test.disabled = false;
    }
  });
  if (!may("write")) return null;  // testing and changing providers is for admins (the server's guard)
  const buttons = [test];
  if (!provider.read_only) {
    const edit = h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${provider.name}` }, "Edit");
    edit.addEventListener("click", () => openProviderForm(provider, async (saved) => {
      say(`Provider ${saved.name} saved: the next request uses it.`);
      await refresh();
    }));
    const enabled = provider.enabled !== false;
    const toggle = h("button", { type: "button", class: "secondary small", "aria-label": `${enabled ? "Disable" : "Enable"} ${provider.name}` },
      enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", async () => {
      await change(() => api("PATCH", `/providers/${encodeURIComponent(provider.name)}`, { body: { enabled: !enabled } }),
        `Provider ${provider.name} ${enabled ? "disabled" : "enabled"}.`, say);
      await refresh();
    });
    const remove = h("button", { type: "button", class: "secondary small danger", "aria-label": `Delete ${provider.name}` }, "Delete");
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete provider ${provider.name} and its stored keys?`)) return;
      await change(() => api("DELETE", `/providers/${encodeURIComponent(provider.name)}`), `Provider ${provider.name} deleted.`, say);
      await refresh();
    });
    buttons.push(edit, toggle, remove);
  }
  return h("div", { class: "card-actions" }, h("div", { class: "form-actions" }, buttons), result);
}

async function change(call, done, say) {
  try {
    await call();
    say(done);
  } catch (error) {
    say(`Not changed: ${error.message}`, "error");
  }
}

function testText(answer) {
  const took = `${Math.round(answer.milliseconds)} ms`;
  return answer.ok
    ? h("p", { class: "alert info" }, `Test passed: ${answer.status} from ${answer.model} in ${took}: “${answer.answer}”`)
    : h("p", { class: "alert error" }, `Test failed: ${answer.status || "no answer"}: ${answer.error}`);
}

function healthOf(provider, keys, recent) {
  const circuits = Object.values((provider.state || {}).circuit || {});
  const open = circuits.filter((c) => c.state === "open");
  if (open.length) {
    const wait = Math.max(...open.map((c) => Number(c.retry_in_seconds) || 0));
    return { tone: "bad", text: `cooldown${wait > 0 ? ` ${Math.ceil(wait)} s` : ""}` };
  }
  if (keys.length && !keys.some((k) => k.usable)) return { tone: "bad", text: "all keys set aside" };
  if (circuits.some((c) => c.state === "half_open" || c.state === "half-open")) return { tone: "warn", text: "recovering" };
  if (keys.some((k) => !k.usable)) return { tone: "warn", text: "some keys set aside" };
  if (recent && recent.attempts >= 3 && recent.failed / recent.attempts >= 0.5) return { tone: "warn", text: "failing often" };
  return { tone: "ok", text: "healthy" };
}

function modelsText(models) {
  if (!models || (Array.isArray(models) && !models.length)) return "by model family (claude-*, gpt-*, …)";
  return Array.isArray(models) ? models.join(", ") : Object.keys(models).join(", ");
}

function recentText(recent, errors) {
  if (errors === null) return "— (the cost log plugin is not loaded)";
  if (!recent || !recent.attempts) return "no requests";
  return `${percent(recent.failed / recent.attempts)} of attempts failed (${count(recent.failed)} of ${count(recent.attempts)})`;
}

/** What plugins published on provider.state besides the failover circuits (shown as a table). */
function stateEntries(state) {
  return Object.entries(state || {}).filter(([name]) => name !== "circuit").map(([name, value]) => [
    h("dt", {}, name.replaceAll("_", " ")),
    h("dd", {}, typeof value === "object" && value !== null ? JSON.stringify(value) : String(value)),
  ]);
}

/** The failover plugin's circuit per model: closed (fine), open (in cooldown), half-open (probing). */
function circuitTable(state) {
  const circuits = Object.entries((state || {}).circuit || {});
  if (!circuits.length) return null;
  const tone = { closed: "ok", open: "bad" };
  return h("div", { class: "table-wrap section" }, h("table", {},
    h("caption", { class: "visually-hidden" }, "Circuit per model (failover)"),
    h("thead", {}, h("tr", {}, h("th", {}, "Model"), h("th", {}, "Circuit"), h("th", { class: "num" }, "Recent failures"),
      h("th", {}, "Retry in"))),
    h("tbody", {}, circuits.map(([model, c]) => [h("tr", {},
      h("td", {}, model),
      h("td", {}, h("span", { class: `badge ${tone[c.state] || "warn"}` }, c.state === "open" ? "open (cooldown)" : String(c.state).replace("_", "-"))),
      h("td", { class: "num" }, `${count(c.recent_failures)} / ${count(c.failures_to_open)}`),
      h("td", {}, c.retry_in_seconds > 0 ? `${Math.ceil(c.retry_in_seconds)} s` : "—")),
    c.last_error ? h("tr", { class: "sub-row" }, h("td", { colspan: 4, class: "wrap hint" }, `Last error: ${c.last_error}`)) : null]))));
}

function keyTable(keys, usable) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "visually-hidden" }, `API keys: ${usable} of ${keys.length} usable`),
    h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Secret"), h("th", { class: "num" }, "Weight"), h("th", {}, "State"))),
    h("tbody", {}, keys.map((k) => h("tr", {},
      h("td", {}, k.name || "—"),
      h("td", { class: "mono" }, k.key),
      h("td", { class: "num" }, k.weight),
      h("td", {}, k.usable
        ? h("span", { class: "badge ok" }, "usable")
        : h("span", { class: "badge bad", title: k.reason || "" }, `set aside ${Math.ceil(k.aside_for_seconds)} s${k.reason ? `: ${k.reason}` : ""}`)))))));
}
