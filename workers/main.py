"""The module the ``celery`` command loads: ``celery -A workers.main worker``.

Building the app reads the settings but connects to nothing. Importing the heartbeat
connects it to the worker's signals; it starts only when a worker is ready.
"""

from scene_weaver.settings import Settings

from . import (
    admission,  # noqa: F401  (connects the admission sweep to Celery's worker signals)
    fault_hooks,  # noqa: F401  (a test hook, off unless SCENE_WEAVER_DIE_ON_RECEIVE is set)
    heartbeat,  # noqa: F401  (connects the heartbeat to Celery's worker signals)
    kombu_fixes,  # noqa: F401  (kombu's Redis-restart workaround)
    metrics,  # noqa: F401  (metrics server, JSON logs and job context on Celery's signals)
)
from .app import create_celery

app = create_celery(Settings.from_env())
