"""The bracketed entry format (``[0001] Iris: <<...>>``), tidy and hand-written.

The parser works in two steps. ``_split`` cuts the text into entry bodies and skipped
text (transcript noise, free prose) by lines; ``_EntryScanner`` then walks one body's
markup (``<< >>``, ``[[ ]]``, ``( )``) and assigns each quote its speaker. Speaker names
stay raw here; :mod:`.speakers` normalises them across the whole script afterwards.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from ..vocabulary import CAPTION_LABELS, NOT_NAMES, SPEECH_VERB_RE, stated_setting
from .model import Entry, ScriptWarning, Skipped

__all__ = ["parse_bracketed", "ENTRY_START_RE"]

ENTRY_START_RE = re.compile(r"^[ \t]*\[(\d{1,9}[A-Za-z]?)\][ \t]?")
_NOISE_LINE_RE = re.compile(
    r"^\s*(?:(?:chatgpt|claude|gemini|assistant|user|you|copilot|bard)(?: said)?\s*:\s*|#{1,6}\s.*|"
    r"[-*=_]{3,}|```.*)$",
    re.IGNORECASE,
)
_MARKUP_RE = re.compile(r"<<|>>|\[\[|\]\]|^\s*\(|\bcaption\s*:", re.IGNORECASE)
_MARK_RE = re.compile(r"<<|>>|\[\[|\]\]|\(")
_PANEL_TOKEN_RE = re.compile(r"\[\s*(\d{1,3})\s*[- ]?\s*panels?\s*\]", re.IGNORECASE)
_PANEL_WORDS_RE = re.compile(
    r"\b(\d{1,3}|two|three|four|five|six|seven|eight|nine|ten|twelve)[- ]panels?\b", re.IGNORECASE
)
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12,
}  # fmt: skip
_QUOTED_RE = re.compile(r"<<.*?(?:>>|$)", re.DOTALL)
_SENTENCE_SPLIT_RE = re.compile(r"[.!?;\n]")
_CAP_NAME_RE = re.compile(r"[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*){0,2}")
_TRAILING_NAME_RE = re.compile(r"([A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,3})[ \t]*$")
_LABEL_PRESCAN_RE = re.compile(r"(?:^|[\s\]])([A-Z][\w'’-]*(?: [A-Z][\w'’-]*){0,2})\s*:\s*<<", re.MULTILINE)
_MAX_LABEL_WORDS = 3  # a longer clause before ":" is narration, not a speaker's name


def _collapse(text: str) -> str:
    return " ".join(text.split())


@dataclass
class _Body:
    entry_id: str
    line: int
    lines: list[tuple[int, str]] = field(default_factory=list)


def _open_state(line: str, quote: bool, note: bool) -> tuple[bool, bool]:
    for mark in _MARK_RE.finditer(line):
        token = mark.group()
        if quote:
            quote = token != ">>"
        elif note:
            note = token != "]]"
        elif token == "<<":
            quote = True
        elif token == "[[":
            note = True
    return quote, note


def _closes_later(rest: str, opener: str, closer: str) -> bool:
    close_at = rest.find(closer)
    if close_at < 0:
        return False
    open_at = rest.find(opener)
    return open_at < 0 or close_at < open_at


def _split(lines: list[str]) -> tuple[list[_Body], list[tuple[int, str]]]:
    """Entry bodies and the skipped (line number, text) pairs, both in file order."""
    starts = [i for i, line in enumerate(lines) if ENTRY_START_RE.match(line)]
    skipped = [(i + 1, line) for i, line in enumerate(lines[: starts[0] if starts else len(lines)])]
    bodies: list[_Body] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        head = ENTRY_START_RE.match(lines[start])
        assert head is not None
        body = _Body(head.group(1), start + 1, [(start + 1, lines[start][head.end() :])])
        quote, note = _open_state(body.lines[0][1], False, False)
        attached = True
        for idx in range(start + 1, end):
            line = lines[idx]
            if quote or note:
                rest = "\n".join(lines[idx:end])
                if (quote and _closes_later(rest, "<<", ">>")) or (note and _closes_later(rest, "[[", "]]")):
                    body.lines.append((idx + 1, line))
                    quote, note = _open_state(line, quote, note)
                    attached = True
                    continue
                quote = note = False  # never closed: it ends with the lines already taken
                attached = bool(line.strip()) and attached
            if not line.strip():
                attached = False
            elif _NOISE_LINE_RE.match(line):
                skipped.append((idx + 1, line))
                attached = False
            elif attached or _MARKUP_RE.search(line):
                body.lines.append((idx + 1, line))
                quote, note = _open_state(line, quote, note)
                attached = True
            else:
                skipped.append((idx + 1, line))
        bodies.append(body)
    return bodies, skipped


def _group_skipped(pairs: list[tuple[int, str]]) -> list[Skipped]:
    groups: list[Skipped] = []
    run: list[tuple[int, str]] = []
    for line_no, text in sorted(pairs) + [(-1, "")]:
        if run and (line_no != run[-1][0] + 1 or not text.strip()):
            content = [t for _, t in run if t.strip()]
            if content:
                groups.append(Skipped(run[0][0], run[-1][0], "\n".join(content)))
            run = []
        if text.strip():
            run.append((line_no, text))
    return groups


class _EntryScanner:
    """Walks one entry body: quotes, captions, notes, directions, narration, speakers."""

    def __init__(self, body: _Body, known: dict[str, str], previous_speaker: str) -> None:
        self.body = body
        self.text = "\n".join(t for _, t in body.lines)
        self.line_starts: list[int] = []
        offset = 0
        for _, t in body.lines:
            self.line_starts.append(offset)
            offset += len(t) + 1
        self.known = known
        self.previous_speaker = previous_speaker
        self.entry = Entry(id=body.entry_id, line=body.line)
        self.narration: list[str] = []
        self.pending: list[str] = []  # narration since the last quote: where its speaker is named
        self.last_speaker = ""

    def line_at(self, pos: int) -> int:
        return self.body.lines[max(0, bisect_right(self.line_starts, pos) - 1)][0]

    def warn(self, pos: int, code: str, message: str) -> None:
        self.entry.warnings.append(ScriptWarning(self.line_at(pos), self.entry.id, code, message))

    def scan(self) -> Entry:
        text, pos = self.text, 0
        while True:
            mark = _MARK_RE.search(text, pos)
            if mark is None:
                self.outside(text[pos:])
                break
            self.outside(text[pos : mark.start()])
            pos = self.markup(mark.group(), mark.start())
        self.finish()
        return self.entry

    def markup(self, token: str, at: int) -> int:  # noqa: PLR0911 - one return per kind of markup
        text = self.text
        if token == "<<":
            close, reopen = text.find(">>", at + 2), text.find("<<", at + 2)
            if close < 0 or 0 <= reopen < close:
                end = reopen if reopen >= 0 else len(text)
                self.warn(at, "unclosed_quote", "'<<' is never closed; the quote ends with the entry")
                self.quote(text[at + 2 : end])
                return end
            self.quote(text[at + 2 : close])
            return close + 2
        if token == "[[":
            close = text.find("]]", at + 2)
            if close < 0:
                end = text.find("\n", at)
                end = len(text) if end < 0 else end
                self.warn(at, "unclosed_note", "'[[' is never closed; the note ends with its line")
                self.add(self.entry.notes, text[at + 2 : end])
                return end
            self.add(self.entry.notes, text[at + 2 : close])
            return close + 2
        if token == "(":
            depth, i = 0, at
            while i < len(text):
                if text[i] == "(":
                    depth += 1
                elif text[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                elif text.startswith(("<<", "[["), i):
                    i = len(text)
                    break
                i += 1
            if i >= len(text):
                self.warn(at, "unclosed_direction", "'(' is never closed; kept as narration")
                self.outside("(")
                return at + 1
            self.add(self.entry.stage_directions, text[at + 1 : i])
            return i + 1
        code = "stray_close_quote" if token == ">>" else "stray_close_note"
        self.warn(at, code, f"'{token}' closes nothing; ignored")
        return at + 2

    @staticmethod
    def add(field_: list[str], raw: str) -> None:
        cleaned = _collapse(raw)
        if cleaned:
            field_.append(cleaned)

    def outside(self, fragment: str) -> None:
        if fragment.strip():
            self.pending.append(fragment)

    def flush_pending(self) -> None:
        joined = "".join(self.pending)
        if joined.strip():
            self.narration.append(joined)
        self.pending = []

    def quote(self, raw: str) -> None:
        said = _collapse(raw)
        pre_full = "".join(self.pending)
        pre = pre_full.rstrip()
        speaker, label_len, is_caption = self.speaker_for(pre)
        self.pending = [pre[: len(pre) - label_len] if label_len else pre_full]
        self.flush_pending()
        if not said:
            return
        if is_caption:
            self.entry.captions.append(said)
            return
        speaker = speaker or self.last_speaker
        self.last_speaker = speaker
        self.entry.dialogue.append(said)
        self.entry.spoken.append((speaker, said))

    def speaker_for(self, pre: str) -> tuple[str, int, bool]:  # noqa: PLR0911 - one return per kind of label
        """(speaker, length of a tidy label to cut from the narration, is a caption)."""
        if pre.endswith(":"):
            head = pre[:-1].rstrip()
            clause = _SENTENCE_SPLIT_RE.split(head)[-1].strip()
            if clause.lower() in CAPTION_LABELS:
                return "", len(pre) - len(head) + len(clause), True
            verb = SPEECH_VERB_RE.search(clause)
            if verb:
                return self.subject(clause[: verb.start()]), 0, False
            if clause and len(clause.split()) <= _MAX_LABEL_WORDS and not any(c.isdigit() for c in clause):
                return clause, len(pre) - len(head) + len(clause), False
            trailing = _TRAILING_NAME_RE.search(head)
            if trailing and trailing.group(1).lower() not in NOT_NAMES:
                return trailing.group(1), len(pre) - trailing.start(1), False
            return "", 0, False
        clause = _SENTENCE_SPLIT_RE.split(pre)[-1]
        verbs = list(SPEECH_VERB_RE.finditer(clause))
        if verbs:
            verb = verbs[-1]
            return self.subject(clause[: verb.start()]), 0, False
        return "", 0, False

    def subject(self, before_verb: str) -> str:
        candidates: list[tuple[int, str]] = []
        lowered = before_verb.lower()
        for key, name in self.known.items():
            at = _word_find(lowered, key)
            if at >= 0:
                candidates.append((at, name))
        for match in _CAP_NAME_RE.finditer(before_verb):
            words = [w for w in match.group().split() if w.lower() not in NOT_NAMES]
            if words:
                candidates.append((match.start() + match.group().find(words[0]), " ".join(words)))
        for match in re.finditer(r"\b(she|he|they)\b", lowered):
            candidates.append((match.start(), "\0" + match.group()))
        if not candidates:
            # "the architect whispers": a role named in lower case, right before the verb
            role = re.search(r"\bthe\s+([a-z][\w'’-]{2,})\s*(?:,\s*)?$", before_verb)
            return role.group(1) if role and role.group(1) not in NOT_NAMES else ""
        candidates.sort(key=lambda c: (c[0], -len(c[1])))
        name = candidates[0][1]
        return self.resolve_pronoun() if name.startswith("\0") else name

    def mentions(self, text: str) -> list[tuple[int, str]]:
        """Characters named in ``text``: known spellings, else capitalised non-stop words."""
        lowered = text.lower()
        found = []
        for key, name in self.known.items():
            for m in re.finditer(r"\b" + re.escape(key) + r"\b", lowered):
                found.append((m.start(), name))
        for match in _CAP_NAME_RE.finditer(text):
            words = [w for w in match.group().split() if w.lower() not in NOT_NAMES]
            if words and words[0].lower() not in self.known:
                found.append((match.start() + match.group().find(words[0]), " ".join(words)))
        return sorted(found)

    def resolve_pronoun(self) -> str:
        before = self.mentions("".join(self.narration) + "".join(self.pending))
        if before:
            return before[-1][1]
        if self.last_speaker:
            return self.last_speaker
        later = self.mentions(_QUOTED_RE.sub(" ", self.text))
        if later:
            return later[0][1]
        if self.previous_speaker:
            return self.previous_speaker
        self.warn(0, "unresolved_speaker", "a pronoun speaker names no character")
        return ""

    def finish(self) -> None:
        self.flush_pending()
        entry = self.entry
        narration = _collapse(" ".join(self.narration))
        panel = _PANEL_TOKEN_RE.search(narration)
        if panel:
            entry.panel_count = max(1, int(panel.group(1)))
            narration = _collapse(_PANEL_TOKEN_RE.sub(" ", narration))
        else:
            words = _PANEL_WORDS_RE.search(narration)
            if words:
                raw = words.group(1).lower()
                entry.panel_count = max(1, int(raw) if raw.isdigit() else _NUMBER_WORDS[raw])
        entry.narration = narration
        entry.setting = stated_setting(narration)
        if not (entry.dialogue or entry.captions or entry.narration or entry.stage_directions or entry.notes):
            entry.warnings.append(
                ScriptWarning(entry.line, entry.id, "empty_entry", f"entry [{entry.id}] has no content")
            )


def _word_find(text: str, word: str) -> int:
    match = re.search(r"\b" + re.escape(word) + r"\b", text)
    return match.start() if match else -1


def prescan_names(text: str) -> list[str]:
    """Names used as tidy labels (``Name: <<``) anywhere in the script, first use first."""
    seen: dict[str, None] = {}
    for match in _LABEL_PRESCAN_RE.finditer(text):
        name = match.group(1)
        if name.lower() not in CAPTION_LABELS and name.lower() not in NOT_NAMES:
            seen.setdefault(name, None)
    return list(seen)


def parse_bracketed(text: str, known: dict[str, str]) -> tuple[list[Entry], list[Skipped]]:
    """Entries with raw speaker names, and skipped text. ``known`` maps lower-case spellings to names."""
    lines = text.split("\n")
    bodies, skipped_pairs = _split(lines)
    entries: list[Entry] = []
    seen_ids: dict[str, int] = {}
    previous_speaker = ""
    for body in bodies:
        entry = _EntryScanner(body, known, previous_speaker).scan()
        if entry.id in seen_ids:
            entry.warnings.insert(0, ScriptWarning(
                entry.line, entry.id, "duplicate_id",
                f"entry id [{entry.id}] already used on line {seen_ids[entry.id]}",
            ))  # fmt: skip
        else:
            seen_ids[entry.id] = entry.line
            if entries and _numeric(entry.id) < _numeric(entries[-1].id):
                entry.warnings.insert(0, ScriptWarning(
                    entry.line, entry.id, "id_out_of_order",
                    f"entry id [{entry.id}] comes after [{entries[-1].id}]",
                ))  # fmt: skip
        for raw_speaker, _ in entry.spoken:
            if raw_speaker:
                known.setdefault(raw_speaker.lower(), raw_speaker)
                previous_speaker = raw_speaker
        entries.append(entry)
    return entries, _group_skipped(skipped_pairs)


def _numeric(entry_id: str) -> int:
    digits = "".join(ch for ch in entry_id if ch.isdigit())
    return int(digits) if digits else 0
