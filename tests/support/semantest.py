"""Fixtures: the real local renderer as a subprocess, and session pools pointed at it.

A pytest plugin (listed in ``tests/conftest.py``), so the Semantest-client tests and the
worker pipeline tests use the same fixtures without importing one conftest from another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from scene_weaver.semantest import SessionPool
from scene_weaver.settings import Settings
from tests.support.renderer import RendererProcess, start_renderer

__all__ = ["LATENCY", "PoolFactory", "RendererFactory", "make_settings", "pool_factory", "renderer",
           "renderer_factory"]

LATENCY = 0.05

RendererFactory = Callable[..., RendererProcess]


@pytest.fixture
def renderer_factory() -> Iterator[RendererFactory]:
    """Start renderers (extra flags, ``latency``, ``port``: 0 for a free one); all are stopped afterwards."""
    started: list[RendererProcess] = []

    def factory(*args: str, latency: float = LATENCY, port: int = 0) -> RendererProcess:
        renderer = start_renderer(*args, latency=latency, port=port)
        started.append(renderer)
        return renderer

    yield factory
    for renderer in started:
        renderer.kill()


@pytest.fixture
def renderer(renderer_factory: RendererFactory) -> RendererProcess:
    return renderer_factory()


def make_settings(url: str, **overrides: Any) -> Settings:
    base = Settings(
        semantest_url=url,
        semantest_pool_size=2,
        semantest_request_timeout=10.0,
        semantest_events_request_timeout=10.0,
        semantest_handshake_timeout=3.0,
        semantest_slot_wait=5.0,
        semantest_connect_attempts=2,
        semantest_reconnect_max_wait=0.2,
        breaker_connect_failures=5,
        breaker_cooldown=1.0,
    )
    return base.model_copy(update=overrides)


PoolFactory = Callable[..., SessionPool]


@pytest.fixture
def pool_factory(redis_client: redis.Redis) -> Iterator[PoolFactory]:
    pools: list[SessionPool] = []

    def factory(url: str, **overrides: Any) -> SessionPool:
        pool = SessionPool.from_settings(make_settings(url, **overrides), redis_client)
        pools.append(pool)
        return pool

    yield factory
    for pool in pools:
        pool.close()
