"""The rate limits' Redis storage: a moving-window hit and the window it leaves, in one round trip.

flask-limiter counts a request with limits' acquire script, then reads the window with
limits' window script to write the ``X-RateLimit-*`` headers: two round trips for every
limited request. These storages are limits' own Redis storages (plain and sentinel) under a
scheme of their own, limits' documented way to add a storage: a hit sends both of limits'
scripts in one pipeline, and the window read that follows in the same request (the same
greenlet, for the same key, within a second) is answered from that reply.

If Redis has lost its scripts (a restart), the pipeline's replies are NOSCRIPT errors; the
hit then falls back to limits' own calls, which load them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from limits.storage import RedisSentinelStorage, RedisStorage
from redis.exceptions import NoScriptError

__all__ = ["storage_uri", "SCHEME_PREFIX"]

SCHEME_PREFIX = "scene-weaver+"
_FRESH_SECONDS = 1.0  # how long a hit's window answers a read of the same key


def storage_uri(uri: str) -> str:
    """The storage URI that selects these storages for limits' ``redis://`` or ``redis+sentinel://`` ``uri``."""
    return SCHEME_PREFIX + uri


class _WindowWithHit:
    """acquire_entry and get_moving_window of a RedisStorage, the second answered by the first."""

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)  # type: ignore[call-arg]
        # Per thread, and per greenlet under gunicorn's gevent workers (threading is patched).
        self._last_hit = threading.local()

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        storage: Any = self
        self._last_hit.window = None  # whatever happens next, an older hit's window answers nothing
        name = storage.prefixed_key(key)
        now = time.time()
        pipe = storage.get_connection().pipeline(transaction=False)
        # The arguments of RedisStorage.acquire_entry and RedisStorage.get_moving_window.
        pipe.evalsha(storage.lua_acquire_moving_window.sha, 1, name, now, limit, expiry, amount)
        pipe.evalsha(storage.lua_moving_window.sha, 1, name, now - expiry, limit)
        acquired, window = pipe.execute(raise_on_error=False)
        if isinstance(acquired, NoScriptError):
            return bool(super().acquire_entry(key, limit, expiry, amount))  # type: ignore[misc]
        if isinstance(acquired, Exception):
            raise acquired
        if not isinstance(window, Exception):
            self._last_hit.window = (key, now, (float(window[0]), int(window[1])) if window else (now, 0))
        return bool(acquired)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        last = getattr(self._last_hit, "window", None)
        self._last_hit.window = None
        if last is not None and last[0] == key and time.time() - last[1] < _FRESH_SECONDS:
            return last[2]  # type: ignore[no-any-return]
        return super().get_moving_window(key, limit, expiry)  # type: ignore[misc,no-any-return]


class OneTripRedisStorage(_WindowWithHit, RedisStorage):
    STORAGE_SCHEME = [SCHEME_PREFIX + "redis", SCHEME_PREFIX + "rediss"]


class OneTripRedisSentinelStorage(_WindowWithHit, RedisSentinelStorage):
    STORAGE_SCHEME = [SCHEME_PREFIX + "redis+sentinel"]
