from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from .stack import Stack


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Renderer, one Celery worker and gunicorn over the session's private Redis."""
    redis.Redis.from_url(redis_url).flushdb()
    home: Path = tmp_path_factory.mktemp("stack")
    stack = Stack(redis_url, home)
    try:
        # A picture takes a second: a test that looks at a job before it is done (an image that is
        # not ready yet) still finds it unfinished when a busy machine is slow to ask.
        stack.start_renderer("--latency", "1")
        stack.start_worker()
        stack.start_api()
        yield stack
    finally:
        stack.stop()
