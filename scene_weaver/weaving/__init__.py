"""Scene analysis and prompt weaving: emotion, concepts, continuity and style templates."""

from __future__ import annotations

from .analysis import CharacterLook, Continuity, SceneAnalysis, analyze_scene, continuity_from
from .concepts import CONCEPTS, detect_concepts
from .continuity import PlannedScene, plan_script
from .emotions import EMOTIONS, detect_emotion
from .styles import DEFAULT_STYLE, STYLES, resolve_style
from .weaver import MIN_LENGTH, WEAVER_VERSION, weave_scene, weave_script

__all__ = [
    "CONCEPTS",
    "DEFAULT_STYLE",
    "EMOTIONS",
    "MIN_LENGTH",
    "STYLES",
    "WEAVER_VERSION",
    "CharacterLook",
    "Continuity",
    "PlannedScene",
    "SceneAnalysis",
    "analyze_scene",
    "continuity_from",
    "detect_concepts",
    "detect_emotion",
    "plan_script",
    "resolve_style",
    "weave_scene",
    "weave_script",
]
