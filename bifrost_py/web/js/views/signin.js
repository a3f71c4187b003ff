// Sign-in: a person's user name and password (a session cookie), or a token (the gateway's
// admin token, or a person's API token) for those who run the gateway from a config file.
// Either is checked before it is kept, so a wrong one gets a clear message here instead of
// failing pages later. When single sign-on is configured, its button leads to the provider.

import { h } from "../dom.js";

export function renderSignIn(main, { message, kind, sso }, submit) {
  const username = h("input", { id: "signin-username", name: "username", type: "text", autocomplete: "username", spellcheck: "false" });
  const password = h("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password" });
  const input = h("input", {
    id: "admin-token", name: "token", type: "password", autocomplete: "off",
    spellcheck: "false", "aria-describedby": "token-help",
  });
  const alert = h("div", { id: "signin-message", class: message ? `alert ${kind}` : "alert", role: kind === "error" ? "alert" : "status", hidden: !message }, message || "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "signin card", "aria-labelledby": "signin-title", novalidate: true },
    h("h1", { id: "signin-title" }, "Sign in"),
    alert,
    h("fieldset", { class: "signin-part" }, h("legend", {}, "Your account"),
      h("div", { class: "field" }, h("label", { for: "signin-username" }, "User name"), username),
      h("div", { class: "field" }, h("label", { for: "signin-password" }, "Password"), password)),
    h("fieldset", { class: "signin-part" }, h("legend", {}, "Or a token"),
      h("p", { id: "token-help", class: "hint" },
        "The gateway's admin token (", h("code", {}, "admin.token"), " in its config, often set from ",
        h("code", {}, "BIFROST_ADMIN_TOKEN"), "; ", h("code", {}, "bifrost-py demo"), " prints it) or one of your API tokens."),
      h("div", { class: "field" }, h("label", { for: "admin-token" }, "Admin token or API token"), input)),
    button,
    sso ? h("p", { class: "sso" }, h("a", { class: "button secondary", href: sso.url }, `Continue with ${sso.label}`)) : null,
    h("p", { class: "hint" }, "A token is kept in this browser tab only and is forgotten when the tab closes."));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    const person = username.value.trim();
    if (!token && !(person && password.value)) {
      say(alert, "Enter your user name and password, or a token.");
      (person ? password : username).focus();
      return;
    }
    button.disabled = true;
    button.textContent = "Checking…";
    try {
      await submit(token ? { token } : { username: person, password: password.value });
    } catch (error) {
      const wrong = token ? input : password;
      say(alert, describe(error, Boolean(token)));
      wrong.setAttribute("aria-invalid", "true");
      wrong.select();
    } finally {
      button.disabled = false;
      button.textContent = "Sign in";
    }
  });
  main.append(h("div", { class: "signin-wrap" }, form));
  username.focus();
}

function say(alert, text) {
  alert.hidden = false;
  alert.className = "alert error";
  alert.setAttribute("role", "alert");
  alert.textContent = text;
}

function describe(error, byToken) {
  if (byToken && error.status === 401) return "That admin token is not right. Check admin.token in the gateway's config and try again.";
  if (error.status === 401) return "Wrong user name or password.";
  if (error.status === 429) return `Too many failed sign-ins: ${error.message}`;
  if (error.status === 403) return `The admin API is switched off on this gateway: ${error.message}`;
  return error.message;
}
