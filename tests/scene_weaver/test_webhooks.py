"""Webhook signing, the URL policy and progress throttling."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
import redis

from scene_weaver.errors import InvalidInput
from scene_weaver.settings import Settings
from scene_weaver.webhooks import check_url, delivery_for, sign, verify

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
