"""Webhooks: which URLs may receive them, how a delivery is signed and sent.

A delivery is a JSON body POSTed to the job's ``webhook_url`` with
``X-SceneWeaver-Timestamp: <unix seconds>`` and
``X-SceneWeaver-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">``.
Receivers recompute the HMAC with the shared secret and reject stale timestamps.

URLs are checked twice: by literal host when a job is submitted (no DNS lookups in
the web process), and by every resolved address just before sending, so a name
that later resolves to a denied address still gets nothing. A numeric host is read the
way a resolver reads it (``2130706433``, ``0x7f000001``, ``127.1`` and ``0177.0.0.1`` are
all 127.0.0.1) before it is checked. The delivery connects to an address that was checked,
never to a second lookup's answer (DNS rebinding).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import redis

from . import keys
from .errors import InvalidInput, SceneWeaverError
from .settings import Settings

__all__ = [
    "WEBHOOK_EVENTS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryFailed",
    "Delivery",
    "default_deny_list",
    "check_url",
    "check_resolved",
    "signing_secret",
    "sign",
    "verify",
    "delivery_for",
    "receiver_host",
    "send",
]

WEBHOOK_EVENTS = ("started", "progress", "completed")
SIGNATURE_HEADER = "X-SceneWeaver-Signature"
TIMESTAMP_HEADER = "X-SceneWeaver-Timestamp"

_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
            "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "fc00::/7", "fe80::/10", "::/128", "ff00::/8",
            # IPv6 forms that carry an IPv4 address: NAT64, 6to4, IPv4-compatible
            "64:ff9b::/96", "2002::/16", "::/96")
_LOOPBACK = ("127.0.0.0/8", "::1/128", "localhost")


class DeliveryFailed(SceneWeaverError):
    """The receiver did not answer 2xx; the task retries with backoff."""

    code = "webhook_delivery_failed"
    http_status = 502


_HOST_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?$")
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Delivery:
    url: str
    body: str


def default_deny_list(settings: Settings) -> tuple[str, ...]:
    """Private ranges always; loopback only in production (development tests receive on it)."""
    return _PRIVATE + _LOOPBACK if settings.production else _PRIVATE


def _deny_list(settings: Settings) -> tuple[str, ...]:
    return settings.webhook_deny if settings.webhook_deny is not None else default_deny_list(settings)


def _literal_address(host: str) -> _IPAddress | None:
    """The address a numeric host names, in any spelling a resolver accepts; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # inet_aton reads what getaddrinfo reads: 2130706433, 0x7f000001, 127.1, 0177.0.0.1
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _denied_address(address: str | _IPAddress, deny: Iterable[str]) -> bool:
    ip = address if isinstance(address, _IPAddress) else ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for entry in deny:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name entry
    return False


def _denied_name(host: str, deny: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for listed in deny:
        entry = listed.lower().lstrip("*.")
        if "/" in entry or not entry:
            continue
        if host == entry or host.endswith("." + entry):
            return True
    return False


def _refuse(url: str, reason: str) -> InvalidInput:
    return InvalidInput(f"webhook_url refused: {reason}", code="webhook_url_refused",
                        details={"field": "webhook_url", "url": url[:200]})


def check_url(url: str, settings: Settings) -> str:
    """The URL if it may receive webhooks; ``InvalidInput`` (422) naming why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse(url, "not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise _refuse(url, "only http and https URLs are allowed")
    host = parts.hostname
    if not host:
        raise _refuse(url, "the URL has no host")
    if parts.username or parts.password:
        raise _refuse(url, "credentials in the URL are not allowed")
    if port == 0:
        raise _refuse(url, "port 0 is not allowed")
    deny = _deny_list(settings)
    address = _literal_address(host)
    if address is None and not _HOST_NAME.match(host):
        raise _refuse(url, "the host is neither an address nor an ASCII host name (use punycode)")
    denied = _denied_address(address, deny) if address is not None else _denied_name(host, deny)
    if denied:
        read_as = f" ({address})" if address is not None and str(address) != host else ""
        raise _refuse(url, f"host {host}{read_as} is in the deny list")
    return url


def check_resolved(url: str, settings: Settings) -> list[str]:
    """The addresses the URL's host resolves to now, every one allowed; refused if any is denied.

    A delivery connects to one of these, so no later lookup can point it elsewhere (DNS rebinding).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    deny = _deny_list(settings)
    try:
        infos = socket.getaddrinfo(host, _port(parts.scheme, parts.port), proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DeliveryFailed(f"cannot resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        if _denied_address(address, deny):
            raise _refuse(url, f"host {host} resolves to a denied address")
    if not addresses:
        raise DeliveryFailed(f"{host} resolves to no address")
    return addresses


def _port(scheme: str, port: int | None) -> int:
    return port or (443 if scheme == "https" else 80)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to ``host`` (Host header), connected to addresses checked beforehand, never to a new lookup."""

    def __init__(self, host: str, port: int, addresses: Sequence[str], timeouts: tuple[float, float]) -> None:
        connect_timeout, read_timeout = timeouts
        super().__init__(host, port, timeout=read_timeout)
        self._addresses = addresses
        self._connect_timeout = connect_timeout

    def _open_socket(self) -> socket.socket:
        error: OSError = OSError("no address")
        for address in self._addresses:
            try:
                sock = socket.create_connection((address, self.port), self._connect_timeout)
            except OSError as exc:
                error = exc
                continue
            sock.settimeout(self.timeout)  # each read waits this long at most
            return sock
        raise error

    def connect(self) -> None:
        self.sock = self._open_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """HTTPS the same way; the certificate is checked against the URL's host name (SNI too)."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, addresses: Sequence[str], timeouts: tuple[float, float]) -> None:
        super().__init__(host, port, addresses, timeouts)
        self._context = ssl.create_default_context()

    def connect(self) -> None:
        self.sock = self._context.wrap_socket(self._open_socket(), server_hostname=self.host)


def signing_secret(settings: Settings) -> bytes:
    """``WEBHOOK_SECRET``, else a key derived from the JWT secret (same on API and workers)."""
    if settings.webhook_secret:
        return settings.webhook_secret.encode()
    base = settings.with_jwt_secret().jwt_secret_key.encode()
    return hmac.new(base, b"scene-weaver webhooks", hashlib.sha256).hexdigest().encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, tolerance: float = 300.0) -> bool:
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def delivery_for(client: redis.Redis, settings: Settings, job_id: str, options: dict[str, Any], *,
                 event: str, data: dict[str, Any]) -> Delivery | None:
    """The delivery a job event produces, or None (no webhook, event not wanted, progress throttled)."""
    url = options.get("webhook_url")
    wanted = options.get("webhook_events") or list(WEBHOOK_EVENTS)
    if not url or event not in wanted:
        return None
    if event == "progress":
        interval_ms = int(settings.webhook_progress_interval * 1000)
        if interval_ms > 0 and not client.set(keys.webhook_throttle(job_id), "1", nx=True, px=interval_ms):
            return None
    body = json.dumps({"event": event, "job_id": job_id, "sent_at": int(time.time()), **data},
                      separators=(",", ":"), sort_keys=True)
    return Delivery(url=str(url), body=body)


def _cut_off(connection: http.client.HTTPConnection, done: threading.Event) -> None:
    """End a delivery from another thread: shutting the socket down wakes a blocked read."""
    done.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def receiver_host(url: str) -> str:
    """The host a delivery's limits and backoff are kept for (lower case, no port)."""
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def send(delivery: Delivery, settings: Settings) -> int:
    """POST one delivery, signed now; raises ``DeliveryFailed`` unless the receiver answers 2xx."""
    check_url(delivery.url, settings)
    addresses = check_resolved(delivery.url, settings)
    parts = urlsplit(delivery.url)
    pinned = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = pinned(parts.hostname or "", _port(parts.scheme, parts.port), addresses,
                        (settings.webhook_connect_timeout, settings.webhook_timeout))
    body = delivery.body.encode()
    timestamp = int(time.time())
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The timeouts bound each read; a receiver dripping its answer a byte at a time is cut off
    # when the whole delivery has taken both of them (its host's lease outlives this).
    cut_off = threading.Event()
    watchdog = threading.Timer(settings.webhook_connect_timeout + settings.webhook_timeout, _cut_off,
                               (connection, cut_off))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", target, body=body, headers={
            "Content-Type": "application/json",
            "User-Agent": "scene-weaver-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(signing_secret(settings), timestamp, body),
        })
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed(f"could not reach the receiver: {exc}") from None
    finally:
        watchdog.cancel()
        connection.close()
    if cut_off.is_set():  # a cut-off answer may parse as complete: it is a failure all the same
        raise DeliveryFailed("the receiver took longer than the delivery timeouts")
    # A redirect could point at a denied host: a 3xx is a failed delivery like any non-2xx.
    if not HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
        raise DeliveryFailed(f"the receiver answered {status}", details={"status": status})
    return status
