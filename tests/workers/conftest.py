"""A worker's job context over the real local renderer and a real Redis.

The renderer and the session pools come from the ``tests.support.semantest`` plugin, the
same fixtures the Semantest-client tests use.
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
from tests.support.renderer import RendererProcess
from tests.support.semantest import PoolFactory

__all__ = ["ContextFactory", "Notifications", "context_factory", "notifications"]

RUNNER = "worker-under-test"

ContextFactory = Callable[..., JobContext]


@pytest.fixture
def context_factory(pool_factory: PoolFactory, redis_client: redis.Redis, tmp_path: Path) -> ContextFactory:
    """``factory(renderer, **settings)``: what one worker process holds, pointed at ``renderer``."""

    def factory(target: RendererProcess, **overrides: Any) -> JobContext:
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
