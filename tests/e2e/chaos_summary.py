"""The one summary line of each ``make chaos`` scenario, made and printed in one place.

Every scenario ends with exactly one line on stdout::

    chaos <scenario>: accepted=N succeeded=N failed=N lost=N duplicated=N

- accepted: jobs (or batch items) the API answered 202 for;
- succeeded / failed: their final statuses (``failed`` counts every other terminal status,
  ``canceled`` included: a chaos run cancels nothing, so any is a failure);
- lost: accepted but not terminal when the run's deadline passed, or missing altogether;
- duplicated: jobs with more than one ``completed`` event, plus any result written twice
  (a batch's results file listing an item more than once).

The line is printed before the test asserts anything, straight to the terminal (``capsys``
is bypassed), so a failing run prints it too; what else a run measured goes on the lines
after it, each indented. The test then calls :func:`assert_clean`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from scene_weaver import keys

__all__ = ["TERMINAL", "Tally", "assert_clean", "completed_counts", "report", "statuses_in_redis", "tally"]

TERMINAL = ("succeeded", "failed", "canceled")


@dataclass(frozen=True)
class Tally:
    accepted: int
    succeeded: int
    failed: int
    lost: int
    duplicated: int

    def line(self, scenario: str) -> str:
        return (f"chaos {scenario}: accepted={self.accepted} succeeded={self.succeeded} failed={self.failed} "
                f"lost={self.lost} duplicated={self.duplicated}")


def tally(statuses: Mapping[str, str | None], completed: Mapping[str, int], accepted: Iterable[str],
          extra_duplicates: int = 0) -> Tally:
    """The counts for the ``accepted`` ids, given each one's final status (None: missing) and
    its number of ``completed`` events; ``extra_duplicates``: results written twice found otherwise."""
    ids = list(accepted)
    final = [statuses.get(job_id) for job_id in ids]
    return Tally(
        accepted=len(ids),
        succeeded=sum(status == "succeeded" for status in final),
        failed=sum(status in TERMINAL and status != "succeeded" for status in final),
        lost=sum(status not in TERMINAL for status in final),
        duplicated=sum(completed.get(job_id, 0) > 1 for job_id in ids) + extra_duplicates,
    )


def statuses_in_redis(redis_url: str, job_ids: list[str]) -> dict[str, str | None]:
    """Each job's status as its record holds it (None: no record), in one pipelined round trip."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(keys.job(job_id), "status")
            return dict(zip(job_ids, pipe.execute(), strict=True))
    finally:
        client.close()


def completed_counts(redis_url: str, job_ids: list[str]) -> dict[str, int]:
    """How many ``completed`` events each job's stream holds, in one pipelined round trip."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.xrange(keys.job_events(job_id))
            streams = pipe.execute()
    finally:
        client.close()
    return {job_id: sum(fields.get("type") == "completed" for _, fields in events)
            for job_id, events in zip(job_ids, streams, strict=True)}


def report(capsys: pytest.CaptureFixture[str], scenario: str, counts: Tally, **detail: Any) -> None:
    """Print the scenario's summary line, then one indented line per measured detail."""
    with capsys.disabled():
        print(f"\n{counts.line(scenario)}", flush=True)
        for name, value in detail.items():
            print(f"    {scenario} {name}: {value}", flush=True)


def assert_clean(counts: Tally) -> None:
    assert counts.lost == 0, f"{counts.lost} accepted jobs lost: {counts}"
    assert counts.duplicated == 0, f"{counts.duplicated} jobs completed or written twice: {counts}"
    assert counts.accepted > 0 and counts.succeeded == counts.accepted, counts
