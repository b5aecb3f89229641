"""Long faults, run by ``make chaos`` (``-m chaos``); ``make test`` leaves them out.

``test_semantest_faults.py`` runs the same outage for 12 s in every ``make test``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fault_runs import StackFactory, assert_outage_absorbed, run_outage, stacks

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


@pytest.fixture
def make_stack(redis_url: str, tmp_path: Path) -> Iterator[StackFactory]:
    with stacks(redis_url, tmp_path) as make:
        yield make


@pytest.mark.timeout(900)
def test_outage_60s_every_job_succeeds_and_only_the_probes_connect(make_stack: StackFactory,
                                                                   redis_url: str) -> None:
    run = run_outage(make_stack, redis_url, outage=60, jobs=60)
    assert_outage_absorbed(run, redis_url, outage=60)
