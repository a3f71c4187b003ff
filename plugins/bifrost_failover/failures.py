"""What kind of failure ended an attempt, as far as failover is concerned.

One classification serves both the facts (which key to put aside, what counts against a
target's circuit) and the decision (retry, next target, stop), so the two cannot disagree.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from enum import Enum

from bifrost_py.context import Attempt
from bifrost_py.errors import CredentialsRefused, GatewayError, UpstreamError, UpstreamUnavailable


class Kind(Enum):
    OK = "ok"
    REFUSED_BY_PLUGIN = "refused"        # a plugin's non-final refusal: this target only
    KEY_REFUSED = "key_refused"          # the provider refused the API key (401/403)
    NO_KEY = "no_key"                    # the provider has no usable key left
    RATE_LIMITED = "rate_limited"        # upstream 429 (when 429 is in on_status)
    UNAVAILABLE = "unavailable"          # connection error, timeout, broken stream
    RETRYABLE_STATUS = "status"          # an upstream status listed in on_status
    CONTEXT_WINDOW = "context_window"    # the prompt does not fit this model's window
    FATAL = "fatal"                      # anything else: a client error, an unknown failure
    DISCONNECTED = "disconnected"        # the client went away: nobody's fault upstream


# How providers say "the prompt does not fit": Anthropic, OpenAI, Bedrock, Gemini, vLLM.
CONTEXT_WINDOW = re.compile(
    r"prompt is too long|context[ _]length|context window|maximum context|input is too long"
    r"|too many (input )?tokens|exceeds the maximum number of tokens|input length .* exceeds",
    re.IGNORECASE,
)
CLIENT_ERROR_STATUSES = (400, 413)


def classify(attempt: Attempt, on_status: frozenset[int]) -> Kind:
    """The kind of ending of `attempt` (Kind.OK for a success)."""
    outcome = attempt.outcome
    error = outcome.error
    if error is None:
        return Kind.DISCONNECTED if outcome.client_disconnected and not outcome.completed else Kind.OK
    if outcome.refused_by is not None:
        return Kind.REFUSED_BY_PLUGIN
    return classify_error(error, on_status)


def classify_error(error: GatewayError, on_status: frozenset[int]) -> Kind:
    if isinstance(error, CredentialsRefused):
        return Kind.KEY_REFUSED if getattr(error, "upstream_status", None) else Kind.NO_KEY
    if isinstance(error, UpstreamUnavailable):
        return Kind.UNAVAILABLE
    if isinstance(error, UpstreamError):
        if error.status in CLIENT_ERROR_STATUSES and CONTEXT_WINDOW.search(error.message):
            return Kind.CONTEXT_WINDOW
        if error.status in on_status:
            return Kind.RATE_LIMITED if error.status == 429 else Kind.RETRYABLE_STATUS
    return Kind.FATAL


# Failures that say something about the target's health (they count against its circuit).
HEALTH_FAILURES = frozenset({Kind.RATE_LIMITED, Kind.UNAVAILABLE, Kind.RETRYABLE_STATUS})
# Failures after which the same target may be tried again.
RETRYABLE = HEALTH_FAILURES


def retry_after(error: GatewayError | None, now: float | None = None) -> float | None:
    """The upstream's `retry-after` in seconds (a number or an HTTP date), or None."""
    if error is None:
        return None
    value = error.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def describe(attempt: Attempt) -> str:
    """`anthropic/claude-sonnet-4: 529 overloaded_error` for logs and the admin API."""
    error = attempt.outcome.error
    detail = f"{attempt.outcome.status} {error.type}" if error is not None else str(attempt.outcome.status)
    return f"{attempt.target}: {detail}"
