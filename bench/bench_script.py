"""Benchmark: parse + weave a generated ~200 KB bracketed script of 400+ mixed tidy/messy entries.

Prints one JSON line: entries, warnings, the best-of-N seconds for parse and weave, and the
ratio to two references measured in the same run: a ``splitlines()`` + regex scan of the same
text (the floor any parser pays) and the 1 s target.
    .venv/bin/python bench/bench_script.py [--entries 420] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable

from scene_weaver.script import parse_script
from scene_weaver.weaving import weave_script

NAMES = ["Iris", "Tomas", "Architect", "Mara", "the keeper"]
PLACES = ["the lighthouse stairs", "the map room", "a glass observatory", "the harbour at dusk", "underwater"]
LINES = [
    "Do you think the lighthouse knows it is a lighthouse, or only that it is lit?",
    "Every map is a confession of what we chose to leave out, and every silence is a map.",
    "If I stop climbing, am I still someone who climbs, or only someone who remembers climbing?",
    "I am afraid of the void between the stars, and more afraid that it is not empty at all.",
    "Walls are only questions we stopped asking; a door is a wall that changed its mind.",
    "Time is the tide that erases our footprints, and we keep walking anyway, laughing.",
]


WEATHER = [
    "(rain drums on the glass while the lamp turns slowly above them, throwing long shadows across the floor)",
    "(the sea below is calm and silver; gulls circle the tower and a bell rings somewhere far off in the fog)",
    "(wind pulls at the shutters; old maps and photographs slide across the table and fall to the floor)",
]


def make_script(count: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    chunks = []
    for i in range(1, count + 1):
        name, other = rng.sample(NAMES, 2)
        line, reply = rng.choice(LINES), rng.choice(LINES)
        place = rng.choice(PLACES)
        kind = i % 4
        weather = " ".join(rng.sample(WEATHER, 2))
        if kind == 0:
            chunks.append(f"[{i:04d}] {name.title()}: <<{line}>> (looks out over the water) [[idea {i}]]")
        elif kind == 1:
            chunks.append(
                f"[{i:04d}] 2 panels. {name.title()} is sitting in {place}, holding a lantern, wearing a long "
                f"navy coat. She says: <<{line}\n{reply}>> Caption: <<Later that night.>>"
            )
        elif kind == 2:  # noqa: PLR2004 - the third of four templates
            chunks.append(
                f"[{i:04d}] A 3-panel strip in which {other.title()}, dressed as a medieval cartographer, "
                f"unrolls a map and says:\n<<{line}>> {name.title()} answers <<{reply}>> and later <<Please.>>"
            )
        else:
            chunks.append(
                f"[{i:04d}] [2-panel] The scene is now {place}. {name.title()}: <<{line}>>\n"
                f"{other.title()}: <<{reply}>> (smiles)\n\nChatGPT said:\n\nSure! Here is the next part."
            )
        chunks[-1] += f"\n{weather}"
        if i % 50 == 0:
            chunks.append(f"[{i:04d}] Archtect: <<A duplicate id, on purpose.>> [[unclosed note")
    return "\n\n".join(chunks) + "\n"


def best_of(runs: int, func: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=420)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    text = make_script(args.entries)
    scan_re = re.compile(r"^\[(\d+)\]|<<|>>|\[\[|\]\]")
    baseline = best_of(args.runs, lambda: [scan_re.findall(line) for line in text.splitlines()])
    result = parse_script(text)
    parse_seconds = best_of(args.runs, lambda: parse_script(text))
    weave_seconds = best_of(args.runs, lambda: weave_script(result))
    total = parse_seconds + weave_seconds
    print(json.dumps({
        "bytes": len(text.encode()),
        "entries": len(result.entries),
        "warnings": len(result.warnings),
        "skipped": len(result.skipped),
        "parse_seconds": round(parse_seconds, 4),
        "weave_seconds": round(weave_seconds, 4),
        "seconds": round(total, 4),
        "baseline_scan_seconds": round(baseline, 5),
        "ratio_to_scan": round(total / baseline, 1),
        "ratio_to_1s_target": round(total / 1.0, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
