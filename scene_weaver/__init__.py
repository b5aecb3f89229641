"""Scene Weaver: scripts in, illustrated scenes out.

The domain package. It never imports ``workers``, ``api``, Flask or Celery.
"""

__version__ = "0.1.0"
