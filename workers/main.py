"""The module the ``celery`` command loads: ``celery -A workers.main worker``.

Building the app reads the settings but connects to nothing.
"""

from scene_weaver.settings import Settings

from .app import create_celery

app = create_celery(Settings.from_env())
