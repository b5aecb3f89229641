"""Queues are declared here, routed by priority, and consumed in strict order."""

from __future__ import annotations

from kombu import Queue

from scene_weaver.constants import SCENE_QUEUES
from scene_weaver.models import Priority

__all__ = ["QUEUES", "QUEUE_FOR_PRIORITY", "queue_for", "PROCESS_SCENE", "DELIVER_WEBHOOK", "WEBHOOK_QUEUE"]

PROCESS_SCENE = "scene_weaver.process_scene"
DELIVER_WEBHOOK = "scene_weaver.deliver_webhook"

# Order matters: with queue_order_strategy=priority, a worker always drains
# "high" before "default" before "low".
QUEUES = tuple(Queue(name) for name in SCENE_QUEUES)

QUEUE_FOR_PRIORITY = {
    Priority.HIGH: "high",
    Priority.NORMAL: "default",
    Priority.LOW: "low",
}


# Deliveries are short (one POST with a timeout) and late ones are useless, so they go
# ahead of the image backlog on the queue every worker already consumes first.
WEBHOOK_QUEUE = "high"


def queue_for(priority: Priority) -> str:
    return QUEUE_FOR_PRIORITY[priority]
