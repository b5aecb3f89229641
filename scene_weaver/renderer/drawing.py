"""Draw a deterministic PNG for a prompt: mood picks the palette, the scene picks the shapes.

The picture is a stand-in for a real generator, but it has to be *about* the prompt so
that different scenes are visibly different and the same prompt and seed give the same
bytes (tests and caches rely on both).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

__all__ = ["MIN_SIDE", "MAX_SIDE", "Palette", "clamp_side", "resolve_seed", "spoken_line", "render_png"]

MIN_SIDE = 64
MAX_SIDE = 2048

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    sky_top: RGB
    sky_bottom: RGB
    ground: RGB
    accent: RGB
    figure: RGB


def _hex(value: str) -> RGB:
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


def _palette(*colors: str) -> Palette:
    sky_top, sky_bottom, ground, accent, figure = (_hex(c) for c in colors)
    return Palette(sky_top, sky_bottom, ground, accent, figure)


# Mood words (and their near relatives) to palettes; the first match in the prompt wins.
_MOODS: tuple[tuple[tuple[str, ...], Palette], ...] = (
    (("joy", "joyful", "happy", "cheerful", "delight"), _palette("#ffd86b", "#fff3c4", "#7cc96b", "#ff7b39", "#6b3d1f")),
    (("sad", "sorrow", "grief", "mourning", "melancholy"), _palette("#2e3f5c", "#7d8fa8", "#3b4a5e", "#9fb3c8", "#141c28")),
    (("angry", "anger", "rage", "furious", "wrath"), _palette("#5c0b0b", "#d2401f", "#2b1410", "#ffb347", "#0d0505")),
    (("calm", "serene", "peaceful", "tranquil", "quiet"), _palette("#8ec9d8", "#e6f4f1", "#9cc7a4", "#ffffff", "#2f4f4f")),
    (("fear", "afraid", "dread", "terror", "ominous"), _palette("#0b0f14", "#3a2f4a", "#161219", "#b31b1b", "#000000")),
    (("mysterious", "mystery", "enigmatic", "secret"), _palette("#1d1540", "#5b3f8c", "#1f2a2e", "#9be7c4", "#0a0814")),
    (("romantic", "love", "tender", "intimate"), _palette("#f7a1c4", "#ffe1e8", "#b5657f", "#ff4f79", "#4a1f2e")),
    (("hope", "hopeful", "dawn", "renewal"), _palette("#f6b38e", "#fde7c8", "#8fb07a", "#fff6a8", "#3c2e2a")),
    (("tense", "tension", "anxious", "suspense"), _palette("#3d3d29", "#9a9a5e", "#2b2b1d", "#e03c31", "#101008")),
    (("nostalgic", "nostalgia", "memory", "remember"), _palette("#c79a6b", "#f2dfc0", "#8c6f4e", "#e8b04b", "#3d2b1a")),
    (("lonely", "alone", "solitary", "isolated"), _palette("#4b5a6b", "#b9c3cc", "#5f6a63", "#f4e7b0", "#1b2128")),
    (("triumphant", "victory", "proud", "glorious"), _palette("#1f4fbf", "#f5d76e", "#3f7d3a", "#ffd700", "#1a1a40")),
    (("eerie", "uncanny", "ghostly", "haunted"), _palette("#12261f", "#4f7f6a", "#0e1a15", "#c6ff8a", "#050a08")),
    (("dreamy", "dream", "whimsical", "surreal"), _palette("#b8a1f7", "#f9d1f0", "#8fd3c9", "#ffffff", "#3a2b5c")),
    (("stormy", "storm", "turbulent", "chaotic"), _palette("#2a2f36", "#6c7a89", "#2f3b2f", "#f0f0ff", "#0c0f12")),
    (("contemplative", "pensive", "philosophical", "thoughtful"), _palette("#44546a", "#c8b89a", "#6b5a45", "#e6c27a", "#221a12")),
)

_WATER_WORDS = ("sea", "ocean", "shore", "beach", "waves", "harbor", "harbour", "lake", "river", "coast")
_INTERIOR_WORDS = ("room", "interior", "kitchen", "study", "library", "office", "bedroom", "hall", "cell", "tavern")
_TREE_WORDS = ("forest", "tree", "trees", "woods", "garden", "grove", "park")
_CITY_WORDS = ("city", "street", "town", "alley", "market", "square", "rooftop")
_MOUNTAIN_WORDS = ("mountain", "mountains", "hill", "hills", "cliff", "peak", "valley")
_NIGHT_WORDS = ("night", "moon", "moonlight", "stars", "midnight", "dark")
_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "both": 2, "pair": 2, "couple": 2}
_PEOPLE = r"(?:people|persons|figures|characters|men|women|friends|philosophers|strangers|children|speakers)"
_COUNT_RE = re.compile(rf"\b(\d|one|two|three|four|five|six|both|pair|couple)\b(?:\s+of)?\s+(?:\w+\s+)?{_PEOPLE}\b")
_SPEAKER_RE = re.compile(r"(?:^|[\s.;])([A-Z][A-Za-z]+):")
_SAYING_RE = re.compile(r"\bsaying:\s*(.+)", re.IGNORECASE | re.DOTALL)
_QUOTED_RE = re.compile(r"[\"“]([^\"”]{2,})[\"”]")


def clamp_side(value: int) -> int:
    return max(MIN_SIDE, min(MAX_SIDE, int(value)))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def resolve_seed(prompt: str, seed: int | None) -> int:
    """A seed of -1 (or none) means "derive it from the prompt", so the result stays deterministic."""
    if seed is None or seed < 0:
        return int.from_bytes(_digest(prompt)[:4], "big")
    return int(seed)


def spoken_line(prompt: str) -> str | None:
    """The line a character speaks: text after ``saying:``, else the first quoted passage."""
    match = _SAYING_RE.search(prompt)
    if match:
        line = match.group(1).strip().strip("\"“”'")
        return line or None
    quoted = _QUOTED_RE.search(prompt)
    return quoted.group(1).strip() if quoted else None


def _words(prompt: str) -> set[str]:
    return set(re.findall(r"[a-z]+", prompt.lower()))


def _pick_palette(words: set[str], rng: random.Random) -> Palette:
    for keys, palette in _MOODS:
        if words.intersection(keys):
            return palette
    hue = rng.random()

    def tone(h: float, light: float, sat: float) -> RGB:
        r, g, b = colorsys.hls_to_rgb(h % 1.0, light, sat)
        return (int(r * 255), int(g * 255), int(b * 255))

    return Palette(tone(hue, 0.35, 0.5), tone(hue + 0.08, 0.8, 0.45), tone(hue + 0.4, 0.3, 0.35),
                   tone(hue + 0.5, 0.65, 0.8), tone(hue + 0.55, 0.12, 0.3))


def _figure_count(prompt: str, words: set[str], rng: random.Random) -> int:
    match = _COUNT_RE.search(prompt.lower())
    if match:
        token = match.group(1)
        return max(1, min(6, int(token) if token.isdigit() else _NUMBERS[token]))
    speakers = set(_SPEAKER_RE.findall(prompt))
    if speakers:
        return min(6, len(speakers))
    if words.intersection({"alone", "solitary", "lonely"}):
        return 1
    if words.intersection({"crowd", "crowded", "gathering"}):
        return 5
    return 1 + rng.randrange(3)


def _sky(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    column = Image.new("RGB", (1, height))
    span = max(1, height - 1)
    column.putdata([
        tuple(int(top[c] + (bottom[c] - top[c]) * y / span) for c in range(3))  # type: ignore[misc]
        for y in range(height)
    ])
    return column.resize((width, height), Image.Resampling.NEAREST)


def _draw_landscape(  # noqa: PLR0912 - one branch per kind of scenery
        draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, words: set[str], *,
        palette: Palette, rng: random.Random) -> None:
    if words.intersection(_NIGHT_WORDS):
        for _ in range(20 + rng.randrange(40)):
            x, y = rng.randrange(w), rng.randrange(max(1, horizon))
            draw.point((x, y), fill=(255, 255, 230))
        r = max(4, w // 14)
        cx, cy = rng.randrange(r, w - r), rng.randrange(r, max(r + 1, horizon // 2))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(245, 243, 220))
    else:
        r = max(4, w // 10)
        cx, cy = rng.randrange(r, w - r), rng.randrange(r, max(r + 1, horizon - r))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=palette.accent)
    if words.intersection(_MOUNTAIN_WORDS):
        for _ in range(2 + rng.randrange(3)):
            base, peak = rng.randrange(-w // 4, w), rng.randrange(w // 6, w // 2)
            top = horizon - rng.randrange(h // 8, h // 3)
            draw.polygon([(base, horizon), (base + peak // 2, top), (base + peak, horizon)], fill=palette.figure)
    if words.intersection(_CITY_WORDS):
        x = 0
        while x < w:
            bw, bh = rng.randrange(w // 16, w // 6), rng.randrange(h // 10, h // 3)
            draw.rectangle((x, horizon - bh, x + bw, horizon), fill=palette.figure)
            for wy in range(horizon - bh + 6, horizon - 6, max(6, h // 40)):
                draw.line((x + 3, wy, x + bw - 3, wy), fill=palette.accent, width=1)
            x += bw + rng.randrange(2, max(3, w // 40))
    water = bool(words.intersection(_WATER_WORDS)) or "lighthouse" in words
    ground_color = palette.sky_top if water else palette.ground
    draw.rectangle((0, horizon, w, h), fill=ground_color)
    if water:
        step = max(4, h // 30)
        for y in range(horizon + step, h, step):
            offset = rng.randrange(step * 2)
            for x in range(-offset, w, step * 3):
                draw.arc((x, y - step // 2, x + step * 2, y + step // 2), 200, 340, fill=palette.sky_bottom)
    if "lighthouse" in words:
        lx, lw = int(w * (0.62 + rng.random() * 0.25)), max(6, w // 18)
        top = horizon - h // 3
        draw.polygon([(lx, horizon), (lx + lw // 5, top), (lx + lw - lw // 5, top), (lx + lw, horizon)],
                     fill=(235, 235, 235))
        for band in range(top + (horizon - top) // 4, horizon, max(4, (horizon - top) // 4)):
            draw.rectangle((lx, band, lx + lw, band + max(2, lw // 4)), fill=(200, 40, 40))
        draw.rectangle((lx + lw // 5, top - lw // 2, lx + lw - lw // 5, top), fill=palette.accent)
        draw.polygon([(lx + lw // 2, top - lw // 4), (0, top - h // 8), (0, top + h // 10)], fill=palette.sky_bottom)
    if words.intersection(_TREE_WORDS):
        for _ in range(3 + rng.randrange(6)):
            tx, th = rng.randrange(w), rng.randrange(h // 8, h // 3)
            draw.rectangle((tx - 2, horizon - th // 3, tx + 2, horizon + 4), fill=palette.figure)
            draw.ellipse((tx - th // 4, horizon - th, tx + th // 4, horizon - th // 4), fill=palette.ground)


def _draw_interior(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, *, palette: Palette,
                   rng: random.Random) -> None:
    draw.rectangle((0, 0, w, horizon), fill=palette.sky_bottom)
    draw.rectangle((0, horizon, w, h), fill=palette.ground)
    for x in range(0, w, max(8, w // 12)):
        draw.line((x, horizon, w // 2 + (x - w // 2) * 2, h), fill=palette.figure, width=1)
    ww, wh = w // 4, h // 4
    wx, wy = rng.randrange(w // 10, w - ww - w // 10), h // 10
    draw.rectangle((wx, wy, wx + ww, wy + wh), fill=palette.sky_top, outline=palette.figure, width=max(2, w // 100))
    draw.line((wx + ww // 2, wy, wx + ww // 2, wy + wh), fill=palette.figure, width=max(2, w // 150))
    tx = rng.randrange(w // 8, w // 2)
    draw.rectangle((tx, horizon - h // 20, tx + w // 3, horizon), fill=palette.figure)


def _draw_figures(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: int, count: int, *, palette: Palette,
                  rng: random.Random) -> None:
    slot = w / (count + 1)
    for index in range(count):
        scale = 0.8 + rng.random() * 0.4
        fh = int(h * 0.28 * scale)
        cx = int(slot * (index + 1) + rng.uniform(-slot / 5, slot / 5))
        feet = horizon + int(h * 0.08) + rng.randrange(max(1, h // 30))
        head = max(3, fh // 7)
        body_w = max(4, fh // 4)
        draw.rounded_rectangle((cx - body_w // 2, feet - fh + head * 2, cx + body_w // 2, feet),
                               radius=max(2, body_w // 3), fill=palette.figure)
        draw.ellipse((cx - head, feet - fh, cx + head, feet - fh + head * 2), fill=palette.figure)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
          max_width: int, max_lines: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and draw.textlength(candidate, font=font) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(".,;") + "…"
    return lines


def _draw_caption(draw: ImageDraw.ImageDraw, w: int, h: int, text: str) -> None:
    size = max(10, min(40, h // 24))
    font = _font(size)
    pad = max(4, size // 2)
    lines = _wrap(draw, text, font, w - 4 * pad, max_lines=4)
    box_h = len(lines) * (size + 4) + 2 * pad
    top = h - box_h - pad
    draw.rectangle((pad, top, w - pad, h - pad), fill=(250, 248, 240), outline=(20, 20, 20), width=2)
    for number, line in enumerate(lines):
        draw.text((2 * pad, top + pad + number * (size + 4)), line, fill=(20, 20, 20), font=font)


def render_png(prompt: str, width: int, height: int, seed: int, caption: str | None = None) -> bytes:
    """Draw the scene and return PNG bytes; identical inputs give identical bytes.

    ``caption`` is the spoken line the client sent in the request's metadata; without
    one, the line is looked for in the prompt itself.
    """
    w, h = clamp_side(width), clamp_side(height)
    rng = random.Random(_digest(f"{seed}\x00{prompt}"))
    words = _words(prompt)
    palette = _pick_palette(words, rng)
    horizon = int(h * (0.45 + rng.random() * 0.2))
    image = _sky(w, h, palette.sky_top, palette.sky_bottom)
    draw = ImageDraw.Draw(image)
    if words.intersection(_INTERIOR_WORDS):
        _draw_interior(draw, w, h, horizon, palette=palette, rng=rng)
    else:
        _draw_landscape(draw, w, h, horizon, words, palette=palette, rng=rng)
    _draw_figures(draw, w, h, horizon, _figure_count(prompt, words, rng), palette=palette, rng=rng)
    line = caption or spoken_line(prompt)
    if line:
        _draw_caption(draw, w, h, line)
    if words.intersection({"comic", "comics", "graphic", "panel"}):
        draw.rectangle((0, 0, w - 1, h - 1), outline=(0, 0, 0), width=max(3, w // 80))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
