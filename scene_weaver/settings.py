"""The one settings object, built from the environment once at start-up.

Flask, Celery and the worker resources all derive their configuration from it. Each
field names its environment variable, default and meaning in one place; the README's
table is generated from them (``python -m scene_weaver.settings_doc``). Only
:meth:`Settings.from_env` reads the environment for settings; the process supervisor
(``run_up``) copies ``os.environ`` into the environment of the processes it starts,
which build their own settings from it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .constants import DIALECTS
from .errors import ConfigurationError
from .secret_policy import MIN_SECRET_BYTES, PUBLISHED_SECRETS, require_strong_secret

__all__ = ["Settings", "DEVELOPMENT", "PRODUCTION"]

DEVELOPMENT = "development"
PRODUCTION = "production"
STATE_DIR = Path(".scene-weaver")


def _empty_is_unset(value: object) -> object:
    if value == "":
        raise PydanticUseDefault
    return value


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# An empty variable counts as unset for numbers, optional values and IMAGE_STORE_DIR (the
# field keeps its default); for text an empty value is a value.
_UNSET_IF_EMPTY = BeforeValidator(_empty_is_unset)
Int = Annotated[int, _UNSET_IF_EMPTY]
Float = Annotated[float, _UNSET_IF_EMPTY]
Bool = Annotated[bool, _UNSET_IF_EMPTY]
OptionalStr = Annotated[str | None, _UNSET_IF_EMPTY]
OptionalPath = Annotated[Path | None, _UNSET_IF_EMPTY]
CommaList = Annotated[tuple[str, ...], BeforeValidator(_comma_separated)]


def _images_under_state_dir(data: dict[str, Any]) -> Path:
    return Path(data.get("state_dir", STATE_DIR)) / "images"


class Settings(BaseSettings):
    """Every setting, its environment variable (``validation_alias``) and its default.

    ``Settings(field=value, ...)`` takes values as given (tests, tools) and reads no
    environment; :meth:`from_env` reads the variables named here.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        case_sensitive=True,
        validate_by_name=True,  # Settings(api_port=...) in code,
        validate_by_alias=True,  # API_PORT from the environment
        enable_decoding=False,  # lists are comma-separated, not JSON
    )

    env: str = Field(DEVELOPMENT, validation_alias="SCENE_WEAVER_ENV",
                     description=f"`{DEVELOPMENT}` or `{PRODUCTION}` (no demo user, strict secrets)")
    state_dir: Path = Field(STATE_DIR, validation_alias="SCENE_WEAVER_HOME",
                            description="state directory: JWT secret, embedded Redis data, images")
    redis_url: OptionalStr = Field(
        None, validation_alias="REDIS_URL",
        description="broker, job records, events, caches; unset: `up` starts an embedded Redis on a "
                    "private port, AOF on, data in `redis` under `SCENE_WEAVER_HOME`")

    # Semantest
    semantest_url: OptionalStr = Field(None, validation_alias="SEMANTEST_URL",
                                       description="Semantest WebSocket endpoint; unset: `up` starts the local renderer")
    semantest_dialect: str = Field("weaver", validation_alias="SEMANTEST_DIALECT",
                                   description=" or ".join(f"`{dialect}`" for dialect in DIALECTS))
    semantest_api_key: OptionalStr = Field(None, validation_alias="SEMANTEST_API_KEY",
                                           description="sent as `Authorization: Bearer` on connect")
    semantest_download_dir: OptionalPath = Field(None, validation_alias="SEMANTEST_DOWNLOAD_DIR",
                                                 description="where `semantest-events` pictures land")
    semantest_request_timeout: Float = Field(120.0, validation_alias="SEMANTEST_REQUEST_TIMEOUT",
                                             description="per-request timeout, `weaver` dialect (s)")
    semantest_handshake_timeout: Float = Field(10.0, validation_alias="SEMANTEST_HANDSHAKE_TIMEOUT",
                                               description="connect and handshake timeout of a session (s)")
    semantest_pool_size: Int = Field(
        2, validation_alias="SEMANTEST_POOL_SIZE",
        description="Semantest sessions per worker process (each multiplexes the server's `max_in_flight`)")
    semantest_max_in_flight_global: Int = Field(
        64, validation_alias="SEMANTEST_MAX_IN_FLIGHT",
        description="fleet-wide cap on requests in flight to Semantest (Redis semaphore)")
    semantest_slot_wait: Float = Field(
        30.0, validation_alias="SEMANTEST_SLOT_WAIT",
        description="longest wait for a free session slot before the job is retried later (s)")
    semantest_heartbeat_interval: Float = Field(15.0, validation_alias="SEMANTEST_HEARTBEAT_INTERVAL",
                                                description="idle time before a session pings (s)")
    semantest_heartbeat_timeout: Float = Field(10.0, validation_alias="SEMANTEST_HEARTBEAT_TIMEOUT",
                                               description="no pong within this time: the session is dead (s)")
    semantest_events_request_timeout: Float = Field(
        300.0, validation_alias="SEMANTEST_EVENTS_REQUEST_TIMEOUT",
        description="per-request timeout, `semantest-events` dialect (s)")
    semantest_connect_attempts: Int = Field(
        3, validation_alias="SEMANTEST_CONNECT_ATTEMPTS",
        description="connection tries per request (exponential backoff with jitter)")
    semantest_reconnect_max_wait: Float = Field(5.0, validation_alias="SEMANTEST_RECONNECT_MAX_WAIT",
                                                description="cap of the backoff between connection tries (s)")
    breaker_failure_rate: Float = Field(
        0.5, gt=0.0, le=1.0, validation_alias="BREAKER_FAILURE_RATE",
        description="share of failed requests in the breaker's window that opens it (0..1]")
    breaker_window: Int = Field(
        20, ge=1, le=1000, validation_alias="BREAKER_WINDOW",
        description="the breaker's sliding window: the fleet's last N requests to Semantest")
    breaker_min_calls: Int = Field(
        10, ge=1, validation_alias="BREAKER_MIN_CALLS",
        description="requests the window must hold before its failure rate can open the breaker")
    breaker_connect_failures: Int = Field(
        3, ge=1, validation_alias="BREAKER_CONNECT_FAILURES",
        description="consecutive failures to connect, fleet-wide, that open the breaker (Semantest is down)")
    breaker_cooldown: Float = Field(10.0, gt=0.0, validation_alias="BREAKER_COOLDOWN",
                                    description="how long the breaker stays open before one half-open probe (s)")
    breaker_wake_jitter: Float = Field(
        2.0, ge=0.0, validation_alias="BREAKER_WAKE_JITTER",
        description="jobs parked by the open breaker wake within this spread after it is due to half-open, "
                    "so the fleet does not stampede (s)")
    job_max_retries: Int = Field(
        8, ge=0, validation_alias="JOB_MAX_RETRIES",
        description="retries of a job after its first real attempt (a job turned away by the open breaker "
                    "has made no attempt)")
    job_retry_deadline: Float = Field(
        900.0, gt=0.0, validation_alias="JOB_RETRY_DEADLINE",
        description="no retry once this long has passed since the job first started: it fails with its "
                    "last error (s)")
    job_retry_backoff_max: Float = Field(30.0, validation_alias="JOB_RETRY_BACKOFF_MAX",
                                         description="cap of the backoff between a job's retries (s)")

    # Images and generation defaults
    image_store_dir: Annotated[Path, _UNSET_IF_EMPTY] = Field(
        default_factory=_images_under_state_dir, validation_alias="IMAGE_STORE_DIR",
        description="image bytes, content-addressed by sha256",
        json_schema_extra={"default_text": "`images` under `SCENE_WEAVER_HOME`"})
    image_width: Int = Field(512, validation_alias="IMAGE_WIDTH", description="default picture width (px)")
    image_height: Int = Field(512, validation_alias="IMAGE_HEIGHT", description="default picture height (px)")
    image_steps: Int = Field(30, validation_alias="IMAGE_STEPS", description="default generation steps")
    guidance_scale: Float = Field(7.5, validation_alias="GUIDANCE_SCALE", description="default guidance scale")
    default_style: str = Field("graphic novel", validation_alias="DEFAULT_STYLE",
                               description="style of a scene that names none")
    prompt_max_length: Int = Field(1200, validation_alias="PROMPT_MAX_LENGTH",
                                   description="longest woven prompt (characters)")
    result_cache_ttl: Int = Field(
        7 * 24 * 3600, gt=0, validation_alias="RESULT_CACHE_TTL",
        description="how long a drawn picture is reused for an identical generation (s)")
    result_flight_lease: Float = Field(
        15.0, gt=0, validation_alias="RESULT_FLIGHT_LEASE",
        description="lease of the job drawing a picture others wait for (s), renewed while it draws: "
                    "a crashed drawer's waiters take over within it")
    result_flight_wait: Float = Field(
        300.0, gt=0, validation_alias="RESULT_FLIGHT_WAIT",
        description="longest a job waits for an identical picture in flight before drawing it itself (s)")

    # Workers
    worker_concurrency: Int = Field(8, validation_alias="WORKER_CONCURRENCY",
                                    description="threads per worker process")
    task_events: Bool = Field(
        False, validation_alias="TASK_EVENTS",
        description="send Celery task events (workers) and task-sent events (API) from the start, for "
                    "Flower or another monitor; off, as in Celery, they cost about a tenth of a worker's "
                    "throughput, and Flower turns the workers' on while it runs")
    job_time_limit: Float = Field(600.0, validation_alias="JOB_TIME_LIMIT", description="per-job time limit (s)")
    visibility_timeout: Int = Field(
        3600, validation_alias="VISIBILITY_TIMEOUT",
        description="broker redelivery timeout (s); must be larger than `JOB_TIME_LIMIT`")
    worker_heartbeat_interval: Float = Field(
        2.0, gt=0, validation_alias="WORKER_HEARTBEAT_INTERVAL",
        description="how often each worker process renews its heartbeat in Redis (s)")
    worker_heartbeat_ttl: Float = Field(
        10.0, gt=0, validation_alias="WORKER_HEARTBEAT_TTL",
        description="life of a heartbeat (s): a worker process silent this long is gone for `/health`; "
                    "at least twice `WORKER_HEARTBEAT_INTERVAL`")
    worker_metrics_port: Int = Field(
        -1, ge=-1, le=65535, validation_alias="WORKER_METRICS_PORT",
        description="port each worker process serves its Prometheus `/metrics` on; 0: a free port, "
                    "named in its heartbeat (`metrics_port`; `up` sets 0 when unset); -1: none")
    worker_metrics_host: str = Field("127.0.0.1", validation_alias="WORKER_METRICS_HOST",
                                     description="address worker processes serve their metrics on")

    # Batches
    max_batch_entries: Int = Field(5000, ge=1, validation_alias="MAX_BATCH_ENTRIES",
                                   description="most entries (items) one batch may have")
    max_batch_bytes: Int = Field(8 * 1024 * 1024, ge=1024, validation_alias="MAX_BATCH_BYTES",
                                 description="body limit of `POST /batch` (bytes); other routes keep `MAX_BODY_BYTES`")
    admission_window_per_slot: Int = Field(
        2, ge=1, le=100, validation_alias="ADMISSION_WINDOW_PER_SLOT",
        description="batch items admitted into the broker and not yet finished, per worker slot of the live fleet")
    admission_aging_seconds: Float = Field(
        30.0, gt=0, validation_alias="ADMISSION_AGING_SECONDS",
        description="a low batch with nothing admitted this long gets its next item ahead of normal work (s)")
    admission_tick_seconds: Float = Field(
        0.25, gt=0, validation_alias="ADMISSION_TICK_SECONDS",
        description="period of the admission sweep one worker process runs under a Redis lease (s); it also "
                    "finishes admitted items whose picture is cached, so a cached batch ends within a tick or two")
    reconcile_interval: Float = Field(
        5.0, gt=0, validation_alias="RECONCILE_INTERVAL",
        description="how often the reconciler (one worker process at a time, under a Redis lease) looks for "
                    "lost jobs, dead workers' locks, deliveries and Semantest slots (s)")
    reconcile_grace: Float = Field(
        10.0, gt=0, validation_alias="RECONCILE_GRACE",
        description="a job dispatched, or a delivery taken, this recently is never called lost (s)")

    # API
    jwt_secret_key: str = Field(
        "", validation_alias="JWT_SECRET_KEY",
        description=f"token signing secret; development: generated once into `jwt-secret` under "
                    f"`SCENE_WEAVER_HOME`; production: required, ≥ {MIN_SECRET_BYTES} random bytes, "
                    f"never a value published in this repository")
    jwt_access_expires: Int = Field(900, validation_alias="JWT_ACCESS_EXPIRES",
                                    description="access token lifetime (s)")
    jwt_refresh_expires: Int = Field(30 * 24 * 3600, validation_alias="JWT_REFRESH_EXPIRES",
                                     description="refresh token lifetime (s)")
    demo_password: str = Field("demo-password", validation_alias="SCENE_WEAVER_DEMO_PASSWORD",
                               description="password of the development `demo` user")
    api_host: str = Field("127.0.0.1", validation_alias="API_HOST", description="address `up` binds the API to")
    api_port: Int = Field(8000, validation_alias="API_PORT", description="API port")
    flower_port: Int = Field(5555, validation_alias="FLOWER_PORT", description="Flower port")
    flower_basic_auth: OptionalStr = Field(
        None, validation_alias="FLOWER_BASIC_AUTH",
        description="`user:password` Flower asks for (HTTP basic auth); development: the demo user's "
                    "name and password when unset; production: `up` refuses to start Flower without it")
    metrics_token: OptionalStr = Field(
        None, validation_alias="METRICS_TOKEN",
        description="when set, the API's `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`")
    log_format: Literal["json", "text"] = Field("json", validation_alias="LOG_FORMAT",
                            description="`json` (one event a line: time, level, role, job, batch, request id) "
                                        "or `text`")
    renderer_port: Int = Field(8765, validation_alias="RENDERER_PORT",
                               description="port of the local renderer (used when `SEMANTEST_URL` is unset)")
    max_body_bytes: Int = Field(1024 * 1024, validation_alias="MAX_BODY_BYTES",
                                description="request body limit (bytes)")
    rate_limit_login: str = Field("10/minute", validation_alias="RATE_LIMIT_LOGIN",
                                  description="login rate limit, per address")
    rate_limit_process: str = Field("50/minute", validation_alias="RATE_LIMIT_PROCESS",
                                    description="scene submission rate limit (dry runs too), per user")
    rate_limit_batch: str = Field("10/minute", validation_alias="RATE_LIMIT_BATCH",
                                  description="batch submission rate limit, per user")
    rate_limit_parse: str = Field("100/minute", validation_alias="RATE_LIMIT_PARSE",
                                  description="script parsing rate limit, per user")
    cors_origins: CommaList = Field((), validation_alias="CORS_ORIGINS",
                                    description="origins allowed by CORS, comma-separated")
    stream_keepalive: Float = Field(15.0, validation_alias="STREAM_KEEPALIVE",
                                    description="keep-alive interval of SSE and WebSocket streams (s)")
    stream_max_seconds: Float = Field(
        3600.0, validation_alias="STREAM_MAX_SECONDS",
        description="longest life of one SSE response; the client then reconnects with `Last-Event-ID` (s)")
    gallery_link_expires: Int = Field(
        3600, ge=60, le=7 * 24 * 3600, validation_alias="GALLERY_LINK_EXPIRES",
        description="life of the signed `links.gallery` of a job or batch (s): the page, its pictures and "
                    "its live updates open without a token until then")
    # Live connections: WebSocket and SSE
    ws_auth_timeout: Float = Field(
        3.0, gt=0, validation_alias="WS_AUTH_TIMEOUT",
        description="how long a WebSocket may stay open without authenticating (s)")
    ws_message_rate: Float = Field(
        20.0, gt=0, validation_alias="WS_MESSAGE_RATE",
        description="client messages per second one WebSocket may send (a moving window per socket; over it: `rate_limited`)")
    ws_message_burst: Int = Field(40, ge=1, validation_alias="WS_MESSAGE_BURST",
                                  description="messages one WebSocket may send at once; the window is burst / rate seconds")
    ws_max_subscriptions: Int = Field(100, ge=1, validation_alias="WS_MAX_SUBSCRIPTIONS",
                                      description="distinct jobs one WebSocket may follow at once")
    ws_max_job_ids: Int = Field(100, ge=1, validation_alias="WS_MAX_JOB_IDS",
                                description="longest `job_ids` list of one `subscribe` message")
    live_max_per_user: Int = Field(
        20, ge=1, validation_alias="LIVE_MAX_PER_USER",
        description="open WebSockets and SSE streams per user, across API processes (over it: 429 or close 1013)")
    live_max_per_address: Int = Field(
        100, ge=1, validation_alias="LIVE_MAX_PER_ADDRESS",
        description="open WebSockets (authenticated or not) and SSE streams per client address")
    api_redis_max_connections: Int = Field(
        1000, ge=10, validation_alias="API_REDIS_MAX_CONNECTIONS",
        description="Redis connections of one API process; each SSE stream or WebSocket following jobs "
                    "holds one while it waits for events (beyond it: wait up to 2 s, then 503)")
    webhook_secret: str = Field(
        "", validation_alias="WEBHOOK_SECRET",
        description="key of the webhook signatures (HMAC-SHA256); unset: derived from `JWT_SECRET_KEY`; "
                    "production: as strong as `JWT_SECRET_KEY`")
    webhook_deny: CommaList | None = Field(
        None, validation_alias="WEBHOOK_DENY",
        description="addresses, networks and host names webhooks may not reach, comma-separated (set but "
                    "empty: none); unset: private ranges, and loopback too in production")
    webhook_progress_interval: Float = Field(2.0, validation_alias="WEBHOOK_PROGRESS_INTERVAL",
                                             description="least time between two progress webhooks of a job (s)")
    webhook_timeout: Float = Field(5.0, gt=0, validation_alias="WEBHOOK_TIMEOUT",
                                   description="read timeout of one webhook delivery (s)")

    # Webhook deliveries: their own queue and worker process, never a scene-job slot
    webhook_connect_timeout: Float = Field(2.0, gt=0, validation_alias="WEBHOOK_CONNECT_TIMEOUT",
                                           description="connect timeout of one webhook delivery (s)")
    webhook_concurrency: Int = Field(4, ge=1, validation_alias="WEBHOOK_CONCURRENCY",
                                     description="threads of the webhook worker process (`-Q webhooks`)")
    webhook_host_limit: Int = Field(
        2, ge=1, validation_alias="WEBHOOK_HOST_LIMIT",
        description="deliveries in flight to one receiver host, fleet-wide; more wait their turn")
    webhook_max_attempts: Int = Field(5, ge=1, validation_alias="WEBHOOK_MAX_ATTEMPTS",
                                      description="tries of one delivery before it is dropped")
    webhook_host_failures: Int = Field(
        3, ge=1, validation_alias="WEBHOOK_HOST_FAILURES",
        description="failures in a row after which every delivery to that host is delayed (backed off)")
    webhook_backoff_max: Float = Field(300.0, gt=0, validation_alias="WEBHOOK_BACKOFF_MAX",
                                       description="longest delay before a delivery is tried again (s)")

    # Who may jump the queue
    high_priority_allowed: CommaList | None = Field(
        None, validation_alias="HIGH_PRIORITY_ALLOWED",
        description="who may submit `priority: high`, comma-separated: user names, `role:admin`, `role:user`, "
                    "or `*` for everyone; unset: everyone in development, `role:admin` in production")

    def may_submit_high_priority(self, username: str, role: str) -> bool:
        allowed = self.high_priority_allowed
        if allowed is None:
            allowed = ("role:admin",) if self.production else ("*",)
        return "*" in allowed or username in allowed or f"role:{role}" in allowed

    @field_validator("env", mode="before")
    @classmethod
    def _known_mode(cls, value: object) -> str:
        mode = str(value).strip().lower() or DEVELOPMENT
        if mode not in (DEVELOPMENT, PRODUCTION):
            raise ConfigurationError(
                f"SCENE_WEAVER_ENV must be {DEVELOPMENT!r} or {PRODUCTION!r}, got {mode!r}"
            )
        return mode

    @field_validator("semantest_dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if value not in DIALECTS:
            raise ConfigurationError(f"SEMANTEST_DIALECT must be one of {DIALECTS}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _redelivery_after_the_time_limit(self) -> Settings:
        if self.visibility_timeout <= self.job_time_limit:
            raise ConfigurationError("VISIBILITY_TIMEOUT must exceed JOB_TIME_LIMIT")
        return self

    @model_validator(mode="after")
    def _heartbeat_outlives_a_missed_beat(self) -> Settings:
        # One late beat (a busy machine, a slow Redis) must not make a live worker look dead.
        if self.worker_heartbeat_ttl < 2 * self.worker_heartbeat_interval:
            raise ConfigurationError("WORKER_HEARTBEAT_TTL must be at least twice WORKER_HEARTBEAT_INTERVAL")
        return self

    # Production secrets: nothing published in this repository, short or guessable may sign.
    @model_validator(mode="after")
    def _production_secrets_are_strong(self) -> Settings:
        if not self.production:
            return self
        for name in ("jwt_secret_key", "webhook_secret"):
            value = getattr(self, name)
            if value:  # an unset JWT_SECRET_KEY is refused by with_jwt_secret; WEBHOOK_SECRET may be unset
                require_strong_secret(str(type(self).model_fields[name].validation_alias), value)
        if self.semantest_api_key and self.semantest_api_key.strip() in PUBLISHED_SECRETS:
            raise ConfigurationError("SEMANTEST_API_KEY is published in the Scene Weaver repository")
        return self

    @model_validator(mode="after")
    def _min_calls_fit_the_window(self) -> Settings:
        if self.breaker_min_calls > self.breaker_window:
            raise ConfigurationError("BREAKER_MIN_CALLS must not exceed BREAKER_WINDOW")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment is read by from_env() only

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name → environment variable."""
        return {name: str(field.validation_alias) for name, field in cls.model_fields.items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); a bad value raises ConfigurationError naming it."""
        source = _Environment(cls, os.environ if environ is None else environ)
        try:
            return cls(**source())
        except ValidationError as exc:
            raise ConfigurationError(_describe(exc)) from None

    @property
    def production(self) -> bool:
        return self.env == PRODUCTION

    def with_jwt_secret(self) -> Settings:
        """Settings whose JWT secret is usable: required in production, kept on disk in development."""
        secret = self.jwt_secret_key
        if self.production:
            if not secret:  # a set one was checked when these settings were built
                raise ConfigurationError(
                    f"JWT_SECRET_KEY must be set to at least {MIN_SECRET_BYTES} random bytes in production"
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
        return self.model_copy(update={"jwt_secret_key": secret})

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigurationError("REDIS_URL is not set (scene-weaver up starts an embedded Redis)")
        return self.redis_url


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, reading only the names in Settings."""

    def __init__(self, settings_cls: type[Settings], environ: Mapping[str, str]) -> None:
        names = set(settings_cls.env_names().values())
        self._variables = {name: value for name, value in environ.items() if name in names}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._variables


def _describe(error: ValidationError) -> str:
    """``API_PORT should be a valid integer, …, got 'eighty'``: one clause per bad variable."""
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        problem = item["msg"].removeprefix("Input ").removeprefix("Value error, ")
        problems.append(f"{name} {problem}, got {item['input']!r}")
    return "; ".join(problems)
