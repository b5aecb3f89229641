"""Two changes to kombu's Redis transport: a workaround, and one client reused.

**A workaround for kombu's Redis transport losing its worker after a Redis restart.**

After the broker connection drops, Celery closes the old channel; closing restores the
channel's in-memory deliveries (``QoS.restore_unacked_once``) through a connection kombu has
already released, and fails with ``AttributeError: 'NoneType' object has no attribute
'hostname'``, which ends the worker ("Unrecoverable error"). Here that one failure is logged
instead: the deliveries stay in kombu's ``unacked`` hash and the reconciler
(:mod:`workers.reconciler`) hands them back once no live worker holds them. The late acks and
rejects of the same old channel are covered by ``workers.tasks.BrokerLossTolerantRequest``.

**One Redis client a channel, not one a call.** kombu's channel builds a new ``redis.Redis``
(``Channel.conn_or_acquire``) for every publish, every unacked record and every ack: with
redis-py 8 that object alone costs a quarter of a millisecond, three or four times a job.
A ``redis.Redis`` over a connection pool is safe to share between threads (each command takes
a connection from the pool), so each channel keeps one, made again when kombu replaces the
channel's pool (after a lost connection).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["reuse_channel_client", "tolerate_closed_connection"]

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


def reuse_channel_client() -> None:
    channel: Any = kombu_redis.Channel
    if getattr(channel.conn_or_acquire, "_scene_weaver_reused", False):
        return

    @contextlib.contextmanager
    def conn_or_acquire(self: Any, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        kept = self.__dict__.get("_scene_weaver_client")
        if kept is None or kept.connection_pool is not self.pool:
            kept = self.__dict__["_scene_weaver_client"] = self._create_client()
        yield kept

    conn_or_acquire._scene_weaver_reused = True  # type: ignore[attr-defined]
    channel.conn_or_acquire = conn_or_acquire


tolerate_closed_connection()
reuse_channel_client()
