"""The Flask API: thin views over validation, Redis writes and enqueueing."""

from .app import create_app

__all__ = ["create_app"]
