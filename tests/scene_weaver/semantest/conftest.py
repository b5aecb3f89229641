"""Fixtures: the real local renderer as a subprocess, and pools pointed at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from scene_weaver.redis_server import free_port
from scene_weaver.semantest import SessionPool
from scene_weaver.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
READY_LINE = "renderer listening on "


@dataclass
class Renderer:
    proc: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as resp:
            data: dict[str, Any] = json.load(resp)
            return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_renderer(port: int, *args: str, latency: float = 0.05) -> Renderer:
    """Start ``python -m scene_weaver.renderer`` and wait for its ready line."""
    cmd = [sys.executable, "-m", "scene_weaver.renderer", "--host", "127.0.0.1", "--port", str(port),
           "--latency", str(latency), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    ready = threading.Event()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if READY_LINE in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(20):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"renderer did not start: {''.join(seen)[-2000:]}")
    return Renderer(proc, port)


RendererFactory = Callable[..., Renderer]


@pytest.fixture
def renderer_factory() -> Iterator[RendererFactory]:
    started: list[Renderer] = []

    def factory(*args: str, latency: float = 0.05, port: int | None = None) -> Renderer:
        renderer = start_renderer(port or free_port(), *args, latency=latency)
        started.append(renderer)
        return renderer

    yield factory
    for renderer in started:
        renderer.stop()


@pytest.fixture
def renderer(renderer_factory: RendererFactory) -> Renderer:
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
        breaker_failure_threshold=5,
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
