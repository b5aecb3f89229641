"""The one launcher of the local renderer for tests: a real subprocess, ready when it prints its ready line.

Renderer, Semantest-client and whole-stack tests all start it here, so they wait for the same
line (``scene_weaver.renderer.ready_line``) and stop it the same way: by PID, never by name.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import requests

from scene_weaver.renderer import ready_line

__all__ = ["HOST", "RendererProcess", "start_renderer"]

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
STOP_GRACE = 5.0


class RendererProcess:
    """A running ``python -m scene_weaver.renderer``; its output is kept for failure messages."""

    def __init__(self, process: subprocess.Popen[bytes], host: str) -> None:
        self.process = process
        self.host = host
        self.port = 0
        self.output: deque[str] = deque(maxlen=400)
        self._lines = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stats(self) -> dict[str, int]:
        response = requests.get(f"{self.http_url}/stats", timeout=5)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def tail(self, lines: int = 60) -> str:
        with self._lines:
            return "\n".join(list(self.output)[-lines:])

    def wait_ready(self, port: int, timeout: float) -> None:
        """Wait for the ready line of ``port`` (0: whichever port the renderer bound), then record the port."""
        deadline = time.monotonic() + timeout
        with self._lines:
            while True:
                for line in self.output:
                    announced = _announced_port(line, self.host)
                    if announced is not None and port in (0, announced):
                        self.port = announced
                        return
                if not self.alive:
                    raise RuntimeError(f"renderer exited with {self.process.returncode}:\n{self.tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"renderer printed no ready line within {timeout}s:\n{self.tail()}")
                self._lines.wait(min(remaining, 0.2))

    def stop(self, sig: int = signal.SIGTERM, grace: float = STOP_GRACE) -> int:
        """Signal the process by its PID and wait for it; kill it only if it does not exit in time."""
        if self.alive:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                return self.kill()
        return self.process.wait()

    def kill(self) -> int:
        """SIGKILL: a crash, as far as its clients can tell."""
        if self.alive:
            os.kill(self.process.pid, signal.SIGKILL)
        return self.process.wait(10)

    def _pump(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        for raw in iter(stream.readline, b""):
            with self._lines:
                self.output.append(raw.decode(errors="replace").rstrip())
                self._lines.notify_all()
        stream.close()
        with self._lines:
            self._lines.notify_all()


def _announced_port(line: str, host: str) -> int | None:
    """The port a ready line announces for ``host``, else None.

    The text before the port is what ``ready_line`` gives for any two ports in common, and the
    line must equal ``ready_line`` for the port read, so the format is defined in one place only.
    """
    before_port = os.path.commonprefix([ready_line(host, 1), ready_line(host, 2)])
    digits = re.match(r"\d+", line[len(before_port):]) if line.startswith(before_port) else None
    if digits is None:
        return None
    port = int(digits.group())
    return port if line == ready_line(host, port) else None


def start_renderer(*flags: str, port: int = 0, latency: float | None = None,
                   env: Mapping[str, str] | None = None, timeout: float = STARTUP_TIMEOUT) -> RendererProcess:
    """Start the renderer on ``port`` (0: a free one it picks) and return once it is listening.

    ``latency`` goes before ``flags``, so a ``--latency`` among the flags wins.
    """
    args = [sys.executable, "-m", "scene_weaver.renderer", "--host", HOST, "--port", str(port)]
    if latency is not None:
        args += ["--latency", str(latency)]
    process = subprocess.Popen(
        [*args, *flags], cwd=ROOT, env={**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    renderer = RendererProcess(process, HOST)
    try:
        renderer.wait_ready(port, timeout)
    except BaseException:
        renderer.kill()
        raise
    return renderer
