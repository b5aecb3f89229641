"""Login, refresh and logout with flask-jwt-extended; revoked tokens live in Redis.

HTTP routes read the token from the ``Authorization`` header only: a token in a URL ends up
in access logs, proxies and browser history. The WebSocket, which a browser cannot open
with a header, reads ``?token=`` itself (``user_from_token``); gunicorn's access log
redacts it (``api/gunicorn_conf.py``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

import jwt as pyjwt
from flask import Blueprint, Flask, Response, current_app, g, jsonify
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_current_user,
    get_jwt,
    get_jwt_identity,
    jwt_required,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import JWTDecodeError, JWTExtendedException

from scene_weaver import keys
from scene_weaver.errors import AuthError, SceneWeaverError
from scene_weaver.settings import Settings
from scene_weaver.users import User, UserStore

from .errors import error_response
from .limits import rate_limited
from .openapi_meta import documented
from .requests import parse_body
from .responses import AccessToken, LogoutResponse, TokenPair
from .schemas import LoginRequest
from .services import services

__all__ = ["bp", "init_jwt", "current_user", "require_admin", "user_from_token", "jwt_required_once", "Forbidden"]

F = TypeVar("F", bound=Callable[..., Any])


class Forbidden(SceneWeaverError):
    code = "forbidden"
    http_status = 403

bp = Blueprint("auth", __name__)
_BCRYPT_MAX_BYTES = 72


def init_jwt(app: Flask, settings: Settings) -> JWTManager:
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=settings.jwt_access_expires),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(seconds=settings.jwt_refresh_expires),
    )
    jwt = JWTManager(app)

    @jwt.token_in_blocklist_loader
    def _revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        # The first check of every verified token: one that cannot expire or be revoked is invalid.
        _require_claims(payload)
        return _token_checks(payload).revoked

    @jwt.unauthorized_loader
    def _missing(reason: str) -> Response:
        return error_response(401, "missing_token", reason)

    @jwt.invalid_token_loader
    def _invalid(reason: str) -> Response:
        return error_response(401, _invalid_code(reason), reason)

    @jwt.expired_token_loader
    def _expired(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return error_response(401, "token_expired", "the token has expired; refresh or log in again")

    @jwt.revoked_token_loader
    def _revoked_response(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return error_response(401, "token_revoked", "the token was revoked; log in again")

    @jwt.user_lookup_error_loader
    def _unknown_user(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return error_response(401, "unknown_user", "the token's user no longer exists")

    @jwt.user_lookup_loader
    def _lookup(_header: dict[str, Any], payload: dict[str, Any]) -> User | None:
        return _token_checks(payload).user

    return jwt


@dataclass(frozen=True)
class _TokenChecks:
    revoked: bool
    user: User | None


_CHECKS = "scene_weaver_token_checks"


def _token_checks(payload: dict[str, Any]) -> _TokenChecks:
    """Whether the token is revoked, and its user: one round trip, once a request.

    flask-jwt-extended asks for them separately (the blocklist, then the user), and a
    rate-limited view verifies its token twice (the limit's key, then the view).
    """
    checks: dict[str, _TokenChecks] = g.setdefault(_CHECKS, {})
    jti, username = str(payload["jti"]), str(payload["sub"])
    if jti not in checks:
        pipe = services().redis.pipeline(transaction=False)
        pipe.exists(keys.token_blocklist(jti))
        UserStore.read(pipe, username)
        revoked, role = pipe.execute()
        checks[jti] = _TokenChecks(bool(revoked), UserStore.user_from(username, role))
    return checks[jti]


def jwt_required_once(view: F) -> F:
    """``jwt_required()`` for a view under a rate limit: the limit's key (``limits.user_or_address``)
    has verified the request's access token already; it is verified again only if it has not
    (no token, a bad one, a limit that did not run), which raises what ``jwt_required`` raises."""

    @functools.wraps(view)
    def verified(*args: Any, **kwargs: Any) -> Any:
        if not _verified_in_this_request():
            verify_jwt_in_request()
        return current_app.ensure_sync(view)(*args, **kwargs)

    return cast(F, verified)


def _verified_in_this_request() -> bool:
    try:
        return bool(get_jwt())  # {} when an optional check found no token
    except RuntimeError:  # no check has succeeded in this request
        return False


# A token this API signs always has these; without exp it never expires, without jti it
# cannot be revoked (logout would have nothing to block).
REQUIRED_CLAIMS = ("exp", "jti", "sub")


def _require_claims(payload: dict[str, Any]) -> None:
    for claim in REQUIRED_CLAIMS:
        if payload.get(claim) in (None, ""):
            raise JWTDecodeError(f"Missing claim: {claim}")


def _invalid_code(reason: str) -> str:
    lowered = reason.lower()
    if "signature" in lowered:
        return "invalid_signature"
    if "alg" in lowered:
        return "invalid_algorithm"
    return "invalid_token"


def current_user() -> User:
    user = get_current_user()
    if user is None:
        raise AuthError("unknown user", code="unknown_user")
    return user  # type: ignore[no-any-return]


def require_admin() -> User:
    user = current_user()
    if not user.is_admin:
        raise Forbidden("only admins may do this", code="admin_required")
    return user


def user_from_token(token: str) -> User:
    """The user an access token names (the WebSocket's auth); ``AuthError`` with the same codes as HTTP."""
    try:
        payload = decode_token(token)
    except pyjwt.ExpiredSignatureError:
        raise AuthError("the token has expired; refresh or log in again", code="token_expired") from None
    except (pyjwt.InvalidTokenError, JWTExtendedException) as exc:
        raise AuthError(str(exc) or "invalid token", code="invalid_token") from None
    try:
        _require_claims(payload)
    except JWTDecodeError as exc:
        raise AuthError(str(exc), code="invalid_token") from None
    if payload.get("type") != "access":
        raise AuthError("an access token is required", code="invalid_token")
    svc = services()
    if svc.redis.exists(keys.token_blocklist(str(payload.get("jti")))):
        raise AuthError("the token was revoked; log in again", code="token_revoked")
    user = svc.users.get(str(payload.get("sub")))
    if user is None:
        raise AuthError("the token's user no longer exists", code="unknown_user")
    return user


def _token_response(user: User) -> dict[str, Any]:
    settings = services().settings
    claims = {"role": user.role}
    return {
        "access_token": create_access_token(identity=user.username, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=user.username, additional_claims=claims),
        "token_type": "bearer",
        "expires_in": settings.jwt_access_expires,
    }


@bp.post("/auth/login")
@documented(summary="Log in: an access and a refresh token", tag="auth", auth=False, body=LoginRequest,
            responses={200: TokenPair}, errors=(401,), rate_limit="login (per client address)")
@rate_limited("login", per_address=True)
def login() -> Response:
    body = parse_body(LoginRequest)
    # bcrypt refuses NUL bytes and more than 72 bytes; no stored password can be either.
    storable = "\x00" not in body.password and len(body.password.encode()) <= _BCRYPT_MAX_BYTES
    user = services().users.authenticate(body.username, body.password) if storable else None
    if user is None:
        raise AuthError("wrong username or password", code="invalid_credentials")
    return jsonify(_token_response(user))


@bp.post("/auth/refresh")
@documented(summary="A new access token (send the refresh token)", tag="auth", responses={200: AccessToken})
@jwt_required(refresh=True)
def refresh() -> Response:
    user = current_user()
    settings = services().settings
    return jsonify({
        "access_token": create_access_token(identity=get_jwt_identity(), additional_claims={"role": user.role}),
        "token_type": "bearer",
        "expires_in": settings.jwt_access_expires,
    })


@bp.post("/auth/logout")
@documented(summary="Revoke the token sent (access or refresh)", tag="auth", responses={200: LogoutResponse})
@jwt_required(verify_type=False)
def logout() -> Response:
    payload = get_jwt()
    ttl = max(1, int(payload["exp"]) - int(time.time()))
    services().redis.set(keys.token_blocklist(payload["jti"]), "1", ex=ttl)
    return jsonify({"revoked": payload["type"]})
