// Start-up and navigation: sign-in gate (a person's session cookie, or a token), the one-time
// set-up page (/ui/setup?token=...), hash routes (#/logs, #/access/teams, ...), one view
// module per page. A view's render(main, parts) may return a function that stops its timers and
// live streams when the user leaves the page.

import { api, onUnauthorised, session, token } from "./api.js";
import { setCurrency } from "./format.js";
import { renderSignIn } from "./views/signin.js";
import { renderSetup } from "./views/setup.js";
import * as people from "./views/users.js";
import * as audit from "./views/audit.js";
import * as account from "./views/account.js";
import * as dashboard from "./views/dashboard.js";
import * as logs from "./views/logs.js";
import * as access from "./views/access.js";
import * as providers from "./views/providers.js";
import * as routing from "./views/routing.js";
import * as alerts from "./views/alerts.js";

const VIEWS = { dashboard, logs, access, providers, routing, alerts, people, audit, account };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signout = document.getElementById("signout");
const currencyBadge = document.getElementById("currency");
const accountLink = document.getElementById("account");
let leave = null;
let settings = null;
let visits = 0;
let auth = null;  // GET /api/auth: set-up open, single sign-on, this browser's session

async function route() {
  if (leave) { leave(); leave = null; }
  if (location.pathname === "/ui/setup") return showSetup();
  if (!token.get() && !session.me) {
    try {
      auth = auth || await api("GET", "/auth", { tokenOverride: "" });
    } catch (error) {
      return showSignIn(`Could not reach the admin API: ${error.message}`);
    }
    if (!auth.me) return showSignIn();
    session.set(auth.me, auth.me.csrf);
  }
  if (!settings) {
    try {
      if (!session.me) session.set(await api("GET", "/me"), "");  // a token's role
      settings = await api("GET", "/settings");
    } catch (error) {
      // A refused token is handled by onUnauthorised below; anything else is said here.
      if (error.status !== 401) showSignIn(`Could not reach the admin API: ${error.message}`);
      return;
    }
    setCurrency(settings.currency);
  }
  showChrome(true);
  const [path, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name = "dashboard", ...parts] = path.split("/").filter(Boolean);
  const view = VIEWS[name] || dashboard;
  markCurrent(VIEWS[name] ? name : "dashboard");
  // Each visit renders into its own element: if the user moves on before a slow page finished
  // loading, that page keeps writing into a detached element and is stopped once it returns.
  const page = document.createElement("div");
  const visit = ++visits;
  main.replaceChildren(page);
  let stop = null;
  try {
    stop = (await view.render(page, parts.map(decodeURIComponent), settings, new URLSearchParams(search))) || null;
  } catch (error) {
    page.replaceChildren(errorBox(error));
  }
  if (visit !== visits) {
    if (stop) stop();
    return;
  }
  leave = stop;
  // Move focus to the page heading so screen readers announce the new page.
  const heading = page.querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

function showSignIn(message, kind = "error") {
  visits++;  // a page still loading must not take over once it returns
  settings = null;
  showChrome(false);
  main.replaceChildren();
  renderSignIn(main, { message, kind, sso: auth && auth.sso }, async (credentials) => {
    if (credentials.token) {
      const found = await api("GET", "/settings", { tokenOverride: credentials.token });
      token.set(credentials.token);
      session.set(await api("GET", "/me"), "");
      settings = found;
    } else {
      const answer = await api("POST", "/login", { body: credentials, tokenOverride: "" });
      session.set({ ...answer.user, via: "session" }, answer.csrf);
      session.set(await api("GET", "/me"), answer.csrf);
      settings = await api("GET", "/settings");
    }
    setCurrency(settings.currency);
    if (!location.hash || location.hash === "#/signin") location.hash = "#/dashboard";
    else route();
  });
}

function showSetup() {
  visits++;
  showChrome(false);
  main.replaceChildren();
  const setupToken = new URLSearchParams(location.search).get("token") || "";
  api("GET", "/auth", { tokenOverride: "" }).then((found) => {
    renderSetup(main, setupToken, found.setup_open, async (answer) => {
      session.set({ ...answer.user, via: "session" }, answer.csrf);
      session.set(await api("GET", "/me"), answer.csrf);
      // Leave the set-up address (its token is spent) for the page where a provider is added.
      history.replaceState(null, "", "/#/providers");
      route();
    });
  }, (error) => showSignIn(`Could not reach the admin API: ${error.message}`));
}

function showChrome(signedIn) {
  nav.hidden = !signedIn;
  signout.hidden = !signedIn;
  currencyBadge.hidden = !signedIn;
  const may = new Set((session.me && session.me.may) || []);
  for (const link of nav.querySelectorAll("a[data-needs]")) link.parentElement.hidden = !may.has(link.dataset.needs);
  if (accountLink) {
    accountLink.hidden = !signedIn || !session.me;
    accountLink.textContent = session.me ? session.me.username : "";
  }
  if (signedIn && settings) {
    currencyBadge.textContent = settings.currency.code;
    currencyBadge.title = `Amounts are shown in ${settings.currency.code}`;
  }
}

function markCurrent(name) {
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function errorBox(error) {
  const box = document.createElement("div");
  box.className = "alert error";
  box.setAttribute("role", "alert");
  box.textContent = `Could not load this page: ${error.message}`;
  return box;
}

signout.addEventListener("click", async () => {
  const byToken = Boolean(token.get());
  if (!byToken && session.me) await api("POST", "/logout").catch(() => {});
  token.clear();
  session.clear();
  auth = null;
  settings = null;
  if (leave) { leave(); leave = null; }
  showSignIn(byToken ? "You are signed out. The token was removed from this browser tab." : "You are signed out.", "info");
});

onUnauthorised((message) => {
  const byToken = Boolean(token.get());
  token.clear();
  session.clear();
  auth = null;
  if (leave) { leave(); leave = null; }
  showSignIn(byToken ? `The admin token was refused (${message}). Sign in again with the current token.`
    : `Your session has ended (${message}). Sign in again.`);
});

window.addEventListener("hashchange", route);
route();
