"""``parse`` and ``weave`` subcommands: read a script file, show what was understood or woven."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, ScriptError
from . import FORMATS, CharacterBook, ParseResult, load_characters, parse_script

__all__ = ["register", "run_parse", "run_weave"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 2, 1


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {path}: {exc}", code="unreadable_file", details={"field": "file"}
        ) from exc


def _characters(args: argparse.Namespace) -> CharacterBook | None:
    return load_characters(Path(args.characters)) if args.characters else None


def _summary(result: ParseResult) -> str:
    lines = [
        f"{len(result.entries)} entries ({result.format}), {len(result.speakers)} speakers: "
        + (", ".join(result.speakers) or "none"),
    ]
    for entry in result.entries:
        who = entry.speaker or "-"
        panels = f" [{entry.panel_count}-panel]" if entry.panel_count > 1 else ""
        first = (entry.dialogue or entry.captions or [entry.narration or ""])[0]
        lines.append(f"  [{entry.id}] line {entry.line}{panels} {who}: {first[:70]}")
    for warning in result.warnings:
        lines.append(f"warning line {warning.line} [{warning.entry_id}] {warning.code}: {warning.message}")
    for skipped in result.skipped:
        lines.append(f"skipped lines {skipped.line_start}-{skipped.line_end}: {skipped.text[:60]!r}")
    return "\n".join(lines)


def _fail(exc: InvalidInput) -> int:
    print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
    if isinstance(exc, ScriptError) and isinstance(exc.details, list):
        for warning in exc.details:
            print(f"  line {warning['line']} [{warning['entry_id']}] {warning['code']}: {warning['message']}",
                  file=sys.stderr)  # fmt: skip
    return EXIT_INVALID


def run_parse(args: argparse.Namespace) -> int:
    try:
        result = parse_script(
            _read(args.file), format=args.format, strict=args.strict, characters=_characters(args)
        )
    except InvalidInput as exc:
        return _fail(exc)
    print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) if args.json else _summary(result))
    return EXIT_OK


def run_weave(args: argparse.Namespace) -> int:
    from ..weaving import weave_script  # the parse command never pays for the weaving tables

    try:
        characters = _characters(args)
        result = parse_script(_read(args.file), format=args.format, characters=characters)
        prompts = weave_script(result, style=args.style, max_length=args.max_length, characters=characters)
    except InvalidInput as exc:
        return _fail(exc)
    if args.json:
        payload: list[dict[str, Any]] = [
            {"entry_id": entry.id, **prompt.model_dump()}
            for entry, prompt in zip(result.entries, prompts, strict=True)
        ]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for entry, prompt in zip(result.entries, prompts, strict=True):
            print(f"[{entry.id}] ({prompt.style})\n{prompt.text}\n  negative: {prompt.negative}\n")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parse = subparsers.add_parser(
        "parse", help="parse a script and show its entries, warnings and skipped text"
    )
    parse.add_argument("file")
    parse.add_argument("--format", choices=FORMATS, default="auto")
    parse.add_argument("--strict", action="store_true", help="any warning is an error (exit code 2)")
    parse.add_argument("--characters", metavar="FILE", help="characters JSON: names, aliases, descriptions")
    parse.add_argument("--json", action="store_true", help="print the full parse result as JSON")
    parse.set_defaults(func=run_parse)

    weave = subparsers.add_parser("weave", help="parse a script and print a prompt per entry")
    weave.add_argument("file")
    weave.add_argument("--style", default=None, help="one of the 12 styles (default: graphic novel)")
    weave.add_argument("--format", choices=FORMATS, default="auto")
    weave.add_argument("--characters", metavar="FILE")
    weave.add_argument("--json", action="store_true")
    weave.add_argument("--max-length", type=int, default=1200, dest="max_length")
    weave.set_defaults(func=run_weave)
