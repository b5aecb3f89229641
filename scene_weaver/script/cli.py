"""The ``parse`` subcommand: read a script file and show what was understood.

``weave`` (in :mod:`scene_weaver.cli`) reads its file and reports bad input the same way,
through ``read_script_file`` and ``print_invalid``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InvalidInput, ScriptError
from ..vocabulary import CharacterBook, load_characters
from . import FORMATS, ParseResult, parse_script

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "characters_file",
    "print_invalid",
    "read_script_file",
    "register",
    "run_parse",
]

EXIT_OK, EXIT_INVALID = 0, 2


def read_script_file(path: str) -> str:
    """The file's text; an unreadable file is ``InvalidInput`` (``unreadable_file``)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {path}: {exc}", code="unreadable_file", details={"field": "file"}
        ) from exc


def characters_file(path: str | None) -> CharacterBook | None:
    """The book of the ``--characters`` file, or ``None`` without one."""
    return load_characters(Path(path)) if path else None


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


def print_invalid(exc: InvalidInput) -> int:
    """Print the error (and each of a script's problems) on stderr; the exit code for bad input."""
    print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
    if isinstance(exc, ScriptError) and isinstance(exc.details, list):
        for warning in exc.details:
            print(f"  line {warning['line']} [{warning['entry_id']}] {warning['code']}: {warning['message']}",
                  file=sys.stderr)  # fmt: skip
    return EXIT_INVALID


def run_parse(args: argparse.Namespace) -> int:
    try:
        result = parse_script(
            read_script_file(args.file),
            format=args.format,
            strict=args.strict,
            characters=characters_file(args.characters),
        )
    except InvalidInput as exc:
        return print_invalid(exc)
    print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) if args.json else _summary(result))
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
