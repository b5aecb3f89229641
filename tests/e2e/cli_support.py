"""Running the real ``scene-weaver`` CLI in a subprocess against a stack, as a user would."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from .processes import PYTHON, ROOT
from .stack import Stack

__all__ = ["Cli", "Run", "separate_db", "slow_stack"]


def separate_db(redis_url: str, db: int) -> str:
    """The same redis-server, another database: a second stack in a module must not share the first
    one's queues (its worker would take the second stack's jobs)."""
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


@contextmanager
def slow_stack(redis_url: str, home: Path, db: int) -> Iterator[Stack]:
    """A stack whose renderer takes a minute a picture (a job is still running when it is canceled),
    on Redis database ``db`` of its own, emptied before and after."""
    url = separate_db(redis_url, db)
    redis.Redis.from_url(url).flushdb()
    stack = Stack(url, home)
    try:
        stack.start_renderer("--latency", "60")
        stack.start_worker()
        stack.start_api()
        yield stack
    finally:
        stack.stop()
        redis.Redis.from_url(url).flushdb()


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


class Cli:
    """The CLI of one user: its own config directory (tokens), the stack's URL in ``SCENE_WEAVER_URL``."""

    def __init__(self, stack: Stack, home: Path) -> None:
        self.config = home / "config"
        self.env = {**stack.env, "XDG_CONFIG_HOME": str(self.config), "SCENE_WEAVER_URL": stack.base,
                    "TERM": "xterm-256color", "COLUMNS": "160"}
        self.env.pop("NO_COLOR", None)

    @property
    def credentials(self) -> Path:
        return self.config / "scene-weaver" / "credentials.json"

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> Run:
        done = subprocess.run([PYTHON, "-m", "scene_weaver.cli", *args], input=stdin, env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)
        return Run(done.returncode, done.stdout, done.stderr)

    def login(self, username: str = "demo", password: str = "demo-password") -> Run:
        return self.run("login", "--username", username, "--password-stdin", stdin=password + "\n")

    def run_in_terminal(self, *args: str, timeout: float = 120) -> Run:
        """The command with standard error on a pseudo-terminal (standard output stays a pipe)."""
        leader, follower = pty.openpty()
        process = subprocess.Popen([PYTHON, "-m", "scene_weaver.cli", *args], env=self.env, cwd=ROOT,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
        os.close(follower)
        seen = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([leader], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(leader, 65536)
                    except OSError:  # the terminal closed: the process ended
                        break
                    if not chunk:
                        break
                    seen += chunk
                elif process.poll() is not None:
                    break
            stdout = process.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            os.close(leader)
        return Run(process.returncode, stdout.decode(), seen.decode(errors="replace"))
