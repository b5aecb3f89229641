"""The emotion palette: how each feeling is recognised in a scene and how it is lit and coloured."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Emotion", "EMOTIONS", "DEFAULT_EMOTION", "detect_emotion"]


@dataclass(frozen=True)
class Emotion:
    name: str
    cues: tuple[str, ...]  # regex fragments, matched as whole words, case-insensitively
    palette: tuple[str, ...]
    lighting: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return _PATTERNS[self.name]


EMOTIONS: tuple[Emotion, ...] = (
    Emotion("existential dread", (r"void", r"abyss", r"nothingness", r"meaningless\w*", r"dread\w*", r"pointless",
            r"what is the point", r"oblivion", r"vanish\w*", r"annihilat\w*"),
            ("ink black", "bruised violet", "sickly green-grey"), "a single weak light swallowed by surrounding darkness"),
    Emotion("transcendent joy", (r"ecsta\w+", r"raptur\w*", r"euphori\w*", r"radiant", r"transcend\w*", r"luminous",
            r"bliss\w*", r"weightless"), ("white gold", "radiant amber", "pearl"), "blazing halo of backlight, bloom"),
    Emotion("bittersweet", (r"bittersweet", r"farewell", r"goodbye", r"last time", r"smil\w+ through tears",
            r"one last"), ("faded rose", "honey", "dusty blue"), "low golden hour light with long soft shadows"),
    Emotion("nostalgia", (r"remember\w*", r"childhood", r"used to", r"long ago", r"memor(?:y|ies)", r"old photograph\w*",
            r"back then", r"once upon"), ("sepia", "warm ochre", "faded teal"), "hazy warm afternoon light, film grain"),
    Emotion("yearning", (r"long(?:ing|s)? for", r"yearn\w*", r"if only", r"miss(?:ed)? you", r"reach\w* for",
            r"wish\w*", r"far away"), ("twilight blue", "distant rose", "pale gold"), "light spilling from a far horizon"),
    Emotion("melancholy", (r"melanchol\w*", r"wistful\w*", r"lonely", r"loneliness", r"grey", r"gray", r"drizzle",
            r"rain\w*", r"empty", r"alone"), ("slate blue", "storm grey", "muted teal"), "overcast diffuse light, soft rain haze"),
    Emotion("ennui", (r"bored\w*", r"boredom", r"tedious", r"monoton\w*", r"listless\w*", r"same again", r"nothing happens",
            r"yawn\w*", r"ennui"), ("beige", "washed-out olive", "dull grey"), "flat fluorescent light, no shadows"),
    Emotion("sublime", (r"sublime", r"vast\w*", r"immense\w*", r"infinite", r"towering", r"colossal", r"overwhelm\w*",
            r"storm\w*", r"cosmos"), ("deep ultramarine", "storm silver", "burning orange"), "dramatic god rays through towering clouds"),
    Emotion("wonder", (r"wonder(?:ful|ing)?", r"marvel\w*", r"amaz\w+", r"astonish\w*", r"magic\w*", r"stars?",
            r"glow\w*", r"curious"), ("iridescent teal", "starlight silver", "soft magenta"), "glittering ambient light, floating motes"),
    Emotion("serenity", (r"calm\w*", r"peace\w*", r"serene", r"still(?:ness)?", r"quiet\w*", r"tranquil\w*", r"gentle",
            r"breath\w*"), ("sage green", "pale sky blue", "cream"), "soft even morning light"),
    Emotion("determination", (r"determin\w+", r"resolve\w*", r"must", r"won't stop", r"will not stop", r"keep going",
            r"never give up", r"climb\w*", r"fight\w*", r"refuse\w*"), ("crimson", "steel blue", "burnished bronze"),
            "hard directional side light, strong contrast"),
    Emotion("contemplation", (r"think\w*", r"thought\w*", r"ponder\w*", r"perhaps", r"question\w*", r"consider\w*",
            r"reflect\w*", r"wonder(?:s)? (?:if|whether)", r"am i", r"maybe", r"knows?"), ("dusky indigo", "lamp amber", "soft grey"),
            "a single lamp pooling warm light in a dim space"),
    Emotion("confusion", (r"confus\w+", r"puzzl\w+", r"bewilder\w*", r"lost", r"don't understand", r"which way", r"maze",
            r"make sense"), ("clashing mauve", "acid yellow", "murky green"), "fractured light from several directions"),
    Emotion("love", (r"lov(?:e|es|ed|ing)", r"beloved", r"tender\w*", r"embrac\w+", r"kiss\w*", r"heart", r"darling",
            r"hold(?:s|ing)? hands"), ("rose", "warm coral", "candle gold"), "warm candlelight, gentle glow on faces"),
    Emotion("joy", (r"joy\w*", r"happ(?:y|iness|ily)", r"laugh\w*", r"smil\w+", r"delight\w*", r"cheer\w*", r"danc\w+",
            r"celebrat\w+"), ("sunflower yellow", "sky blue", "coral"), "bright high-key sunlight"),
    Emotion("sadness", (r"sad\w*", r"cry\w*", r"cries", r"weep\w*", r"tears?", r"grie\w+", r"mourn\w*", r"sorrow\w*",
            r"loss"), ("cold blue", "ash grey", "faded navy"), "dim cold light, heavy shadows"),
    Emotion("anger", (r"ang(?:ry|er)", r"rage\w*", r"fur(?:y|ious)", r"shout\w*", r"slam\w*", r"clench\w*", r"scream\w* at",
            r"hate\w*"), ("blood red", "scorched orange", "black"), "harsh red-tinted underlighting"),
    Emotion("fear", (r"afraid", r"fear\w*", r"terr(?:or|ified|ifying)", r"trembl\w+", r"panic\w*", r"scream\w*", r"dark",
            r"shadows?", r"hid(?:e|es|ing)"), ("midnight blue", "bone white", "deep green"), "stark low-key light, looming shadows"),
    Emotion("surprise", (r"sudden\w*", r"gasp\w*", r"shock\w*", r"unexpected\w*", r"startl\w+", r"wh(?:at|oa)!"),
            ("electric cyan", "bright white", "hot pink"), "a sudden flash of light, crisp highlights"),
    Emotion("disgust", (r"disgust\w*", r"revolt\w*", r"rot\w*", r"filth\w*", r"sicken\w*", r"vile", r"stench"),
            ("bile green", "rust brown", "jaundiced yellow"), "sickly greenish light, grimy haze"),
)  # fmt: skip

_PATTERNS = {e.name: re.compile(r"\b(?:" + "|".join(e.cues) + r")(?!\w)") for e in EMOTIONS}
DEFAULT_EMOTION = next(e for e in EMOTIONS if e.name == "contemplation")
_INTENSIFIER_RE = re.compile(
    r"\b(?:very|so|utterly|completely|deeply|truly|terribly|absolutely|overwhelming\w*|never|always)\b", re.I
)


def detect_emotion(text: str) -> tuple[Emotion, float]:
    """The dominant emotion of ``text`` and its intensity in [0.1, 1.0].

    The first emotion of the palette wins ties, so compound feelings ("existential
    dread") beat the plain ones whose cues they share.
    """
    best, best_hits = DEFAULT_EMOTION, 0
    lowered = text.lower()  # cues are lower case: cheaper than case-insensitive matching
    for emotion in EMOTIONS:
        hits = len(emotion.pattern.findall(lowered))
        if hits > best_hits:
            best, best_hits = emotion, hits
    if best_hits == 0:
        return DEFAULT_EMOTION, 0.3
    boost = 0.1 * len(_INTENSIFIER_RE.findall(text)) + 0.05 * text.count("!")
    return best, round(min(1.0, 0.35 + 0.15 * best_hits + boost), 2)
