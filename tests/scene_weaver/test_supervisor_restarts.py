"""``scene-weaver up`` starts a worker process again when it exits; another child's exit stops the stack."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from scene_weaver.settings import Settings
from scene_weaver.stack.supervisor import Supervisor
from tests.support.waiting import wait_until


def _starts(path: Path) -> int:
    return len(path.read_text()) if path.exists() else 0


def test_an_exited_worker_is_started_again_with_a_growing_backoff(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    sup = Supervisor(Settings())
    try:
        child = sup.spawn("worker1", [sys.executable, "-c", f"open({str(starts)!r}, 'a').write('x')"], {},
                          restart=True)
        first_pid = child.process.pid
        assert wait_until(lambda: sup.restart_exited(time.monotonic()) is None and _starts(starts) >= 3, 30,
                          what="the worker started three times")
        assert child.process.pid != first_pid and child.restarts >= 2
        # Exiting again at once: the next start waits (1 s, 2 s, ... up to RESTART_BACKOFF_MAX).
        wait_until(lambda: child.process.poll() is not None, 10, what="the child to exit")
        sup.restart_exited(time.monotonic())
        assert child.due is not None and child.due > time.monotonic()
    finally:
        sup.stop()


def test_any_other_child_that_exits_stops_the_stack(tmp_path: Path) -> None:
    sup = Supervisor(Settings())
    try:
        api = sup.spawn("api", [sys.executable, "-c", "raise SystemExit(3)"], {})
        wait_until(lambda: api.process.poll() is not None, 10, what="the child to exit")
        assert sup.restart_exited(time.monotonic()) is api and sup.wait() == 1
    finally:
        sup.stop()
