// Numbers, money and times as people read them. Prices are kept in USD by the gateway; budgets
// and reports are in the configured currency (/api/settings), so both are handled here.

let currency = { code: "USD", per_usd: 1, symbol: "$" };
let moneyFormat = makeMoneyFormat("USD", 2);
let smallMoneyFormat = makeMoneyFormat("USD", 4);

export function setCurrency(settings) {
  currency = { ...currency, ...(settings || {}) };
  moneyFormat = makeMoneyFormat(currency.code, 2);
  smallMoneyFormat = makeMoneyFormat(currency.code, 4);
}

export function currencyCode() { return currency.code; }

/** USD -> the configured currency (for charts, whose axis is drawn in the shown currency). */
export function toLocal(usd) { return Number(usd || 0) * Number(currency.per_usd || 1); }

function makeMoneyFormat(code, digits) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: code, minimumFractionDigits: 2, maximumFractionDigits: digits });
  } catch {
    return { format: (n) => `${n.toFixed(digits)} ${code}` };
  }
}

/** An amount already in the configured currency (budgets, spend from governance). Amounts under
 * one unit keep up to four decimals: one request often costs a fraction of a cent. */
export function money(amount) {
  if (amount === null || amount === undefined || Number.isNaN(Number(amount))) return "—";
  const n = Number(amount);
  if (n === 0 || Math.abs(n) >= 1) return moneyFormat.format(n);
  if (Math.abs(n) < 0.0001) return `< ${smallMoneyFormat.format(n < 0 ? -0.0001 : 0.0001)}`;
  return smallMoneyFormat.format(n);
}

/** An amount in USD (prices, costs in log rows), shown in the configured currency. */
export function moneyUsd(usd) {
  if (usd === null || usd === undefined) return "—";
  return money(Number(usd) * Number(currency.per_usd || 1));
}

/** A row's cost in the configured currency: its `cost` when the API converted it, else cost_usd. */
export function rowCost(row) {
  if (row.price_unknown && !row.cost_usd) return "price unknown";
  if (row.cost !== undefined && row.cost !== null) return money(row.cost);
  return moneyUsd(row.cost_usd);
}

const integer = new Intl.NumberFormat();
export function count(n) {
  return n === null || n === undefined ? "—" : integer.format(Math.round(Number(n)));
}

const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
export function compact(n) {
  return n === null || n === undefined ? "—" : compactFormat.format(Number(n));
}

export function percent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || Number.isNaN(Number(fraction))) return "—";
  return `${(Number(fraction) * 100).toFixed(digits)}%`;
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  const n = Number(value);
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`;
}

// Formatters are built once: creating one per call (toLocaleString with options does) costs far
// more than the formatting, and the live log formats every row that arrives.
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const monthDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/** Epoch seconds (or an ISO string) as a local date and time. */
export function when(value) {
  const date = toDate(value);
  return date ? dateTime.format(date) : "—";
}

/** The time for today's rows, the date and time for older ones (a log table's first column). */
export function timeOnly(value) {
  const date = toDate(value);
  if (!date) return "—";
  const today = new Date();
  const sameDay = date.getDate() === today.getDate() && date.getMonth() === today.getMonth() && date.getFullYear() === today.getFullYear();
  return sameDay ? clock.format(date) : `${monthDay.format(date)} ${clock.format(date)}`;
}

export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "in 3 h", "in 12 days": when a budget or a rate-limit window resets. */
export function until(value) {
  const date = toDate(value);
  if (!date) return "—";
  const seconds = (date.getTime() - Date.now()) / 1000;
  if (seconds <= 0) return "now";
  const units = [[86400, "day"], [3600, "h"], [60, "min"], [1, "s"]];
  for (const [size, name] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `in ${n} ${name}${name === "day" && n > 1 ? "s" : ""}`;
    }
  }
  return "now";
}

/** A local <input type="datetime-local"> value <-> epoch seconds. */
export function localInputToEpoch(text) {
  if (!text) return "";
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? "" : Math.floor(date.getTime() / 1000);
}
