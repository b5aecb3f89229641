"""A process's pool of Semantest sessions, shared by all of its worker threads.

``generate`` takes a permit from the fleet-wide breaker, a slot on one of the pool's
sessions (connecting it on first use, with tenacity backoff), then a fleet-wide
in-flight slot, and sends. A request whose session dies is retried once on another
session; a session that died is replaced by a fresh one that handshakes anew.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from .. import keys, metrics
from ..errors import CircuitOpen, GenerationFailed, JobCanceled, SemantestError, SessionLost
from ..settings import Settings
from .breaker import CircuitBreaker, Permit
from .events_session import EventsSession
from .models import GeneratedImage, GenerationRequest
from .semaphore import GlobalSemaphore
from .session import CANCEL_POLL, BaseSession, ProgressCallback
from .weaver_session import WeaverSession

__all__ = ["SessionPool", "ServiceTerms", "CONNECT_ATTEMPTS_COUNTER"]

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS_COUNTER = "semantest_connect_attempts"
PUBLISH_EVERY = 5.0
_SESSION_TYPES: dict[str, type[BaseSession]] = {
    WeaverSession.dialect: WeaverSession,
    EventsSession.dialect: EventsSession,
}


@dataclass(frozen=True)
class ServiceTerms:
    """The fleet-wide breaker's timing and in-flight slots, as a worker's scripts use them
    (scene_weaver.run_steps): the breaker's cool-down and probe recheck (s), and the slots'
    sorted set, limit, lease (s) and holder (this process's runner id)."""

    cooldown: float
    recheck: float
    slot_key: str
    slot_limit: int
    slot_lease: float
    slot_holder: str


def _ignore_progress(progress: int, stage: str) -> None:
    return None


def _never() -> bool:
    return False


def _retryable_connect_error(exc: BaseException) -> bool:
    return isinstance(exc, SemantestError) and exc.retryable and not isinstance(exc, CircuitOpen)


class SessionPool:
    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis,
        *,
        breaker: CircuitBreaker | None = None,
        semaphore: GlobalSemaphore | None = None,
        owner: str = "",
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.dialect = settings.semantest_dialect
        self.url = settings.semantest_url or f"ws://127.0.0.1:{settings.renderer_port}/ws"
        self._session_type = _SESSION_TYPES[self.dialect]
        request_timeout = max(settings.semantest_request_timeout, settings.semantest_events_request_timeout)
        hold = request_timeout + settings.semantest_handshake_timeout + 30.0
        self.breaker = breaker or CircuitBreaker.from_settings(redis_client, settings, probe_ttl=hold)
        self.semaphore = semaphore or GlobalSemaphore(
            redis_client, limit=settings.semantest_max_in_flight_global, hold_ttl=hold, owner=owner
        )
        self._cond = threading.Condition()
        self._sessions = [self._new_session() for _ in range(max(1, settings.semantest_pool_size))]
        self._closed = False
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None
        self._field = f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    def from_settings(cls, settings: Settings, redis_client: redis.Redis, owner: str = "") -> SessionPool:
        """``owner``: this process's runner id, named on its fleet-wide in-flight slots."""
        return cls(settings, redis_client, owner=owner)

    # --- the one entry point ------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback = _ignore_progress,
        should_cancel: Callable[[], bool] = _never,
        slot: str | None = None,
    ) -> GeneratedImage:
        """``slot``: a fleet-wide in-flight slot already taken for this request, while the breaker
        was closed (a worker's prepare step takes it in its own script, see :meth:`terms`): the
        first attempt sends on it without asking the breaker and the semaphore again. It is
        given back however the call ends."""
        reserved = [slot] if slot is not None else []
        try:
            if should_cancel():
                raise JobCanceled(f"request {request.request_id} canceled before sending")
            self._start_publisher()
            return self._attempt(request, on_progress, should_cancel, reserved)
        except SessionLost as lost:
            log.warning("request %s lost its session (%s); retrying once", request.request_id, lost.message)
            try:
                return self._attempt(request, on_progress, should_cancel, [])
            except CircuitOpen as circuit:
                # The request was sent once: this was a real attempt, lost with its session.
                raise lost from circuit
            except (GenerationFailed, JobCanceled):
                raise
            except SemantestError as again:
                if not again.retryable or again.code == "invalid_image":
                    raise
                raise SessionLost(
                    f"request {request.request_id} lost its session and the retry failed: {again.message}",
                    details={"first": lost.message, "retry": again.code},
                ) from again
        finally:
            if reserved:  # never sent on: give it back
                self.semaphore.release(reserved.pop())

    def _attempt(
        self, request: GenerationRequest, on_progress: ProgressCallback, should_cancel: Callable[[], bool],
        reserved: list[str],
    ) -> GeneratedImage:
        """One try; ``reserved`` holds a slot taken beforehand (then the breaker was closed: the
        permit is an ordinary one), handed to the send, which gives it back with its verdict."""
        permit = Permit() if reserved else self.breaker.acquire()
        deadline = time.monotonic() + self.settings.semantest_slot_wait
        try:
            session = self._checkout(deadline, should_cancel)
            try:
                self._ensure_connected(session, permit)
                return self._send_on(session, request, on_progress=on_progress, should_cancel=should_cancel,
                                     permit=permit, deadline=deadline, slot=reserved.pop() if reserved else None)
            finally:
                self._checkin(session)
        except SemantestError as exc:
            if permit.probe and exc.retryable and not isinstance(exc, CircuitOpen):
                # The probe asked the breaker's question with this request; the answer re-opened
                # it. The job waits like every other one rather than paying for the outage.
                raise CircuitOpen(f"Semantest circuit breaker re-opened: its probe failed ({exc.code}: "
                                  f"{exc.message})", retry_after=self.breaker.cooldown) from exc
            raise
        finally:
            self.breaker.release(permit)  # a no-op once the probe got its verdict

    def _send_on(
        self,
        session: BaseSession,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback,
        should_cancel: Callable[[], bool],
        permit: Permit,
        deadline: float,
        slot: str | None,
    ) -> GeneratedImage:
        token = slot if slot is not None else self.semaphore.acquire(deadline, should_cancel)
        # The slot goes back with the breaker's verdict, in one round trip.
        held = (self.semaphore.key, token)
        try:
            with metrics.semantest_request():
                image = session.submit(request, on_progress=on_progress, should_cancel=should_cancel)
        except SemantestError as exc:
            # A dropped session counts once against the breaker's window, not once per
            # request it carried: those are retried on another session at once.
            one_fault = not isinstance(exc, SessionLost) or permit.probe or session.first_to_report_loss()
            if exc.retryable and one_fault:
                self.breaker.record_failure(permit, held)
            elif isinstance(exc, GenerationFailed):
                self.breaker.record_success(permit, held)  # Semantest answered: it is up
            else:
                self.semaphore.release(token)
            raise
        except BaseException:
            self.semaphore.release(token)
            raise
        self.breaker.record_success(permit, held)
        return image

    # --- sessions and their slots -------------------------------------------------------

    def _new_session(self) -> BaseSession:
        return self._session_type(self.url, self.settings, on_state_change=self._session_changed)

    def _checkout(self, deadline: float, should_cancel: Callable[[], bool]) -> BaseSession:
        with self._cond:
            while True:
                if self._closed:
                    raise SemantestError("the session pool is closed", code="pool_closed")
                session = self._free_session()
                if session is not None:
                    session.reserved += 1
                    return session
                if should_cancel():
                    raise JobCanceled("canceled while waiting for a Semantest session")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SemantestError(
                        f"no free Semantest session slot within {self.settings.semantest_slot_wait:.0f}s",
                        code="slot_timeout",
                        retryable=True,
                    )
                self._cond.wait(min(left, CANCEL_POLL))

    def _free_session(self) -> BaseSession | None:
        """The least busy connected session with room, else one to connect; caller holds the lock."""
        best: BaseSession | None = None
        for index, listed in enumerate(self._sessions):
            if listed.dead:
                self._sessions[index] = self._new_session()
            session = self._sessions[index]
            if session.connected and session.reserved < session.capacity:
                if best is None or not best.connected or session.reserved < best.reserved:
                    best = session
            elif not session.connected and session.reserved == 0 and best is None:
                best = session
        return best

    def _checkin(self, session: BaseSession) -> None:
        with self._cond:
            session.reserved -= 1
            self._cond.notify()

    def _ensure_connected(self, session: BaseSession, permit: Permit) -> None:
        """Connect with backoff; every attempt is counted and judged by the breaker."""
        if session.connected:
            return
        with session.connect_lock:
            if session.connected:
                return
            retrying = Retrying(
                stop=stop_after_attempt(1 if permit.probe else max(1, self.settings.semantest_connect_attempts)),
                wait=wait_random_exponential(multiplier=0.1, max=self.settings.semantest_reconnect_max_wait),
                retry=retry_if_exception(_retryable_connect_error),
                reraise=True,
            )
            failed: list[SemantestError] = []
            try:
                for attempt in retrying:
                    with attempt:
                        self.breaker.ensure_closed(permit)
                        self.redis.hincrby(keys.counters(), CONNECT_ATTEMPTS_COUNTER, 1)
                        try:
                            session.connect()
                        except SemantestError as exc:
                            if exc.retryable:
                                failed.append(exc)
                                self.breaker.record_connect_failure(permit)
                            raise
            except CircuitOpen as circuit:
                if failed:  # this request did try to connect: report that, a real attempt
                    raise failed[-1] from circuit
                raise
            self.breaker.record_connect_success(permit)

    def _session_changed(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self._publish()

    # --- reporting ------------------------------------------------------------------------

    def circuit_state(self) -> str:
        """``closed``, ``open`` or ``half_open``: the fleet-wide breaker as it stands now."""
        return str(self.breaker.state()["state"])

    def terms(self) -> ServiceTerms:
        """What a worker's steps need to ask the breaker and take a slot in their own scripts."""
        return ServiceTerms(cooldown=self.breaker.cooldown, recheck=self.breaker.recheck,
                            slot_key=self.semaphore.key, slot_limit=self.semaphore.limit,
                            slot_lease=self.semaphore.hold_ttl, slot_holder=self.semaphore.owner)

    def stats(self) -> dict[str, Any]:
        with self._cond:
            sessions = list(self._sessions)
        connected = [s for s in sessions if s.connected]
        return {
            "dialect": self.dialect,
            "url": self.url,
            "sessions": len(sessions),
            "connected": len(connected),
            "in_flight": sum(s.in_flight for s in sessions),
            "busy": sum(1 for s in connected if s.in_flight),
            "capacity": sum(s.capacity for s in connected),
        }

    def _publish(self) -> None:
        stats = self.stats()
        record = {"connected": stats["connected"], "sessions": stats["sessions"],
                  "in_flight": stats["in_flight"], "dialect": self.dialect, "ts": time.time()}
        try:
            self.redis.hset(keys.semantest_sessions(), self._field, json.dumps(record))
        except redis.RedisError as exc:
            log.warning("cannot publish Semantest session counts: %s", exc)

    def _start_publisher(self) -> None:
        if self._publisher is not None:
            return
        with self._cond:
            if self._publisher is not None or self._closed:
                return
            self._publisher = threading.Thread(target=self._publish_loop, name="semantest-pool-publisher",
                                               daemon=True)
            self._publisher.start()

    def _publish_loop(self) -> None:
        while not self._stop.wait(PUBLISH_EVERY):
            self._publish()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            sessions = list(self._sessions)
            self._cond.notify_all()
        self._stop.set()
        for session in sessions:
            session.close()
        if self._publisher is not None:
            self._publisher.join(timeout=2.0)
        try:
            self.redis.hdel(keys.semantest_sessions(), self._field)
        except redis.RedisError as exc:
            log.warning("cannot withdraw Semantest session counts: %s", exc)
