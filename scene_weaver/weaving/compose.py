"""Fitting a prompt into a length limit: the least important parts go first, words stay whole."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Part", "compose", "cut_at_word", "ESSENTIAL"]

SEPARATOR = ", "
ESSENTIAL = 100  # a part with this priority is never dropped


@dataclass(frozen=True)
class Part:
    slot: str
    text: str
    priority: int  # higher survives longer; ESSENTIAL is never dropped


def cut_at_word(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters, ending on a whole word."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = head.rfind(" ")
    if cut <= 0:
        return ""
    return text[:cut].rstrip(" ,;:–-")


def compose(parts: list[Part], limit: int) -> tuple[str, list[str]]:
    """Join ``parts`` in order; drop the lowest priority (the later one on a tie) until it fits.

    Returns the text and the slots of the dropped parts. If the essential parts alone are
    still too long, the last of them is cut at a word boundary.
    """
    kept = [p for p in parts if p.text.strip()]
    dropped: list[str] = []
    while len(SEPARATOR.join(p.text for p in kept)) > limit:
        droppable = [(p.priority, -i) for i, p in enumerate(kept) if p.priority < ESSENTIAL]
        if not droppable:
            break
        _, neg_index = min(droppable)
        dropped.append(kept.pop(-neg_index).slot)
    text = SEPARATOR.join(p.text for p in kept)
    if len(text) > limit:
        text = cut_at_word(text, limit)
    return text, dropped
