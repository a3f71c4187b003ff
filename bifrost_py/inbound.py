"""A client's HTTP request turned into a Call: the body read once, the fields the gateway itself
reads type-checked, the header values it keeps made safe to store and forward.

Nothing here raises: a request the gateway cannot take becomes a Call carrying its error (a 400
or 413 naming the field), so that it is answered, and logged, like every other.
"""

from __future__ import annotations

import os
import re
from typing import Any

import orjson
from aiohttp import web

from .context import ANTHROPIC, COUNT_TOKENS, EMBEDDINGS, MESSAGES, OPENAI, RESPONSES, Call
from .dialects.gemini import GEMINI
from .dialects.responses_inbound import responses_problem, responses_session
from .errors import InvalidRequest, RequestTooLarge
from .limits import kept, model_problem, valid_headers

MAX_TOKENS_LIMIT = 2**31 - 1
_SESSION_IN_USER_ID = re.compile(r"session_([0-9a-fA-F-]{8,})")
_CLIENT_APP_CHARS = 100


def new_call(request: web.Request, dialect: str, endpoint: str) -> Call:
    """A Call for `request` before its body is read: id, headers, credential, client."""
    headers = valid_headers(request.headers)
    return Call(
        request_id="req_" + os.urandom(12).hex(),
        dialect=dialect,
        endpoint=endpoint,
        headers=headers,
        query_string=request.query_string,
        credential=credential(headers) or (headers.get("x-goog-api-key") if dialect == GEMINI else None),
        client_app=client_app(headers.get("user-agent")),
    )


async def read_call(request: web.Request, dialect: str, endpoint: str, max_body_mb: float) -> Call:
    """The Call for a model endpoint, its body parsed and checked; `call.error` when it cannot
    be served as sent."""
    call = new_call(request, dialect, endpoint)
    try:
        call.raw_body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        call.error = RequestTooLarge(f"request body is larger than the gateway's limit of {max_body_mb:g} MB")
        return call
    except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not
        call.error = InvalidRequest(f"request body could not be read: {exc}")
        return call
    try:
        body = orjson.loads(call.raw_body)
    except orjson.JSONDecodeError as exc:
        call.error = InvalidRequest(f"request body is not valid JSON: {exc}")
        return call
    problem = problem_of(body, dialect, endpoint)
    if problem:
        call.error = InvalidRequest(problem)
        return call
    call.body = body
    call.model = body["model"]
    call.stream = body.get("stream") is True and endpoint == MESSAGES
    call.session_id = kept(responses_session(call.headers, body)) if dialect == RESPONSES else session_id(call.headers, body)
    return call


def problem_of(body: Any, dialect: str, endpoint: str) -> str | None:
    """Type checks of the fields the gateway itself reads; everything else passes untouched
    (clients add fields faster than any gateway learns them)."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    problem = model_problem(body.get("model"))
    if problem:
        return problem
    if dialect == RESPONSES:
        return responses_problem(body)
    if endpoint in (MESSAGES, COUNT_TOKENS):
        if not isinstance(body.get("messages"), list):
            return "messages: field required (a list)"
        if "stream" in body and not isinstance(body["stream"], bool):
            return "stream: must be true or false"
        for name in ("max_tokens", "max_completion_tokens"):
            if body.get(name) is not None and not _is_token_count(body[name]):
                return f"{name}: must be a positive whole number below 2^31"
        if dialect == ANTHROPIC and endpoint == MESSAGES and body.get("max_tokens") is None:
            return "max_tokens: field required"
        if dialect == OPENAI:
            return _stream_options_problem(body.get("stream_options"))
    if endpoint == EMBEDDINGS and not isinstance(body.get("input"), (str, list)):
        return "input: field required (a string or a list)"
    return None


def _is_token_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_TOKENS_LIMIT


def _stream_options_problem(options: object) -> str | None:
    if options is None:
        return None
    if not isinstance(options, dict):
        return "stream_options: must be an object"
    if "include_usage" in options and not isinstance(options["include_usage"], bool | None):
        return "stream_options.include_usage: must be true or false"
    return None


def credential(headers: Any) -> str | None:
    """The caller's key: x-bf-vk, then x-api-key, then Authorization: Bearer (CONTRACT.md)."""
    value = headers.get("x-bf-vk") or headers.get("x-api-key")
    if value:
        return str(value)
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return str(auth[7:].strip()) or None
    return None


def client_app(user_agent: str | None) -> str | None:
    """The client's name and version from its user agent (`claude-cli/2.1.3`)."""
    return kept(user_agent.split(" ", 1)[0], _CLIENT_APP_CHARS) if user_agent else None


def session_id(headers: Any, body: dict[str, Any]) -> str | None:
    """Claude Code's session: its header, else the session_id inside metadata.user_id (a JSON
    string in Claude Code 2.x, `user_..._session_<uuid>` before), else x-bf-session-id."""
    session = headers.get("x-claude-code-session-id")
    if session:
        return kept(session)
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        if user_id.startswith("{"):
            try:
                parsed = orjson.loads(user_id)
            except orjson.JSONDecodeError:
                parsed = None
            found = parsed.get("session_id") if isinstance(parsed, dict) else None
            if isinstance(found, str | int) and not isinstance(found, bool) and str(found):
                return kept(str(found))
        match = _SESSION_IN_USER_ID.search(user_id)
        if match:
            return kept(match.group(1))
    return kept(headers.get("x-bf-session-id")) or None
