"""The `accounts:` section of the config: sessions, lock-out and optional single sign-on.

```yaml
accounts:
  session_ttl: 12h                    # a browser session ends this long after sign-in
  lockout: {attempts: 5, window: 15m} # failures per account and per address before a lock
  oidc:                               # optional: sign in with any OpenID Connect provider
    issuer: https://login.example.com # its discovery document is ISSUER/.well-known/openid-configuration
    client_id: bifrost
    client_secret: ${OIDC_CLIENT_SECRET}
    scopes: [openid, email, profile]
    username_claim: email
    role_claim: groups                # a string or a list of strings in the ID token
    roles: {gateway-admins: admin, finance: finance, leads: team_manager}
    default_role: viewer              # or "none": people without a mapped claim may not sign in
    teams_claim: teams                # optional: a team manager's teams
    label: Okta                       # the sign-in button says "Continue with Okta"
    redirect_url: https://gw.example.com/api/oidc/callback   # only behind a proxy that hides it
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..configschema import Section
from .roles import ROLE_NAMES


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str = ""
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    username_claim: str = "email"
    role_claim: str = "groups"
    roles: dict[str, str] = field(default_factory=dict)
    default_role: str = "none"
    teams_claim: str = ""
    label: str = "Single sign-on"
    redirect_url: str = ""   # behind a proxy: https://gateway.example.com/api/oidc/callback


@dataclass(frozen=True, slots=True)
class AccountSettings:
    session_ttl: float = 12 * 3600.0
    lockout_attempts: int = 5
    lockout_window: float = 900.0
    oidc: OidcSettings | None = None


def read_account_settings(section: Section | None) -> AccountSettings:
    """The settings of `section` (None: all defaults); problems are recorded with their path."""
    if section is None:
        return AccountSettings()
    settings = AccountSettings(session_ttl=section.duration("session_ttl", 12 * 3600.0))
    lockout = section.section("lockout")
    if lockout is not None:
        settings = AccountSettings(session_ttl=settings.session_ttl,
                                   lockout_attempts=lockout.int("attempts", 5, minimum=1),
                                   lockout_window=lockout.duration("window", 900.0))
        lockout.done()
    oidc = section.section("oidc")
    if oidc is not None:
        settings = AccountSettings(settings.session_ttl, settings.lockout_attempts, settings.lockout_window,
                                   _read_oidc(oidc))
        oidc.done()
    section.done()
    return settings


def _read_oidc(section: Section) -> OidcSettings:
    roles: dict[str, str] = {}
    mapping = section.section("roles")
    if mapping is not None:
        for claim in mapping:
            roles[claim] = mapping.str(claim, choices=ROLE_NAMES)
        mapping.done()
    scopes = section.str_list("scopes", ["openid", "email", "profile"])
    if "openid" not in scopes:
        section.error("scopes", "must include openid")
    return OidcSettings(
        issuer=(section.str("issuer") or "").rstrip("/"), client_id=section.str("client_id") or "",
        client_secret=section.str("client_secret", ""), scopes=tuple(scopes),
        username_claim=section.str("username_claim", "email"), role_claim=section.str("role_claim", "groups"),
        roles=roles, default_role=section.str("default_role", "none", choices=(*ROLE_NAMES, "none")),
        teams_claim=section.str("teams_claim", ""), label=section.str("label", "Single sign-on"),
        redirect_url=section.str("redirect_url", ""))
