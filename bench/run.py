"""`make bench`: every benchmark, each reporting against a baseline measured in the same run.

- parse + weave of a ~200 KB, 400+ entry script (target: well under 1 s);
- the Semantest session pool against the ideal S/L jobs per second (target: >= 0.9);
- the whole worker pipeline against raw Celery no-op tasks on the same machine;
- batches: a high job's wait behind 300 low items, another user's wait beside a 1,000-item
  batch, and a 400-entry script against the ideal entries x latency / slots.
- the same 1,000 scenes submitted again once drawn: served from the result cache (target: >= 20x).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

STEPS = [
    ["bench_script.py"],
    ["bench_pool.py", "--latency", "0.2", "--slots", "16", "64"],
    ["bench_pipeline.py"],
    ["bench_batches.py", "--latency", "0.2", "--slots", "8"],
    ["bench_dedup.py", "--scenes", "1000", "--latency", "0.2"],
]


def main() -> int:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    failed = 0
    for step in STEPS:
        print(f"== {' '.join(step)}", flush=True)
        failed += subprocess.run([sys.executable, str(BENCH / step[0]), *step[1:]], env=env, check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
