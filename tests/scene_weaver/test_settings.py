from __future__ import annotations

from pathlib import Path

import pytest

from scene_weaver.errors import ConfigurationError
from scene_weaver.settings import Settings


def test_defaults_from_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url is None
    assert settings.api_port == 8000 and settings.flower_port == 5555 and settings.renderer_port == 8765
    assert settings.semantest_dialect == "weaver"
    assert settings.image_store_dir == Path(".scene-weaver/images")


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="API_PORT"):
        Settings.from_env({"API_PORT": "eighty"})
    with pytest.raises(ConfigurationError, match="SEMANTEST_DIALECT"):
        Settings.from_env({"SEMANTEST_DIALECT": "smoke-signals"})


def test_production_requires_a_strong_secret() -> None:
    with pytest.raises(ConfigurationError, match="JWT_SECRET_KEY"):
        Settings.from_env({"SCENE_WEAVER_ENV": "production", "JWT_SECRET_KEY": "short"}).with_jwt_secret()
    strong = "x" * 40
    settings = Settings.from_env({"SCENE_WEAVER_ENV": "production", "JWT_SECRET_KEY": strong})
    assert settings.with_jwt_secret().jwt_secret_key == strong


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings.from_env({"SCENE_WEAVER_HOME": str(tmp_path)})
    first = settings.with_jwt_secret().jwt_secret_key
    assert len(first) >= 32
    assert settings.with_jwt_secret().jwt_secret_key == first
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0
