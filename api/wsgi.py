"""The WSGI entry point gunicorn serves: ``gunicorn api.wsgi:app``."""

from scene_weaver import logs
from scene_weaver.settings import Settings

from .app import create_app

settings = Settings.from_env()
logs.configure("api", fmt=settings.log_format)
app = create_app(settings)
