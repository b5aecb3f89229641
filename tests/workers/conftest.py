"""A worker's job context over the real local renderer and a real Redis.

The renderer and the session pools are the Semantest tests' own fixtures, imported rather
than copied, so every test starts the renderer the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from scene_weaver.images import ImageStore
from scene_weaver.jobs import Job, JobStore
from scene_weaver.pipeline import JobContext
from scene_weaver.prompt_cache import PromptCache
from tests.scene_weaver.semantest.conftest import (
    PoolFactory,
    Renderer,
    RendererFactory,
    pool_factory,
    renderer,
    renderer_factory,
)

# The Semantest tests' fixtures, reused here (pytest finds a fixture by its name in a conftest).
__all__ = ["ContextFactory", "Notifications", "RendererFactory", "context_factory", "notifications",
           "pool_factory", "renderer", "renderer_factory"]

RUNNER = "worker-under-test"

ContextFactory = Callable[..., JobContext]


@pytest.fixture
def context_factory(pool_factory: PoolFactory, redis_client: redis.Redis, tmp_path: Path) -> ContextFactory:
    """``factory(renderer, **settings)``: what one worker process holds, pointed at ``renderer``."""

    def factory(target: Renderer, **overrides: Any) -> JobContext:
        pool = pool_factory(target.url, **overrides)
        return JobContext(settings=pool.settings, store=JobStore(redis_client), images=ImageStore(tmp_path / "images"),
                          prompts=PromptCache(redis_client), service=pool, runner_id=RUNNER)

    return factory


class Notifications:
    """What the pipeline told the webhook notifier, in order: ``(job_id, event, data)``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, job: Job, event: str, data: dict[str, Any]) -> None:
        self.seen.append((job.job_id, event, data))

    def events(self) -> list[str]:
        return [event for _, event, _ in self.seen]

    def completed(self) -> dict[str, Any]:
        [data] = [data for _, event, data in self.seen if event == "completed"]
        return data


@pytest.fixture
def notifications() -> Notifications:
    return Notifications()
