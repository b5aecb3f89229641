"""A fault-injection hook for the reliability tests; it does nothing unless its variable is set.

``SCENE_WEAVER_DIE_ON_RECEIVE=<path>``: when this worker takes a scene message while the file
at ``path`` exists, it removes the file and SIGKILLs itself before the task starts: a crash
between taking a message and starting it, on cue (one crash per file).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

from celery.signals import task_received

from .queues import PROCESS_SCENE

__all__ = ["DIE_ON_RECEIVE"]

DIE_ON_RECEIVE = "SCENE_WEAVER_DIE_ON_RECEIVE"


@task_received.connect
def _maybe_die(request: Any = None, **_: object) -> None:
    path = os.environ.get(DIE_ON_RECEIVE)
    if not path or getattr(request, "name", None) != PROCESS_SCENE:
        return
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()  # only the process that removes the file dies
        os.kill(os.getpid(), signal.SIGKILL)
