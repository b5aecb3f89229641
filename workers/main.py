"""The module the ``celery`` command loads: ``celery -A workers.main worker``.

Building the app reads the settings but connects to nothing. Importing the heartbeat
connects it to the worker's signals; it starts only when a worker is ready.
"""

from scene_weaver.settings import Settings

from . import fault_hooks, heartbeat, kombu_fixes  # noqa: F401  (signals; kombu's restart workaround)
from .app import create_celery

app = create_celery(Settings.from_env())
