// Sign-in with the admin token. It is checked against /api/settings before it is kept, so a
// wrong token gets a clear message here instead of failing pages later.

import { h } from "../dom.js";

export function renderSignIn(main, { message, kind }, submit) {
  const input = h("input", {
    id: "admin-token", name: "token", type: "password", required: true, autocomplete: "current-password",
    spellcheck: "false", "aria-describedby": "token-help",
  });
  const alert = h("div", { id: "signin-message", class: message ? `alert ${kind}` : "alert", role: kind === "error" ? "alert" : "status", hidden: !message }, message || "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "signin card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", { id: "token-help" },
      "Enter the gateway's admin token: the ", h("code", {}, "admin.token"), " value of its config file (often set from ",
      h("code", {}, "BIFROST_ADMIN_TOKEN"), "). ", h("code", {}, "bifrost-py demo"), " prints its token when it starts."),
    alert,
    // Password managers and screen readers expect a user name beside a password field.
    h("input", { type: "text", name: "username", autocomplete: "username", value: "admin", hidden: true, "aria-hidden": "true", tabindex: "-1" }),
    h("div", { class: "field" }, h("label", { for: "admin-token" }, "Admin token"), input),
    button,
    h("p", { class: "hint" }, "The token is kept in this browser tab only and is forgotten when the tab closes."));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    button.textContent = "Checking…";
    try {
      await submit(input.value.trim());
    } catch (error) {
      alert.hidden = false;
      alert.className = "alert error";
      alert.setAttribute("role", "alert");
      alert.textContent = describe(error);
      input.setAttribute("aria-invalid", "true");
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = "Sign in";
    }
  });
  main.append(h("div", { class: "signin-wrap" }, form));
  input.focus();
}

function describe(error) {
  if (error.status === 401) return "That admin token is not right. Check admin.token in the gateway's config and try again.";
  if (error.status === 403) return `The admin API is switched off on this gateway: ${error.message}`;
  return error.message;
}
