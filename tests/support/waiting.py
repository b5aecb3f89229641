"""Wait on a condition with a deadline, never a fixed sleep: the suite must pass on a busy machine.

A test that needs something to have happened polls for it here. The deadline is generous
(it is only reached when the test fails), so a loaded machine makes the test slower, not red.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy, and return that; after ``timeout`` s, fail.

    The condition is asked once more at the deadline, so a slow poll never fails a check
    that holds. The failure (``TimeoutError``) names ``what`` and the last answer.
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer:
            return answer
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}; last answer: {answer!r}")
        time.sleep(min(interval, left))
