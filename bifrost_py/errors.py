"""The gateway's error tree, and its one mapping to each client dialect.

    GatewayError                      status  Anthropic type          OpenAI type
    ├── InvalidRequest                  400   invalid_request_error   invalid_request_error
    ├── AuthenticationFailed            401   authentication_error    authentication_error
    ├── BudgetExceeded                  402   billing_error           insufficient_quota
    ├── PermissionDenied                403   permission_error        permission_error
    ├── NotFound                        404   not_found_error         not_found_error
    ├── RequestTooLarge                 413   request_too_large       invalid_request_error
    ├── RateLimited                     429   rate_limit_error        rate_limit_error  (+ retry-after)
    ├── CredentialsRefused              502   api_error               api_error  (provider refused all its keys)
    ├── UpstreamUnavailable             502/504  api_error            api_error  (connection error, timeout)
    └── UpstreamError          upstream's status, upstream's type (e.g. 529 overloaded_error)

No handler formats its own error JSON: raise one of these and the server renders it in the
dialect of the endpoint that was called. `final` tells the pipeline whether another target could
still succeed (a provider-tier budget) or whether the request is over (a key's budget).
"""

from __future__ import annotations

import math

import orjson

from .dialects.gemini import GEMINI
from .dialects.gemini_inbound_response import gemini_error_json

ANTHROPIC = "anthropic"
OPENAI = "openai"
RESPONSES = "responses"


class GatewayError(Exception):
    """Base of every error a caller can see."""

    status: int = 500
    anthropic_type: str = "api_error"
    openai_type: str = "api_error"
    openai_code: str | None = None
    default_final: bool = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        final: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.final = self.default_final if final is None else final
        self.headers = dict(headers or {})

    def with_message(self, message: str) -> GatewayError:
        """The same error (class, status, type, headers) saying `message` instead."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        Exception.__init__(clone, message)
        clone.message = message
        clone.headers = dict(self.headers)
        return clone

    @property
    def type(self) -> str:
        """The Anthropic error type, the gateway's canonical name for the kind of error."""
        return self.anthropic_type


class InvalidRequest(GatewayError):
    status = 400
    anthropic_type = "invalid_request_error"
    openai_type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    anthropic_type = "authentication_error"
    openai_type = "authentication_error"
    openai_code = "invalid_api_key"


class BudgetExceeded(GatewayError):
    status = 402
    anthropic_type = "billing_error"
    openai_type = "insufficient_quota"
    openai_code = "budget_exceeded"


class PermissionDenied(GatewayError):
    status = 403
    anthropic_type = "permission_error"
    openai_type = "permission_error"
    openai_code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    anthropic_type = "not_found_error"
    openai_type = "not_found_error"
    openai_code = "model_not_found"


class RequestTooLarge(GatewayError):
    status = 413
    anthropic_type = "request_too_large"
    openai_type = "invalid_request_error"
    openai_code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    anthropic_type = "rate_limit_error"
    openai_type = "rate_limit_error"
    openai_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        # An honest retry-after: whole seconds, rounded up, at least 1.
        self.headers["retry-after"] = str(max(1, math.ceil(retry_after)))


class CredentialsRefused(GatewayError):
    """No usable provider key, or the provider refused it (`upstream_status` 401/403)."""

    status = 502
    default_final = False

    def __init__(self, message: str, *, upstream_status: int | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.upstream_status = upstream_status


class UpstreamUnavailable(GatewayError):
    """The provider could not be reached or did not answer in time (no HTTP status from it)."""

    status = 502
    default_final = False


class UpstreamError(GatewayError):
    """The provider answered with an error status; its status and type are kept."""

    default_final = False

    def __init__(self, message: str, *, status: int, error_type: str | None = None, **kwargs: object) -> None:
        super().__init__(message, status=status, **kwargs)  # type: ignore[arg-type]
        self.anthropic_type = error_type or _anthropic_type_for(status)
        self.openai_type = _openai_type_for(self.anthropic_type)


ANTHROPIC_ERROR_TYPES = frozenset({
    "invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error",
    "request_too_large", "rate_limit_error", "api_error", "overloaded_error", "timeout_error",
})

_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _anthropic_type_for(status: int) -> str:
    return _BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def _openai_type_for(anthropic_type: str) -> str:
    return {
        "billing_error": "insufficient_quota",
        "request_too_large": "invalid_request_error",
        "overloaded_error": "api_error",
    }.get(anthropic_type, anthropic_type)


def error_body(error: GatewayError, dialect: str) -> bytes:
    """The JSON body for `error` in the caller's dialect (CONTRACT.md, Errors)."""
    if dialect == GEMINI:
        return orjson.dumps(gemini_error_json(error.status, error.message))
    if dialect in (OPENAI, RESPONSES):
        return orjson.dumps(
            {"error": {"message": error.message, "type": error.openai_type, "param": None, "code": error.openai_code}}
        )
    return orjson.dumps({"type": "error", "error": {"type": error.anthropic_type, "message": error.message}})


def error_event(error: GatewayError, dialect: str) -> bytes:
    """The same error as a stream event, for failures after the first byte reached the client."""
    if dialect == GEMINI:  # Google ends a stream with an error chunk, framed as its others
        return b"data: " + error_body(error, dialect) + b"\r\n\r\n"
    if dialect == OPENAI:
        return b"data: " + error_body(error, dialect) + b"\n\n"
    if dialect == RESPONSES:  # the API's `error` event: a response.failed would need the response's id
        failed = {"type": "error", "code": error.openai_code or error.openai_type, "message": error.message,
                  "param": None, "sequence_number": 0}
        return b"event: error\ndata: " + orjson.dumps(failed) + b"\n\n"
    return b"event: error\ndata: " + error_body(error, dialect) + b"\n\n"
