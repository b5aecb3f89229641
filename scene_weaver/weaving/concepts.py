"""Philosophical concepts a scene touches, and the visual symbols each one can be drawn with."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["Concept", "CONCEPTS", "detect_concepts", "visual_metaphor"]


@dataclass(frozen=True)
class Concept:
    name: str
    cues: tuple[str, ...]
    symbols: tuple[str, ...]


CONCEPTS: tuple[Concept, ...] = (
    Concept("freedom", (r"free\w*", r"liberty", r"escape\w*", r"cage\w*", r"chains?"),
            ("birds bursting out of an open cage", "a door opening onto an endless sky", "broken chains on the ground")),
    Concept("identity", (r"identity", r"who am i", r"myself", r"someone who", r"knows? it is", r"self"),
            ("a figure facing a mirror that shows someone else", "a mask half lifted", "a name written on water")),
    Concept("consciousness", (r"conscious\w*", r"aware\w*", r"mind", r"thinks?", r"knows?"),
            ("a glowing lantern inside a transparent head", "an eye reflected in an eye", "a lighthouse beam sweeping the dark")),
    Concept("time", (r"time", r"clock\w*", r"hours?", r"later", r"tomorrow", r"yesterday", r"waiting"),
            ("melting clocks", "an hourglass spilling stars", "a spiral staircase of calendar pages")),
    Concept("impermanence", (r"impermanen\w*", r"fleeting", r"fade\w*", r"passing", r"tide\w*", r"sand", r"petals?"),
            ("sandcastles dissolving in the tide", "falling cherry petals", "footprints erased by waves")),
    Concept("authenticity", (r"authentic\w*", r"genuine", r"true self", r"pretend\w*", r"masks?", r"real me"),
            ("a mask cracking to reveal light", "a plain wooden door among painted ones", "a reflection more vivid than the person")),
    Concept("the absurd", (r"absurd\w*", r"sisyphus", r"boulder", r"no reason", r"ridiculous", r"nonsense"),
            ("a figure pushing a boulder up a hill and smiling", "a staircase that loops into itself", "a clock with no hands")),
    Concept("mortality", (r"death", r"die\w*", r"dying", r"mortal\w*", r"grave\w*", r"skull\w*", r"funeral"),
            ("a candle guttering beside a skull", "an empty chair in the sunlight", "wilting flowers in a vase")),
    Concept("meaning", (r"meaning\w*", r"purpose", r"why are we", r"the point", r"significance"),
            ("a single lit window in a dark city", "a compass whose needle points at the viewer", "a thread through a labyrinth")),
    Concept("truth", (r"truth", r"true", r"lie\w*", r"honest\w*", r"confession"),
            ("a well with light at the bottom", "a torn veil", "a mirror held up to the sun")),
    Concept("knowledge", (r"knowledge", r"learn\w*", r"books?", r"library", r"study", r"understand\w*"),
            ("an endless library spiralling upward", "a tree whose leaves are pages", "a lantern lighting a single page")),
    Concept("memory", (r"memor\w+", r"remember\w*", r"forget\w*", r"forgot\w*", r"photograph\w*"),
            ("drawers full of glowing photographs", "a house made of faded letters", "fog drifting through an old room")),
    Concept("language", (r"words?", r"language", r"names?", r"speak\w*", r"silence"),
            ("letters rising like birds from a mouth", "a bridge built from words", "a speech bubble left empty")),
    Concept("representation", (r"maps?", r"model\w*", r"picture\w*", r"draw\w*", r"image\w*", r"symbol\w*"),
            ("a map larger than the land it shows", "a painting of the room it hangs in", "a drawn line stepping off the page")),
    Concept("solitude", (r"alone", r"solitude", r"lonel\w+", r"isolat\w+", r"hermit"),
            ("a lone lighthouse on a rock at sea", "a single chair in an empty hall", "one lit window on a long street")),
    Concept("connection", (r"together", r"connect\w*", r"relation\w*", r"bond\w*", r"friend\w*", r"each other"),
            ("a red thread tying two hands", "two shadows merging", "bridges between islands")),
    Concept("nothingness", (r"nothing\w*", r"void", r"empt\w+", r"absence", r"abyss"),
            ("a figure standing at the edge of a white void", "an empty frame on a wall", "a hole in the sky")),
    Concept("infinity", (r"infinit\w*", r"endless\w*", r"forever", r"eternal\w*", r"eternity"),
            ("mirrors facing mirrors", "a staircase vanishing into clouds", "an ouroboros of light")),
    Concept("fate", (r"fate", r"destin\w*", r"doomed", r"inevitabl\w*", r"meant to"),
            ("threads held by unseen hands", "a chessboard seen from above", "railway tracks converging on the horizon")),
    Concept("free will", (r"choose", r"chose", r"choice\w*", r"decid\w+", r"will"),
            ("a crossroads under a single streetlamp", "a hand hovering over two doors", "a puppet cutting its own strings")),
    Concept("beauty", (r"beaut\w+", r"lovely", r"gorgeous", r"aesthetic\w*", r"grace\w*"),
            ("a single flower growing through concrete", "light through stained glass", "a perfectly still lake")),
    Concept("morality", (r"good", r"evil", r"right", r"wrong", r"moral\w*", r"ought", r"guilt\w*", r"sin\w*"),
            ("scales balanced on a knife edge", "a path splitting into light and shadow", "hands washing in a dark basin")),
    Concept("faith", (r"faith", r"believ\w+", r"god\w*", r"pray\w*", r"holy", r"sacred"),
            ("a candle in a vast cathedral", "a bridge disappearing into mist", "a feather resting on an open palm")),
    Concept("illusion", (r"illusion\w*", r"dream\w*", r"unreal", r"appear\w*", r"seems?", r"simulation"),
            ("a room whose walls peel away into stars", "a painted backdrop tearing open", "a reflection that moves on its own")),
    Concept("change", (r"chang\w+", r"becom\w+", r"transform\w*", r"grow\w*", r"metamorph\w*"),
            ("a butterfly leaving a cracked chrysalis", "a tree through four seasons", "a river reshaping its banks")),
    Concept("nature", (r"sea", r"ocean", r"forest\w*", r"mountain\w*", r"river\w*", r"wind", r"earth"),
            ("roots wrapping around ruins", "the sea reclaiming a stair", "a mountain shaped like a sleeping face")),
    Concept("technology", (r"machine\w*", r"robot\w*", r"computer\w*", r"algorithm\w*", r"code", r"artificial"),
            ("clockwork gears inside a heart", "cables growing like vines", "a circuit-board city at night")),
    Concept("perception", (r"see\w*", r"saw", r"perce\w+", r"look\w*", r"eyes?", r"vision"),
            ("a giant eye in the sky", "a room seen through a kaleidoscope", "a window framing a different world")),
    Concept("responsibility", (r"responsib\w+", r"duty", r"burden\w*", r"promise\w*", r"account\w*"),
            ("a figure carrying a lantern through a storm", "a heavy key on a chain", "a lighthouse keeper at the lamp")),
    Concept("suffering", (r"suffer\w*", r"pain\w*", r"hurt\w*", r"wound\w*", r"scar\w*"),
            ("a kintsugi bowl mended with gold", "thorns wrapped around a heart", "a figure walking through rain")),
    Concept("hope", (r"hope\w*", r"someday", r"light at", r"dawn", r"spring"),
            ("a green shoot in ashes", "a window open at dawn", "a paper boat on a wide sea")),
    Concept("chaos and order", (r"chaos", r"order", r"pattern\w*", r"random\w*", r"structure\w*", r"walls?"),
            ("a perfect grid collapsing into scribbles", "a clockwork garden overrun by weeds", "a maze seen from above")),
    Concept("the self and the other", (r"other\w*", r"stranger\w*", r"you and i", r"between us", r"us"),
            ("two figures mirroring each other across a river", "a face split into two halves", "a handshake through glass")),
)  # fmt: skip

_PATTERNS = [(c, re.compile(r"\b(?:" + "|".join(c.cues) + r")(?!\w)")) for c in CONCEPTS]


def detect_concepts(text: str, *, limit: int = 3) -> list[Concept]:
    """Concepts ``text`` evokes, strongest first (palette order breaks ties)."""
    scored = []
    lowered = text.lower()  # cues are lower case: cheaper than case-insensitive matching
    for index, (concept, pattern) in enumerate(_PATTERNS):
        hits = len(pattern.findall(lowered))
        if hits:
            scored.append((-hits, index, concept))
    return [concept for _, _, concept in sorted(scored, key=lambda s: (s[0], s[1]))[:limit]]


def _pick(symbols: tuple[str, ...], seed: str) -> str:
    """A stable choice: the same scene always gets the same symbol, different scenes vary."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return symbols[digest[0] % len(symbols)]


def visual_metaphor(concepts: list[Concept], seed: str) -> str:
    if not concepts:
        return ""
    lead = concepts[0]
    text = f"visual metaphor for {lead.name}: {_pick(lead.symbols, seed)}"
    if len(concepts) > 1:
        second = concepts[1]
        text += f", echoed by {_pick(second.symbols, seed + second.name)} ({second.name})"
    return text
