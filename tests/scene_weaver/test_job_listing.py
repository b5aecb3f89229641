"""Paging through jobs newest first, by cursor or offset, filtered by status (real Redis)."""

from __future__ import annotations

import pytest
import redis

from scene_weaver import keys
from scene_weaver.errors import InvalidInput
from scene_weaver.job_listing import SCAN_BUDGET, decode_cursor, encode_cursor, list_jobs
from scene_weaver.jobs import JobStore
from scene_weaver.models import JobStatus, Scene

SCENE = Scene(speaker="Iris", dialogue=["Is the lighthouse aware?"])


def test_listing_pages_by_cursor_and_filters_by_status(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    ids = [store.create("demo", SCENE).job_id for _ in range(5)][::-1]
    store.request_cancel(ids[1])
    first = list_jobs(store, "demo", limit=2)
    assert [job.job_id for job in first.jobs] == ids[:2] and first.total == 5 and first.next_cursor
    rest = list_jobs(store, "demo", limit=10, cursor=first.next_cursor)
    assert [job.job_id for job in rest.jobs] == ids[2:] and rest.next_cursor is None
    assert [job.job_id for job in list_jobs(store, "demo", limit=2, offset=3).jobs] == ids[3:]
    canceled = list_jobs(store, "demo", limit=10, status=JobStatus.CANCELED)
    assert [job.job_id for job in canceled.jobs] == [ids[1]] and canceled.total == 5
    with pytest.raises(InvalidInput) as both:
        list_jobs(store, "demo", limit=2, cursor=first.next_cursor, offset=1)
    assert both.value.code == "invalid_paging"
    with pytest.raises(InvalidInput) as bad:
        list_jobs(store, "demo", limit=2, cursor="!!!")
    assert bad.value.code == "invalid_cursor"


def test_a_page_reads_at_most_the_scan_budget_then_gives_a_cursor(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    oldest = store.create("demo", SCENE).job_id
    # Ids whose records are gone (expired): read, counted against the budget, never listed.
    redis_client.zadd(keys.user_jobs("demo"), {f"gone-{n}": 2e9 + n for n in range(SCAN_BUDGET + 10)})
    short = list_jobs(store, "demo", limit=5)
    assert short.jobs == [] and short.total == SCAN_BUDGET + 11
    assert short.next_cursor == encode_cursor(2e9 + 10)
    rest = list_jobs(store, "demo", limit=5, cursor=short.next_cursor)
    assert [job.job_id for job in rest.jobs] == [oldest] and rest.next_cursor is None


def test_cursors_round_trip() -> None:
    assert decode_cursor(encode_cursor(1700000000.123456)) == 1700000000.123456
