"""The chaos summary line's counts (``chaos_summary.tally``): what is lost, what is duplicated."""

from __future__ import annotations

import re

from .chaos_summary import Tally, tally

LINE = re.compile(r"^chaos [a-z-]+: accepted=\d+ succeeded=\d+ failed=\d+ lost=\d+ duplicated=\d+$")


def test_every_accepted_job_is_counted_once_by_its_final_status() -> None:
    statuses = {"a": "succeeded", "b": "failed", "c": "canceled", "d": "running", "e": "succeeded"}
    counts = tally(statuses, {"a": 1, "e": 1}, ["a", "b", "c", "d", "e", "f"])
    # d is not terminal and f is missing: both lost; canceled counts as failed.
    assert counts == Tally(accepted=6, succeeded=2, failed=2, lost=2, duplicated=0)


def test_a_second_completion_or_result_is_a_duplicate() -> None:
    counts = tally({"a": "succeeded", "b": "succeeded"}, {"a": 2, "b": 1}, ["a", "b"], extra_duplicates=1)
    assert (counts.succeeded, counts.duplicated) == (2, 2)


def test_the_line_has_the_documented_format() -> None:
    line = Tally(accepted=3, succeeded=2, failed=1, lost=0, duplicated=0).line("worker-kills")
    assert line == "chaos worker-kills: accepted=3 succeeded=2 failed=1 lost=0 duplicated=0"
    assert LINE.match(line)
