"""What the gateway checks and reads of a Responses API request before serving it.

The gateway is stateless: it keeps no responses, so a `previous_response_id` (which asks the
server to supply the conversation so far) is refused with a 400 that says so, and `store` is
ignored. Codex CLI sends the whole conversation each turn (`store: false`), so it needs nothing
kept. Its session is the `session-id` header, else `prompt_cache_key` (Codex sets both to the
session id), else `client_metadata.session_id`, else the gateway's own `x-bf-session-id`.
"""

from __future__ import annotations

from typing import Any

STATELESS = (
    "previous_response_id: not supported: this gateway keeps no responses (store is ignored); "
    "send the whole conversation in `input`"
)


def responses_problem(body: dict[str, Any]) -> str | None:
    """The first field of a Responses request the gateway cannot take as sent, as a message."""
    if body.get("previous_response_id") is not None:
        return STATELESS
    if body.get("conversation") is not None:
        return "conversation: not supported: this gateway keeps no conversations; send the whole conversation in `input`"
    if body.get("background") is True:
        return "background: not supported: this gateway keeps no responses to poll"
    if not isinstance(body.get("input"), str | list):
        return "input: field required (a string or a list of items)"
    if "stream" in body and not isinstance(body["stream"], bool):
        return "stream: must be true or false"
    limit = body.get("max_output_tokens")
    if limit is not None and not (type(limit) is int and 1 <= limit <= 2**31 - 1):
        return "max_output_tokens: must be a positive whole number below 2^31"
    return None


def responses_session(headers: Any, body: dict[str, Any]) -> str | None:
    """The session a Responses call belongs to (unbounded: the caller keeps it short)."""
    session = headers.get("session-id")
    if session:
        return str(session)
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        return key
    metadata = body.get("client_metadata")
    found = metadata.get("session_id") if isinstance(metadata, dict) else None
    if isinstance(found, str) and found:
        return found
    return headers.get("x-bf-session-id") or None
