"""Prometheus metrics of a live stack (gunicorn with two processes, a real worker, the renderer),
the alert rules and the Grafana dashboard that read them, X-Request-ID and the JSON logs."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import pytest
import redis
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from scene_weaver import metrics
from scene_weaver.heartbeats import HeartbeatStore

from .processes import PYTHON, ROOT, wait_until
from .stack import Stack

pytestmark = pytest.mark.e2e

TOKEN = "metrics-token-for-the-e2e-stack"
JOBS = 4
_NAME = re.compile(r"\bscene_weaver_[a-z0-9_]+\b")
_GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@pytest.fixture(scope="module")
def metered(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(redis_url).flushdb()
    stack = Stack(redis_url, tmp_path_factory.mktemp("metrics"), METRICS_TOKEN=TOKEN, WORKER_METRICS_PORT="0")
    try:
        stack.start_renderer("--latency", "0.2")
        stack.start_api(workers=2)  # before the worker: its metrics take a free port, never the API's
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


def _scrape(url: str, token: str | None = None) -> dict[str, list]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(url, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    families: dict[str, list] = {}
    for family in text_string_to_metric_families(response.text):
        families.setdefault(family.name, [])
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
        for suffix in suffixes:  # a declared family is exported even before its first sample
            families.setdefault(family.name + suffix, [])
        for sample in family.samples:
            families.setdefault(sample.name, []).append(sample)
    return families


def _value(families: dict[str, list], name: str, **labels: str) -> float:
    return sum(s.value for s in families.get(name, []) if s.name == name
               and all(s.labels.get(k) == v for k, v in labels.items()))


def _run_jobs(stack: Stack) -> list[str]:
    token = stack.login()
    headers = {"Authorization": f"Bearer {token}"}
    ids = []
    for index in range(JOBS):
        response = requests.post(f"{stack.base}/v1/process", headers=headers, timeout=10, json={
            "speaker": "Iris", "dialogue": [f"Line {index % 2}"], "narration": "A lighthouse at night.",
            "priority": "high" if index == 0 else "normal"})
        assert response.status_code == 202, response.text
        ids.append(response.json()["job_id"])

    def all_done() -> bool:
        return all(requests.get(f"{stack.base}/v1/jobs/{i}", headers=headers, timeout=10).json()["status"]
                   == "succeeded" for i in ids)

    wait_until(all_done, 90, interval=0.3, what="the jobs to succeed")
    return ids


@pytest.fixture(scope="module")
def scraped(metered: Stack) -> dict[str, dict[str, list]]:
    """The API's and the worker's /metrics after a few jobs ran."""
    _run_jobs(metered)
    client = redis.Redis.from_url(metered.redis_url)
    beats = wait_until(lambda: [h for h in HeartbeatStore(client).live() if h.metrics_port], 30,
                       what="a heartbeat naming its metrics port")
    worker_url = f"http://127.0.0.1:{beats[0].metrics_port}/metrics"

    def worker_counted() -> dict[str, list] | None:
        families = _scrape(worker_url)
        done = _value(families, "scene_weaver_jobs_finished_total", status="succeeded")
        return families if done >= JOBS else None

    return {"api": _scrape(metered.base + "/metrics", TOKEN),
            "worker": wait_until(worker_counted, 30, what="the worker to count its jobs")}


def test_worker_targets_for_service_discovery(metered: Stack, scraped: dict[str, dict[str, list]]) -> None:
    assert requests.get(metered.base + "/metrics/targets", timeout=10).status_code == 401
    groups = requests.get(metered.base + "/metrics/targets", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=10).json()
    assert len(groups) == 1
    host, port = groups[0]["targets"][0].rsplit(":", 1)
    # The port each heartbeat names serves that worker's series.
    assert "scene_weaver_jobs_finished_total" in _scrape(f"http://127.0.0.1:{port}/metrics")
    assert groups[0]["labels"]["node"].startswith("w1@")


def test_metrics_need_the_token_when_one_is_set(metered: Stack) -> None:
    assert requests.get(metered.base + "/metrics", timeout=10).status_code == 401
    wrong = requests.get(metered.base + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"


def test_worker_series_count_what_ran(scraped: dict[str, dict[str, list]]) -> None:
    worker = scraped["worker"]
    assert _value(worker, "scene_weaver_jobs_finished_total", status="succeeded") == JOBS
    assert _value(worker, "scene_weaver_job_run_seconds_count", outcome="succeeded") == JOBS
    # Queue wait by priority, observed when a worker started each job.
    assert _value(worker, "scene_weaver_queue_wait_seconds_count", priority="high") == 1
    assert _value(worker, "scene_weaver_queue_wait_seconds_count", priority="normal") == JOBS - 1
    # Two scenes repeat: their prompts come from the prompt cache, and their pictures are drawn
    # once each (the repeats are served from the result cache or share the drawing in flight).
    assert _value(worker, "scene_weaver_semantest_request_duration_seconds_count", outcome="ok") == 2
    assert _value(worker, "scene_weaver_result_cache_requests_total", result="miss") == 2
    assert _value(worker, "scene_weaver_result_cache_requests_total", result="hit") == JOBS - 2
    assert _value(worker, "scene_weaver_prompt_cache_requests_total", result="hit") == JOBS - 2
    assert _value(worker, "scene_weaver_prompt_cache_requests_total", result="miss") == 2
    assert _value(worker, "scene_weaver_semantest_breaker_state", state="closed") == 1
    assert _value(worker, "scene_weaver_semantest_sessions", state="idle") >= 1


def test_api_series_are_summed_over_its_processes(metered: Stack, scraped: dict[str, dict[str, list]]) -> None:
    api = scraped["api"]
    # Two gunicorn processes answered the submissions; one scrape sums both.
    assert _value(api, "scene_weaver_http_requests_total", method="POST", route="/v1/process", status="202") == JOBS
    assert _value(api, "scene_weaver_http_request_duration_seconds_count", route="/v1/process") == JOBS
    assert _value(api, "scene_weaver_workers_live") == 1
    assert _value(api, "scene_weaver_queue_messages", priority="normal") == 0
    assert _value(api, "scene_weaver_redis_memory_used_bytes") > 0


def _expressions() -> list[tuple[str, str]]:
    found = []
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"alert {rule['alert']}", rule["expr"]))
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/scene-weaver.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found.append((f"panel {panel['title']!r}", target["expr"]))
    return found


def test_rules_and_dashboard_use_only_exported_names(scraped: dict[str, dict[str, list]]) -> None:
    exported = set(scraped["api"]) | set(scraped["worker"])
    expressions = _expressions()
    assert len(expressions) >= 20
    alerts = {where for where, _ in expressions if where.startswith("alert ")}
    assert len(alerts) == 5
    for where, written in expressions:
        expr = written
        for variable, value in _GRAFANA_VARS.items():
            expr = expr.replace(variable, value)
        promql_parser.parse(expr)  # raises on anything Prometheus would refuse
        names = set(_NAME.findall(expr))
        assert names, f"{where}: no Scene Weaver series in {expr!r}"
        missing = names - exported
        assert not missing, f"{where} uses {sorted(missing)}, not exported by the live stack"
    # The module's list of names is what the stack serves.
    assert exported >= metrics.EXPORTED_NAMES


def test_request_id_comes_back_and_names_the_request_in_the_logs(metered: Stack) -> None:
    given = requests.get(metered.base + "/health/live", headers={"X-Request-ID": "trace-abc.123"}, timeout=10)
    assert given.headers["X-Request-ID"] == "trace-abc.123"
    made = requests.get(metered.base + "/health/live", headers={"X-Request-ID": "bad id\twith spaces"}, timeout=10)
    assert made.headers["X-Request-ID"] != "bad id\twith spaces"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", requests.get(metered.base + "/nowhere", timeout=10).headers["X-Request-ID"])

    # A submission's request id follows its job into the worker's JSON events.
    token = metered.login()
    response = requests.post(f"{metered.base}/v1/process", headers={
        "Authorization": f"Bearer {token}", "X-Request-ID": "follow-me-42"}, timeout=10,
        json={"speaker": "Iris", "dialogue": ["Follow me."], "narration": "A corridor."})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.headers["X-Request-ID"] == "follow-me-42"

    def events(proc_output: list[str]) -> list[dict]:
        parsed = []
        for line in proc_output:
            if line.startswith("{"):
                try:
                    parsed.append(json.loads(line))
                except ValueError:
                    continue
        return parsed

    assert metered.api is not None
    api_event = wait_until(lambda: [e for e in events(list(metered.api.output))
                                    if e.get("request_id") == "follow-me-42" and e.get("job_id") == job_id], 30,
                           what="the API's event for the submission")[0]
    assert api_event["role"] == "api" and api_event["level"] == "INFO" and api_event["time"]
    assert api_event["route"] == "/v1/process" and api_event["status"] == 202
    worker_events = wait_until(lambda: [e for e in events(list(metered.workers[0].output))
                                        if e.get("job_id") == job_id], 60, what="the worker's events of the job")
    assert all(e["role"] == "worker" for e in worker_events)
    assert any(e.get("request_id") == "follow-me-42" for e in worker_events)
    assert {"time", "level", "batch_id"} <= set(worker_events[0])


def test_exported_names_are_documented() -> None:
    readme = (Path(ROOT) / "README.md").read_text()
    for name in sorted(metrics.EXPORTED_NAMES):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert base in readme, f"README does not name {base}"


def test_image_healthcheck_answers_for_each_role(metered: Stack) -> None:
    """The Dockerfile's HEALTHCHECK: a worker is healthy while its heartbeat from this host and pid lives."""
    worker = metered.workers[0]
    assert worker.process is not None and metered.renderer is not None
    env = {**metered.env, "API_PORT": str(metered.api_port), "RENDERER_PORT": str(metered.renderer_port)}

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, "-m", "scene_weaver.stack.healthcheck", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)

    assert check("--role", "worker", "--pid", str(worker.process.pid)).returncode == 0
    assert check("--role", "worker", "--pid", "999999").returncode == 1
    assert check("--role", "api").returncode == 0
    assert check("--role", "renderer").returncode == 0
    down = {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}
    lost = subprocess.run([PYTHON, "-m", "scene_weaver.stack.healthcheck", "--role", "worker"], env=down, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert lost.returncode == 1 and "unhealthy" in lost.stderr
