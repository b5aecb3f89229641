"""Real processes for whole-stack tests: started here, waited on, killed by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import redis
import requests

from scene_weaver.heartbeats import HeartbeatStore
from tests.support.waiting import wait_until

__all__ = ["PYTHON", "ROOT", "Proc", "http_answers", "wait_until"]

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


class Proc:
    """A child process in its own process group, with its output kept for failure messages."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.output: deque[str] = deque(maxlen=400)
        self.process: subprocess.Popen[bytes] | None = None
        self._lines = threading.Condition()

    def start(self) -> Proc:
        self.process = subprocess.Popen(
            self.args, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.process and self.process.stdout
        for raw in iter(self.process.stdout.readline, b""):
            with self._lines:
                self.output.append(raw.decode(errors="replace").rstrip())
                self._lines.notify_all()
        self.process.stdout.close()

    def wait_for_line(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lines:
            while not any(text in line for line in self.output):
                if self.process and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name}: no line containing {text!r}:\n{self.tail()}")
                self._lines.wait(min(remaining, 0.2))

    def tail(self, n: int = 60) -> str:
        return "\n".join(list(self.output)[-n:])

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: a crash, as far as the rest of the stack can tell."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        self.kill()


def http_answers(url: str) -> bool:
    """True once a server answers at all (even 503: /health is 503 with no workers)."""
    try:
        requests.get(url, timeout=1)
        return True
    except requests.RequestException:
        return False


def _running_jobs(client: redis.Redis, worker: Proc) -> bool:
    assert worker.process is not None
    return any(beat.pid == worker.process.pid and beat.in_flight > 0 for beat in HeartbeatStore(client).live())


def drain_workers(client: redis.Redis, workers: list[Proc], timeout: float = 60) -> list[int]:
    """SIGTERM while they run jobs; they must exit by themselves (never killed) and cleanly."""
    wait_until(lambda: all(_running_jobs(client, w) for w in workers), 30, interval=0.05,
               what="the extra workers to run jobs")
    for worker in workers:
        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGTERM)
    wait_until(lambda: not any(w.alive for w in workers), timeout, interval=0.2, what="the workers to drain and exit")
    return [int(w.process.returncode) for w in workers if w.process is not None]
