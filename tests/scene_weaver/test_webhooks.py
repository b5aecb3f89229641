"""Webhook signing, the URL policy, progress throttling, timeouts and per-host limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from scene_weaver.errors import InvalidInput
from scene_weaver.settings import Settings
from scene_weaver.webhook_hosts import ReceiverHosts
from scene_weaver.webhooks import Delivery, DeliveryFailed, check_url, delivery_for, send, sign, verify
from tests.support.waiting import wait_until

DEV = Settings.from_env({"SCENE_WEAVER_ENV": "development"})
PROD = Settings.from_env({"SCENE_WEAVER_ENV": "production"})


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    stamp = int(time.time())
    signature = sign(b"secret", stamp, b'{"a":1}')
    assert signature == "sha256=" + hmac.new(b"secret", f"{stamp}.".encode() + b'{"a":1}', hashlib.sha256).hexdigest()
    assert verify(b"secret", str(stamp), b'{"a":1}', signature)
    assert not verify(b"other", str(stamp), b'{"a":1}', signature)
    assert not verify(b"secret", str(stamp), b'{"a":2}', signature)
    assert not verify(b"secret", str(stamp - 3600), b'{"a":1}', sign(b"secret", stamp - 3600, b'{"a":1}'))


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://", "javascript:alert(1)",
                                 "http://10.0.0.5/hook", "http://192.168.1.1/", "http://169.254.169.254/latest",
                                 "http://[fd00::1]/", "http://user:pw@example.com/"])
def test_refused_urls(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_url(url, DEV)
    assert caught.value.code == "webhook_url_refused" and caught.value.http_status == 422


def test_loopback_is_allowed_in_development_only() -> None:
    assert check_url("http://127.0.0.1:9999/hook", DEV)
    for url in ("http://127.0.0.1:9999/hook", "http://localhost/hook", "http://[::1]/", "http://a.localhost/"):
        with pytest.raises(InvalidInput):
            check_url(url, PROD)
    assert check_url("https://hooks.example.com/x", PROD)


def test_deny_list_is_configurable() -> None:
    settings = Settings.from_env({"WEBHOOK_DENY": "203.0.113.0/24,blocked.example"})
    with pytest.raises(InvalidInput):
        check_url("http://203.0.113.9/", settings)
    with pytest.raises(InvalidInput):
        check_url("https://api.blocked.example/", settings)
    assert check_url("http://10.0.0.1/", settings)


def test_deliveries_follow_the_events_asked_for_and_progress_is_throttled(redis_client: redis.Redis) -> None:
    # An interval no busy machine outlasts between two calls: the second progress is throttled.
    settings = DEV.model_copy(update={"webhook_progress_interval": 60.0})
    options = {"webhook_url": "http://127.0.0.1:1/h", "webhook_events": ["progress", "completed"]}
    assert delivery_for(redis_client, settings, "j1", options, event="started", data={}) is None
    assert delivery_for(redis_client, settings, "j1", {}, event="completed", data={}) is None
    first = delivery_for(redis_client, settings, "j1", options, event="progress", data={"progress": 10})
    assert first is not None and '"progress":10' in first.body and first.url == options["webhook_url"]
    assert delivery_for(redis_client, settings, "j1", options, event="progress", data={"progress": 20}) is None
    assert delivery_for(redis_client, settings, "j1", options, event="completed", data={"status": "succeeded"}) is not None


def _hosts(client: redis.Redis, **env: str) -> ReceiverHosts:
    return ReceiverHosts(client, Settings.from_env({"SCENE_WEAVER_ENV": "development", **env}))


def test_one_host_gets_at_most_the_limit_in_flight_fleet_wide(redis_client: redis.Redis) -> None:
    # Two processes' views of the same Redis share the limit.
    first, second = _hosts(redis_client, WEBHOOK_HOST_LIMIT="2"), _hosts(redis_client, WEBHOOK_HOST_LIMIT="2")
    held = [first.try_acquire("slow.example"), second.try_acquire("slow.example")]
    assert all(held)
    assert first.try_acquire("slow.example") is None and second.try_acquire("slow.example") is None
    assert first.try_acquire("other.example") is not None  # another receiver is not held up
    first.release("slow.example", str(held[0]))
    assert second.try_acquire("slow.example") is not None


def test_a_lease_of_a_crashed_worker_ends_by_itself(redis_client: redis.Redis) -> None:
    hosts = _hosts(redis_client, WEBHOOK_HOST_LIMIT="1", WEBHOOK_CONNECT_TIMEOUT="0.1", WEBHOOK_TIMEOUT="0.1")
    hosts.lease = 0.3
    assert hosts.try_acquire("gone.example") is not None  # never released
    assert hosts.try_acquire("gone.example") is None
    wait_until(lambda: hosts.try_acquire("gone.example"), 10, interval=0.05, what="the lease to end")


def test_a_receiver_that_keeps_failing_is_backed_off_until_it_succeeds(redis_client: redis.Redis) -> None:
    hosts = _hosts(redis_client, WEBHOOK_HOST_FAILURES="3", WEBHOOK_BACKOFF_MAX="30")
    assert hosts.backoff("flaky.example") == 0
    hosts.failed("flaky.example")
    hosts.failed("flaky.example")
    assert hosts.backoff("flaky.example") == 0
    hosts.failed("flaky.example")
    first = hosts.backoff("flaky.example")
    hosts.failed("flaky.example")
    assert 0 < first < hosts.backoff("flaky.example") <= 30
    assert hosts.backoff("fine.example") == 0
    hosts.succeeded("flaky.example")
    assert hosts.backoff("flaky.example") == 0


class _Sleeper(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        _Sleeper.release.wait(30)

    def log_message(self, *args: object) -> None:
        pass


def test_a_receiver_slower_than_the_read_timeout_fails_the_delivery_in_time() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sleeper)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "development", "WEBHOOK_TIMEOUT": "0.5",
                                  "WEBHOOK_SECRET": secrets.token_hex(32)})
    try:
        started = time.monotonic()
        with pytest.raises(DeliveryFailed):
            send(Delivery(url=f"http://127.0.0.1:{server.server_address[1]}/hook", body="{}"), settings)
        # Bounded by the read timeout, not by the receiver's 30 s (generous for a busy machine).
        assert time.monotonic() - started < 15
    finally:
        _Sleeper.release.set()
        server.shutdown()
        server.server_close()


def test_webhook_timeouts_default_to_short_ones() -> None:
    assert DEV.webhook_connect_timeout == 2.0 and DEV.webhook_timeout == 5.0


class _Dripper(BaseHTTPRequestHandler):
    """Answers one header byte at a time, each well within the read timeout: only a total bound ends it."""

    stop = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            while not _Dripper.stop.wait(0.1):
                self.wfile.write(b"X")
                self.wfile.flush()
        except OSError:
            pass  # the sender cut us off

    def log_message(self, *args: object) -> None:
        pass


def test_a_receiver_dripping_its_answer_is_cut_off_after_both_timeouts() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Dripper)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "development", "WEBHOOK_TIMEOUT": "0.5",
                                  "WEBHOOK_CONNECT_TIMEOUT": "0.5", "WEBHOOK_SECRET": secrets.token_hex(32)})
    try:
        started = time.monotonic()
        with pytest.raises(DeliveryFailed):
            send(Delivery(url=f"http://127.0.0.1:{server.server_address[1]}/hook", body="{}"), settings)
        assert time.monotonic() - started < 15  # 1 s by the settings; the dripper would go on forever
    finally:
        _Dripper.stop.set()
        server.shutdown()
        server.server_close()
