"""``python -m scene_weaver.stack.healthcheck``: the image's one HEALTHCHECK, for every role.

It looks at what the container runs (the command line of PID 1, or ``--role``) and asks
the question that role can answer:

- a scene worker: is there a live heartbeat in Redis from this host (and this process,
  when the worker is PID 1)? A worker that stopped taking jobs, or lost Redis longer than
  ``WORKER_HEARTBEAT_TTL``, is unhealthy;
- the API: does ``/health/live`` answer 200;
- the renderer: does its ``/health`` answer 200;
- Flower and the webhook worker: does the process run (Flower: does its port accept).

Exit 0 healthy, 1 not (Docker's convention). Every question has a timeout.
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ..constants import SCENE_QUEUES
from ..heartbeats import HeartbeatStore
from ..redis_urls import client
from ..settings import Settings

__all__ = ["main", "role_of"]

TIMEOUT = 3.0


def role_of(argv: Sequence[str]) -> str:
    """The role a command line runs (the commands of :mod:`scene_weaver.stack.roles`)."""
    words = list(argv)
    if "gunicorn" in " ".join(words):
        return "api"
    if "scene_weaver.renderer" in words:
        return "renderer"
    if "flower" in words:
        return "flower"
    if "worker" in words:
        queues = words[words.index("-Q") + 1].split(",") if "-Q" in words[:-1] else list(SCENE_QUEUES)
        return "worker" if set(queues) & set(SCENE_QUEUES) else "webhooks"
    return "unknown"


def _pid1_argv() -> list[str]:
    try:
        return [part.decode() for part in Path("/proc/1/cmdline").read_bytes().split(b"\0") if part]
    except OSError:
        return []


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:  # noqa: S310 - a local http URL
            return int(answer.status) == 200  # noqa: PLR2004
    except OSError:
        return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
            return True
    except OSError:
        return False


def _worker_alive(settings: Settings, pid: int | None) -> bool:
    redis_client = client(settings.require_redis_url(), socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        host = socket.gethostname()
        return any(beat.hostname == host and (pid is None or beat.pid == pid) and beat.accepting
                   for beat in HeartbeatStore(redis_client).live())
    finally:
        redis_client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scene_weaver.stack.healthcheck")
    parser.add_argument("--role", choices=["api", "worker", "webhooks", "flower", "renderer"])
    parser.add_argument("--pid", type=int, help="the worker's pid (default: PID 1 when it is the worker)")
    args = parser.parse_args(argv)
    pid1 = _pid1_argv()
    role = args.role or role_of(pid1)
    settings = Settings.from_env()
    try:
        if role == "api":
            healthy = _http_ok(f"http://127.0.0.1:{settings.api_port}/health/live")
        elif role == "renderer":
            healthy = _http_ok(f"http://127.0.0.1:{settings.renderer_port}/health")
        elif role == "flower":
            healthy = _port_open(settings.flower_port)
        elif role == "worker":
            pid = args.pid if args.pid is not None else (1 if role_of(pid1) == "worker" else None)
            healthy = _worker_alive(settings, pid)
        else:
            healthy = role == "webhooks"  # running is all it can say (it keeps no heartbeat)
    except Exception as exc:  # noqa: BLE001 - any failure to answer is "unhealthy", with its reason
        print(f"unhealthy ({role}): {exc}", file=sys.stderr)
        return 1
    print(f"{'healthy' if healthy else 'unhealthy'} ({role})")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
