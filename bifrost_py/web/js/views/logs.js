// Logs: the request log as a live table. The first page comes from /api/logs; new rows arrive
// over /api/logs/stream (server-sent events, the same filters applied by the server) and are
// put on top without reloading. Older rows page in with the cursor.

import { api, download, events, hasRoute, may } from "../api.js";
import { emptyState, h } from "../dom.js";
import { count, money, ms, rowCost, timeOnly, when } from "../format.js";
import { filterForm, fromSearch, isFiltered, toParams, toSearch } from "../logfilters.js";
import { usageRows } from "../usage.js";
import { showRequest } from "./logdetail.js";

// The table has a fixed layout (column widths from these classes, see app.css): adding a row
// then costs no re-measuring of every other row, which matters for a live table of 1,000 rows.
const COLUMNS = [
  ["Time", "c-time"], ["Virtual key", "c-key"], ["Team", "c-team"], ["Model", "c-model"], ["Provider", "c-provider"],
  ["Status", "c-status"], ["Tokens in / out", "num c-tokens"], ["Cost", "num c-cost"], ["Latency", "num c-latency"],
  ["Cache", "c-cache"], ["Attempt", "num c-attempt"],
];
const PAGE = 100;
const MAX_ROWS = 500;        // rows kept in the table; older ones drop off and page back in
const ANNOUNCE_MS = 3000;    // at most one screen-reader announcement of new rows per 3 s
const BATCH_MS = 250;        // live rows are put in the table at most 4 times a second
const FRESH_MS = 2000;       // how long new rows stay highlighted

export async function render(main, _parts, settings, search) {
  if (!(await hasRoute("GET", "/logs"))) {
    main.append(h("h1", {}, "Logs"), emptyState("The request log is switched off on this gateway.",
      "The costlog plugin writes it; it is disabled in this gateway's config (plugins:)."));
    return null;
  }
  const view = new LogView(main, settings, fromSearch(search));
  await view.load();
  return () => view.stop();
}

class LogView {
  constructor(main, settings, state) {
    this.state = state;
    this.ids = new Set();
    this.cursor = null;
    this.source = null;
    this.paused = false;
    this.held = [];
    this.pending = [];
    this.flushTimer = null;
    this.fresh = 0;
    this.announceTimer = null;

    this.tbody = h("tbody", { id: "log-rows" });
    this.table = h("div", { class: "table-wrap", id: "log-table-wrap", "aria-busy": "true" }, h("table", { id: "log-table" },
      h("caption", { class: "visually-hidden" }, "Request log, newest first"),
      h("thead", {}, h("tr", {}, COLUMNS.map(([title, cls]) => h("th", { scope: "col", class: cls }, title)))),
      this.tbody));
    this.empty = h("div", { id: "log-empty" });
    this.more = h("button", { type: "button", class: "secondary", onclick: () => this.loadOlder() }, "Load older rows");
    this.liveBadge = h("span", { class: "live", id: "live-state" }, h("span", { class: "dot", "aria-hidden": "true" }), h("span", {}, "Connecting…"));
    this.pauseButton = h("button", { type: "button", class: "secondary small", "aria-pressed": "false", onclick: () => this.togglePause() }, "Pause");
    this.announcer = h("div", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    this.message = h("div", { role: "alert" });
    this.exportButton = h("button", { type: "button", class: "secondary", id: "export-csv", onclick: () => this.exportCsv(),
      hidden: !may("export") }, "Export CSV");  // admins and finance

    main.append(
      h("div", { class: "page-head" },
        h("div", {}, h("h1", {}, "Logs"), h("p", {}, "Every request through the gateway, as it happens. Select a time to see its attempts.")),
        h("div", { class: "toolbar" }, this.liveBadge, this.pauseButton, this.exportButton)),
      filterForm(state, { providers: settings.providers || [], suggest }, (next) => this.apply(next)),
      this.message, this.announcer, this.empty, this.table,
      h("div", { class: "toolbar section" }, this.more));
  }

  async apply(state) {
    this.state = state;
    history.replaceState(null, "", `#/logs${toSearch(state) ? `?${toSearch(state)}` : ""}`);
    await this.load();
  }

  async load() {
    this.stopStream();
    this.ids.clear();
    this.held = [];
    this.pending = [];
    this.message.replaceChildren();
    this.table.setAttribute("aria-busy", "true");
    const loading = (this.loading = {});
    let data = null;
    let failure = null;
    try {
      data = await api("GET", "/logs", { params: { ...toParams(this.state), limit: PAGE } });
    } catch (error) {
      failure = error;
    }
    // The filters changed again while this page was loading: the newer load owns the table.
    if (loading !== this.loading) return;
    this.table.setAttribute("aria-busy", "false");
    if (failure) {
      this.message.replaceChildren(h("p", { class: "alert error" }, failure.message));
      return;
    }
    this.tbody.replaceChildren(...data.rows.map((row) => this.rowElement(row)));
    this.cursor = data.next_cursor;
    this.updateChrome();
    const newest = data.rows.reduce((max, row) => Math.max(max, row.id || 0), 0);
    this.startStream(newest);
  }

  async loadOlder() {
    if (!this.cursor) return;
    this.more.disabled = true;
    try {
      const data = await api("GET", "/logs", { params: { ...toParams(this.state), limit: PAGE, cursor: this.cursor } });
      this.tbody.append(...data.rows.filter((row) => !this.ids.has(row.id)).map((row) => this.rowElement(row)));
      this.cursor = data.next_cursor;
    } catch (error) {
      this.message.replaceChildren(h("p", { class: "alert error" }, error.message));
    } finally {
      this.more.disabled = false;
      this.updateChrome();
    }
  }

  // ---------------------------------------------------------------- live rows

  startStream(afterId) {
    // `after` replays what was written between the page load and the stream's start, so no row
    // falls in the gap; on a reconnect EventSource sends Last-Event-ID for the same purpose.
    const source = events("/logs/stream", { ...toParams(this.state), after: afterId });
    this.source = source;
    source.addEventListener("open", () => this.setLive("on", this.paused ? "Paused" : "Live"));
    source.addEventListener("error", () => {
      if (this.source === source) this.setLive("err", source.readyState === EventSource.CLOSED ? "Disconnected" : "Reconnecting…");
    });
    source.addEventListener("row", (event) => this.received(JSON.parse(event.data)));
    source.addEventListener("lagged", (event) => {
      const { missed } = JSON.parse(event.data);
      this.message.replaceChildren(h("p", { class: "alert warn" },
        `${count(missed)} rows came in faster than this page could show them. `,
        h("button", { type: "button", class: "link", onclick: () => this.load() }, "Reload the table"), " to see every row."));
    });
  }

  received(row) {
    if (this.ids.has(row.id)) return;
    if (this.paused) {
      this.held.push(row);
      this.pauseButton.textContent = `Resume (${this.held.length} new)`;
      return;
    }
    // Rows that arrive together go in together: one layout of the table per batch, not per row.
    this.pending.push(row);
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        const rows = this.pending;
        this.pending = [];
        this.prepend(rows);
      }, BATCH_MS);
    }
  }

  prepend(rows) {
    const elements = rows.filter((row) => !this.ids.has(row.id)).map((row) => {
      const tr = this.rowElement(row);
      tr.classList.add("fresh");
      return tr;
    });
    if (!elements.length) return;
    this.tbody.prepend(...elements.reverse());
    setTimeout(() => elements.forEach((tr) => tr.classList.remove("fresh")), FRESH_MS);
    this.trim();
    this.fresh += elements.length;
    this.updateChrome();
    if (!this.announceTimer) {
      this.announceTimer = setTimeout(() => {
        this.announcer.textContent = `${this.fresh} new ${this.fresh === 1 ? "row" : "rows"} in the log`;
        this.fresh = 0;
        this.announceTimer = null;
      }, ANNOUNCE_MS);
    }
  }

  /** Keep the DOM small: drop the oldest rows past MAX_ROWS; "Load older" brings them back. */
  trim() {
    while (this.tbody.rows.length > MAX_ROWS) {
      const last = this.tbody.lastElementChild;
      this.ids.delete(Number(last.dataset.id));
      this.cursor = last.dataset.id;
      last.remove();
    }
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseButton.setAttribute("aria-pressed", String(this.paused));
    this.pauseButton.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused && this.held.length) {
      this.prepend(this.held);
      this.held = [];
    }
    if (this.source && this.source.readyState === EventSource.OPEN) this.setLive("on", this.paused ? "Paused" : "Live");
  }

  setLive(tone, text) {
    this.liveBadge.className = `live ${tone}`;
    this.liveBadge.lastElementChild.textContent = text;
  }

  stopStream() {
    if (this.source) this.source.close();
    this.source = null;
  }

  stop() {
    this.stopStream();
    clearTimeout(this.announceTimer);
    clearTimeout(this.flushTimer);
  }

  // ---------------------------------------------------------------- rendering

  rowElement(row) {
    this.ids.add(row.id);
    const requested = row.requested_model || row.model || "—";
    const routed = row.model && row.requested_model && row.model !== row.requested_model && !row.requested_model.endsWith(`/${row.model}`);
    const ok = row.status >= 200 && row.status < 400;
    return h("tr", { "data-id": row.id, "data-request-id": row.request_id },
      h("td", {}, h("button", {
        type: "button", class: "link", title: when(row.ts),
        "aria-label": `Details of request ${row.request_id} at ${when(row.ts)}`,
        onclick: () => showRequest(row.request_id),
      }, timeOnly(row.ts))),
      h("td", {}, row.key_name || h("span", { class: "hint" }, "none")),
      h("td", {}, row.team || "—"),
      h("td", { title: routed ? `${requested} → ${row.model} (${row.route_rule || "routed"})` : requested }, requested,
        routed ? h("span", { class: "hint" }, ` → ${row.model}`) : null),
      h("td", {}, row.provider || "—"),
      h("td", {}, h("span", { class: `badge ${ok ? "ok" : "bad"}`, title: row.error_message || row.error_type || "" }, row.status || "—"),
        row.refused_by ? h("span", { class: "hint" }, ` ${row.refused_by}`) : null),
      h("td", { class: "num" }, `${count(row.input_tokens + (row.cache_read_tokens || 0) + (row.cache_write_tokens || 0))} / ${count(row.output_tokens)}`),
      h("td", { class: "num", title: row.saved ? `saved ${money(row.saved)} (cached answer)` : null }, rowCost(row)),
      h("td", { class: "num" }, ms(row.request_ms ?? row.latency_ms)),
      h("td", {}, row.cache_hit ? h("span", { class: "badge accent" }, "hit") : ""),
      h("td", { class: "num" }, row.attempt > 1 ? h("span", { class: "badge warn", title: "fallback or retry" }, row.attempt) : String(row.attempt ?? "")));
  }

  updateChrome() {
    const rows = this.tbody.rows.length;
    this.more.hidden = !this.cursor;
    this.table.hidden = rows === 0;
    this.exportButton.disabled = rows === 0;
    if (rows) {
      this.empty.replaceChildren();
    } else if (isFiltered(this.state)) {
      this.empty.replaceChildren(emptyState("No requests match these filters yet.",
        "New requests that match appear here as they happen. Clear the filters or widen the time range to see more."));
    } else {
      const base = `${location.origin}/anthropic`;
      const range = this.state.range === "all" ? "" : " in this time range";
      this.empty.replaceChildren(emptyState(`No requests${range} yet.`,
        h("span", {}, "Point a client at this gateway, for example Claude Code: ",
          h("code", {}, `export ANTHROPIC_BASE_URL=${base}`), " and ", h("code", {}, "export ANTHROPIC_API_KEY=<a virtual key>"),
          " (create one under Keys & teams). Requests appear here as they happen.")));
    }
  }

  async exportCsv() {
    const params = toParams(this.state);
    const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
    this.exportButton.disabled = true;
    this.exportButton.textContent = "Exporting…";
    try {
      await download("/logs/export", params, `bifrost-logs-${stamp}.csv`);
    } catch (error) {
      this.message.replaceChildren(h("p", { class: "alert error" }, `Export failed: ${error.message}`));
    } finally {
      this.exportButton.disabled = false;
      this.exportButton.textContent = "Export CSV";
    }
  }
}

/** Names for a filter box: keys and teams from governance (a lookup in memory), else from the
 * log; models seen in the last 24 hours (an aggregate over that day's rows only). */
async function suggest(name) {
  const kind = { key: "keys", team: "teams" }[name];
  if (kind && (await hasRoute("GET", `/governance/${kind}`))) {
    const data = await api("GET", `/governance/${kind}`);
    return data[kind].map((entity) => entity.name).sort();
  }
  const rows = await usageRows(name, { since: name === "model" ? "24h" : "7d" });
  return rows.map((row) => row.name).filter(Boolean).sort();
}
