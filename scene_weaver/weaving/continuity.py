"""STAND-IN (branch h9a only): replaced at merge by h9b's scene-aware weaving.

The contract: ``plan_script`` takes the whole script's scenes in order and returns one
:class:`PlannedScene` per scene, in the same order. This stand-in passes the scenes through
unchanged, gives each its own group and asks for a random seed (-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..models import Scene

__all__ = ["PlannedScene", "plan_script"]


@dataclass(frozen=True)
class PlannedScene:
    scene: Scene
    group: str
    seed: int


def plan_script(scenes: Sequence[Scene], *, style: str | None = None) -> list[PlannedScene]:
    return [PlannedScene(scene=scene, group=f"g{index}", seed=-1) for index, scene in enumerate(scenes)]
