"""Batches: a whole script as one object whose items are normal jobs (see ``store``), admitted
into the broker a window at a time, round-robin across batches (see ``admission``)."""

from __future__ import annotations

from .admission import Admission
from .store import Batch, BatchEvent, BatchItem, BatchStatus, BatchStore

__all__ = ["Admission", "Batch", "BatchEvent", "BatchItem", "BatchStatus", "BatchStore"]
