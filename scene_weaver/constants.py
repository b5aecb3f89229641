"""Names shared by the domain, the workers, the process supervisor and the tests."""

from __future__ import annotations

__all__ = ["SCENE_QUEUES", "WEBHOOK_QUEUE", "DIALECTS"]

# The Celery queues for scene jobs, in the order a worker drains them
# (queue_order_strategy=priority): "high" before "default" before "low".
SCENE_QUEUES: tuple[str, ...] = ("high", "default", "low")

# Webhook deliveries' own queue, consumed only by the webhook worker process.
WEBHOOK_QUEUE = "webhooks"

# The two wire dialects of Semantest (see SEMANTEST_PROTOCOL.md): what the client speaks
# and what the local renderer serves.
DIALECTS: tuple[str, ...] = ("weaver", "semantest-events")
