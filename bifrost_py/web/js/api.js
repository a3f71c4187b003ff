// The admin API client. Two ways in: a token (the admin token or a person's API token), kept in
// sessionStorage only, so it is gone when the tab closes and no other site can read it; or a
// person's sign-in, an HTTP-only cookie this page cannot read, whose CSRF token the page keeps in
// memory and sends with every change.

const TOKEN = "bifrost.adminToken";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN) || "",
  set: (value) => sessionStorage.setItem(TOKEN, value),
  clear: () => sessionStorage.removeItem(TOKEN),
};

/** The signed-in person (from /api/auth or /api/login): `me` and the session's CSRF token. */
export const session = {
  me: null,
  csrf: "",
  set(me, csrf) { this.me = me; this.csrf = csrf || ""; },
  clear() { this.me = null; this.csrf = ""; },
};

/** The signed-in principal holds access class `access` ("write", "team", "export", ...):
 * GET /api/me's `may`, made from the very table the server's guard checks. The UI hides what
 * would be refused; the server refuses it anyway, and its 403 message is shown if one comes. */
export function may(access) {
  return Boolean(session.me && (session.me.may || []).includes(access));
}

/** May change the virtual keys of `team`: an admin any team, a team manager their own. */
export function managesTeam(team) {
  if (may("write")) return true;
  return may("team") && Boolean(team) && Boolean(session.me && (session.me.teams || []).includes(team));
}

// Views subscribe to learn that the token stopped working (401): main.js shows the sign-in.
const unauthorised = new Set();
export function onUnauthorised(fn) { unauthorised.add(fn); }

/** A query string from an object, leaving out empty values. */
export function query(params = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Call an admin route: `api("GET", "/logs", {params})` -> parsed JSON, or throws ApiError. */
export async function api(method, path, { params, body, tokenOverride } = {}) {
  const response = await send(method, path, { params, body, tokenOverride });
  if (response.status === 204) return null;
  return response.json();
}

async function send(method, path, { params, body, tokenOverride } = {}) {
  const sentWith = tokenOverride ?? token.get();
  const sentSession = sentWith ? "" : session.csrf;
  const headers = {};
  if (sentWith) headers.Authorization = `Bearer ${sentWith}`;
  else if (sentSession && method !== "GET") headers["X-CSRF-Token"] = sentSession;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api${path}${query(params)}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `The gateway did not answer (${error.message}). Is it running?`);
  }
  if (!response.ok) {
    const message = await errorMessage(response);
    // Only the token still in use can stop working: a slow call that left with an older token
    // and is refused after the user signed in again must not sign them out, and a call sent
    // with no token at all (a page still loading after the sign-out) must not show the sign-in
    // again over what the user is typing.
    const current = tokenOverride === undefined
      && (sentWith !== "" ? sentWith === token.get() : sentSession !== "" && sentSession === session.csrf);
    if (response.status === 401 && current) unauthorised.forEach((fn) => fn(message));
    throw new ApiError(response.status, message);
  }
  return response;
}

async function errorMessage(response) {
  try {
    const data = await response.json();
    const error = data.error ?? data;
    return (typeof error === "string" ? error : error.message) || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status} ${response.statusText}`;
  }
}

/** Fetch a file with the token and hand it to the browser as a download. */
export async function download(path, params, filename) {
  const response = await send("GET", path, { params });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return blob.size;
}

/** Server-sent events of an admin route. EventSource cannot send headers, so the token goes in
 * the query string: the core accepts ?token= on routes marked as EventSource routes (the live
 * log) and nowhere else; every other call sends the Authorization header. */
export function events(path, params = {}) {
  // A signed-in browser's cookie goes along by itself; a token must be in the URL.
  return new EventSource(`/api${path}${query({ ...params, token: token.get() || undefined })}`);
}

/** Which admin routes exist (the union of the core's and the plugins'), from /api/openapi.json.
 * The UI hides what a disabled plugin does not serve instead of showing errors. */
let routes = null;
export async function availableRoutes() {
  if (!routes) {
    const response = await fetch("/api/openapi.json", { cache: "no-store" });
    const doc = response.ok ? await response.json() : { paths: {} };
    routes = new Set();
    for (const [path, ops] of Object.entries(doc.paths || {})) {
      for (const method of Object.keys(ops)) routes.add(`${method.toUpperCase()} ${path}`);
    }
  }
  return routes;
}

export async function hasRoute(method, path) {
  return (await availableRoutes()).has(`${method} /api${path}`);
}
