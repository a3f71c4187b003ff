// People: who can sign in to this gateway and with what role (admins only), and, for everyone,
// their own account: password and named API tokens for scripts.

import { api, session } from "../api.js";
import { copyable, emptyState, field, fill, h, openDialog, select } from "../dom.js";
import { when } from "./audit.js";

export const ROLES = [
  ["admin", "Admin — everything"],
  ["finance", "Finance — dashboards, logs without bodies, reports, exports"],
  ["team_manager", "Team manager — the keys of their teams, within the team's cap"],
  ["viewer", "Viewer — read only"],
];
const ROLE_NAMES = Object.fromEntries(ROLES.map(([id, text]) => [id, text.split(" — ")[0]]));

export async function render(main) {
  main.append(h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, "People"),
      h("p", {}, "Who can sign in to this gateway, and what each role may do. Every change here is in the audit log."))));
  const page = new PeoplePage(main);
  await page.load();
  return null;
}

class PeoplePage {
  constructor(main) {
    this.message = h("div", { role: "status", "aria-live": "polite" });
    this.body = h("div", { id: "people" });
    main.append(h("div", { class: "toolbar" },
      h("button", { type: "button", class: "primary", onclick: () => this.edit(null) }, "New person")), this.message, this.body);
  }

  async load() {
    this.users = (await api("GET", "/users")).users;
    if (!this.users.length) {
      fill(this.body, emptyState("Nobody has an account yet.", "Add the people who use this gateway with “New person”: a finance lead, team managers, viewers."));
      return;
    }
    fill(this.body, h("div", { class: "table-wrap" }, h("table", { id: "table-people" },
      h("caption", { class: "visually-hidden" }, "People"),
      h("thead", {}, h("tr", {}, ["Name", "Role", "Teams", "Sign-in", "Added", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, this.users.map((user) => h("tr", { "data-name": user.username },
        h("th", { scope: "row" }, user.username, session.me && session.me.username === user.username ? h("span", { class: "badge accent" }, "you") : null),
        h("td", {}, ROLE_NAMES[user.role] || user.role),
        h("td", {}, user.teams.length ? user.teams.join(", ") : h("span", { class: "hint" }, "—")),
        h("td", {}, user.source === "sso" ? "single sign-on" : "password"),
        h("td", {}, when(user.created_at)),
        h("td", {}, h("div", { class: "toolbar" },
          h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${user.username}`, onclick: () => this.edit(user) }, "Edit"),
          h("button", { type: "button", class: "danger small", "aria-label": `Remove ${user.username}`, onclick: () => this.remove(user) }, "Remove")))))))));
  }

  edit(user) {
    const username = h("input", { name: "username", required: true, autocomplete: "off", spellcheck: "false", value: user ? user.username : "", disabled: Boolean(user) });
    const role = select({ name: "role" }, ROLES, user ? user.role : "viewer");
    const teams = h("input", { name: "teams", autocomplete: "off", value: user ? user.teams.join(", ") : "" });
    const password = h("input", { name: "password", type: "password", autocomplete: "new-password", required: !user, minlength: 8 });
    const teamsField = field("Teams they manage", teams, "Team names, separated by commas.");
    const showTeams = () => { teamsField.hidden = role.value !== "team_manager"; };
    role.addEventListener("change", showTeams);
    showTeams();
    const alert = h("div", { class: "alert error", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "primary" }, user ? "Save" : "Add person");
    const form = h("form", { class: "form-grid-wrap" }, alert,
      h("div", { class: "form-grid" }, field("User name", username), field("Role", role), teamsField,
        field(user ? "New password (leave empty to keep)" : "Password", password, "At least 8 characters.")),
      h("div", { class: "form-actions" }, save));
    const dialog = openDialog(user ? `Edit ${user.username}` : "New person", form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { role: role.value, teams: role.value === "team_manager" ? teams.value.split(",").map((t) => t.trim()).filter(Boolean) : [] };
      if (password.value) body.password = password.value;
      save.disabled = true;
      try {
        if (user) await api("PATCH", `/users/${encodeURIComponent(user.username)}`, { body });
        else await api("POST", "/users", { body: { ...body, username: username.value.trim() } });
        dialog.close();
        await this.load();
        this.say(user ? `Saved ${user.username}.` : `Added ${username.value.trim()}. They can sign in now.`);
      } catch (error) {
        alert.hidden = false;
        alert.textContent = error.message;
        save.disabled = false;
      }
    });
  }

  remove(user) {
    const yes = h("button", { type: "button", class: "danger" }, `Remove ${user.username}`);
    const no = h("button", { type: "button", class: "secondary" }, "Cancel");
    const dialog = openDialog(`Remove ${user.username}?`, h("div", {},
      h("p", {}, "They are signed out at once and their API tokens stop working."), h("div", { class: "form-actions" }, no, yes)));
    no.addEventListener("click", () => dialog.close());
    yes.addEventListener("click", async () => {
      dialog.close();
      try {
        await api("DELETE", `/users/${encodeURIComponent(user.username)}`);
        await this.load();
        this.say(`Removed ${user.username}.`);
      } catch (error) {
        this.say(error.message, "error");
      }
    });
  }

  say(text, tone = "info") {
    fill(this.message, h("p", { class: `alert ${tone}` }, text));
  }
}
