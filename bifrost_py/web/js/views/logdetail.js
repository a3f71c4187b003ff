// One request in detail: every attempt (fallbacks and retries included) with its provider,
// status, error, tokens, cost and timings, in a dialog over the live table.

import { api } from "../api.js";
import { fill, h, openDialog } from "../dom.js";
import { count, money, ms, rowCost, when } from "../format.js";

export async function showRequest(requestId) {
  const body = h("div", { "aria-busy": "true" }, h("p", {}, "Loading…"));
  openDialog(`Request ${requestId}`, body, { wide: true });
  try {
    const data = await api("GET", `/logs/${encodeURIComponent(requestId)}`);
    fill(body, detail(data));
  } catch (error) {
    body.replaceChildren(h("p", { class: "alert error", role: "alert" }, error.message));
  }
  body.removeAttribute("aria-busy");
}

function detail(data) {
  const attempts = data.attempts || [];
  const final = data.final || attempts[attempts.length - 1] || {};
  const first = attempts[0] || final;
  const ok = final.status >= 200 && final.status < 400;
  return [
    h("p", {}, h("span", { class: `badge ${ok ? "ok" : "bad"}` }, ok ? `${final.status} succeeded` : `${final.status} failed`), " ",
      `${attempts.length} ${attempts.length === 1 ? "attempt" : "attempts"}, ${money(data.cost)} in total`),
    facts([
      ["Started", when(first.ts)], ["Virtual key", final.key_name || "none"], ["Team", final.team], ["Customer", final.customer],
      ["Requested model", final.requested_model], ["Endpoint", `${final.endpoint || ""} (${final.dialect || ""} dialect)`],
      ["Whole request", ms(final.request_ms)], ["Session", final.session_id], ["Client app", final.client_app],
      ["Route rule", final.route_rule],
    ]),
    attempts.map(attemptSection),
    final.request_body ? [h("h3", { class: "section" }, "Request body"), h("pre", { class: "body", tabindex: "0" }, final.request_body)] : null,
  ];
}

function attemptSection(row) {
  const ok = row.status >= 200 && row.status < 400;
  return h("section", { class: "attempt", "aria-label": `Attempt ${row.attempt}` },
    h("h3", {}, `Attempt ${row.attempt}`, h("span", { class: "badge" }, `${row.provider || "—"} / ${row.model || "—"}`),
      h("span", { class: `badge ${ok ? "ok" : "bad"}` }, row.status), row.cache_hit ? h("span", { class: "badge accent" }, "cache hit") : null,
      row.fallback ? h("span", { class: "badge warn" }, "fallback / retry") : null),
    row.error_message ? h("p", { class: "alert error" }, `${row.error_type || "error"}: ${row.error_message}`) : null,
    facts([
      ["Answered by", row.answered_model], ["Provider key", row.provider_key], ["Refused by", row.refused_by],
      ["Input tokens", count(row.input_tokens)], ["Output tokens", count(row.output_tokens)],
      ["Cache read / write tokens", `${count(row.cache_read_tokens)} / ${count(row.cache_write_tokens)}`],
      ["Cost", rowCost(row)], ["Saved by cache", row.saved ? money(row.saved) : null],
      ["Cost on requested model", row.requested_cost !== null && row.requested_cost !== undefined ? money(row.requested_cost) : null],
      ["Latency", ms(row.latency_ms)], ["Time to first token", row.ttft_ms === null ? null : ms(row.ttft_ms)],
      ["Upstream time", ms(row.upstream_ms)], ["Gateway overhead", ms(row.overhead_ms)],
      ["Streamed", yesNo(row.streamed)], ["Completed", yesNo(row.completed)],
      ["Client disconnected", row.client_disconnected ? "yes" : null], ["Translated", yesNo(row.translated)],
      ["Stop reason", row.stop_reason],
    ]),
    row.response_body ? [h("h4", {}, "Response body"), h("pre", { class: "body", tabindex: "0" }, row.response_body)] : null);
}

/** A definition list of the facts that have a value. */
function facts(pairs) {
  return h("dl", { class: "detail-grid" }, pairs
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))));
}

function yesNo(value) {
  return value === null || value === undefined ? null : value ? "yes" : "no";
}
