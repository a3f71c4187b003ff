"""Roles, the access classes admin routes declare, and the principal a request acts as.

Every admin route says what it needs (`AdminRoute.access`); a role is the set of access classes
it holds. The guard (bifrost_py/admin/guard.py) lets a request through only when its principal's
role holds the route's class, so a route that says nothing is a READ when it is a GET and a
WRITE (admin only) otherwise: writes are denied unless a route opens them on purpose.

    read     dashboards, usage, logs without bodies, lists       every role
    export   CSV/JSON exports, reports                           admin, finance
    audit    the audit log                                       admin, finance
    team     writes scoped to a team (the handler checks which)  admin, team_manager
    users    people's accounts and everyone's API tokens         admin
    self     one's own session, password and API tokens          every role
    bodies   request and response bodies in the log              admin
    secrets  reading or changing provider secrets                admin
    write    every other change                                  admin
    public   no sign-in at all (sign-in, set-up)                 anyone
"""

from __future__ import annotations

from dataclasses import dataclass

READ, EXPORT, AUDIT, TEAM, USERS, SELF, BODIES, SECRETS, WRITE, PUBLIC = (
    "read", "export", "audit", "team", "users", "self", "bodies", "secrets", "write", "public")
ACCESS = (READ, EXPORT, AUDIT, TEAM, USERS, SELF, BODIES, SECRETS, WRITE, PUBLIC)

ADMIN, FINANCE, TEAM_MANAGER, VIEWER = "admin", "finance", "team_manager", "viewer"
ROLES: dict[str, frozenset[str]] = {
    ADMIN: frozenset(ACCESS),
    FINANCE: frozenset((READ, EXPORT, AUDIT, SELF, PUBLIC)),
    TEAM_MANAGER: frozenset((READ, TEAM, SELF, PUBLIC)),
    VIEWER: frozenset((READ, SELF, PUBLIC)),
}
ROLE_NAMES = tuple(ROLES)


def default_access(method: str) -> str:
    """What a route needs when it does not say: reading for GET/HEAD, otherwise a write."""
    return READ if method.upper() in ("GET", "HEAD") else WRITE


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as. `via`: "token" (the config's admin token), "api-token" (a
    user's named token), "session" (a signed-in browser) or "sso" (a session from single
    sign-on). `teams` are the teams a team manager manages."""

    name: str
    role: str
    via: str
    teams: tuple[str, ...] = ()
    session: str = ""      # the session id's hash, for sign-out
    csrf: str = ""         # the session's CSRF token (cookie sessions only)

    def may(self, access: str) -> bool:
        return access in ROLES.get(self.role, frozenset())

    @property
    def scoped(self) -> bool:
        """This principal sees only its own teams: their keys, their usage, their log rows (a
        team manager). Everyone else reads the whole gateway (what they may read: `may`)."""
        return self.role == TEAM_MANAGER

    def sees(self, team: str | None) -> bool:
        """A row, key or figure of `team` is shown to this principal."""
        return not self.scoped or (team is not None and team in self.teams)

    def manages(self, team: str | None) -> bool:
        """This principal may change `team`'s keys: an admin any team, a team manager its own."""
        if self.role == ADMIN:
            return True
        return self.role == TEAM_MANAGER and team is not None and team in self.teams

    def describe(self) -> dict[str, object]:
        return {"username": self.name, "role": self.role, "via": self.via, "teams": list(self.teams),
                "may": sorted(ROLES.get(self.role, ())),
                "scoped": self.scoped}
