"""The whole stack as real processes: renderer, Celery workers, gunicorn."""

from __future__ import annotations

import os
from pathlib import Path

import redis
import requests

from scene_weaver import keys
from scene_weaver.stack import free_port, roles
from scene_weaver.users import UserStore
from tests.support.renderer import RendererProcess, start_renderer

from .processes import Proc, http_answers, wait_until

JWT_SECRET = "e2e-secret-e2e-secret-e2e-secret-0123456789"
ADMIN = ("e2e-admin", "e2e-admin-password")


class Stack:
    def __init__(self, redis_url: str, home: Path, **env_overrides: str) -> None:
        self.redis_url = redis_url
        self.home = home
        self.renderer_port = free_port()
        self.api_port = free_port()
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "SCENE_WEAVER_ENV": "development",
            "SCENE_WEAVER_HOME": str(home),
            "IMAGE_STORE_DIR": str(home / "images"),
            "JWT_SECRET_KEY": JWT_SECRET,
            "SEMANTEST_URL": f"ws://127.0.0.1:{self.renderer_port}/ws",
            "PYTHONUNBUFFERED": "1",
            "WORKER_CONCURRENCY": "8",
            **env_overrides,
        }
        self.renderer: RendererProcess | None = None
        self.workers: list[Proc] = []
        self.api: Proc | None = None
        self._admin_headers: dict[str, str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_renderer(self, *flags: str) -> RendererProcess:
        self.renderer = start_renderer(*flags, port=self.renderer_port, env=self.env)
        return self.renderer

    def start_worker(self, name: str | None = None, concurrency: int = 8) -> Proc:
        name = name or f"w{len(self.workers) + 1}"
        env = {**self.env, "WORKER_CONCURRENCY": str(concurrency)}
        worker = Proc(name, roles.local(roles.worker(f"{name}@%h")), env).start()
        worker.wait_for_line(roles.WORKER_READY, timeout=60)
        self.workers.append(worker)
        return worker

    def start_webhook_worker(self, concurrency: int = 4) -> Proc:
        """The webhook deliveries' own worker process, as `scene-weaver up` and compose run it."""
        worker = Proc("webhooks", roles.local(roles.webhooks(concurrency)), self.env).start()
        worker.wait_for_line(roles.WORKER_READY, timeout=60)
        self.workers.append(worker)
        return worker

    def start_api(self, workers: int = 2) -> Proc:
        self.api = Proc("api", roles.local(roles.api(f"127.0.0.1:{self.api_port}", workers)), self.env).start()
        api = self.api

        def answering() -> bool:
            if not api.alive:
                raise RuntimeError(f"gunicorn exited:\n{api.tail()}")
            return http_answers(self.base + "/health")

        wait_until(answering, 60, what="gunicorn")
        return self.api

    def stop(self) -> None:
        for proc in [self.api, *self.workers, self.renderer]:
            if proc is not None:
                proc.stop()

    def admin_headers(self) -> dict[str, str]:
        """An admin's token (``/health``'s details are for admins): one login per stack, under the rate limit."""
        if self._admin_headers is None:
            client = redis.Redis.from_url(self.redis_url)
            try:
                if not client.exists(keys.user(ADMIN[0])):
                    UserStore(client, rounds=4).add(*ADMIN, role="admin")
            finally:
                client.close()
            self._admin_headers = {"Authorization": f"Bearer {self.login(*ADMIN)}"}
        return self._admin_headers

    def login(self, username: str = "demo", password: str = "demo-password") -> str:
        response = requests.post(self.base + "/v1/auth/login",
                                 json={"username": username, "password": password}, timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])
