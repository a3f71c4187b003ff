// The one-time set-up link (`/ui/setup?token=...`, printed by `bifrost-py serve` on a first
// start): create the admin account. The gateway signs the new admin in at once.

import { api } from "../api.js";
import { h } from "../dom.js";

export function renderSetup(main, setupToken, open, done) {
  const username = h("input", { id: "setup-username", name: "username", type: "text", autocomplete: "username", required: true, spellcheck: "false", value: "admin" });
  const password = h("input", { id: "setup-password", name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 8, "aria-describedby": "setup-password-hint" });
  const again = h("input", { id: "setup-again", name: "again", type: "password", autocomplete: "new-password", required: true });
  const alert = h("div", { class: "alert", role: "alert", hidden: true });
  const button = h("button", { type: "submit", class: "primary" }, "Create the admin account");
  const form = h("form", { class: "signin card", "aria-labelledby": "setup-title" },
    h("h1", { id: "setup-title" }, "Set up bifrost-py"),
    h("p", {}, "Create the first account. It is an admin: it can add providers, keys, and the other people who use this gateway."),
    alert,
    h("div", { class: "field" }, h("label", { for: "setup-username" }, "User name"), username),
    h("div", { class: "field" }, h("label", { for: "setup-password" }, "Password"), password,
      h("small", { id: "setup-password-hint", class: "hint" }, "At least 8 characters.")),
    h("div", { class: "field" }, h("label", { for: "setup-again" }, "Password again"), again),
    button);
  if (!open || !setupToken) {
    alert.hidden = false;
    alert.className = "alert info";
    alert.setAttribute("role", "status");
    alert.textContent = "Set-up is done on this gateway (or this link is not the one it printed). Sign in instead.";
    button.disabled = true;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (password.value !== again.value) {
      show(alert, "The two passwords differ.");
      again.setAttribute("aria-invalid", "true");
      again.focus();
      return;
    }
    button.disabled = true;
    try {
      const answer = await api("POST", "/setup", { body: { token: setupToken, username: username.value.trim(), password: password.value } });
      done(answer);
    } catch (error) {
      show(alert, error.message);
      button.disabled = false;
    }
  });
  main.append(h("div", { class: "signin-wrap" }, form));
  (button.disabled ? form : password).focus();
}

function show(alert, text) {
  alert.hidden = false;
  alert.className = "alert error";
  alert.setAttribute("role", "alert");
  alert.textContent = text;
}
