"""The twelve drawing styles, each with its own prompt template and negative terms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInput

__all__ = ["Style", "STYLES", "DEFAULT_STYLE", "resolve_style", "BASE_NEGATIVE"]

BASE_NEGATIVE = (
    "blurry", "low quality", "distorted anatomy", "extra limbs", "deformed hands",
    "watermark", "signature", "text artifacts", "jpeg artifacts",
)  # fmt: skip

# Slots a template may order: lead, panels, subject, characters, action, setting, mood,
# lighting, palette, metaphor, speech, captions, finish.


@dataclass(frozen=True)
class Style:
    name: str
    lead: str
    finish: str
    template: tuple[str, ...]
    negative: tuple[str, ...]
    lettering: bool = False  # speech bubbles and caption boxes belong in the picture


STYLES: dict[str, Style] = {s.name: s for s in (
    Style("comic book", "comic book panel, bold ink outlines, halftone shading, vibrant flat colours",
          "dynamic composition, Ben-Day dots, dramatic foreshortening",
          ("lead", "panels", "subject", "characters", "action", "speech", "captions", "setting", "mood",
           "lighting", "palette", "metaphor", "finish"),
          ("photorealistic", "3d render", "muddy colours"), lettering=True),
    Style("manga", "manga illustration, black and white screentone, expressive linework",
          "speed lines, large expressive eyes, dramatic panel borders",
          ("lead", "panels", "subject", "action", "characters", "mood", "speech", "setting", "metaphor",
           "lighting", "finish", "captions", "palette"),
          ("western comic style", "photorealistic", "full colour"), lettering=True),
    Style("graphic novel", "graphic novel art, moody inks with painted colour",
          "literary atmosphere, cinematic framing, rich texture",
          ("lead", "panels", "setting", "subject", "characters", "action", "mood", "metaphor", "lighting",
           "palette", "captions", "finish"),
          ("cartoonish", "chibi", "flat vector art"), lettering=True),
    Style("storyboard", "film storyboard frame, loose pencil sketch with grey marker tones",
          "camera direction arrows, clear staging, shot annotations",
          ("lead", "panels", "subject", "action", "setting", "characters", "captions", "mood", "lighting",
           "metaphor", "finish"),
          ("full colour painting", "polished rendering", "photorealistic")),
    Style("concept art", "concept art, production design painting",
          "environment design, atmospheric perspective, matte painting detail",
          ("lead", "setting", "subject", "characters", "action", "lighting", "palette", "mood", "metaphor",
           "panels", "finish"),
          ("cartoon", "comic lettering", "flat shading")),
    Style("cinematic", "cinematic film still, anamorphic 35mm",
          "shallow depth of field, film grain, colour graded, volumetric light",
          ("lead", "subject", "action", "setting", "lighting", "mood", "palette", "characters", "metaphor",
           "panels", "finish"),
          ("cartoon", "illustration", "drawing", "comic lettering")),
    Style("art nouveau", "art nouveau illustration in the manner of Mucha, ornamental flowing lines",
          "decorative floral border, halo motif, elegant curves, gilded accents",
          ("lead", "subject", "characters", "metaphor", "setting", "palette", "mood", "action", "lighting",
           "panels", "finish"),
          ("photorealistic", "harsh geometric shapes", "modern minimalism")),
    Style("surrealist", "surrealist painting, dreamlike impossible space",
          "uncanny juxtaposition, long dreamlike shadows, meticulous oil technique",
          ("lead", "metaphor", "subject", "setting", "action", "characters", "mood", "palette", "lighting",
           "panels", "finish"),
          ("mundane realism", "cartoon", "comic lettering")),
    Style("neo-noir", "neo-noir frame, high contrast chiaroscuro, rain-slick neon",
          "venetian blind shadows, smoky haze, hard rim light",
          ("lead", "subject", "setting", "lighting", "mood", "action", "characters", "palette", "metaphor",
           "panels", "finish"),
          ("bright cheerful colours", "flat lighting", "pastel tones")),
    Style("watercolor", "watercolor painting, soft washes on textured paper",
          "wet-on-wet blooms, granulation, delicate bleeding edges",
          ("lead", "subject", "setting", "mood", "palette", "action", "characters", "lighting", "metaphor",
           "panels", "finish"),
          ("hard digital edges", "neon", "heavy outlines", "3d render")),
    Style("pen and ink", "pen and ink drawing, fine crosshatching",
          "stippling, precise nib linework, stark white paper",
          ("lead", "subject", "action", "characters", "setting", "mood", "metaphor", "lighting", "panels",
           "finish"),
          ("colour", "painted", "gradient fills", "photorealistic")),
    Style("digital painting", "digital painting, painterly brushwork",
          "highly detailed, soft rim lighting, trending on artstation",
          ("lead", "subject", "characters", "action", "setting", "mood", "lighting", "palette", "metaphor",
           "panels", "finish"),
          ("sketchy lines", "unfinished", "flat colours")),
)}  # fmt: skip

DEFAULT_STYLE = "graphic novel"
_ALIASES = {
    "comic": "comic book", "comics": "comic book", "noir": "neo-noir", "neo noir": "neo-noir",
    "watercolour": "watercolor", "ink": "pen and ink", "pen & ink": "pen and ink", "pen-and-ink": "pen and ink",
    "film": "cinematic", "surreal": "surrealist", "surrealism": "surrealist", "concept": "concept art",
    "painting": "digital painting", "storyboards": "storyboard", "anime": "manga",
}  # fmt: skip


def resolve_style(name: str | None) -> Style:
    """The style called ``name`` (case, dashes and underscores ignored); the default when empty."""
    if name is None or not name.strip():
        return STYLES[DEFAULT_STYLE]
    key = re.sub(r"[\s_]+", " ", name.strip().lower())
    key = _ALIASES.get(key, key)
    if key not in STYLES:
        key = _ALIASES.get(key.replace("-", " "), key.replace("-", " "))
    if key not in STYLES and key.replace(" ", "-") in STYLES:
        key = key.replace(" ", "-")
    if key not in STYLES:
        raise InvalidInput(
            f"unknown style {name!r}",
            code="invalid_style",
            details={"field": "style", "value": name, "allowed": sorted(STYLES)},
        )
    return STYLES[key]
