// Start-up and navigation: sign-in gate, hash routes (#/logs, #/access/teams, ...), one view
// module per page. A view's render(main, parts) may return a function that stops its timers and
// live streams when the user leaves the page.

import { api, onUnauthorised, token } from "./api.js";
import { setCurrency } from "./format.js";
import { renderSignIn } from "./views/signin.js";
import * as dashboard from "./views/dashboard.js";
import * as logs from "./views/logs.js";
import * as access from "./views/access.js";
import * as providers from "./views/providers.js";

const VIEWS = { dashboard, logs, access, providers };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signout = document.getElementById("signout");
const currencyBadge = document.getElementById("currency");
let leave = null;
let settings = null;
let visits = 0;

async function route() {
  if (leave) { leave(); leave = null; }
  if (!token.get()) return showSignIn();
  if (!settings) {
    try {
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
  renderSignIn(main, { message, kind }, async (value) => {
    const found = await api("GET", "/settings", { tokenOverride: value });
    token.set(value);
    settings = found;
    setCurrency(settings.currency);
    if (!location.hash || location.hash === "#/signin") location.hash = "#/dashboard";
    else route();
  });
}

function showChrome(signedIn) {
  nav.hidden = !signedIn;
  signout.hidden = !signedIn;
  currencyBadge.hidden = !signedIn;
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

signout.addEventListener("click", () => {
  token.clear();
  settings = null;
  if (leave) { leave(); leave = null; }
  showSignIn("You are signed out. The token was removed from this browser tab.", "info");
});

onUnauthorised((message) => {
  token.clear();
  if (leave) { leave(); leave = null; }
  showSignIn(`The admin token was refused (${message}). Sign in again with the current token.`);
});

window.addEventListener("hashchange", route);
route();
