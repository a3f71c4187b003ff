"""Redact secrets from prompts before they reach any provider (an example bifrost-py plugin)."""

from __future__ import annotations

import re
from typing import Any

from bifrost_py import Call, StashKey, hookimpl

PLUGIN_NAME = "redact_secrets"

PATTERNS = {
    "aws-access-key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "api-key": re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}\b"),
    "github-token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "private-key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
}
REDACTED = StashKey[int]("redacted_secrets")


class RedactSecrets:
    """Rewrites the request body in `request_start`, so every attempt (fallbacks included) and
    every later plugin (cache keys, logged bodies) only ever sees the redacted text."""

    def __init__(self) -> None:
        self.replacement: str | None = None

    @hookimpl
    def bifrost_configure(self, gateway: Any) -> None:
        section = gateway.plugin_section("redact_secrets")
        self.replacement = section.str("replacement", None)
        section.done()

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        if call.body is None:
            return None
        count = 0

        def redact(text: str) -> str:
            nonlocal count
            for kind, pattern in PATTERNS.items():
                text, found = pattern.subn(self.replacement or f"[REDACTED:{kind}]", text)
                count += found
            return text

        body = _map_text(call.body, redact)
        if count:
            call.replace_body(body)
            call.response_headers["x-redacted-secrets"] = str(count)
        call.stash[REDACTED] = count
        return None


def _map_text(value: Any, change: Any) -> Any:
    """`value` with `change` applied to every prompt text: message contents and system, in
    both dialects (strings, and the `text` of content blocks)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_text(item, change) for item in value]
    if isinstance(value, dict):
        out = dict(value)
        for key in ("system", "messages", "content", "text"):
            if key in out:
                out[key] = _map_text(out[key], change)
        return out
    return value


def bifrost_plugin(gateway: Any) -> RedactSecrets:
    return RedactSecrets()
