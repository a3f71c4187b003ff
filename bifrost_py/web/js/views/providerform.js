// The create / edit form of a provider, in a dialog: type, base URL, models, its API keys (add,
// weight, disable, rotate, remove) and, for Bedrock, the AWS credentials. Secrets are write-only:
// a stored key shows its last characters, and its value field stays empty unless the user types
// a new one (rotation); an empty field keeps the stored value. The API validates with the YAML
// reader; its messages (one per problem, with the path) are listed in the form.

import { api } from "../api.js";
import { field, h, openDialog, select } from "../dom.js";

const TYPES = [
  ["anthropic", "Anthropic (api.anthropic.com or compatible)"],
  ["openai", "OpenAI-compatible (OpenAI, vLLM, Ollama, Groq, OpenRouter…)"],
  ["azure", "Azure OpenAI"],
  ["bedrock", "AWS Bedrock"],
  ["gemini", "Google Gemini"],
];
const DEFAULT_URLS = { anthropic: "https://api.anthropic.com", openai: "https://api.openai.com/v1",
  gemini: "https://generativelanguage.googleapis.com", azure: "https://RESOURCE.openai.azure.com", bedrock: "" };

/** Open the form; `provider` is null to create. `onsaved(saved)` runs after a successful save. */
export function openProviderForm(provider, onsaved) {
  const creating = !provider;
  const s = (provider && provider.settings) || {};
  const inputs = {
    name: h("input", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", autocomplete: "off" }),
    type: select({ name: "type" }, TYPES, s.type || "anthropic"),
    base_url: h("input", { name: "base_url", type: "url", autocomplete: "off", value: s.base_url || "" }),
    models: h("input", { name: "models", autocomplete: "off", value: modelsText(s.models) }),
    region: h("input", { name: "region", autocomplete: "off", value: s.region || "", placeholder: "us-east-1" }),
    access_key_id: h("input", { name: "access_key_id", autocomplete: "off", type: "password",
      placeholder: (s.secrets_set || []).includes("access_key_id") ? "stored (type to replace)" : "" }),
    secret_access_key: h("input", { name: "secret_access_key", autocomplete: "off", type: "password",
      placeholder: (s.secrets_set || []).includes("secret_access_key") ? "stored (type to replace)" : "" }),
    api_version: h("input", { name: "api_version", autocomplete: "off", value: s.api_version || "", placeholder: "2024-10-21" }),
  };
  inputs.type.disabled = !creating;
  const keyRows = h("div", { class: "repeat-rows" });
  const keys = (s.keys || []).map((k) => ({ ...k }));
  const addKey = h("button", { type: "button", class: "secondary small" }, "Add an API key");
  addKey.addEventListener("click", () => { keyRows.append(keyRow({}, keyRows)); keyRows.lastElementChild.querySelector("input").focus(); });
  keys.forEach((k) => keyRows.append(keyRow(k, keyRows)));
  if (creating) keyRows.append(keyRow({}, keyRows));

  const aws = h("div", { class: "form-grid" },
    field("Region", inputs.region),
    field("AWS access key id", inputs.access_key_id, "Leave both empty to use a Bedrock API key below, or the machine's AWS credentials."),
    field("AWS secret access key", inputs.secret_access_key));
  const azure = h("div", { class: "form-grid" }, field("API version", inputs.api_version));
  const problems = h("div", { role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, creating ? "Add provider" : "Save changes");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { class: "entity-form provider-form" },
    problems,
    h("div", { class: "form-grid" },
      creating ? field("Name", inputs.name, "Letters, digits and . _ -; requests can name it as NAME/model.") : null,
      field("Type", inputs.type, creating ? null : "The type of an existing provider cannot change."),
      field("Base URL", inputs.base_url, "Empty: the type's default."),
      field("Models", inputs.models, "Names or patterns it serves, comma-separated (claude-*). Bedrock/Azure: name=id pairs. Empty: by model family.")),
    aws, azure,
    h("fieldset", {}, h("legend", {}, "API keys"),
      h("p", { class: "hint" }, "Stored encrypted; never shown again. A higher weight gets more requests; a disabled key is never chosen."),
      keyRows, addKey),
    h("div", { class: "form-actions" }, cancel, submit));

  const syncType = () => {
    aws.hidden = inputs.type.value !== "bedrock";
    azure.hidden = inputs.type.value !== "azure";
    inputs.base_url.placeholder = DEFAULT_URLS[inputs.type.value] || "";
  };
  inputs.type.addEventListener("change", syncType);
  syncType();

  const dialog = openDialog(creating ? "Add a provider" : `Edit provider ${provider.name}`, form, { wide: true });
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    try {
      const body = collect(inputs, keyRows, creating);
      const saved = creating
        ? await api("POST", "/providers", { body })
        : await api("PATCH", `/providers/${encodeURIComponent(provider.name)}`, { body });
      dialog.close();
      onsaved(saved);
    } catch (error) {
      const list = error.message.split("; ").filter(Boolean);
      problems.replaceChildren(h("div", { class: "alert error" }, list.length > 1
        ? ["Not saved:", h("ul", {}, list.map((text) => h("li", {}, text)))]
        : `Not saved: ${error.message}`));
    } finally {
      submit.disabled = false;
    }
  });
  (creating ? inputs.name : inputs.base_url).focus();
}

let rowCounter = 0;
function keyRow(key, rows) {
  const n = ++rowCounter;
  const stored = Boolean(key.name && key.key);
  const name = h("input", { name: "key-name", value: key.name || "", autocomplete: "off", placeholder: `key-${rows.children.length + 1}`,
    readonly: stored, "aria-label": "Key name" });
  const value = h("input", { name: "key-value", type: "password", autocomplete: "off", required: !stored,
    placeholder: stored ? `${key.key} (type a new key to rotate)` : "sk-…", "aria-label": stored ? `New value for ${key.name} (rotate)` : "API key" });
  const weight = h("input", { name: "key-weight", type: "number", min: 0, step: "any", value: key.weight ?? 1, "aria-label": "Weight" });
  const enabled = h("input", { id: `key-enabled-${n}`, name: "key-enabled", type: "checkbox", checked: key.enabled !== false });
  const remove = h("button", { type: "button", class: "secondary small", "aria-label": "Remove this key" }, "Remove");
  const row = h("div", { class: "repeat-row key-row" },
    h("div", { class: "field" }, h("span", { class: "hint" }, "Name"), name),
    h("div", { class: "field grow" }, h("span", { class: "hint" }, stored ? "Value (stored)" : "Value"), value),
    h("div", { class: "field" }, h("span", { class: "hint" }, "Weight"), weight),
    h("div", { class: "field check" }, enabled, h("label", { for: enabled.id }, "Enabled")),
    remove);
  remove.addEventListener("click", () => row.remove());
  return row;
}

function collect(inputs, keyRows, creating) {
  const text = (input) => input.value.trim();
  const body = { base_url: text(inputs.base_url) || null, models: parseModels(text(inputs.models)) };
  if (creating) {
    body.name = text(inputs.name);
    body.type = inputs.type.value;
  }
  if (inputs.type.value === "bedrock") {
    body.region = text(inputs.region) || null;
    if (text(inputs.access_key_id)) body.access_key_id = text(inputs.access_key_id);
    if (text(inputs.secret_access_key)) body.secret_access_key = text(inputs.secret_access_key);
  }
  if (inputs.type.value === "azure") body.api_version = text(inputs.api_version) || null;
  body.keys = [...keyRows.querySelectorAll(".key-row")].map((row, i) => {
    const key = {
      name: row.querySelector("[name=key-name]").value.trim() || `key-${i + 1}`,
      weight: Number(row.querySelector("[name=key-weight]").value || 1),
      enabled: row.querySelector("[name=key-enabled]").checked,
    };
    const value = row.querySelector("[name=key-value]").value.trim();
    if (value) key.value = value;
    return key;
  });
  if (creating) for (const name of Object.keys(body)) if (body[name] === null) delete body[name];
  return body;
}

function modelsText(models) {
  if (!models) return "";
  return Array.isArray(models) ? models.join(", ") : Object.entries(models).map(([k, v]) => `${k}=${v}`).join(", ");
}

function parseModels(text) {
  const items = text.split(/[\s,]+/).filter(Boolean);
  if (!items.length) return null;
  if (!items.some((item) => item.includes("="))) return items;
  return Object.fromEntries(items.map((item) => { const [k, ...v] = item.split("="); return [k, v.join("=") || k]; }));
}
