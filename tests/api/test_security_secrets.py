"""Production refuses to start with a secret anyone could know: one published in this
repository, a short one or a guessable one; the compose file publishes none.

The probe forged an admin token with the compose file's default ``JWT_SECRET_KEY`` and
``PUT /v1/config`` answered 200. A server that refuses to start with that secret cannot
accept such a token.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from functools import cache
from pathlib import Path

import pytest
import redis

from api.app import create_app
from scene_weaver.errors import ConfigurationError
from scene_weaver.secret_policy import MIN_SECRET_BYTES, PUBLISHED_SECRETS, secret_weakness
from scene_weaver.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
_SECRET_LINE = re.compile(r"secret|passw(?:or)?d|api[_-]?key|signing[_-]?key|token", re.IGNORECASE)
# Quoted values, compose/shell defaults (${X:-value}) and NAME=value assignments on such lines.
_VALUE = re.compile(r"""["']([^"'\s]{8,})["']|:-([^}\s]+)}|=([^\s"'`,;)]{8,})""")
_CODE = re.compile(r"[(){}\[\]<>$\\]")  # f-string templates and calls, not values
_SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".ico", ".woff", ".woff2", ".lock"}


def _repository_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True,
                                timeout=30).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):  # not a git checkout: every file but the tool caches
        skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".scene-weaver"}
        return [path for path in ROOT.rglob("*") if path.is_file() and not skip & set(path.parts)]
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


@cache
def secrets_in_repository() -> tuple[str, ...]:
    """Every secret-looking value in the repository's text files (compose, README, examples, tests, code)."""
    found: set[str] = set()
    for path in _repository_files():
        if path.suffix.lower() in _SKIP_SUFFIXES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.splitlines():
            if _SECRET_LINE.search(line):
                found.update(value for match in _VALUE.finditer(line) for value in match.groups()
                             if value and not _CODE.search(value))
    return tuple(sorted(found))


def _signing_length(values: object) -> list[str]:
    return sorted(value for value in values if len(value.encode()) >= MIN_SECRET_BYTES)  # type: ignore[attr-defined]


KNOWN = _signing_length(set(secrets_in_repository()) | PUBLISHED_SECRETS)
WEAK = ["x" * 40, "passwordpasswordpasswordpassword", "abcdefghijklmnopqrstuvwxyz0123456789",
        "0123456789" * 4, "qwertyuiopasdfghjklzxcvbnmqwertyuiop", "scene-weaver-secret-scene-weaver-secret"]


def _production(**env: str) -> Settings:
    return Settings.from_env({"SCENE_WEAVER_ENV": "production", "REDIS_URL": "redis://127.0.0.1:1/0", **env})


def test_the_repository_scan_finds_the_secrets_the_probe_used() -> None:
    found = secrets_in_repository()
    assert "api-test-secret-api-test-secret-0123456789" in found  # tests/api/conftest.py
    assert len(KNOWN) >= 4


def test_every_secret_in_the_repository_is_refused_by_the_installed_package() -> None:
    """The package cannot read the repository: each value found here must be refused on its own."""
    accepted = [value for value in secrets_in_repository() if secret_weakness(value) is None]
    assert not accepted, (f"secret-looking values in the repository that production would accept: {accepted}; "
                          "add them to scene_weaver/secret_policy.py PUBLISHED_SECRETS")


@pytest.mark.parametrize("value", KNOWN)
def test_production_refuses_to_start_with_a_published_jwt_secret(value: str) -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY"):
        create_app(_production(JWT_SECRET_KEY=value))


@pytest.mark.parametrize("value", KNOWN)
def test_production_refuses_a_published_webhook_secret(value: str) -> None:
    with pytest.raises(ConfigurationError, match="WEBHOOK_SECRET"):
        create_app(_production(JWT_SECRET_KEY=secrets.token_urlsafe(48), WEBHOOK_SECRET=value))


def test_production_refuses_the_old_compose_default_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY is published"):
        create_app(_production(JWT_SECRET_KEY="change-me-to-at-least-32-random-bytes-please"))


@pytest.mark.parametrize("value", WEAK)
@pytest.mark.parametrize("variable", ["JWT_SECRET_KEY", "WEBHOOK_SECRET"])
def test_production_refuses_low_entropy_secrets(variable: str, value: str) -> None:
    env = {"JWT_SECRET_KEY": secrets.token_urlsafe(48), variable: value}
    with pytest.raises(ConfigurationError, match=f"{variable} is too easy to guess"):
        create_app(_production(**env))


def test_production_refuses_a_published_semantest_key() -> None:
    with pytest.raises(ConfigurationError, match="SEMANTEST_API_KEY"):
        _production(JWT_SECRET_KEY=secrets.token_urlsafe(48), SEMANTEST_API_KEY=sorted(PUBLISHED_SECRETS)[0])


def test_production_starts_with_random_secrets(redis_url: str, tmp_path: Path, redis_client: redis.Redis) -> None:
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "production", "REDIS_URL": redis_url,
                                  "SCENE_WEAVER_HOME": str(tmp_path), "JWT_SECRET_KEY": secrets.token_urlsafe(48),
                                  "WEBHOOK_SECRET": secrets.token_hex(32)})
    assert create_app(settings).test_client().get("/openapi.json").status_code == 200


def test_development_accepts_any_secret(tmp_path: Path) -> None:
    settings = Settings.from_env({"SCENE_WEAVER_HOME": str(tmp_path), "JWT_SECRET_KEY": "x" * 40})
    assert settings.with_jwt_secret().jwt_secret_key == "x" * 40


def test_compose_requires_the_secret_and_defaults_none() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"JWT_SECRET_KEY: \"?\$\{JWT_SECRET_KEY:\?", compose), "compose must require JWT_SECRET_KEY"
    defaults = re.findall(r"\$\{(\w*(?:SECRET|_KEY)\w*):?-([^}]*)}", compose)
    assert all(value == "" for _name, value in defaults), f"compose defaults a secret: {defaults}"
