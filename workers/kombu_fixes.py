"""A workaround for kombu's Redis transport losing its worker after a Redis restart.

After the broker connection drops, Celery closes the old channel; closing restores the
channel's in-memory deliveries (``QoS.restore_unacked_once``) through a connection kombu has
already released, and fails with ``AttributeError: 'NoneType' object has no attribute
'hostname'``, which ends the worker ("Unrecoverable error"). Here that one failure is logged
instead: the deliveries stay in kombu's ``unacked`` hash and the reconciler
(:mod:`workers.reconciler`) hands them back once no live worker holds them. The late acks and
rejects of the same old channel are covered by ``workers.tasks.BrokerLossTolerantRequest``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["tolerate_closed_connection"]

log = logging.getLogger(__name__)


def tolerate_closed_connection() -> None:
    qos: Any = kombu_redis.QoS
    original: Callable[..., Any] = qos.restore_unacked_once
    if getattr(original, "_scene_weaver_tolerant", False):
        return

    @functools.wraps(original)
    def restore_unacked_once(self: Any, stderr: Any = None) -> Any:
        try:
            return original(self, stderr)
        except AttributeError as exc:
            log.warning("kombu could not restore this channel's deliveries (%s); the reconciler will", exc)
            return None

    restore_unacked_once._scene_weaver_tolerant = True  # type: ignore[attr-defined]
    qos.restore_unacked_once = restore_unacked_once


tolerate_closed_connection()
