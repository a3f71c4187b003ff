// Your account: who you are signed in as, your password, and your named API tokens (for
// scripts and reports: each acts with your role, is shown once, and can be revoked).

import { api, session } from "../api.js";
import { copyable, emptyState, field, fill, h, openDialog } from "../dom.js";
import { when } from "./audit.js";

export async function render(main) {
  const me = await api("GET", "/me");
  main.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "Your account"),
      h("p", {}, `Signed in as ${me.username} (${me.role.replace("_", " ")})${me.teams.length ? `, managing ${me.teams.join(", ")}` : ""}.`))));
  const message = h("div", { role: "status", "aria-live": "polite" });
  const tokens = h("div", { id: "tokens" });
  main.append(message);
  const say = (text, tone = "info") => fill(message, h("p", { class: `alert ${tone}` }, text));
  if (me.via === "token") {
    main.append(emptyState("You are signed in with the gateway's admin token.",
      "It belongs to no person: sign in with an account to keep API tokens of your own."));
    return null;
  }
  const load = async () => {
    const list = (await api("GET", "/tokens")).tokens;
    fill(tokens, list.length ? h("div", { class: "table-wrap" }, h("table", { id: "table-tokens" },
      h("caption", { class: "visually-hidden" }, "Your API tokens"),
      h("thead", {}, h("tr", {}, ["Name", "Ends with", "Created", "Last used", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, list.map((t) => h("tr", { "data-name": t.name },
        h("th", { scope: "row" }, t.name), h("td", { class: "mono" }, t.hint), h("td", {}, when(t.created_at)),
        h("td", {}, t.last_used ? when(t.last_used) : h("span", { class: "hint" }, "never")),
        h("td", {}, h("button", { type: "button", class: "danger small", "aria-label": `Revoke token ${t.name}`, onclick: async () => {
          try {
            await api("DELETE", `/tokens/${encodeURIComponent(t.id)}`);
            await load();
            say(`Revoked ${t.name}: it stops working at once.`);
          } catch (error) { say(error.message, "error"); }
        } }, "Revoke")))))))
      : emptyState("No API tokens yet.", "Make one for a script: it sends it as Authorization: Bearer <token> and acts with your role."));
  };
  const name = h("input", { name: "token-name", autocomplete: "off", required: true, maxlength: 100 });
  const create = h("form", { class: "toolbar" }, field("New token's name", name), h("button", { type: "submit", class: "primary" }, "Create token"));
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await api("POST", "/tokens", { body: { name: name.value.trim() } });
      name.value = "";
      await load();
      openDialog(`API token ${made.name}`, h("div", { id: "new-token" },
        h("p", { class: "alert warn" }, "Copy it now: it is shown only this once. The gateway keeps only its SHA-256."),
        copyable(made.token, "the API token")));
    } catch (error) { say(error.message, "error"); }
  });
  main.append(h("section", { class: "section", "aria-labelledby": "tokens-title" }, h("h2", { id: "tokens-title" }, "API tokens"), create, tokens));
  main.append(passwordForm(say));
  await load();
  return null;
}

function passwordForm(say) {
  const current = h("input", { type: "password", autocomplete: "current-password", required: true });
  const next = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const form = h("form", { class: "section card", "aria-labelledby": "password-title" }, h("h2", { id: "password-title" }, "Password"),
    h("div", { class: "form-grid" }, field("Current password", current), field("New password", next, "At least 8 characters.")),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "secondary" }, "Change password")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/me/password", { body: { current: current.value, password: next.value } });
      current.value = next.value = "";
      say("Password changed. Your other sessions are signed out.");
    } catch (error) { say(error.message, "error"); }
  });
  return session.me && session.me.via === "sso" ? null : form;
}
