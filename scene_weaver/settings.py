"""The one settings object, built from the environment once at start-up.

Flask, Celery and the worker resources all derive their configuration from it;
no other module reads ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ConfigurationError

__all__ = ["Settings", "DEVELOPMENT", "PRODUCTION"]

DEVELOPMENT = "development"
PRODUCTION = "production"
DIALECTS = ("weaver", "semantest-events")
MIN_SECRET_BYTES = 32


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    env: str = DEVELOPMENT
    state_dir: Path = Path(".scene-weaver")
    redis_url: str | None = None

    # Semantest
    semantest_url: str | None = None
    semantest_dialect: str = "weaver"
    semantest_api_key: str | None = None
    semantest_download_dir: Path | None = None
    semantest_request_timeout: float = 120.0
    semantest_handshake_timeout: float = 10.0
    semantest_pool_size: int = 2
    semantest_max_in_flight_global: int = 64
    semantest_slot_wait: float = 30.0
    semantest_heartbeat_interval: float = 15.0
    semantest_heartbeat_timeout: float = 10.0
    semantest_events_request_timeout: float = 300.0
    semantest_connect_attempts: int = 3
    semantest_reconnect_max_wait: float = 5.0
    breaker_failure_threshold: int = 5
    breaker_cooldown: float = 10.0
    job_max_retries: int = 8
    job_retry_backoff_max: float = 30.0

    # Images and generation defaults
    image_store_dir: Path = Path(".scene-weaver/images")
    image_width: int = 512
    image_height: int = 512
    image_steps: int = 30
    guidance_scale: float = 7.5
    default_style: str = "graphic novel"
    prompt_max_length: int = 1200

    # Workers
    worker_concurrency: int = 8
    job_time_limit: float = 600.0
    visibility_timeout: int = 3600

    # API
    jwt_secret_key: str = ""
    jwt_access_expires: int = 900
    jwt_refresh_expires: int = 30 * 24 * 3600
    demo_password: str = "demo-password"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    flower_port: int = 5555
    renderer_port: int = 8765
    max_body_bytes: int = 1024 * 1024
    rate_limit_login: str = "10/minute"
    rate_limit_process: str = "50/minute"
    rate_limit_batch: str = "10/minute"
    rate_limit_parse: str = "100/minute"
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    public_url: str = ""
    stream_keepalive: float = 15.0
    stream_max_seconds: float = 3600.0
    webhook_secret: str = ""
    # None: the default deny list for the mode (private ranges; loopback too in production).
    webhook_deny: tuple[str, ...] | None = None
    webhook_progress_interval: float = 2.0
    webhook_timeout: float = 5.0

    @property
    def production(self) -> bool:
        return self.env == PRODUCTION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("SCENE_WEAVER_ENV", DEVELOPMENT).strip().lower() or DEVELOPMENT
        if mode not in (DEVELOPMENT, PRODUCTION):
            raise ConfigurationError(
                f"SCENE_WEAVER_ENV must be {DEVELOPMENT!r} or {PRODUCTION!r}, got {mode!r}"
            )
        state_dir = Path(env.get("SCENE_WEAVER_HOME", ".scene-weaver"))
        dialect = env.get("SEMANTEST_DIALECT", "weaver")
        if dialect not in DIALECTS:
            raise ConfigurationError(f"SEMANTEST_DIALECT must be one of {DIALECTS}, got {dialect!r}")
        download_dir = env.get("SEMANTEST_DOWNLOAD_DIR")
        origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
        settings = cls(
            env=mode,
            state_dir=state_dir,
            redis_url=env.get("REDIS_URL") or None,
            semantest_url=env.get("SEMANTEST_URL") or None,
            semantest_dialect=dialect,
            semantest_api_key=env.get("SEMANTEST_API_KEY") or None,
            semantest_download_dir=Path(download_dir) if download_dir else None,
            semantest_request_timeout=_float(env, "SEMANTEST_REQUEST_TIMEOUT", 120.0),
            semantest_pool_size=_int(env, "SEMANTEST_POOL_SIZE", 2),
            semantest_max_in_flight_global=_int(env, "SEMANTEST_MAX_IN_FLIGHT", 64),
            semantest_slot_wait=_float(env, "SEMANTEST_SLOT_WAIT", 30.0),
            semantest_heartbeat_interval=_float(env, "SEMANTEST_HEARTBEAT_INTERVAL", 15.0),
            semantest_heartbeat_timeout=_float(env, "SEMANTEST_HEARTBEAT_TIMEOUT", 10.0),
            semantest_events_request_timeout=_float(env, "SEMANTEST_EVENTS_REQUEST_TIMEOUT", 300.0),
            semantest_connect_attempts=_int(env, "SEMANTEST_CONNECT_ATTEMPTS", 3),
            semantest_reconnect_max_wait=_float(env, "SEMANTEST_RECONNECT_MAX_WAIT", 5.0),
            breaker_failure_threshold=_int(env, "BREAKER_FAILURE_THRESHOLD", 5),
            breaker_cooldown=_float(env, "BREAKER_COOLDOWN", 10.0),
            job_max_retries=_int(env, "JOB_MAX_RETRIES", 8),
            job_retry_backoff_max=_float(env, "JOB_RETRY_BACKOFF_MAX", 30.0),
            image_store_dir=Path(env.get("IMAGE_STORE_DIR") or state_dir / "images"),
            image_width=_int(env, "IMAGE_WIDTH", 512),
            image_height=_int(env, "IMAGE_HEIGHT", 512),
            default_style=env.get("DEFAULT_STYLE", "graphic novel"),
            prompt_max_length=_int(env, "PROMPT_MAX_LENGTH", 1200),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 8),
            job_time_limit=_float(env, "JOB_TIME_LIMIT", 600.0),
            visibility_timeout=_int(env, "VISIBILITY_TIMEOUT", 3600),
            jwt_secret_key=env.get("JWT_SECRET_KEY", ""),
            jwt_access_expires=_int(env, "JWT_ACCESS_EXPIRES", 900),
            jwt_refresh_expires=_int(env, "JWT_REFRESH_EXPIRES", 30 * 24 * 3600),
            demo_password=env.get("SCENE_WEAVER_DEMO_PASSWORD", "demo-password"),
            api_host=env.get("API_HOST", "127.0.0.1"),
            api_port=_int(env, "API_PORT", 8000),
            flower_port=_int(env, "FLOWER_PORT", 5555),
            renderer_port=_int(env, "RENDERER_PORT", 8765),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024),
            rate_limit_login=env.get("RATE_LIMIT_LOGIN", "10/minute"),
            rate_limit_process=env.get("RATE_LIMIT_PROCESS", "50/minute"),
            rate_limit_batch=env.get("RATE_LIMIT_BATCH", "10/minute"),
            rate_limit_parse=env.get("RATE_LIMIT_PARSE", "100/minute"),
            cors_origins=origins,
            public_url=env.get("PUBLIC_URL", "").rstrip("/"),
            stream_keepalive=_float(env, "STREAM_KEEPALIVE", 15.0),
            stream_max_seconds=_float(env, "STREAM_MAX_SECONDS", 3600.0),
            webhook_secret=env.get("WEBHOOK_SECRET", ""),
            webhook_deny=(tuple(h.strip() for h in env["WEBHOOK_DENY"].split(",") if h.strip())
                          if "WEBHOOK_DENY" in env else None),
            webhook_progress_interval=_float(env, "WEBHOOK_PROGRESS_INTERVAL", 2.0),
            webhook_timeout=_float(env, "WEBHOOK_TIMEOUT", 5.0),
        )
        if settings.visibility_timeout <= settings.job_time_limit:
            raise ConfigurationError("VISIBILITY_TIMEOUT must exceed JOB_TIME_LIMIT")
        return settings

    def with_jwt_secret(self) -> Settings:
        """Settings whose JWT secret is usable: required in production, kept on disk in development."""
        secret = self.jwt_secret_key
        if self.production:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"JWT_SECRET_KEY must be set to at least {MIN_SECRET_BYTES} bytes in production"
                )
            return self
        if secret:
            return self
        path = self.state_dir / "jwt-secret"
        if path.exists():
            secret = path.read_text().strip()
        if len(secret.encode()) < MIN_SECRET_BYTES:
            path.parent.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(48)
            path.write_text(secret)
            path.chmod(0o600)
        return replace(self, jwt_secret_key=secret)

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigurationError("REDIS_URL is not set (scene-weaver up starts an embedded Redis)")
        return self.redis_url
