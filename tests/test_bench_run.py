"""``make bench``'s report: the queue wait by priority reaches latest.json, latest.md and the PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402

from bench.bench_priority import summarise  # noqa: E402

WAITS = {"high": {"p50": 0.04, "p95": 0.1, "n": 31}, "normal": {"p50": 0.06, "p95": 5.3, "n": 31},
         "low": {"p50": 6.6, "p95": 12.7, "n": 31}}
PRIORITY = {"bench": "priority_wait", "backlog": {"low": 150, "normal": 150}, "wait_by_priority": WAITS}
PIPELINE = [{"bench": "pipeline", "workers": w, "pipeline_jobs_per_s": 10.0 * w, "baseline_celery_noop_per_s": 30.0 * w,
             "ratio": 0.33} for w in (1, 2)]


def _result(records: list[dict[str, Any]], failures: list[str]) -> dict[str, Any]:
    return {"finished_at": "2026-11-28T12:00:00+00:00", "seconds": 1.0, "quick": False,
            "machine": {"cpus": 2, "platform": "test", "python": "3.11"}, "failed_steps": failures,
            "records": records, "figures": run.headline(records, failures)}


def test_the_priority_bench_is_a_step() -> None:
    assert [step[0] for step in run.STEPS].count("bench_priority.py") == 1


def test_wait_by_priority_is_a_key_beside_every_headline_figure() -> None:
    figures = run.headline([PRIORITY, *PIPELINE], [])
    assert figures["wait_by_priority"] == WAITS
    assert set(run.FIGURES) <= set(figures) and figures["throughput_ratio"] == 0.33  # noqa: PLR2004
    assert not any("wait_by_priority" in note for note in figures["notes"])
    summary = run.summary(_result([PRIORITY, *PIPELINE], []))
    assert "| low | 6.6 | 12.7 | 31 |" in summary


def test_a_missing_priority_step_is_null_with_a_note() -> None:
    figures = run.headline(PIPELINE, ["bench_priority.py"])
    assert figures["wait_by_priority"] is None
    assert any(note.startswith("wait_by_priority: not measured") and "bench_priority.py" in note
               for note in figures["notes"])
    json.dumps(figures)


@pytest.mark.parametrize("records", [[PRIORITY, *PIPELINE], [PRIORITY], PIPELINE])
def test_the_plot_draws_what_was_measured(records: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "latest.png"
    assert run.plot(_result(records, []), path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_summarise_gives_p50_p95_and_n() -> None:
    waits = [float(i) for i in range(1, 101)]
    assert summarise(waits) == {"p50": 50.5, "p95": 95.05, "n": 100}
    assert summarise([0.25]) == {"p50": 0.25, "p95": 0.25, "n": 1}
    assert summarise([]) == {"p50": None, "p95": None, "n": 0}
