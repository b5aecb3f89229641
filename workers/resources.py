"""Per-process resources: one Redis client, one job store, one Semantest session
pool — created on first use in the worker process, never at import time."""

from __future__ import annotations

import os
import socket
import threading

import redis
from celery import current_app
from celery.signals import worker_shutdown

from scene_weaver.images import ImageStore
from scene_weaver.jobs import JobStore
from scene_weaver.pipeline import JobContext
from scene_weaver.prompt_cache import PromptCache
from scene_weaver.semantest import SessionPool
from scene_weaver.settings import Settings

__all__ = ["context", "close", "settings"]

_lock = threading.Lock()
_context: JobContext | None = None
_pool: SessionPool | None = None


def settings() -> Settings:
    """The settings the Celery app was built with (read from the environment as a fallback)."""
    configured = getattr(current_app.conf, "scene_weaver_settings", None)
    return configured if isinstance(configured, Settings) else Settings.from_env()


def context() -> JobContext:
    global _context, _pool  # noqa: PLW0603 - this process's singletons, made on first use, never at import
    if _context is not None:
        return _context
    with _lock:
        if _context is None:
            current = settings()
            client = redis.Redis.from_url(current.require_redis_url(), health_check_interval=30)
            _pool = SessionPool.from_settings(current, client)
            _context = JobContext(
                settings=current,
                store=JobStore(client),
                images=ImageStore(current.image_store_dir),
                prompts=PromptCache(client),
                service=_pool,
                runner_id=f"{socket.gethostname()}:{os.getpid()}",
            )
    return _context


@worker_shutdown.connect
def close(**_: object) -> None:
    global _context, _pool  # noqa: PLW0603 - see context()
    with _lock:
        if _pool is not None:
            _pool.close()
        _pool = None
        _context = None
