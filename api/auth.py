"""Login, refresh and logout with flask-jwt-extended; revoked tokens live in Redis."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_current_user,
    get_jwt,
    get_jwt_identity,
    jwt_required,
)

from scene_weaver import keys
from scene_weaver.errors import AuthError
from scene_weaver.settings import Settings
from scene_weaver.users import User

from .errors import error_response
from .requests import parse_body
from .schemas import LoginRequest
from .services import services

__all__ = ["bp", "init_jwt", "current_user"]

bp = Blueprint("auth", __name__)


def init_jwt(app: Flask, settings: Settings) -> JWTManager:
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_TOKEN_LOCATION=["headers", "query_string"],
        JWT_QUERY_STRING_NAME="token",
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=settings.jwt_access_expires),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(seconds=settings.jwt_refresh_expires),
    )
    jwt = JWTManager(app)

    @jwt.token_in_blocklist_loader
    def _revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        return bool(services().redis.exists(keys.token_blocklist(payload["jti"])))

    @jwt.unauthorized_loader
    def _missing(reason: str) -> Response:
        return error_response(401, "missing_token", reason)

    @jwt.invalid_token_loader
    def _invalid(reason: str) -> Response:
        return error_response(401, "invalid_token", reason)

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
        return services().users.get(payload["sub"])

    return jwt


def current_user() -> User:
    user = get_current_user()
    if user is None:
        raise AuthError("unknown user", code="unknown_user")
    return user  # type: ignore[no-any-return]


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
def login() -> Response:
    body = parse_body(LoginRequest)
    user = services().users.authenticate(body.username, body.password)
    if user is None:
        raise AuthError("wrong username or password", code="invalid_credentials")
    return jsonify(_token_response(user))


@bp.post("/auth/refresh")
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
@jwt_required(verify_type=False)
def logout() -> Response:
    payload = get_jwt()
    ttl = max(1, int(payload["exp"]) - int(time.time()))
    services().redis.set(keys.token_blocklist(payload["jti"]), "1", ex=ttl)
    return jsonify({"revoked": payload["type"]})
