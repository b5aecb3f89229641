"""Flower behind HTTP basic auth: headless Chromium, given the login, lists the jobs' tasks by
their readable name with the job id as argument; without it Flower answers 401."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from scene_weaver.stack import free_port, roles
from tests.support.browser import chromium_executable
from workers.queues import PROCESS_SCENE

from .processes import Proc, wait_until
from .stack import Stack
from .test_docs_browser import CHROMIUM_FLAGS

pytestmark = pytest.mark.e2e

LOGIN = ("ops", "flower-password-for-tests")


@pytest.fixture(scope="module")
def flowered(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    redis.Redis.from_url(redis_url).flushdb()
    stack = Stack(redis_url, tmp_path_factory.mktemp("flower"), TASK_EVENTS="1")
    port = free_port()
    flower = Proc("flower", roles.local(roles.flower("127.0.0.1", port)),
                  {**stack.env, "FLOWER_BASIC_AUTH": ":".join(LOGIN)})
    try:
        stack.start_renderer("--latency", "0.1")
        flower.start()
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), 60, what="Flower")
        stack.start_worker()
        stack.start_api(workers=1)
        yield stack, base
    finally:
        flower.stop()
        stack.stop()


def _answers(base: str) -> bool:
    try:
        requests.get(base + "/healthcheck", timeout=2)
        return True
    except requests.RequestException:
        return False


def _run_jobs(stack: Stack, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    ids = []
    for index in range(count):
        response = requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10,
                                 json={"speaker": "Iris", "dialogue": [f"Flower line {index}"]})
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])
    wait_until(lambda: all(requests.get(f"{stack.base}/v1/jobs/{i}", headers=headers, timeout=10).json()["status"]
                           == "succeeded" for i in ids), 90, interval=0.3, what="the jobs")
    return ids


def test_flower_lists_the_tasks_to_a_browser_with_the_login(flowered: tuple[Stack, str], tmp_path: Path) -> None:
    stack, base = flowered
    job_ids = _run_jobs(stack, 3)
    user, password = LOGIN
    # Flower learns of tasks from the workers' events: wait until its API has them all.
    wait_until(lambda: set(job_ids) <= {task.get("args", "") .strip("[]'\"") for task in requests.get(
        base + "/api/tasks", auth=LOGIN, timeout=10).json().values()}, 30, what="Flower to see the tasks")
    browser = chromium_executable()
    url = base.replace("http://", f"http://{user}:{password}@") + "/tasks"
    result = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
                            capture_output=True, text=True, timeout=90, check=False)
    dom = result.stdout
    assert "Flower" in dom, result.stderr[-2000:]
    assert PROCESS_SCENE in dom, dom[-3000:]
    for job_id in job_ids:
        assert job_id in dom, dom[dom.find("<tbody"):dom.find("</tbody>")][:3000]


def test_flower_without_the_login_is_401(flowered: tuple[Stack, str], tmp_path: Path) -> None:
    _, base = flowered
    for path in ("/", "/tasks", "/api/tasks", "/tasks/datatable"):
        response = requests.get(base + path, timeout=10)
        assert response.status_code == 401, path
    assert requests.get(base + "/tasks", auth=("ops", "wrong"), timeout=10).status_code == 401
    # The browser, without credentials, is shown no task either.
    result = subprocess.run([chromium_executable(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                             base + "/tasks"], capture_output=True, text=True, timeout=90, check=False)
    assert PROCESS_SCENE not in result.stdout
