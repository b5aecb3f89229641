"""The command each role of the stack runs: the one source for ``scene-weaver up``,
``docker-compose.yml`` and the tests' stacks.

A command starts with ``python -m``: ``up`` replaces ``python`` with its own interpreter
(:func:`local`); the image's ``python`` is the one the package is installed into. What
may differ between a laptop and a container is a parameter (an address, a port, a count
of API processes); everything else is written once here, and a test checks that every
service of ``docker-compose.yml`` runs exactly what these functions return.

Worker concurrency and pool come from the settings through the Celery app
(``WORKER_CONCURRENCY``; threads), so a scene worker's command never carries them.
"""

from __future__ import annotations

import sys

from ..constants import SCENE_QUEUES, WEBHOOK_QUEUE

__all__ = ["api", "worker", "webhooks", "flower", "renderer", "local", "GUNICORN_CONFIG", "PYTHON",
           "WORKER_READY", "API_READY", "flower_auth"]

PYTHON = "python"
# gunicorn's own answers as JSON with security headers, no server banner, tokens out of logs.
GUNICORN_CONFIG = "python:api.gunicorn_conf"
# What a role prints once it is ready (``up`` waits for it).
WORKER_READY = "ready."
API_READY = "Booting worker"
_CELERY = [PYTHON, "-m", "celery", "-A", "workers.main"]
# Flower's task list shows each task's arguments: a scene task's only argument is its job id.
FLOWER_COLUMNS = "name,uuid,state,args,received,runtime,worker"
_QUIET = ["--loglevel", "INFO", "--without-mingle", "--without-gossip"]


def api(bind: str, processes: int) -> list[str]:
    """gunicorn with the API's config; SIGTERM lets requests in progress end within 5 s."""
    return [PYTHON, "-m", "gunicorn", "--config", GUNICORN_CONFIG, "--bind", bind, "--workers", str(processes),
            "--graceful-timeout", "5", "api.wsgi:app"]


def worker(name: str | None = None) -> list[str]:
    """A scene worker: the three priority queues, drained in order. Without ``name`` Celery
    names it ``celery@<host>`` (a container's host name is unique, so compose can scale it)."""
    return [*_CELERY, "worker", "-Q", ",".join(SCENE_QUEUES), *(["-n", name] if name else []), *_QUIET]


def webhooks(concurrency: int) -> list[str]:
    """Webhook deliveries, in a process of their own: a slow receiver never holds a job slot."""
    return [*_CELERY, "worker", "-Q", WEBHOOK_QUEUE, "--concurrency", str(concurrency), "-n", "webhooks@%h",
            *_QUIET]


def flower(address: str, port: int) -> list[str]:
    """Flower; its basic auth comes from ``FLOWER_BASIC_AUTH`` in the environment (never the
    command line, which any local user can read)."""
    return [*_CELERY, "flower", f"--address={address}", f"--port={port}", f"--tasks_columns={FLOWER_COLUMNS}"]


def renderer(host: str, port: int) -> list[str]:
    return [PYTHON, "-m", "scene_weaver.renderer", "--host", host, "--port", str(port)]


def local(command: list[str]) -> list[str]:
    """The command with this interpreter as ``python`` (``up`` runs in a virtual environment)."""
    return [sys.executable if part == PYTHON and index == 0 else part for index, part in enumerate(command)]


def flower_auth(configured: str | None, *, production: bool, demo_user: str, demo_password: str) -> str | None:
    """Flower's ``user:password``: the configured one; in development, the demo user's; in
    production, None when unset (``up`` then refuses to start Flower)."""
    if configured:
        return configured
    if production:
        return None
    return f"{demo_user}:{demo_password}"
