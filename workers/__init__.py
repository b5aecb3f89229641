"""Celery: the app factory, queues, thin tasks and per-process resources."""
