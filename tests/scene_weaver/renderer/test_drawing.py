"""The picture itself: deterministic, about the prompt, fast."""

from __future__ import annotations

import io
import time

from PIL import Image, ImageDraw

from scene_weaver.renderer import RendererOptions
from scene_weaver.renderer.drawing import render_png, resolve_seed, spoken_line


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_seed_minus_one_is_derived_from_the_prompt() -> None:
    assert resolve_seed("a", -1) == resolve_seed("a", None) != resolve_seed("b", -1)
    assert resolve_seed("a", 42) == 42


def test_spoken_line_comes_from_saying_or_quotes() -> None:
    assert spoken_line('Alice at the window, saying: "Is it raining?"') == "Is it raining?"
    assert spoken_line("Bob shouts “Run!” at the crowd") == "Run!"
    assert spoken_line("no words here") is None


def test_mood_words_change_the_palette() -> None:
    def top_colour(prompt: str) -> tuple[int, ...]:
        return decode(render_png(prompt, 64, 64, 1)).getpixel((0, 0))  # type: ignore[return-value]
    joyful, sad, eerie = top_colour("a joyful day"), top_colour("a sad day"), top_colour("an eerie day")
    assert len({joyful, sad, eerie}) == 3, (joyful, sad, eerie)


def test_caption_is_drawn_at_the_bottom() -> None:
    caption_paper = (250, 248, 240)

    def paper_share(prompt: str, band: tuple[int, int, int, int]) -> float:
        region = decode(render_png(prompt, 256, 256, 5)).crop(band)
        counts = {colour: count for count, colour in region.getcolors(maxcolors=region.width * region.height)}
        return counts.get(caption_paper, 0) / (region.width * region.height)

    bottom, top = (0, 200, 256, 256), (0, 0, 256, 100)
    spoken = "a room, saying: " + "words " * 40
    assert paper_share(spoken, bottom) > 0.5  # the wrapped caption box fills the bottom band
    assert paper_share(spoken, top) == 0
    assert paper_share("a room", bottom) == 0


def test_a_512_image_draws_in_a_small_part_of_the_default_latency() -> None:
    """Drawing is cheap next to what the renderer stands in for: a 512 picture costs a few plain
    PNG encodings of the same size, measured here, interleaved, so a busy machine slows both."""
    prompt = 'Two philosophers in a stormy lighthouse by the sea at night, saying: "What is the light for?"'
    render_png(prompt, 512, 512, 1)  # warm the font cache

    def plain_png(seed: int) -> bytes:
        image = Image.new("RGB", (512, 512), (seed, 40, 80))
        ImageDraw.Draw(image).rectangle((0, 0, 255, 255), fill=(200, 120, seed))
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()

    drawing, baseline = [], []
    for seed in range(7):
        for timings, draw in ((baseline, plain_png), (drawing, lambda s: render_png(prompt, 512, 512, s))):
            started = time.perf_counter()
            draw(seed)
            timings.append(time.perf_counter() - started)
    assert min(drawing) < 6 * min(baseline), (min(drawing), min(baseline))
    # ...and well inside the renderer's default --latency, so a request's time is the latency asked for.
    assert min(drawing) < RendererOptions().latency / 4, min(drawing)


def test_caption_from_metadata_is_drawn() -> None:
    prompt = "graphic novel art, Iris on the lighthouse stairs at night"
    plain = render_png(prompt, 240, 240, 7)
    captioned = render_png(prompt, 240, 240, 7, caption="Is the sea awake?")
    assert plain != captioned
    assert render_png(prompt, 240, 240, 7, caption="Is the sea awake?") == captioned
