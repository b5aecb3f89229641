"""docker-compose.yml and the Dockerfile, checked without Docker: the Compose specification's
JSON schema, each service's command against `scene-weaver up`'s for that role (one source:
scene_weaver/stack/roles.py), health conditions, drain time, and the image's basics."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scene_weaver.errors import ConfigurationError
from scene_weaver.settings import Settings
from scene_weaver.stack import roles, supervisor
from scene_weaver.stack.healthcheck import role_of
from scene_weaver.stack.supervisor import _flower_env

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
_SECRET = secrets.token_urlsafe(48)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert found, "check-jsonschema is a dev dependency (pip install -e '.[dev]')"
    return found


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period: 330s", "stop_grace_period: [330]"))
    result = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(broken)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0


def test_each_service_runs_its_roles_command(compose: dict[str, Any]) -> None:
    defaults = Settings.from_env({})
    expected = {
        "renderer": roles.renderer("0.0.0.0", defaults.renderer_port),
        "worker": roles.worker(),
        "webhooks": roles.webhooks(defaults.webhook_concurrency),
        "flower": roles.flower("0.0.0.0", defaults.flower_port),
        "api": roles.api(f"0.0.0.0:{defaults.api_port}", 2),
    }
    services = compose["services"]
    for role, command in expected.items():
        assert services[role]["command"] == command, role
        assert role_of(command) == role  # the healthcheck tells the roles apart by their commands
    # The image's default command is the API's.
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd and yaml.safe_load(cmd.group(1)) == expected["api"]


def test_up_runs_the_same_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """`scene-weaver up` spawns each role with roles.local(the role's command)."""
    spawned: dict[str, list[str]] = {}

    def spawn(self: supervisor.Supervisor, name: str, args: list[str], env: dict[str, str],
              ready_text: str | None = None, *, restart: bool = False) -> None:
        spawned[name] = args
        if name == "api":
            self.stopping.set()

    monkeypatch.setattr(supervisor.Supervisor, "spawn", spawn)
    monkeypatch.setattr(supervisor.Supervisor, "stop", lambda self: None)
    monkeypatch.setattr(supervisor.signal, "signal", lambda *a: None)
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0", "JWT_SECRET_KEY": "x" * 40})
    assert supervisor.run_up(settings, workers=2) == 0
    assert spawned["renderer"] == roles.local(roles.renderer("127.0.0.1", settings.renderer_port))
    assert spawned["worker1"] == roles.local(roles.worker("worker1@%h"))
    assert spawned["worker2"] == roles.local(roles.worker("worker2@%h"))
    assert spawned["webhooks"] == roles.local(roles.webhooks(settings.webhook_concurrency))
    assert spawned["flower"] == roles.local(roles.flower("127.0.0.1", settings.flower_port))
    assert spawned["api"] == roles.local(roles.api(f"{settings.api_host}:{settings.api_port}", 2))
    assert spawned["api"][0] == sys.executable


def test_services_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"redis", "api", "worker", "webhooks", "flower", "renderer", "prometheus", "grafana"}
    for name in ("api", "worker", "webhooks", "flower"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    assert services["worker"]["depends_on"]["renderer"]["condition"] == "service_healthy"
    assert services["prometheus"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for name in ("redis", "api", "worker", "renderer", "prometheus"):
        assert services[name]["healthcheck"]["test"], name
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "python", "-m", "scene_weaver.stack.healthcheck"]


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict[str, Any]) -> None:
    redis_service = compose["services"]["redis"]
    command = redis_service["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis_service["volumes"])
    assert "redis-data" in compose["volumes"]


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_workers_scale_and_outlast_a_jobs_drain(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N needs both absent
    job_limit = float(worker["environment"]["JOB_TIME_LIMIT"])
    assert _seconds(worker["stop_grace_period"]) > job_limit
    assert worker["environment"]["WORKER_METRICS_PORT"] == "9100"  # what deploy/prometheus scrapes


def test_flower_needs_a_login(compose: dict[str, Any]) -> None:
    flower = compose["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert all(str(port).startswith("127.0.0.1:") for port in flower.get("ports", []))


def test_dockerfile_one_slim_image_not_root_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base and base.group(1).endswith("-slim")
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) == 1
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD \[\"python\", \"-m\", \"scene_weaver.stack.healthcheck\"\]",
                     dockerfile, re.MULTILINE)


def test_up_gives_flower_the_demo_login_in_development_and_refuses_production_without_one() -> None:
    development = Settings.from_env({"SCENE_WEAVER_DEMO_PASSWORD": "a-demo-password"})
    assert _flower_env(development, {})["FLOWER_BASIC_AUTH"] == "demo:a-demo-password"
    chosen = Settings.from_env({"FLOWER_BASIC_AUTH": "ops:secret-one"})
    assert _flower_env(chosen, {})["FLOWER_BASIC_AUTH"] == "ops:secret-one"
    production = Settings.from_env({"SCENE_WEAVER_ENV": "production", "JWT_SECRET_KEY": _SECRET})
    with pytest.raises(ConfigurationError, match="FLOWER_BASIC_AUTH"):
        _flower_env(production, {})
    production_set = Settings.from_env({"SCENE_WEAVER_ENV": "production", "JWT_SECRET_KEY": _SECRET,
                                        "FLOWER_BASIC_AUTH": "ops:secret-two"})
    assert _flower_env(production_set, {})["FLOWER_BASIC_AUTH"] == "ops:secret-two"
