"""Shared fixtures: Redis for the tests, never the machine's 6379.

A test that needs only a Redis client (``redis_client``, ``redis_backend``) runs twice:
on fakeredis, Lua scripts included, and on a real redis-server that the test session
starts. A test that hands the server's URL to other code (a Flask app, the Celery
broker, a subprocess: anything asking for ``redis_url``) runs on the real server only.
Every test that needs the real server carries the ``redis_server`` marker, so
``make test-fast`` (``-m "not e2e and not redis_server"``) starts no Redis process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fakeredis
import pytest
import redis

from scene_weaver.stack import EmbeddedRedis

pytest_plugins = ["tests.support.semantest"]

FAKE = "fakeredis"
REAL = "redis-server"


@dataclass(frozen=True)
class RedisBackend:
    """Where a test's Redis data lives; ``connect()`` opens one more client on it."""

    name: str
    connect: Callable[[], redis.Redis]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_backend" in metafunc.fixturenames and "redis_url" not in metafunc.fixturenames:
        metafunc.parametrize("redis_backend", [FAKE, REAL], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_real = callspec is not None and callspec.params.get("redis_backend") == REAL
        if on_real or "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis_server)


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
def redis_backend(request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    """fakeredis (a fresh server per test) or the session's real server, flushed before and after.

    Tests that also ask for ``redis_url`` are not parametrized and get the real server.
    """
    if getattr(request, "param", REAL) == FAKE:
        server = fakeredis.FakeServer()
        yield RedisBackend(FAKE, lambda: fakeredis.FakeRedis(server=server, decode_responses=True))
        return
    url: str = request.getfixturevalue("redis_url")
    backend = RedisBackend(REAL, lambda: redis.Redis.from_url(url, decode_responses=True))
    with backend.connect() as admin:
        admin.flushdb()
        yield backend
        admin.flushdb()


@pytest.fixture
def redis_client(redis_backend: RedisBackend) -> Iterator[redis.Redis]:
    client = redis_backend.connect()
    yield client
    client.close()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_stray_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build Settings explicitly; an outer REDIS_URL must not leak into them."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    os.environ.setdefault("SCENE_WEAVER_ENV", "development")
