"""Per-process resources: one Redis client, one job store, one Semantest session
pool — created on first use in the worker process, never at import time."""

from __future__ import annotations

import os
import secrets
import socket
import threading

from celery import current_app
from celery.signals import worker_shutdown

from scene_weaver import redis_urls
from scene_weaver.images import ImageStore
from scene_weaver.jobs import JobStore
from scene_weaver.pipeline import JobContext
from scene_weaver.prompt_cache import PromptCache
from scene_weaver.semantest import SessionPool
from scene_weaver.settings import Settings

__all__ = ["context", "pool", "close", "settings", "runner_id", "sessions_connected"]

_lock = threading.Lock()
_context: JobContext | None = None
_pool: SessionPool | None = None
_runner_lock = threading.Lock()
_runner: tuple[int, str] | None = None


def settings() -> Settings:
    """The settings the Celery app was built with (read from the environment as a fallback)."""
    configured = getattr(current_app.conf, "scene_weaver_settings", None)
    return configured if isinstance(configured, Settings) else Settings.from_env()


def runner_id() -> str:
    """This process's name in run locks and in its heartbeat: host, pid and a per-process nonce.

    The nonce tells a restarted process from the one it replaces when both get the same pid
    (a container's pid 1), so the dead one's locks are never taken for the new one's.
    """
    global _runner
    pid = os.getpid()
    with _runner_lock:
        if _runner is None or _runner[0] != pid:
            _runner = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(3)}")
        return _runner[1]


def sessions_connected() -> int:
    """Semantest sessions this process holds open (none before its first job)."""
    pool = _pool
    return int(pool.stats()["connected"]) if pool is not None else 0


def pool() -> SessionPool | None:
    """This process's session pool (None before its first job): read by the metrics collector."""
    return _pool


def context() -> JobContext:
    global _context, _pool
    if _context is not None:
        return _context
    with _lock:
        if _context is None:
            current = settings()
            client = redis_urls.client(current.require_redis_url(), health_check_interval=30)
            _pool = SessionPool.from_settings(current, client, owner=runner_id())
            _context = JobContext(
                settings=current,
                store=JobStore(client),
                images=ImageStore(current.image_store_dir),
                prompts=PromptCache(client),
                service=_pool,
                runner_id=runner_id(),
            )
    return _context


@worker_shutdown.connect
def close(**_: object) -> None:
    global _context, _pool
    with _lock:
        if _pool is not None:
            _pool.close()
        _pool = None
        _context = None
