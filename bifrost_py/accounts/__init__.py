"""People: accounts, roles, sessions, API tokens, single sign-on and the audit log.

    roles.py      the roles, the access classes admin routes declare, the Principal
    passwords.py  Argon2id password hashing, off the event loop
    store.py      users, sessions and API tokens in the gateway's database
    lockout.py    lock-out after repeated failed sign-ins, per account and per address
    service.py    Accounts: who a request is (token, API token, session cookie), CSRF, sign-in
    audit.py      the audit log: who changed what, when, before and after, secrets masked
    settings.py   the `accounts:` config section
    api.py        the admin routes: /api/login, /logout, /me, /setup, /users, /tokens, /audit
    oidc.py       single sign-on with any OpenID Connect provider (/api/oidc/login, /callback)

The admin guard (bifrost_py/admin/guard.py) is where every admin request meets these.
"""

from .roles import ADMIN, FINANCE, ROLE_NAMES, TEAM_MANAGER, VIEWER, Principal

__all__ = ["ADMIN", "FINANCE", "ROLE_NAMES", "TEAM_MANAGER", "VIEWER", "Principal"]
