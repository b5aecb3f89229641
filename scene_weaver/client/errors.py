"""What the client raises: the API's errors with their stable codes, and an unreachable server."""

from __future__ import annotations

from typing import Any

from ..errors import SceneWeaverError

__all__ = ["ClientError", "ApiError", "ServerUnavailable", "NotLoggedIn"]


class ClientError(SceneWeaverError):
    """Anything the client could not do; ``code`` is the API's error code when it answered one."""

    code = "client_error"


class ApiError(ClientError):
    """The API answered an error: ``http_status``, ``code``, ``message`` and ``details`` as it sent them."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, code=code, details=details)
        self.http_status = status


class ServerUnavailable(ApiError):
    """The server could not be reached, timed out, or answered 5xx (it is down or overloaded)."""

    code = "server_unavailable"


class NotLoggedIn(ClientError):
    """No stored token for this server, or the refresh token is no longer accepted."""

    code = "not_logged_in"
    http_status = 401
