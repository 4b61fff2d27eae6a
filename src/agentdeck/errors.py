"""The one error hierarchy: each class carries its HTTP status and wire code.

Errors render in the OpenAI error shape: {"error": {"message", "type", "code", "param"}}.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class AgentdeckError(Exception):
    """Base of every error agentdeck reports to a client."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.wire_code = code or self.code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-shaped error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "code": self.wire_code,
                "param": self.param,
            }
        }

    def to_json(self) -> bytes:
        """The OpenAI-shaped error body as JSON bytes."""
        return orjson.dumps(self.to_dict())


class InvalidRequestError(AgentdeckError):
    """The request is malformed or has a field of the wrong type or value."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class AuthenticationError(AgentdeckError):
    """No credential, or a wrong one."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(AgentdeckError):
    """The caller may not do this."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFoundError(AgentdeckError):
    """A route or named resource does not exist."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    """The requested model alias is not configured."""

    code = "model_not_found"


class MethodNotAllowedError(AgentdeckError):
    """The route exists but not for this HTTP method."""

    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class ConflictError(AgentdeckError):
    """The change clashes with what exists (a name already taken)."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class GuardrailBlockedError(AgentdeckError):
    """A guardrail of the project's policy refused the request's input or the model's output;
    `wire_code` says which kind of finding (`pii_detected`, `prompt_injection_detected`,
    `canary_leaked`, `output_schema_invalid`, `guardrail_blocked`) and `param` which
    guardrail."""

    status = 400
    type = "invalid_request_error"
    code = "guardrail_blocked"


class PayloadTooLargeError(AgentdeckError):
    """The request body is over the configured size limit."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class ClientClosedError(AgentdeckError):
    """The client went away before its request was read; nobody will see the answer."""

    status = 499
    type = "invalid_request_error"
    code = "client_closed_request"


class RateLimitedError(AgentdeckError):
    """A rate limit of agentdeck's own refused the request (never retried by the gateway)."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceededError(AgentdeckError):
    """A budget would be exceeded by the request's worst-case cost (never retried)."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class ServiceUnavailableError(AgentdeckError):
    """A store agentdeck needs to decide (Redis for limits) did not answer in time."""

    status = 503
    type = "api_error"
    code = "service_unavailable"


class UpstreamError(AgentdeckError):
    """The provider failed: a connection error, a 5xx, or an answer that could not be read."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.upstream_status = upstream_status
        self.retry_after = retry_after


class UpstreamStatusError(UpstreamError):
    """The provider answered with an error status that is the client's to see (4xx, 429)."""

    def __init__(self, message: str, *, upstream_status: int, **kwargs: Any) -> None:
        super().__init__(message, upstream_status=upstream_status, **kwargs)
        # A fault in the client's request (bad parameter, too long, rate limited) keeps its
        # status; the gateway's own credential or config being refused, or a 5xx, is a 502.
        self.status_override = upstream_status if upstream_status in _CLIENT_FAULTS else 502

    @property
    def http_status(self) -> int:
        """The status the gateway answers with."""
        return self.status_override


_CLIENT_FAULTS = frozenset({400, 409, 413, 422, 429})


class UpstreamTimeoutError(UpstreamError):
    """The provider did not answer in time."""

    status = 504
    type = "upstream_error"
    code = "upstream_timeout"


class DeadlineExceededError(UpstreamTimeoutError):
    """The request's one deadline over all attempts and fallbacks passed."""

    code = "deadline_exceeded"


class UpstreamStreamBrokenError(UpstreamError):
    """The provider's stream ended before it was complete."""

    code = "upstream_stream_broken"


class ConfigurationError(AgentdeckError):
    """The server's configuration cannot serve this request (missing credential, bad provider)."""

    status = 500
    type = "server_error"
    code = "configuration_error"


def http_status(error: AgentdeckError) -> int:
    """The HTTP status to answer `error` with."""
    if isinstance(error, UpstreamStatusError):
        return error.http_status
    return error.status
