"""Shared fixtures: a private real Redis per test session, flushed per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scene_weaver.stack import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A redis-server the tests own (never the machine's 6379): started here, stopped at the end."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_stray_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build Settings explicitly; an outer REDIS_URL must not leak into them."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    os.environ.setdefault("SCENE_WEAVER_ENV", "development")
