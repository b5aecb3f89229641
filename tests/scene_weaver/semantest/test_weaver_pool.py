"""The session pool against the real local renderer, `weaver` dialect."""

from __future__ import annotations

import json
import threading
import time

import pytest

from scene_weaver import keys
from scene_weaver.errors import GenerationFailed, JobCanceled, SemantestError, SessionLost
from scene_weaver.semantest import GeneratedImage
from tests.support.renderer import RendererProcess
from tests.support.semantest import PoolFactory, RendererFactory
from tests.support.waiting import wait_until

from .helpers import SIDE, expected_png, request


def test_generate_end_to_end_with_progress(renderer: RendererProcess, pool_factory: PoolFactory) -> None:
    pool = pool_factory(renderer.url)
    seen: list[tuple[int, str]] = []
    req = request()
    image = pool.generate(req, on_progress=lambda p, stage: seen.append((p, stage)))
    assert image.mime_type == "image/png"
    assert (image.width, image.height) == (SIDE, SIDE)
    assert image.data == expected_png(req)
    assert image.metadata["request_id"] == req.request_id
    progress = [p for p, _ in seen]
    assert progress == sorted(progress) and progress[0] == 0 and progress[-1] == 100
    stats = pool.stats()
    assert stats["dialect"] == "weaver" and stats["connected"] == 1 and stats["in_flight"] == 0


def test_sixteen_slots_run_concurrently(renderer_factory: RendererFactory, pool_factory: PoolFactory) -> None:
    # Long pictures, so all sixteen are seen in flight at the renderer at one instant however
    # slowly a busy machine starts the threads: concurrency is observed, not inferred from a stopwatch.
    renderer = renderer_factory("--max-in-flight", "8", latency=2.0)
    pool = pool_factory(renderer.url, semantest_pool_size=2, semantest_slot_wait=30.0)
    results: list[GeneratedImage] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(pool.generate(request()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    wait_until(lambda: renderer.stats()["in_flight"] == 16 or errors, 30, interval=0.02,
               what="sixteen requests in flight at once on two sessions")
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 16, errors
    assert renderer.stats()["generated"] == 16 and renderer.stats()["handshakes"] == 2
    assert pool.stats()["capacity"] == 16


def test_session_killed_mid_request_is_retried_on_a_new_session(
    renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    first = renderer_factory(latency=2.0)
    # The breaker is not under test here: on a loaded machine the second renderer can take
    # longer to start than the breaker's threshold of failed connects, so keep it out of the way.
    pool = pool_factory(first.url, semantest_connect_attempts=50, semantest_reconnect_max_wait=0.3,
                        breaker_connect_failures=1000)
    progress = threading.Event()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(pool.generate(request(), on_progress=lambda p, s: progress.set()))
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert progress.wait(10)
    first.kill()  # the session dies with the request in flight
    second = renderer_factory(latency=0.05, port=first.port)
    worker.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], GeneratedImage), outcome
    assert second.stats()["generated"] == 1


def test_drop_then_drop_again_raises_session_lost(
    renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    renderer = renderer_factory("--drop-rate", "1")
    pool = pool_factory(renderer.url)
    with pytest.raises(SessionLost) as caught:
        pool.generate(request())
    assert caught.value.retryable
    stats = renderer.stats()
    assert stats["dropped"] == 2 and stats["handshakes"] == 2  # retried once, on a fresh session


def test_content_rejected_fails_at_once(renderer_factory: RendererFactory, pool_factory: PoolFactory) -> None:
    renderer = renderer_factory("--fail-rate", "1", "--fail-code", "CONTENT_REJECTED")
    pool = pool_factory(renderer.url)
    with pytest.raises(GenerationFailed) as caught:
        pool.generate(request())
    assert caught.value.code == "CONTENT_REJECTED" and caught.value.retryable is False
    assert renderer.stats()["requests"] == 1
    assert pool.breaker.state()["failures"] == 0


def test_retryable_server_error_is_retryable(renderer_factory: RendererFactory, pool_factory: PoolFactory) -> None:
    renderer = renderer_factory("--fail-rate", "1", "--fail-code", "OVERLOADED")
    pool = pool_factory(renderer.url)
    with pytest.raises(GenerationFailed) as caught:
        pool.generate(request())
    assert caught.value.code == "OVERLOADED" and caught.value.retryable is True
    assert pool.breaker.state()["failures"] == 1


def test_cancel_sends_cancel_request_and_frees_the_slot(
    renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    renderer = renderer_factory(latency=3.0)
    pool = pool_factory(renderer.url, semantest_pool_size=1)
    started = threading.Event()
    with pytest.raises(JobCanceled):
        pool.generate(request(), on_progress=lambda p, s: started.set(), should_cancel=started.is_set)
    wait_until(lambda: renderer.stats()["canceled"] >= 1, 30, what="the renderer to see the cancel")
    assert renderer.stats()["canceled"] == 1
    assert pool.stats()["in_flight"] == 0
    assert pool.semaphore.holders() == 0


def test_garbage_frames_are_ignored(renderer_factory: RendererFactory, pool_factory: PoolFactory) -> None:
    renderer = renderer_factory("--malformed-rate", "1")
    pool = pool_factory(renderer.url)
    for _ in range(5):
        req = request()
        assert pool.generate(req).data == expected_png(req)
    assert renderer.stats()["handshakes"] == 1


def test_sessions_published_for_health(
    renderer: RendererProcess, pool_factory: PoolFactory, redis_client: object
) -> None:
    pool = pool_factory(renderer.url)
    pool.generate(request())
    published = redis_client.hgetall(keys.semantest_sessions())  # type: ignore[attr-defined]
    assert len(published) == 1
    record = json.loads(next(iter(published.values())))
    assert record["connected"] == 1 and record["ts"] > 0
    pool.close()
    assert redis_client.hgetall(keys.semantest_sessions()) == {}  # type: ignore[attr-defined]


def test_close_1013_is_retryable_overloaded(renderer_factory: RendererFactory, pool_factory: PoolFactory) -> None:
    renderer = renderer_factory("--overload")
    pool = pool_factory(renderer.url, semantest_connect_attempts=1)
    with pytest.raises(SemantestError) as caught:
        pool.generate(request())
    assert caught.value.code == "overloaded" and caught.value.retryable


def test_api_key_is_sent_and_a_refusal_is_final(
    renderer_factory: RendererFactory, pool_factory: PoolFactory
) -> None:
    renderer = renderer_factory("--api-key", "s3cret")
    assert pool_factory(renderer.url, semantest_api_key="s3cret").generate(request()).mime_type == "image/png"
    pool = pool_factory(renderer.url, semantest_api_key="wrong", semantest_connect_attempts=3)
    with pytest.raises(SemantestError) as caught:
        pool.generate(request())
    assert caught.value.code == "unauthorized" and caught.value.retryable is False
    assert pool.breaker.state()["failures"] == 0


def test_request_timeout(renderer_factory: RendererFactory, pool_factory: PoolFactory) -> None:
    latency, timeout = 60.0, 0.5
    renderer = renderer_factory(latency=latency)
    pool = pool_factory(renderer.url, semantest_request_timeout=timeout)
    started = time.monotonic()
    with pytest.raises(SemantestError) as caught:
        pool.generate(request())
    waited = time.monotonic() - started
    assert caught.value.code == "timeout" and caught.value.retryable
    # Gave up at its own timeout: not before it, and nowhere near the minute the picture takes.
    assert timeout <= waited < latency / 4, waited
    assert pool.semaphore.holders() == 0
