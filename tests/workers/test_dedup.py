"""Identical generations drawn once: the result cache and single-flight, through ``run_job``
with a real Redis and the real renderer (its ``/stats`` counts what it drew)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from scene_weaver import keys, prompt_cache
from scene_weaver.jobs import JobStore
from scene_weaver.models import JobStatus, Scene
from scene_weaver.pipeline import JobContext, Outcome, run_job
from scene_weaver.prompt_cache import PromptCache
from scene_weaver.result_cache import hit_rate, serve_cached
from scene_weaver.runtime_config import effective_config
from scene_weaver.weaving import WEAVER_VERSION
from tests.support.semantest import RendererFactory
from tests.support.waiting import wait_until

from .conftest import ContextFactory

SCENE = Scene(speaker="Iris", dialogue=["Is the tide coming back for us?"], narration="Iris on the pier at dusk.")
OPTIONS = {"width": 96, "height": 64, "seed": 42}


def new_job(ctx: JobContext, scene: Scene = SCENE, **options: Any) -> str:
    return ctx.store.create("demo", scene, options={**OPTIONS, **options}).job_id


def types(store: JobStore, job_id: str) -> list[str]:
    return [event.type for event in store.events(job_id)]


def test_an_identical_generation_later_reuses_the_picture(renderer_factory: RendererFactory,
                                                          context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=0.2)
    ctx = context_factory(renderer)
    first, second = new_job(ctx), new_job(ctx)

    assert run_job(ctx, first) is Outcome.SUCCEEDED
    assert run_job(ctx, second) is Outcome.SUCCEEDED

    assert renderer.stats()["generated"] == 1
    drawn, shared = ctx.store.require(first), ctx.store.require(second)
    assert drawn.result is not None and shared.result is not None
    assert drawn.result["deduplicated"] is False and shared.result["deduplicated"] is True
    assert shared.result["sha256"] == drawn.result["sha256"]
    assert ctx.images.get(shared.result["sha256"], shared.result["mime_type"]) is not None
    # To its owner it is an ordinary success: same states, same prompt, progress 100.
    assert shared.status is JobStatus.SUCCEEDED and shared.progress == 100 and shared.prompt == drawn.prompt
    assert types(ctx.store, second)[:4] == ["queued", "started", "weaving", "generating"]
    assert types(ctx.store, second)[-1] == "completed"
    assert hit_rate(ctx.store.client) == {"hits": 1, "misses": 1, "hit_rate": 0.5}


def test_a_different_size_seed_or_caption_is_another_picture(renderer_factory: RendererFactory,
                                                             context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=0)
    ctx = context_factory(renderer)
    # A style without lettering leaves the dialogue out of the prompt, but the picture shows it.
    silent = Scene(speaker="Iris", dialogue=["One."], narration="Iris on the pier at dusk.", style="cinematic")
    jobs = [new_job(ctx), new_job(ctx, seed=43), new_job(ctx, width=128), new_job(ctx, silent),
            new_job(ctx, silent.model_copy(update={"dialogue": ["Two."]}))]
    for job_id in jobs:
        assert run_job(ctx, job_id) is Outcome.SUCCEEDED
    assert renderer.stats()["generated"] == len(jobs)
    assert not any(ctx.store.require(j).result["deduplicated"] for j in jobs)  # type: ignore[index]


def test_concurrent_duplicates_wait_for_the_one_in_flight(renderer_factory: RendererFactory,
                                                          context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=1.0)
    ctx = context_factory(renderer)
    jobs = [new_job(ctx) for _ in range(6)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        outcomes = list(pool.map(lambda j: run_job(ctx, j), jobs))
    assert outcomes == [Outcome.SUCCEEDED] * len(jobs)
    assert renderer.stats()["generated"] == 1
    results = [ctx.store.require(j).result for j in jobs]
    assert sum(not r["deduplicated"] for r in results) == 1  # type: ignore[index]
    assert len({r["sha256"] for r in results}) == 1  # type: ignore[index]


def test_force_draws_again_and_refreshes_the_cache(renderer_factory: RendererFactory,
                                                   context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=0)
    ctx = context_factory(renderer)
    first = new_job(ctx)
    assert run_job(ctx, first) is Outcome.SUCCEEDED
    forced = new_job(ctx, force=True)
    assert run_job(ctx, forced) is Outcome.SUCCEEDED
    assert renderer.stats()["generated"] == 2
    assert ctx.store.require(forced).result["deduplicated"] is False  # type: ignore[index]
    later = new_job(ctx)
    assert run_job(ctx, later) is Outcome.SUCCEEDED
    assert renderer.stats()["generated"] == 2
    assert ctx.store.require(later).result["deduplicated"] is True  # type: ignore[index]


def test_a_picture_gone_from_the_store_is_drawn_again(renderer_factory: RendererFactory,
                                                      context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=0)
    ctx = context_factory(renderer)
    first = new_job(ctx)
    assert run_job(ctx, first) is Outcome.SUCCEEDED
    result = ctx.store.require(first).result
    assert result is not None
    ctx.images.path_for(result["sha256"], result["mime_type"]).unlink()
    again = new_job(ctx)
    assert run_job(ctx, again) is Outcome.SUCCEEDED
    assert renderer.stats()["generated"] == 2
    assert ctx.images.get(result["sha256"], result["mime_type"]) is not None


def test_a_cache_entry_expires_after_result_cache_ttl(renderer_factory: RendererFactory,
                                                      context_factory: ContextFactory) -> None:
    ctx = context_factory(renderer_factory(latency=0), result_cache_ttl=3600)
    assert run_job(ctx, new_job(ctx)) is Outcome.SUCCEEDED
    [key] = ctx.store.client.keys(keys.result_cache("*"))
    assert 3500 < ctx.store.client.ttl(key) <= 3600


def test_a_waiter_canceled_while_it_waits_ends_canceled(renderer_factory: RendererFactory,
                                                        context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=3.0)
    ctx = context_factory(renderer)
    leader, waiter = new_job(ctx), new_job(ctx)
    with ThreadPoolExecutor(2) as pool:
        drawing = pool.submit(run_job, ctx, leader)
        wait_until(lambda: ctx.store.require(leader).status is JobStatus.GENERATING, 30, what="leader generating")
        waiting = pool.submit(run_job, ctx, waiter)
        wait_until(lambda: ctx.store.require(waiter).status is JobStatus.GENERATING, 30, what="waiter generating")
        ctx.store.request_cancel(waiter)
        assert waiting.result(timeout=30) is Outcome.CANCELED
        assert drawing.result(timeout=30) is Outcome.SUCCEEDED
    assert ctx.store.require(waiter).status is JobStatus.CANCELED


def test_the_prompt_cache_key_names_the_weaver_version(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PromptCache(redis_client)
    woven = cache.weave(SCENE, style=None, max_length=600)
    assert cache.weave(SCENE, style=None, max_length=600) == woven
    assert cache.hit_rate()["hits"] == 1
    before = PromptCache.key_for(SCENE, None, 600)
    monkeypatch.setattr(prompt_cache, "WEAVER_VERSION", WEAVER_VERSION + "-next")
    assert PromptCache.key_for(SCENE, None, 600) != before
    cache.weave(SCENE, style=None, max_length=600)  # a new weaver: not served the old prompt
    assert cache.hit_rate() == {"hits": 1, "misses": 2, "hit_rate": 0.3333}


def test_admission_serves_cached_jobs_without_a_worker(renderer_factory: RendererFactory,
                                                      context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=0)
    ctx = context_factory(renderer)
    drawn = new_job(ctx)
    assert run_job(ctx, drawn) is Outcome.SUCCEEDED
    other = Scene(speaker="Tomas", dialogue=["Not drawn yet."])
    jobs = [ctx.store.create("demo", SCENE, options=OPTIONS),
            ctx.store.create("demo", SCENE, options={**OPTIONS, "force": True}),
            ctx.store.create("demo", SCENE, options={**OPTIONS, "webhook_url": "http://127.0.0.1:9/hook"}),
            ctx.store.create("demo", other, options=OPTIONS),
            ctx.store.create("demo", SCENE, options=OPTIONS)]
    ctx.store.request_cancel(jobs[4].job_id)  # ended before admission got to it

    served = serve_cached(ctx.store, ctx.results, jobs, effective_config(ctx.store.client, ctx.settings))

    assert served == {jobs[0].job_id}
    job = ctx.store.require(jobs[0].job_id)
    first = ctx.store.require(drawn)
    assert job.status is JobStatus.SUCCEEDED and job.result is not None and first.result is not None
    assert job.result["deduplicated"] is True and job.result["sha256"] == first.result["sha256"]
    assert job.prompt == first.prompt and job.attempts == 1 and job.progress == 100
    assert types(ctx.store, jobs[0].job_id) == ["queued", "started", "weaving", "generating", "completed"]
    assert [ctx.store.require(j.job_id).status for j in jobs[1:]] == [
        JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.CANCELED]
    assert renderer.stats()["generated"] == 1
    assert hit_rate(ctx.store.client)["hits"] == 1


def test_the_cache_outlives_the_worker_that_filled_it(renderer_factory: RendererFactory,
                                                      context_factory: ContextFactory) -> None:
    renderer = renderer_factory(latency=0)
    before = context_factory(renderer)
    assert run_job(before, new_job(before)) is Outcome.SUCCEEDED
    before.service.close()  # type: ignore[attr-defined]  # that worker is gone; Redis and the store remain
    after = context_factory(renderer)  # a new process: new sessions, new caches over the same Redis
    job_id = new_job(after)
    assert run_job(after, job_id) is Outcome.SUCCEEDED
    assert after.store.require(job_id).result["deduplicated"] is True  # type: ignore[index]
    assert renderer.stats()["generated"] == 1
