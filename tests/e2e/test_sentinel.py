"""REDIS_URL as a Sentinel URL: a real Sentinel (`redis-server --sentinel`, loopback, its own
ports) watching one master; the API, the broker, the workers and the caches all find the
master through it, and jobs run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import requests

from scene_weaver import keys, redis_urls
from scene_weaver.stack import EmbeddedRedis, free_port, redis_server_binary

from .processes import Proc, wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

MASTER = "weaver-master"


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EmbeddedRedis]]:
    home = tmp_path_factory.mktemp("sentinel")
    master = EmbeddedRedis(home / "master", appendonly=False).start()
    port = free_port()
    config = home / "sentinel.conf"  # Sentinel rewrites its config file: one of its own
    config.write_text(f"port {port}\nbind 127.0.0.1\ndir {home}\n"
                      f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 1\n"
                      f"sentinel down-after-milliseconds {MASTER} 5000\n")
    sentinel = Proc("sentinel", [redis_server_binary(), str(config), "--sentinel"], {}).start()
    try:
        probe = redis.Redis(port=port, socket_timeout=2)
        wait_until(lambda: _master_known(probe), 30, what="Sentinel to know its master")
        yield f"sentinel://127.0.0.1:{port}/{MASTER}/0", master
    finally:
        sentinel.stop()
        master.stop()


def _master_known(probe: redis.Redis) -> bool:
    try:
        return bool(probe.sentinel_get_master_addr_by_name(MASTER))
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def sentinel_stack(sentinel_url: tuple[str, EmbeddedRedis], tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Stack]:
    url, _ = sentinel_url
    stack = Stack(url, tmp_path_factory.mktemp("sentinel-stack"))
    try:
        stack.start_renderer("--latency", "0.1")
        stack.start_worker()
        stack.start_api(workers=1)
        yield stack
    finally:
        stack.stop()


def test_sentinel_url_parses_for_every_consumer() -> None:
    url = "sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/mymaster/2"
    target = redis_urls.parse_sentinel(url)
    assert target is not None
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (target.master, target.db, target.password) == ("mymaster", 2, "pw")
    broker, options = redis_urls.kombu_broker(url)
    assert broker == "sentinel://:pw@10.0.0.1:26379/2;sentinel://:pw@10.0.0.2:26380/2"
    assert options["master_name"] == "mymaster"
    assert redis_urls.limits_storage_uri(url) == "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/mymaster"
    assert redis_urls.parse_sentinel("redis://127.0.0.1:6379/0") is None
    assert redis_urls.kombu_broker("redis://h:1/0") == ("redis://h:1/0", {})
    for bad in ("sentinel://127.0.0.1:26379", "sentinel://nohost/m", "sentinel://h:1/m/x"):
        with pytest.raises(Exception, match="REDIS_URL"):
            redis_urls.parse_sentinel(bad)


def test_jobs_run_through_sentinel(sentinel_stack: Stack, sentinel_url: tuple[str, EmbeddedRedis]) -> None:
    _, master = sentinel_url
    headers = {"Authorization": f"Bearer {sentinel_stack.login()}"}
    ids = []
    for index in range(5):
        response = requests.post(f"{sentinel_stack.base}/v1/process", headers=headers, timeout=10,
                                 json={"speaker": "Iris", "dialogue": [f"Through the sentinel {index}"]})
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])

    def statuses() -> list[str]:
        return [requests.get(f"{sentinel_stack.base}/v1/jobs/{i}", headers=headers, timeout=10).json()["status"]
                for i in ids]

    wait_until(lambda: statuses() == ["succeeded"] * 5, 90, interval=0.3, what="the jobs to succeed")
    # Everything is on the master the sentinel names: job records, the worker's heartbeat.
    direct = redis.Redis.from_url(master.url)
    assert all(direct.exists(keys.job(i)) for i in ids)
    assert direct.zcard(keys.worker_heartbeats()) >= 1
    health = requests.get(f"{sentinel_stack.base}/health", timeout=10)
    assert health.status_code == 200, health.text


def test_cli_reaches_redis_through_sentinel(sentinel_url: tuple[str, EmbeddedRedis]) -> None:
    url, master = sentinel_url
    client = redis_urls.client(url, socket_timeout=2)
    client.set("sw:test:sentinel", "yes")
    assert redis.Redis.from_url(master.url).get("sw:test:sentinel") == b"yes"
