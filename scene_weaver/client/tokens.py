"""Tokens kept between runs, per server, in the user's config directory (a file only they can read).

``credentials.json`` under ``platformdirs.user_config_dir("scene-weaver")`` (on Linux
``$XDG_CONFIG_HOME/scene-weaver``), written whole to a new file of mode 0600 and moved into
place, in a directory of mode 0700: no other user can read a token, and a crash mid-write
never leaves half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["Credentials", "TokenStore", "default_path"]

APP_NAME = "scene-weaver"


@dataclass(frozen=True)
class Credentials:
    url: str
    username: str
    access_token: str
    refresh_token: str
    access_expires_at: float  # Unix time


def default_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "credentials.json"


class TokenStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"servers": {}}
        return data if isinstance(data, dict) and isinstance(data.get("servers"), dict) else {"servers": {}}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".credentials-")  # created 0600
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2)
            tmp.chmod(0o600)
            tmp.replace(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def load(self, url: str) -> Credentials | None:
        entry = self._read()["servers"].get(url)
        try:
            return Credentials(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None

    def save(self, credentials: Credentials) -> None:
        data = self._read()
        data["servers"][credentials.url] = asdict(credentials)
        data["last_url"] = credentials.url
        self._write(data)

    def forget(self, url: str) -> None:
        data = self._read()
        if data["servers"].pop(url, None) is not None:
            self._write(data)

    def last_url(self) -> str | None:
        url = self._read().get("last_url")
        return url if isinstance(url, str) else None
