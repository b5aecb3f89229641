"""Child processes that cannot outlive the process that started them."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for Popen: on Linux the child gets SIGTERM when its parent dies,
    even by SIGKILL, so a killed supervisor never leaves a stack running."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
