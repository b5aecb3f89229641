"""`scene-weaver up` (what `make run` runs): the whole stack from nothing, and Ctrl-C stops all of it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from scene_weaver.stack import free_port

from .processes import PYTHON, Proc, wait_until

pytestmark = pytest.mark.e2e


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


def test_up_serves_a_picture_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    api_port = free_port()
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "SEMANTEST_URL", "JWT_SECRET_KEY")}
    env.update({
        "SCENE_WEAVER_HOME": str(tmp_path / "state"),
        "API_PORT": str(api_port),
        "FLOWER_PORT": str(free_port()),
        "RENDERER_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    })
    up = Proc("up", [PYTHON, "-m", "scene_weaver.cli", "up"], env).start()
    try:
        up.wait_for_line("Scene Weaver is up.", timeout=90)
        base = f"http://127.0.0.1:{api_port}"
        wait_until(lambda: _status(base + "/health") == 200, 60, what="health")
        token = requests.post(base + "/v1/auth/login", timeout=10,
                              json={"username": "demo", "password": "demo-password"}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        job_id = requests.post(base + "/v1/process", headers=headers, timeout=10,
                               json={"speaker": "Iris", "dialogue": "Is the sea awake?"}).json()["job_id"]
        wait_until(lambda: requests.get(f"{base}/v1/jobs/{job_id}", headers=headers,
                                        timeout=5).json()["status"] == "succeeded", 60, what="job")
        image = requests.get(f"{base}/v1/jobs/{job_id}/image", headers=headers, timeout=10)
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert (tmp_path / "state" / "redis" / "appendonly.aof").exists() or \
            (tmp_path / "state" / "redis" / "appendonlydir").exists(), "embedded Redis runs with AOF"

        assert up.process is not None
        children = _descendants(up.process.pid)
        assert len(children) >= 5, "redis, renderer, worker, flower and gunicorn"
        # The README's promise: Ctrl-C stops every process it started within 15 seconds.
        promised = time.monotonic() + 15
        os.killpg(up.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        up.process.wait(20)
        assert time.monotonic() < promised, "the supervisor outlived its 15 s promise"
        wait_until(lambda: not any(_alive(pid) for pid in children), max(0.5, promised - time.monotonic()),
                   what="children to exit within the 15 s")
    finally:
        up.stop()


def test_a_killed_supervisor_takes_its_children_along(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "SEMANTEST_URL", "JWT_SECRET_KEY")}
    env.update({"SCENE_WEAVER_HOME": str(tmp_path / "state"), "API_PORT": str(free_port()),
                "FLOWER_PORT": str(free_port()), "RENDERER_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"})
    up = Proc("up", [PYTHON, "-m", "scene_weaver.cli", "up", "--no-flower"], env).start()
    try:
        up.wait_for_line("Scene Weaver is up.", timeout=90)
        assert up.process is not None
        children = _descendants(up.process.pid)
        assert len(children) >= 4
        up.process.kill()  # SIGKILL: no chance to clean up
        up.process.wait(5)
        wait_until(lambda: not any(_alive(pid) for pid in children), 15, what="orphans to exit")
    finally:
        up.stop()
