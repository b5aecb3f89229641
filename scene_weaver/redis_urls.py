"""``REDIS_URL`` as every consumer needs it: a ``redis://`` URL or a Redis Sentinel one.

A Sentinel URL names the sentinels and the master they watch::

    sentinel://[:password@]host1:26379[,host2:26379...]/<master name>[/<db>]

The password (if any) is the master's. redis-py clients ask the sentinels for the master
(:func:`client`); the Celery broker gets kombu's form (``sentinel://h1:p1;sentinel://h2:p2``
with the ``master_name`` transport option, :func:`kombu_broker`); the API's rate limits
get the limits library's (``redis+sentinel://``, :func:`limits_storage_uri`). After a
failover each of them finds the new master through the sentinels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from .errors import ConfigurationError

__all__ = ["SentinelTarget", "parse_sentinel", "client", "kombu_broker", "limits_storage_uri", "SCHEME"]

SCHEME = "sentinel"
# How long a question to a sentinel may take (which master?), and its connect timeout.
SENTINEL_TIMEOUT = 2.0


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    password: str | None


def parse_sentinel(url: str) -> SentinelTarget | None:
    """The sentinels, master name, db and password of a ``sentinel://`` URL; None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    sentinels: list[tuple[str, int]] = []
    for item in filter(None, netloc.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(f"REDIS_URL: sentinel address {item!r} is not host:port")
        sentinels.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not sentinels or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):  # noqa: PLR2004
        raise ConfigurationError("REDIS_URL: a Sentinel URL is sentinel://host:port[,host:port]/<master>[/<db>]")
    password = unquote(parts.password) if parts.password else None
    return SentinelTarget(tuple(sentinels), unquote(path[0]), int(path[1]) if len(path) == 2 else 0,  # noqa: PLR2004
                          password)


def client(url: str, **kwargs: Any) -> redis.Redis:
    """A redis-py client for ``url``: ``redis.Redis.from_url`` or, for Sentinel, the master's client."""
    target = parse_sentinel(url)
    if target is None:
        return redis.Redis.from_url(url, **kwargs)
    sentinel = Sentinel(list(target.sentinels), socket_timeout=SENTINEL_TIMEOUT,
                        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT,
                                         "socket_connect_timeout": SENTINEL_TIMEOUT})
    return sentinel.master_for(target.master, db=target.db, password=target.password, **kwargs)


def kombu_broker(url: str) -> tuple[str, dict[str, Any]]:
    """The broker URL and the extra transport options Celery needs for ``url``."""
    target = parse_sentinel(url)
    if target is None:
        return url, {}
    auth = f":{target.password}@" if target.password else ""
    broker = ";".join(f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels)
    return broker, {"master_name": target.master,
                    "sentinel_kwargs": {"socket_timeout": SENTINEL_TIMEOUT,
                                        "socket_connect_timeout": SENTINEL_TIMEOUT}}


def limits_storage_uri(url: str) -> str:
    """The storage URI of the ``limits`` library (the API's rate limits) for ``url``."""
    target = parse_sentinel(url)
    if target is None:
        return url
    auth = f":{target.password}@" if target.password else ""
    hosts = ",".join(f"{host}:{port}" for host, port in target.sentinels)
    return f"redis+sentinel://{auth}{hosts}/{target.master}"
