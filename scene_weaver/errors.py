"""One exception root, a subclass per failure domain, data as attributes.

Every error carries a stable ``code`` and the HTTP status the API answers with;
``api/errors.py`` is the single place that turns them into responses.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SceneWeaverError",
    "ConfigurationError",
    "InvalidInput",
    "NotFound",
    "Conflict",
    "AuthError",
    "ServiceUnavailable",
    "ScriptError",
    "SemantestError",
    "GenerationFailed",
    "SessionLost",
    "CircuitOpen",
    "JobParked",
    "JobCanceled",
]


class SceneWeaverError(Exception):
    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigurationError(SceneWeaverError):
    code = "configuration_error"


class InvalidInput(SceneWeaverError):
    code = "validation_error"
    http_status = 422


class NotFound(SceneWeaverError):
    code = "not_found"
    http_status = 404


class Conflict(SceneWeaverError):
    code = "conflict"
    http_status = 409


class AuthError(SceneWeaverError):
    code = "unauthorized"
    http_status = 401


class ServiceUnavailable(SceneWeaverError):
    code = "service_unavailable"
    http_status = 503


class ScriptError(InvalidInput):
    """A script that strict mode refuses; ``details`` lists every warning."""

    code = "script_invalid"


class SemantestError(SceneWeaverError):
    """A failure talking to the image service. ``retryable`` decides retry or fail;
    ``retry_after`` (seconds, 0 when unnamed) is how long Semantest asked us to wait."""

    code = "semantest_error"
    http_status = 502
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        retryable: bool | None = None,
        retry_after: float = 0.0,
    ) -> None:
        super().__init__(message, code=code, details=details)
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after


class GenerationFailed(SemantestError):
    """Semantest answered ``generation_error`` (or an equivalent) for a request."""

    code = "generation_failed"


class SessionLost(SemantestError):
    """The session died (closed, dropped, heartbeat missed) with the request in flight."""

    code = "session_lost"


class CircuitOpen(SemantestError):
    """The fleet-wide breaker is open: do not send or connect; ``retry_after`` says when it half-opens."""

    code = "circuit_open"
    http_status = 503


class JobParked(SceneWeaverError):
    """The breaker turned the job away before it made an attempt: it runs again after ``delay`` seconds.

    Not a failure: the task re-queues the job and its retry budget is untouched.
    """

    code = "waiting_for_semantest"
    http_status = 503

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class JobCanceled(SceneWeaverError):
    code = "canceled"
    http_status = 409
