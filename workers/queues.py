"""Queues are declared here: scene queues routed by priority and consumed in strict order,
and the webhook queue, consumed by its own worker process."""

from __future__ import annotations

from kombu import Queue

from scene_weaver.constants import SCENE_QUEUES, WEBHOOK_QUEUE
from scene_weaver.models import Priority

__all__ = ["QUEUES", "SCENE_QUEUE_DECLARATIONS", "QUEUE_FOR_PRIORITY", "queue_for", "PROCESS_SCENE",
           "DELIVER_WEBHOOK", "WEBHOOK_QUEUE"]

PROCESS_SCENE = "scene_weaver.process_scene"
DELIVER_WEBHOOK = "scene_weaver.deliver_webhook"

# Order matters: with queue_order_strategy=priority, a worker always drains
# "high" before "default" before "low".
SCENE_QUEUE_DECLARATIONS = tuple(Queue(name) for name in SCENE_QUEUES)

# Deliveries have their own queue (WEBHOOK_QUEUE), consumed only by the webhook worker
# process (`-Q webhooks`): a slow receiver can hold a delivery thread, never a scene-job slot.
QUEUES = (*SCENE_QUEUE_DECLARATIONS, Queue(WEBHOOK_QUEUE))

QUEUE_FOR_PRIORITY = {
    Priority.HIGH: "high",
    Priority.NORMAL: "default",
    Priority.LOW: "low",
}


def queue_for(priority: Priority) -> str:
    return QUEUE_FOR_PRIORITY[priority]
