"""``scene-weaver up``: the whole stack in the foreground, stopped as one.

Starts (when not pointed elsewhere) an embedded Redis and the local renderer,
then the Celery workers (scene jobs; webhook deliveries in a process of their own),
Flower and the API under gunicorn. Each child runs in its own process group;
SIGINT/SIGTERM stop them all — a polite SIGTERM first, a SIGKILL to any group still
alive after the grace period.

A worker process that exits on its own (killed, out of memory, or ended by kombu's
``Unrecoverable error`` after a Redis restart) is started again at once, then after a
backoff that doubles up to ``RESTART_BACKOFF_MAX`` while it keeps exiting; the jobs it held
are handed back by the reconciler when its heartbeat expires. Any other child that exits
stops the stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..errors import ConfigurationError
from ..renderer import ready_line
from ..settings import Settings
from ..users import DEMO_USER
from . import roles
from .children import die_with_parent
from .redis_server import EmbeddedRedis

__all__ = ["Supervisor", "run_up"]

GRACE_SECONDS = 10.0
RESTART_BACKOFF_MAX = 30.0
STABLE_SECONDS = 60.0  # a child that ran this long starts its backoff over when it exits
READY_TIMEOUT = 30.0
GUNICORN_CONFIG = roles.GUNICORN_CONFIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = False  # started again when it exits (worker processes)
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    due: float | None = None  # when an exited child is started again


@dataclass
class Supervisor:
    settings: Settings
    children: list[Child] = field(default_factory=list)
    redis: EmbeddedRedis | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def spawn(self, name: str, args: list[str], env: dict[str, str],
              ready_text: str | None = None, *, restart: bool = False) -> Child:
        child = Child(name, self._popen(args, env), args, env, restart)
        self.children.append(child)
        self._relay(child, ready_text)
        return child

    @staticmethod
    def _popen(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - PR_SET_PDEATHSIG has no Popen argument; prctl only, no locks
        )

    def _relay(self, child: Child, ready_text: str | None) -> None:
        name, process = child.name, child.process
        ready = threading.Event()
        threading.Thread(target=_relay, args=(name, process.stdout, ready_text, ready), daemon=True).start()
        if ready_text is not None and not ready.wait(READY_TIMEOUT):
            raise ConfigurationError(f"{name} did not become ready within {READY_TIMEOUT:.0f}s")

    def restart_exited(self, now: float) -> Child | None:
        """Start again a restartable child that exited (after its backoff); the first other child
        found exited is returned (the stack stops then)."""
        for child in self.children:
            code = child.process.poll()
            if code is None:
                continue
            if not child.restart:
                return child
            if child.due is None:
                ran = now - child.started_at
                if ran >= STABLE_SECONDS:
                    child.restarts = 0
                delay = 0.0 if child.restarts == 0 else min(RESTART_BACKOFF_MAX, 2.0 ** (child.restarts - 1))
                child.due = now + delay
                print(f"[up] {child.name} exited with {code}; starting it again in {delay:.0f}s", flush=True)
            if now >= child.due:
                child.process = self._popen(child.args, child.env)
                child.restarts += 1
                child.started_at, child.due = now, None
                self._relay(child, None)
        return None

    def stop(self) -> None:
        """Stop in reverse start order: the API first (no new jobs), Redis last."""
        self.stopping.set()
        deadline = time.monotonic() + GRACE_SECONDS
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[up] {child.name} did not stop in time; killing it", flush=True)
            # The group may hold grandchildren (gunicorn workers) that outlive the leader.
            _signal_group(child.process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(2)
        if self.redis is not None:
            self.redis.stop()

    def wait(self) -> int:
        """Block until a signal or until a child that is not restarted exits (then stop the rest)."""
        while not self.stopping.is_set():
            exited = self.restart_exited(time.monotonic())
            if exited is not None:
                print(f"[up] {exited.name} exited with {exited.process.returncode}; stopping the stack", flush=True)
                return 1
            self.stopping.wait(0.5)
        return 0


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _relay(name: str, stream: IO[bytes] | None, ready_text: str | None, ready: threading.Event) -> None:
    if stream is None:
        return
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if ready_text is not None and ready_text in line:
            ready.set()
        sys.stdout.write(f"[{name}] {line}\n")
        sys.stdout.flush()


def run_up(settings: Settings, *, workers: int = 1, api_workers: int = 2, with_flower: bool = True) -> int:
    settings = settings.with_jwt_secret()
    env = dict(os.environ)
    env["SCENE_WEAVER_ENV"] = settings.env
    env["JWT_SECRET_KEY"] = settings.jwt_secret_key
    env["IMAGE_STORE_DIR"] = str(settings.image_store_dir.resolve())
    env["SCENE_WEAVER_HOME"] = str(settings.state_dir.resolve())
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("WORKER_METRICS_PORT", "0")  # each worker process on a free port, named in its heartbeat
    sup = Supervisor(settings)

    def on_signal(signum: int, _frame: object) -> None:
        sup.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 1
    try:
        if settings.redis_url:
            env["REDIS_URL"] = settings.redis_url
        else:
            sup.redis = EmbeddedRedis(Path(settings.state_dir) / "redis").start()
            env["REDIS_URL"] = sup.redis.url
            print(f"[up] embedded Redis on {sup.redis.url} (data in {sup.redis.data_dir})", flush=True)
        if not settings.semantest_url:
            host, port = "127.0.0.1", settings.renderer_port
            sup.spawn("renderer", roles.local(roles.renderer(host, port)), env, ready_text=ready_line(host, port))
            env["SEMANTEST_URL"] = f"ws://{host}:{port}/ws"
            env["SEMANTEST_DIALECT"] = "weaver"
        for index in range(workers):
            sup.spawn(f"worker{index + 1}", roles.local(roles.worker(f"worker{index + 1}@%h")), env,
                      ready_text=roles.WORKER_READY, restart=True)
        # Deliveries run in their own process and queue: a slow receiver never takes a job slot.
        sup.spawn("webhooks", roles.local(roles.webhooks(settings.webhook_concurrency)), env,
                  ready_text=roles.WORKER_READY, restart=True)
        if with_flower:
            sup.spawn("flower", roles.local(roles.flower("127.0.0.1", settings.flower_port)),
                      _flower_env(settings, env))
        bind = f"{settings.api_host}:{settings.api_port}"
        sup.spawn("api", roles.local(roles.api(bind, api_workers)), env, ready_text=roles.API_READY)
        _banner(settings)
        code = sup.wait()
    except ConfigurationError as exc:
        print(f"[up] {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        print("[up] stopping…", flush=True)
        sup.stop()
        print("[up] stopped", flush=True)
    return code


def _flower_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """Flower's environment with its basic auth; production without FLOWER_BASIC_AUTH is refused."""
    auth = roles.flower_auth(settings.flower_basic_auth, production=settings.production,
                             demo_user=DEMO_USER, demo_password=settings.demo_password)
    if auth is None:
        raise ConfigurationError("FLOWER_BASIC_AUTH (user:password) is required to start Flower in production; "
                                 "set it, or start without Flower (--no-flower)")
    return {**env, "FLOWER_BASIC_AUTH": auth}


def _banner(settings: Settings) -> None:
    api = f"http://{settings.api_host}:{settings.api_port}"
    lines = [
        "",
        "Scene Weaver is up.",
        f"  API      {api}  (health: {api}/health)",
        f"  Flower   http://127.0.0.1:{settings.flower_port}  (basic auth: FLOWER_BASIC_AUTH"
        f"{'' if settings.production or settings.flower_basic_auth else ', here the demo login'})",
        f"  Metrics  {api}/metrics",
    ]
    if not settings.production:
        lines.append(f"  Login    username 'demo', password '{settings.demo_password}'")
    lines += ["  Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)
