"""The `accounts:` config section: defaults, every knob, and problems named with their path."""

from __future__ import annotations

import pytest

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError


def test_defaults_need_no_section() -> None:
    settings = config_from_dict({}).accounts
    assert settings.session_ttl == 12 * 3600 and settings.lockout_attempts == 5 and settings.oidc is None


def test_every_knob_is_read() -> None:
    settings = config_from_dict({"accounts": {
        "session_ttl": "1h", "lockout": {"attempts": 3, "window": "5m"},
        "oidc": {"issuer": "https://login.example.com/", "client_id": "bifrost", "client_secret": "s",
                 "roles": {"gateway-admins": "admin", "money": "finance"}, "default_role": "viewer",
                 "teams_claim": "teams", "username_claim": "preferred_username", "label": "Okta"}}}).accounts
    assert (settings.session_ttl, settings.lockout_attempts, settings.lockout_window) == (3600, 3, 300)
    assert settings.oidc is not None and settings.oidc.issuer == "https://login.example.com"
    assert settings.oidc.roles == {"gateway-admins": "admin", "money": "finance"}
    assert settings.oidc.default_role == "viewer" and settings.oidc.label == "Okta"


@pytest.mark.parametrize(("section", "problem"), [
    ({"lockout": {"attempts": 0}}, "accounts.lockout.attempts"),
    ({"sesion_ttl": "1h"}, "accounts.sesion_ttl: unknown key"),
    ({"oidc": {"client_id": "x"}}, "accounts.oidc.issuer: is required"),
    ({"oidc": {"issuer": "x", "client_id": "y", "roles": {"g": "boss"}}}, "accounts.oidc.roles.g"),
    ({"oidc": {"issuer": "x", "client_id": "y", "scopes": ["email"]}}, "accounts.oidc.scopes: must include openid"),
])
def test_problems_name_their_path(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"accounts": section})
    assert problem in str(caught.value)
