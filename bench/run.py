"""`make bench`: every benchmark, each reporting against a baseline measured in the same run,
and the figures written to ``bench/results/``.

- parse + weave of a ~200 KB, 400+ entry script (target: well under 1 s);
- the Semantest session pool against the ideal S/L jobs per second (target: >= 0.9);
- submit latency of ``POST /v1/process`` against a bare Flask endpoint under the same gunicorn;
- the whole worker pipeline against raw Celery no-op tasks on the same machine, with 1, 2
  and 4 worker processes, and one worker's memory growth over 20,000 jobs;
- batches: a high job's wait behind 300 low items, another user's wait beside a 1,000-item
  batch, and a 400-entry script against the ideal entries x latency / slots;
- the same 1,000 scenes submitted again once drawn: served from the result cache (target: >= 20x);
- queue wait by priority: high, normal and low jobs submitted at a steady rate behind a backlog
  of 300 low and normal jobs, one worker process (p50, p95 and n per priority).

Each step prints JSON lines (the step's figures); this script echoes them, keeps them, and
writes ``bench/results/latest.json`` (the headline figures: a number, or null with the
reason in ``notes``; and ``wait_by_priority``, null when not measured), a dated copy, ``latest.md`` (a Markdown summary) and ``latest.png``
(throughput against worker processes, and queue wait by priority when measured).
``BENCH_QUICK=1`` shrinks every step (a smoke run of the harness, not figures to quote).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

QUICK = os.environ.get("BENCH_QUICK") == "1"
RSS_JOBS = 20000

STEPS: list[list[str]] = [
    ["bench_script.py"],
    ["bench_pool.py", "--latency", "0.2", "--slots", "16", "64", *(["--rounds", "5"] if QUICK else [])],
    ["bench_api.py", *(["--requests", "300"] if QUICK else [])],
    ["bench_pipeline.py", "--workers", "1", "2", "4",
     *(["--jobs", "100", "--baseline-tasks", "300", "--rss-jobs", "1500"] if QUICK else ["--rss-jobs", str(RSS_JOBS)])],
    ["bench_batches.py", "--latency", "0.2", "--slots", "8",
     *(["--samples", "2", "--cache-entries", "200"] if QUICK else [])],
    ["bench_dedup.py", "--scenes", "200" if QUICK else "1000", "--latency", "0.2"],
    ["bench_priority.py", *(["--backlog", "60", "--max-probe-seconds", "5"] if QUICK else [])],
]

# The headline figures, each with what it means (the Markdown summary prints both).
FIGURES: dict[str, str] = {
    "throughput_ratio": "jobs/s through the whole pipeline (POST /v1/process on gunicorn, worker, renderer at 0 "
                        "latency, succeeded) over raw Celery no-op tasks/s, 1 worker process (target >= 0.5)",
    "enqueued_throughput_ratio": "the same with the jobs written and enqueued from the benchmark, as the API does "
                                 "(the workers' share alone), 1 worker process",
    "worker_cpu_ratio": "raw Celery's worker CPU per no-op task over our worker's CPU per job, 1 worker process "
                        "(steadier than the rates on a busy machine)",
    "api_p99_ratio": "p99 of POST /v1/process over a bare Flask endpoint, same gunicorn (target <= 2)",
    "pool_utilisation_16": "Semantest pool jobs/s over the ideal S/L, S = 16 (target >= 0.9)",
    "pool_utilisation_64": "Semantest pool jobs/s over the ideal S/L, S = 64 (target >= 0.9)",
    "priority_high_wait_s": "a high job's wait behind 300 queued low items, seconds (target <= 0.5)",
    "fair_share_wait_s": "another user's job's wait beside a 1,000-item batch, seconds (target <= 2)",
    "cache_speedup": "a 1,000-scene batch uncached over the same batch fully cached (target >= 20)",
    "worker_rss_growth": "worker RSS after 20,000 jobs over RSS after 1,000, minus one (target < 0.10)",
}


def run_step(step: list[str], env: dict[str, str]) -> tuple[list[dict[str, Any]], int, float]:
    """Run one benchmark, echoing its output; its JSON lines, exit code and duration."""
    print(f"== {' '.join(step)}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(BENCH / step[0]), *step[1:]], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[dict[str, Any]] = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            record.setdefault("bench", Path(step[0]).stem.removeprefix("bench_"))
            lines.append(record)
    return lines, proc.wait(), time.monotonic() - started


def headline(records: list[dict[str, Any]], failures: list[str]) -> dict[str, Any]:
    """The figures of ``FIGURES`` from the steps' records; null with a note when one is missing."""
    figures: dict[str, Any] = dict.fromkeys(FIGURES)
    notes: list[str] = []
    waits: dict[str, Any] | None = None
    for record in records:
        kind = record.get("bench")
        if kind == "pipeline" and record.get("workers", 1) == 1:
            figures["throughput_ratio"] = record["ratio"]
            figures["enqueued_throughput_ratio"] = record.get("enqueued_ratio")
            if record.get("enqueued_worker_cpu_ms_per_job"):
                figures["worker_cpu_ratio"] = round(
                    record["baseline_cpu_ms_per_task"] / record["enqueued_worker_cpu_ms_per_job"], 3)
        elif kind == "pool" and record.get("S") in (16, 64):
            figures[f"pool_utilisation_{record['S']}"] = record["ratio"]
        elif kind == "worker_rss":
            figures["worker_rss_growth"] = record["growth"]
            if record.get("n", 0) < RSS_JOBS:
                notes.append(f"worker_rss_growth measured over {record.get('n')} jobs, not 20,000")
        elif kind == "api_latency":
            figures["api_p99_ratio"] = record["p99_ratio"]
        elif kind == "priority_wait":
            waits = record["wait_by_priority"]
        elif kind == "batches":  # the worst of the samples
            figures["priority_high_wait_s"] = record["high_wait_s"]["max"]
            figures["fair_share_wait_s"] = record["other_user_wait_s"]["max"]
            figures["cache_speedup"] = record["cache"]["speedup"]
    for name, value in figures.items():
        if value is None:
            notes.append(f"{name}: not measured by this run"
                         + (f" (failed steps: {', '.join(failures)})" if failures else " (no benchmark reports it yet)"))
    if waits is None:
        notes.append("wait_by_priority: not measured by this run"
                     + (f" (failed steps: {', '.join(failures)})" if failures else ""))
    # Not a single number: beside the headline figures, p50/p95 seconds and n per priority.
    figures["wait_by_priority"] = waits
    figures["notes"] = notes
    return figures


def summary(result: dict[str, Any]) -> str:
    figures = result["figures"]
    rows = [f"| `{name}` | {'null' if figures[name] is None else figures[name]} | {meaning} |"
            for name, meaning in FIGURES.items()]
    pipeline = [r for r in result["records"] if r.get("bench") == "pipeline"]
    scaling = [f"| {r['workers']} | {r['pipeline_jobs_per_s']} | {r.get('enqueued_jobs_per_s')} | "
               f"{r['baseline_celery_noop_per_s']} | {r['ratio']} | {r.get('enqueued_ratio')} | "
               f"{r.get('enqueued_worker_cpu_ms_per_job')} | {r.get('baseline_cpu_ms_per_task')} |" for r in pipeline]
    parts = [
        f"# Benchmark figures, {result['finished_at']}",
        "",
        f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}, "
        f"Python {result['machine']['python']}. `make bench` took {result['seconds']:.0f} s"
        + (" (BENCH_QUICK: a smoke run, not figures to quote)." if result["quick"] else "."),
        "",
        "| figure | value | what it is |",
        "|---|---|---|",
        *rows,
        "",
    ]
    if scaling:
        parts += ["## Throughput against worker processes", "",
                  "| workers | through the API, jobs/s | enqueued, jobs/s | raw Celery tasks/s | ratio | enqueued ratio "
                  "| our worker CPU ms/job | raw Celery CPU ms/task |", "|---|---|---|---|---|---|---|---|", *scaling, ""]
    waits = figures.get("wait_by_priority")
    if waits:
        parts += ["## Queue wait by priority under a backlog (seconds)", "", "| priority | p50 | p95 | n |",
                  "|---|---|---|---|", *[f"| {name} | {w['p50']} | {w['p95']} | {w['n']} |" for name, w in waits.items()],
                  ""]
    if figures["notes"]:
        parts += ["## Notes", "", *[f"- {note}" for note in figures["notes"]], ""]
    return "\n".join(parts)


def plot(result: dict[str, Any], path: Path) -> bool:
    """Throughput against worker processes, and queue wait by priority when a step reports it."""
    import matplotlib  # noqa: PLC0415 - only `make bench` needs it, and only here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    pipeline = sorted((r for r in result["records"] if r.get("bench") == "pipeline"), key=lambda r: r["workers"])
    waits = next((r.get("wait_by_priority") for r in result["records"] if r.get("wait_by_priority")), None)
    if not pipeline and not waits:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    left, right = axes
    if pipeline:
        workers = [r["workers"] for r in pipeline]
        left.plot(workers, [r["baseline_celery_noop_per_s"] for r in pipeline], "o-", label="raw Celery no-op")
        left.plot(workers, [r["pipeline_jobs_per_s"] for r in pipeline], "s-", label="Scene Weaver, through the API")
        if all(r.get("enqueued_jobs_per_s") for r in pipeline):
            left.plot(workers, [r["enqueued_jobs_per_s"] for r in pipeline], "^--", label="Scene Weaver, enqueued")
        left.set_xticks(workers)
        left.set(title="Throughput", xlabel="worker processes", ylabel="jobs per second")
        left.legend()
        left.grid(alpha=0.3)
    else:
        left.text(0.5, 0.5, "throughput: not measured in this run", ha="center", va="center")
        left.set_axis_off()
    if waits:
        # Each priority's p50 and p95 side by side; seconds on a log scale: a high job waits
        # milliseconds, a low one the whole backlog.
        names = [name for name in waits if waits[name].get("p95") is not None]
        places = range(len(names))
        for offset, quantile, shade in ((-0.2, "p50", "#2980b9"), (0.2, "p95", "#c0392b")):
            values = [max(waits[name][quantile], 1e-3) for name in names]
            bars = right.bar([x + offset for x in places], values, width=0.4, color=shade, label=quantile)
            right.bar_label(bars, labels=[f"{waits[name][quantile]:.2f}" for name in names], fontsize=8)
        right.set_xticks(list(places), [f"{name}\n(n={waits[name]['n']})" for name in names])
        right.set_yscale("log")
        right.set(title="Queue wait by priority under a backlog", ylabel="seconds (log scale)")
        right.legend()
        right.grid(alpha=0.3, axis="y")
    else:
        right.text(0.5, 0.5, "queue wait by priority: not measured in this run", ha="center", va="center")
        right.set_axis_off()
    fig.suptitle(f"make bench, {result['finished_at']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main() -> int:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    started = time.monotonic()
    records: list[dict[str, Any]] = []
    failures: list[str] = []
    for step in STEPS:
        lines, code, seconds = run_step(step, env)
        records += lines
        print(f"== {step[0]}: exit {code} in {seconds:.0f} s", flush=True)
        if code != 0:
            failures.append(step[0])
    finished = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result: dict[str, Any] = {
        "finished_at": finished.isoformat(),
        "seconds": round(time.monotonic() - started, 1),
        "quick": QUICK,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "failed_steps": failures,
        "records": records,
    }
    result["figures"] = headline(records, failures)
    RESULTS.mkdir(exist_ok=True)
    latest = RESULTS / "latest.json"
    # The headline keys at the top level (what a reader looks for), the detail beside them.
    latest.write_text(json.dumps({**result["figures"], "run": {k: v for k, v in result.items() if k != "figures"}},
                                 indent=2) + "\n")
    shutil.copyfile(latest, RESULTS / f"{finished.strftime('%Y-%m-%dT%H%M%SZ')}.json")
    (RESULTS / "latest.md").write_text(summary(result))
    plotted = plot(result, RESULTS / "latest.png")
    print(f"== figures: {json.dumps(result['figures'])}", flush=True)
    print(f"== wrote {latest}, latest.md{', latest.png' if plotted else ''} and a dated copy", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
