"""Weaving and processing settings changed at run time (``PUT /config``).

The environment gives the defaults; values stored in Redis override them. The API
writes them, and each worker reads the effective values at the start of every job.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import keys
from .errors import InvalidInput
from .redis_text import decode_hash
from .settings import Settings
from .weaving import MIN_LENGTH, STYLES, resolve_style

__all__ = ["RuntimeConfig", "RuntimeConfigUpdate", "config_from_stored", "effective_config", "update_config", "reset_config"]

_MAX_PROMPT_LENGTH = 8000


class RuntimeConfig(BaseModel):
    """The weaving and processing settings in force."""

    model_config = ConfigDict(extra="forbid")

    default_style: str = Field(max_length=64)
    prompt_max_length: int = Field(ge=MIN_LENGTH, le=_MAX_PROMPT_LENGTH)
    image_width: int = Field(ge=64, le=2048)
    image_height: int = Field(ge=64, le=2048)
    image_steps: int = Field(ge=1, le=150)
    guidance_scale: float = Field(ge=0.0, le=30.0)

    @classmethod
    def defaults(cls, settings: Settings) -> RuntimeConfig:
        return cls(
            default_style=settings.default_style,
            prompt_max_length=settings.prompt_max_length,
            image_width=settings.image_width,
            image_height=settings.image_height,
            image_steps=settings.image_steps,
            guidance_scale=settings.guidance_scale,
        )


class RuntimeConfigUpdate(BaseModel):
    """A partial change: only the fields given are changed."""

    model_config = ConfigDict(extra="forbid")

    default_style: str | None = Field(default=None, min_length=1, max_length=64)
    prompt_max_length: int | None = Field(default=None, ge=MIN_LENGTH, le=_MAX_PROMPT_LENGTH)
    image_width: int | None = Field(default=None, ge=64, le=2048)
    image_height: int | None = Field(default=None, ge=64, le=2048)
    image_steps: int | None = Field(default=None, ge=1, le=150)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=30.0)

    @field_validator("default_style")
    @classmethod
    def _known_style(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return resolve_style(value).name
        except InvalidInput:
            raise ValueError(f"unknown style; expected one of {', '.join(sorted(STYLES))}") from None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def effective_config(client: redis.Redis, settings: Settings) -> RuntimeConfig:
    return config_from_stored(decode_hash(client.hgetall(keys.config())), settings)


def config_from_stored(stored: Mapping[str, str], settings: Settings) -> RuntimeConfig:
    """The settings in force given what ``PUT /config`` stored (``sw:config``, read by the caller:
    a worker reads it inside its first script of every job, with no round trip of its own).
    The same stored values give the same object without validating them again."""
    return _validated(tuple(sorted(stored.items())), settings)


@functools.lru_cache(maxsize=32)
def _validated(stored: tuple[tuple[str, str], ...], settings: Settings) -> RuntimeConfig:
    merged = {**RuntimeConfig.defaults(settings).model_dump(), **dict(stored)}
    try:
        return RuntimeConfig.model_validate(merged)
    except ValueError:
        # A value stored by an older version no longer validates: the defaults still run jobs.
        return RuntimeConfig.defaults(settings)


def update_config(client: redis.Redis, settings: Settings, update: RuntimeConfigUpdate) -> RuntimeConfig:
    changes = update.changes()
    if changes:
        client.hset(keys.config(), mapping={name: str(value) for name, value in changes.items()})
    return effective_config(client, settings)


def reset_config(client: redis.Redis) -> None:
    client.delete(keys.config())
