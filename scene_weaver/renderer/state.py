"""State shared by every connection of one renderer process: counters, images, statuses, faults."""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

from .options import RendererOptions

__all__ = ["Faults", "RenderedImages", "RendererState", "Stats", "StatusBook"]


@dataclass
class Stats:
    """What ``GET /stats`` reports; ``connections`` counts every accepted WebSocket ever."""

    requests: int = 0
    generated: int = 0
    failed: int = 0
    dropped: int = 0
    in_flight: int = 0
    connections: int = 0
    handshakes: int = 0
    canceled: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class RenderedImages:
    """Generated PNGs kept in memory, least recently used evicted first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._images: OrderedDict[str, bytes] = OrderedDict()

    def put(self, key: str, data: bytes) -> None:
        self._images[key] = data
        self._images.move_to_end(key)
        while len(self._images) > self._capacity:
            self._images.popitem(last=False)

    def get(self, key: str) -> bytes | None:
        data = self._images.get(key)
        if data is not None:
            self._images.move_to_end(key)
        return data

    def __len__(self) -> int:
        return len(self._images)


class StatusBook:
    """Last known status and progress per request id, bounded so a long run does not grow forever."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def set(self, request_id: str, status: str, progress: int) -> None:
        self._entries[request_id] = (status, progress)
        self._entries.move_to_end(request_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def get(self, request_id: str) -> tuple[str, int]:
        return self._entries.get(request_id, ("not_found", 0))


class Faults:
    """Injected faults drawn from seeded generators, so ``--seed`` replays the same sequence.

    Jitter has its own generator: turning jitter on must not shift which requests fail.
    """

    def __init__(self, options: RendererOptions) -> None:
        self._options = options
        self._rng = random.Random(options.seed)
        self._jitter_rng = random.Random(None if options.seed is None else options.seed + 1)

    def _roll(self, rate: float) -> bool:
        # Always draw, so one kind of fault never shifts the sequence of another.
        return self._rng.random() < rate

    def should_fail(self) -> bool:
        return self._roll(self._options.fail_rate)

    def should_drop(self) -> bool:
        return self._roll(self._options.drop_rate)

    def should_garble(self) -> bool:
        return self._roll(self._options.malformed_rate)

    def choice(self, count: int) -> int:
        return self._rng.randrange(count)

    def latency(self) -> float:
        jitter = self._options.jitter
        return self._options.latency + (self._jitter_rng.uniform(0.0, jitter) if jitter else 0.0)


@dataclass
class RendererState:
    options: RendererOptions
    stats: Stats = field(default_factory=Stats)
    images: RenderedImages = field(init=False)
    statuses: StatusBook = field(init=False)
    faults: Faults = field(init=False)

    def __post_init__(self) -> None:
        self.images = RenderedImages(self.options.max_images)
        self.statuses = StatusBook(self.options.max_images * 4)
        self.faults = Faults(self.options)
