"""What the views reach for: built once in ``create_app``, stored on the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from flask import current_app

from scene_weaver.batches import Admission, BatchStore
from scene_weaver.jobs import JobStore
from scene_weaver.settings import Settings
from scene_weaver.users import UserStore

__all__ = ["Services", "services"]


@dataclass
class Services:
    settings: Settings
    redis: redis.Redis
    jobs: JobStore
    users: UserStore
    celery: Any
    batches: BatchStore
    admission: Admission


def services() -> Services:
    return current_app.extensions["scene_weaver"]  # type: ignore[no-any-return]
