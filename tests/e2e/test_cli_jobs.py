"""The ``scene-weaver`` CLI in a subprocess against a real stack: log in, submit one scene, watch it,
fetch its picture; exit codes, --json, stderr, and no bar or colour without a terminal."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from scene_weaver.stack import free_port

from .cli_support import Cli
from .cli_support import slow_stack as slow_stack_on
from .stack import Stack

pytestmark = pytest.mark.e2e

SCENE = "[0001] Iris: <<Do you think the lighthouse knows it is a lighthouse?>> (sits on the stairs)"


@pytest.fixture
def cli(stack: Stack, tmp_path: Path) -> Cli:
    return Cli(stack, tmp_path)


@pytest.fixture(scope="module")
def slow_stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with slow_stack_on(redis_url, tmp_path_factory.mktemp("slow"), db=6) as stack:
        yield stack


def test_login_keeps_tokens_only_the_user_can_read(cli: Cli) -> None:
    wrong = cli.login(password="not-the-password")
    assert wrong.code == 2
    assert "invalid_credentials" in wrong.stderr
    assert not cli.credentials.exists()

    done = cli.login()
    assert done.code == 0, done.stderr
    assert "logged in" in done.stderr and done.stdout == ""
    mode = stat.S_IMODE(cli.credentials.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(cli.credentials.parent.stat().st_mode) == 0o700
    assert "demo-password" not in cli.credentials.read_text()


def test_submit_one_scene_wait_json_then_fetch(cli: Cli, tmp_path: Path) -> None:
    assert cli.login().code == 0
    submitted = cli.run("submit", "--text", SCENE, "--priority", "high", "--wait", "--json")
    assert submitted.code == 0, submitted.stderr
    record = json.loads(submitted.stdout)  # one JSON object, nothing else on stdout
    assert record["status"] == "succeeded" and record["scene"]["speaker"] == "Iris"
    assert record["scene"]["entry_id"] == "0001"
    assert record["links"]["gallery"].startswith(f"/v1/jobs/{record['job_id']}/gallery?")
    # No terminal: no bar, no colour; a plain progress line and the gallery link on stderr.
    assert "\x1b[" not in submitted.stderr
    assert f"job {record['job_id']} accepted" in submitted.stderr
    assert "gallery: http://" in submitted.stderr

    status = cli.run("status", record["job_id"], "--json")
    assert status.code == 0 and json.loads(status.stdout)["status"] == "succeeded"
    human = cli.run("status", record["job_id"])
    assert human.code == 0 and f"job {record['job_id']}: succeeded" in human.stdout

    out = tmp_path / "out"
    fetched = cli.run("fetch", record["job_id"], "--out", str(out))
    assert fetched.code == 0, fetched.stderr
    assert sorted(path.name for path in out.iterdir()) == ["0001-Iris.png", "results.jsonl"]
    picture = Image.open(io.BytesIO((out / "0001-Iris.png").read_bytes()))
    picture.load()
    assert picture.format == "PNG" and picture.size[0] > 0
    (line,) = [json.loads(text) for text in (out / "results.jsonl").read_text().splitlines()]
    assert line["job_id"] == record["job_id"] and line["status"] == "succeeded"
    assert line["file"] == "0001-Iris.png" and line["entry_id"] == "0001"


def test_submit_without_wait_prints_the_id_and_watch_follows_it(cli: Cli) -> None:
    assert cli.login().code == 0
    submitted = cli.run("submit", "--text", "Tomas: <<It knows the sea.>>")
    assert submitted.code == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert len(job_id) == 32
    watched = cli.run("watch", job_id, "--json")
    assert watched.code == 0, watched.stderr
    assert json.loads(watched.stdout)["status"] == "succeeded"


def test_progress_bar_on_a_terminal(cli: Cli) -> None:
    assert cli.login().code == 0
    run = cli.run_in_terminal("submit", "--text", "[0002] Tomas: <<Only if someone remembered it.>>", "--wait")
    assert run.code == 0, run.stderr
    assert "\x1b[" in run.stderr  # drawn in place, in colour
    assert "100%" in run.stderr and "succeeded" in run.stderr
    assert ": succeeded (100%)" in run.stdout


def test_bad_usage_and_input_exit_2(cli: Cli, tmp_path: Path) -> None:
    assert cli.login().code == 0
    both = cli.run("submit", str(tmp_path / "x.txt"), "--text", SCENE)
    assert both.code == 2 and "not both" in both.stderr
    missing_file = cli.run("submit", str(tmp_path / "nope.txt"))
    assert missing_file.code == 2 and "unreadable_file" in missing_file.stderr
    two_scenes = cli.run("submit", "--text", "[0001] A: <<one>>\n\n[0002] B: <<two>>")
    assert two_scenes.code == 2 and "not_one_scene" in two_scenes.stderr
    unknown = cli.run("status", "0" * 32)
    assert unknown.code == 2 and "not_found" in unknown.stderr
    no_priority = cli.run("submit", "--text", SCENE, "--priority", "urgent")
    assert no_priority.code == 2


def test_not_logged_in_is_2_and_server_down_is_3(stack: Stack, tmp_path: Path) -> None:
    fresh = Cli(stack, tmp_path / "fresh")
    run = fresh.run("status", "0" * 32)
    assert run.code == 2 and "not_logged_in" in run.stderr and "scene-weaver login" in run.stderr

    down = fresh.run("login", "--url", f"http://127.0.0.1:{free_port()}", "--username", "demo",
                     "--password-stdin", stdin="demo-password\n")
    assert down.code == 3, down.stderr
    assert "server_unavailable" in down.stderr


def test_cancel_a_running_job_exits_1_when_watched(slow_stack: Stack, tmp_path: Path) -> None:
    cli = Cli(slow_stack, tmp_path)
    assert cli.login().code == 0
    job_id = cli.run("submit", "--text", SCENE).stdout.strip()
    canceled = cli.run("cancel", job_id, "--json")
    assert canceled.code == 0, canceled.stderr
    assert "cancel requested" in canceled.stderr
    watched = cli.run("watch", job_id, "--json")
    assert watched.code == 1, watched.stderr
    assert json.loads(watched.stdout)["status"] == "canceled"
    again = cli.run("cancel", job_id)
    assert again.code == 0  # canceled twice is no error: the job is canceled already
    fetched = cli.run("fetch", job_id, "--out", str(tmp_path / "out"))
    assert fetched.code == 1
    (line,) = [json.loads(text) for text in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert line["status"] == "canceled" and line["file"] is None
