"""The CLI with whole scripts (batches, issue 9): ``submit script.txt --wait`` follows a 100-entry
batch to its end, ``fetch`` writes every picture as <entry_id>-<speaker>.png in script order with
results.jsonl; the bar on a terminal; cancel; strict scripts refused with exit 2.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from .cli_support import Cli
from .cli_support import slow_stack as slow_stack_on
from .stack import Stack

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


pytestmark = pytest.mark.e2e

SPEAKERS = ["Iris", "Tomas", "Architect", "Mara"]


def _script(path: Path, entries: int, prefix: str = "") -> list[tuple[str, str]]:
    """A tidy script of ``entries`` entries; (entry id, speaker) in script order."""
    order, lines = [], []
    for n in range(1, entries + 1):
        entry_id, speaker = f"{n:04d}", SPEAKERS[n % len(SPEAKERS)]
        order.append((entry_id, speaker))
        lines.append(f"[{entry_id}] {speaker}: <<{prefix}Line {n}: does the lighthouse remember scene {n}?>> "
                     f"(stands by the lamp)\n")
    path.write_text("\n".join(lines), encoding="utf-8")
    return order


@pytest.fixture
def cli(stack: Stack, tmp_path: Path) -> Cli:
    cli = Cli(stack, tmp_path)
    assert cli.login().code == 0
    return cli


@pytest.fixture(scope="module")
def slow_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with slow_stack_on(redis_url, tmp_path_factory.mktemp("slow-batches"), db=7) as stack:
        yield stack


def test_hundred_entry_script_wait_then_fetch_in_script_order(cli: Cli, tmp_path: Path) -> None:
    order = _script(tmp_path / "script.txt", 100)
    submitted = cli.run("submit", str(tmp_path / "script.txt"), "--wait", "--json", timeout=600)
    assert submitted.code == 0, submitted.stderr
    record = json.loads(submitted.stdout)
    assert record["status"] == "completed"
    counts = record["request_counts"]
    assert counts["total"] == 100 and counts["succeeded"] == 100 and counts["failed"] == 0
    assert f"batch {record['batch_id']} accepted (100 scenes)" in submitted.stderr
    assert "\x1b[" not in submitted.stderr  # no terminal: no bar, no colour
    assert "100/100 scenes done" in submitted.stderr  # the last plain progress line

    out = tmp_path / "out"
    fetched = cli.run("fetch", record["batch_id"], "--out", str(out), timeout=300)
    assert fetched.code == 0, fetched.stderr
    names = [f"{entry_id}-{speaker}.png" for entry_id, speaker in order]
    assert sorted(path.name for path in out.glob("*.png")) == sorted(names)
    lines = [json.loads(text) for text in (out / "results.jsonl").read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(100))
    assert [line["entry_id"] for line in lines] == [entry_id for entry_id, _ in order]
    assert [line["file"] for line in lines] == names
    for name in names[::10]:
        picture = Image.open(io.BytesIO((out / name).read_bytes()))
        picture.load()
        assert picture.format == "PNG"

    status = cli.run("status", record["batch_id"])
    assert status.code == 0
    assert f"batch {record['batch_id']}: completed, 100/100 done" in status.stdout
    assert "gallery: http://" in status.stdout


def test_batch_bar_on_a_terminal(cli: Cli, tmp_path: Path) -> None:
    _script(tmp_path / "script.txt", 10, prefix="bar ")
    run = cli.run_in_terminal("submit", str(tmp_path / "script.txt"), "--wait", timeout=300)
    assert run.code == 0, run.stderr
    assert "\x1b[" in run.stderr  # a terminal gets colour
    shown = ANSI.sub("", run.stderr)  # what the user reads
    assert "10/10 done" in shown and "0 failed" in shown and "deduplicated" in shown
    assert ": completed, 10/10 done" in run.stdout


def test_watch_and_status_json_of_a_batch(cli: Cli, tmp_path: Path) -> None:
    _script(tmp_path / "script.txt", 5, prefix="watch ")
    batch_id = cli.run("submit", str(tmp_path / "script.txt")).stdout.strip()
    watched = cli.run("watch", batch_id, "--json", timeout=300)
    assert watched.code == 0, watched.stderr
    record = json.loads(watched.stdout)
    assert record["batch_id"] == batch_id and record["status"] == "completed"
    status = cli.run("status", batch_id, "--json")
    assert status.code == 0 and json.loads(status.stdout)["request_counts"]["succeeded"] == 5


def test_strict_script_with_warnings_is_exit_2(cli: Cli, project_root: Path) -> None:
    run = cli.run("submit", str(project_root / "examples/scripts/lighthouse_messy.txt"), "--strict")
    assert run.code == 2
    assert "script_invalid" in run.stderr


def test_cancel_a_batch_exits_1_when_watched(slow_stack: Stack, tmp_path: Path) -> None:
    cli = Cli(slow_stack, tmp_path)
    assert cli.login().code == 0
    _script(tmp_path / "script.txt", 20, prefix="cancel ")
    batch_id = cli.run("submit", str(tmp_path / "script.txt")).stdout.strip()
    canceled = cli.run("cancel", batch_id)
    assert canceled.code == 0, canceled.stderr
    watched = cli.run("watch", batch_id, "--json", timeout=300)
    assert watched.code == 1
    assert json.loads(watched.stdout)["status"] == "canceled"
    fetched = cli.run("fetch", batch_id, "--out", str(tmp_path / "out"))
    assert fetched.code == 1
    lines = [json.loads(text) for text in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 20 and all(line["status"] == "canceled" and line["file"] is None for line in lines)
