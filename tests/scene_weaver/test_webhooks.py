"""Webhook signing, the URL policy and progress throttling."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis

from scene_weaver.errors import InvalidInput
from scene_weaver.settings import Settings
from scene_weaver.webhooks import Delivery, DeliveryFailed, check_url, delivery_for, send, sign, verify

DEV = Settings.from_env({"SCENE_WEAVER_ENV": "development"})
PROD = Settings.from_env({"SCENE_WEAVER_ENV": "production"})


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

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
    options = {"webhook_url": "http://127.0.0.1:1/h", "webhook_events": ["progress", "completed"]}
    assert delivery_for(redis_client, DEV, "j1", options, "started", {}) is None
    assert delivery_for(redis_client, DEV, "j1", {}, "completed", {}) is None
    first = delivery_for(redis_client, DEV, "j1", options, "progress", {"progress": 10})
    assert first is not None and '"progress":10' in first.body and first.url == options["webhook_url"]
    assert delivery_for(redis_client, DEV, "j1", options, "progress", {"progress": 20}) is None
    assert delivery_for(redis_client, DEV, "j1", options, "completed", {"status": "succeeded"}) is not None


# Spellings a resolver reads as an address (the probe's: all of them are 127.0.0.1 or 10.0.0.1).
NUMERIC_LOOPBACK = ["http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://0177.0.0.1/",
                    "http://0x7f.0.0.1/", "http://127.0.1/", "http://[::ffff:127.0.0.1]/"]
NUMERIC_PRIVATE = ["http://167772161/", "http://0x0a000001/", "http://10.1/", "http://012.0.0.1/"]
IPV4_IN_IPV6 = ["http://[64:ff9b::a00:1]/", "http://[64:ff9b::7f00:1]/", "http://[2002:a00:1::]/",
                "http://[2002:7f00:1::1]/", "http://[::10.0.0.1]/", "http://[::127.0.0.1]/"]


@pytest.mark.parametrize("url", NUMERIC_LOOPBACK + NUMERIC_PRIVATE + IPV4_IN_IPV6)
def test_numeric_spellings_and_ipv4_carrying_ipv6_are_refused_in_production(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_url(url, PROD)
    assert caught.value.code == "webhook_url_refused"


@pytest.mark.parametrize("url", NUMERIC_PRIVATE + IPV4_IN_IPV6)
def test_private_addresses_in_any_spelling_are_refused_in_development_too(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_url(url, DEV)


def test_canonical_public_addresses_and_names_stay_allowed() -> None:
    for url in ("http://93.184.216.34/hook", "http://1572395042/hook", "https://hooks.example.com/x",
                "https://[2606:2800:220:1:248:1893:25c8:1946]/"):
        assert check_url(url, PROD) == url
    with pytest.raises(InvalidInput):
        check_url("http://exa mple.com/", PROD)


class _Receiver:
    """A loopback HTTP server that records the bodies POSTed to it."""

    def __init__(self, address: str, port: int = 0) -> None:
        bodies: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.bodies = bodies
        self.server = ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_delivery_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to an allowed address when checked, to a denied one after.

    Both receivers are on loopback: 127.0.0.1 plays the allowed host, 127.0.0.2 the internal
    one the deny list protects.
    """
    allowed = _Receiver("127.0.0.1")
    internal = _Receiver("127.0.0.2", allowed.port)
    answers = iter(["127.0.0.1"])
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: str, port: object, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.2")  # first lookup: allowed; every later one: internal
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings = Settings.from_env({"WEBHOOK_DENY": "127.0.0.2/32", "JWT_SECRET_KEY": "k" * 40})
    try:
        status = send(Delivery(url=f"http://hooks.rebind.test:{allowed.port}/hook", body='{"event":"x"}'), settings)
    finally:
        allowed.close()
        internal.close()
    assert status == 204
    assert internal.bodies == []
    assert allowed.bodies == [b'{"event":"x"}']


def test_a_name_resolving_to_a_denied_address_gets_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    internal = _Receiver("127.0.0.2")
    real_getaddrinfo = socket.getaddrinfo

    def private(host: str, port: object, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.private.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.2", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", private)
    settings = Settings.from_env({"WEBHOOK_DENY": "127.0.0.2/32", "JWT_SECRET_KEY": "k" * 40})
    try:
        with pytest.raises(InvalidInput):
            send(Delivery(url=f"http://hooks.private.test:{internal.port}/", body="{}"), settings)
    finally:
        internal.close()
    assert internal.bodies == []


def test_non_2xx_and_redirects_are_failed_deliveries() -> None:
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(DeliveryFailed) as caught:
            send(Delivery(url=f"http://127.0.0.1:{server.server_address[1]}/", body="{}"),
                 Settings.from_env({"JWT_SECRET_KEY": "k" * 40}))
        assert caught.value.details == {"status": 302}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
