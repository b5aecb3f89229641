"""The Flask API: thin views over validation, Redis writes and enqueueing.

The app factory is ``api.app.create_app`` (gunicorn serves ``api.wsgi:app``). This package
imports nothing itself, so gunicorn's config (``api.gunicorn_conf``) loads without the app.
"""
