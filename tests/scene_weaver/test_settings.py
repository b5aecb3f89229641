from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from scene_weaver.errors import ConfigurationError
from scene_weaver.settings import Settings
from scene_weaver.settings_doc import BEGIN, END, settings_table, with_settings_table


def test_defaults_from_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url is None
    assert settings.api_port == 8000 and settings.flower_port == 5555 and settings.renderer_port == 8765
    assert settings.semantest_dialect == "weaver"
    assert settings.image_store_dir == Path(".scene-weaver/images")
    assert settings.webhook_deny is None and settings.cors_origins == ()


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="API_PORT"):
        Settings.from_env({"API_PORT": "eighty"})
    with pytest.raises(ConfigurationError, match="SEMANTEST_DIALECT"):
        Settings.from_env({"SEMANTEST_DIALECT": "smoke-signals"})
    with pytest.raises(ConfigurationError, match="GUIDANCE_SCALE.*'loud'"):
        Settings.from_env({"GUIDANCE_SCALE": "loud"})
    with pytest.raises(ConfigurationError, match="SCENE_WEAVER_ENV"):
        Settings.from_env({"SCENE_WEAVER_ENV": "staging"})
    with pytest.raises(ConfigurationError, match="VISIBILITY_TIMEOUT must exceed JOB_TIME_LIMIT"):
        Settings.from_env({"VISIBILITY_TIMEOUT": "60", "JOB_TIME_LIMIT": "60"})


def test_every_setting_has_its_own_environment_variable() -> None:
    names = Settings.env_names()
    assert set(names) == set(Settings.model_fields)
    assert all(name.isupper() for name in names.values())
    assert len(set(names.values())) == len(names)
    settings = Settings.from_env({"SEMANTEST_HANDSHAKE_TIMEOUT": "2.5", "IMAGE_STEPS": "45",
                                  "GUIDANCE_SCALE": "6", "SEMANTEST_MAX_IN_FLIGHT": "9"})
    assert settings.semantest_handshake_timeout == 2.5 and settings.image_steps == 45
    assert settings.guidance_scale == 6.0 and settings.semantest_max_in_flight_global == 9


def test_values_are_read_as_before() -> None:
    settings = Settings.from_env({
        "SCENE_WEAVER_ENV": " Production ",
        "SCENE_WEAVER_HOME": "/srv/weaver",
        "API_PORT": "",  # empty: the default
        "REDIS_URL": "",
        "CORS_ORIGINS": "https://a.example, https://b.example,,",
        "WEBHOOK_DENY": "",  # set but empty: deny nothing (unset is the default list)
        "api_port": "1",  # only the documented names count
    })
    assert settings.production and settings.api_port == 8000 and settings.redis_url is None
    assert settings.image_store_dir == Path("/srv/weaver/images")
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.webhook_deny == ()


def test_constructor_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PORT", "1234")
    assert Settings().api_port == 8000
    assert Settings(api_port=9000).api_port == 9000
    assert Settings.from_env().api_port == 1234


def test_production_requires_a_strong_secret() -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY"):
        Settings.from_env({"SCENE_WEAVER_ENV": "production", "JWT_SECRET_KEY": "short"}).with_jwt_secret()
    strong = secrets.token_urlsafe(40)
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "production", "JWT_SECRET_KEY": strong})
    assert settings.with_jwt_secret().jwt_secret_key == strong


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings.from_env({"SCENE_WEAVER_HOME": str(tmp_path)})
    first = settings.with_jwt_secret().jwt_secret_key
    assert len(first) >= 32
    assert settings.with_jwt_secret().jwt_secret_key == first
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_readme_settings_table_is_the_generated_one(project_root: Path) -> None:
    readme = (project_root / "README.md").read_text()
    assert with_settings_table(readme) == readme, (
        "README.md's settings table is stale: run `python -m scene_weaver.settings_doc README.md`"
    )
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert all(f"`{name}`" in table for name in Settings.env_names().values())
    assert table.strip() == settings_table().strip()
