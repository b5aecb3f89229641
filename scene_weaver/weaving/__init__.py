"""Scene analysis and prompt weaving: emotion, concepts, continuity and style templates."""

from __future__ import annotations

from .analysis import CharacterLook, Continuity, SceneAnalysis, analyze_scene, continuity_from
from .concepts import CONCEPTS, detect_concepts
from .emotions import EMOTIONS, detect_emotion
from .styles import DEFAULT_STYLE, STYLES, resolve_style
from .weaver import MIN_LENGTH, weave_scene, weave_script

__all__ = [
    "CONCEPTS",
    "DEFAULT_STYLE",
    "EMOTIONS",
    "MIN_LENGTH",
    "STYLES",
    "CharacterLook",
    "Continuity",
    "SceneAnalysis",
    "analyze_scene",
    "continuity_from",
    "detect_concepts",
    "detect_emotion",
    "resolve_style",
    "weave_scene",
    "weave_script",
]
