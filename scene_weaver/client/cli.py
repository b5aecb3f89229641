"""``scene-weaver login | logout | submit | status | watch | cancel | fetch``: the API from a shell.

Exit codes a script can rely on: 0 done (every scene drawn), 1 some scenes failed or were
canceled (or are not finished, for ``fetch``), 2 bad usage or input (the API refused the
request, not logged in), 3 the server is unavailable. Messages go to standard error;
``--json`` prints the final job or batch record as one JSON object on standard output.
The server is ``--url``, else ``SCENE_WEAVER_URL``, else the one last logged in to.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..script import FORMATS, parse_script
from ..script.cli import read_script_file
from .client import Record, SceneWeaverClient
from .errors import ClientError, ServerUnavailable
from .progress import make_display
from .tokens import TokenStore

__all__ = ["register", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_UNAVAILABLE", "DEFAULT_URL"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
DEFAULT_URL = "http://127.0.0.1:8000"
URL_VARIABLE = "SCENE_WEAVER_URL"
PRIORITIES = ("high", "normal", "low")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

Command = Callable[[argparse.Namespace], int]


def _server(args: argparse.Namespace, tokens: TokenStore) -> str:
    return str(args.url or os.environ.get(URL_VARIABLE) or tokens.last_url() or DEFAULT_URL)


def _client(args: argparse.Namespace) -> SceneWeaverClient:
    tokens = TokenStore()
    return SceneWeaverClient(_server(args, tokens), tokens=tokens)


def _reporting(command: Command) -> Command:
    """The command's client errors as a message on stderr and an exit code."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ServerUnavailable as exc:
            print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        except ClientError as exc:
            print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
            if isinstance(exc.details, dict | list):
                print(f"  {json.dumps(exc.details)}", file=sys.stderr)
            return EXIT_USAGE

    return run


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False), flush=True)


def _counts(record: Record) -> dict[str, int]:
    if record.kind == "batch":
        return {name: int(value) for name, value in (record.data.get("request_counts") or {}).items()}
    status = str(record.data.get("status"))
    return {"total": 1, status: 1}


def _exit_code(record: Record) -> int:
    """0 when everything is drawn, 1 when something failed or was canceled (or is not finished)."""
    counts = _counts(record)
    if counts.get("failed", 0) or counts.get("canceled", 0):
        return EXIT_FAILED
    if record.kind == "job":
        return EXIT_OK if record.data.get("status") == "succeeded" else EXIT_FAILED
    return EXIT_OK if record.data.get("status") == "completed" else EXIT_FAILED


def _describe(client: SceneWeaverClient, record: Record) -> str:
    data = record.data
    lines: list[str]
    if record.kind == "job":
        scene = data.get("scene") or {}
        lines = [f"job {record.id}: {data.get('status')} ({data.get('progress', 0)}%)",
                 f"  scene {scene.get('entry_id') or '-'} {scene.get('speaker') or ''}".rstrip()]
        if data.get("error"):
            lines.append(f"  error [{data['error'].get('code')}]: {data['error'].get('message')}")
    else:
        counts = _counts(record)
        done = counts.get("succeeded", 0) + counts.get("failed", 0) + counts.get("canceled", 0)
        lines = [f"batch {record.id}: {data.get('status')}, {done}/{counts.get('total', 0)} done "
                 f"({counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
                 f"{counts.get('canceled', 0)} canceled, {counts.get('deduplicated', 0)} deduplicated)"]
        if data.get("warnings"):
            lines.append(f"  {len(data['warnings'])} warning(s) from the script")
    gallery = (data.get("links") or {}).get("gallery")
    if gallery:
        lines.append(f"  gallery: {client.url}{gallery}")
    return "\n".join(lines)


def _finish(client: SceneWeaverClient, record: Record, as_json: bool) -> int:
    if as_json:
        _print_json(record.data)
    else:
        print(_describe(client, record), flush=True)
    return _exit_code(record)


def _follow(client: SceneWeaverClient, record: Record) -> Record:
    """Follow the live events until the job or batch finishes (a bar on a terminal); the final record."""
    if record.finished:
        return record
    if record.kind == "job":
        display = make_display(f"job {record.id[:8]}", "%")
        try:
            for event in client.events(record.id, kind="job"):
                status = str(event.data.get("status") or "")
                progress = 100 if status == "succeeded" else int(event.data.get("progress") or 0)
                display.update(progress, 100, {status: 1} if status in ("failed", "canceled") else {}, status)
        finally:
            display.close()
        return Record("job", dict(client.job(record.id)))
    display = make_display(record.id[:8], "scenes")
    counts = _counts(record)

    def show(status: str) -> None:
        done = counts.get("succeeded", 0) + counts.get("failed", 0) + counts.get("canceled", 0)
        display.update(done, counts.get("total", 0), counts, status)

    try:
        show(str(record.data.get("status") or ""))
        for event in client.events(record.id, kind="batch"):
            found = event.data.get("request_counts")
            if isinstance(found, dict):
                counts = {name: int(value) for name, value in found.items()}
                show(str(event.data.get("status") or event.type))
    finally:
        display.close()
    return Record("batch", dict(client.get_batch(record.id)))


# commands --------------------------------------------------------------------------------


@_reporting
def _login(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    with _client(args) as client:
        credentials = client.login(args.username, password)
    print(f"logged in to {credentials.url} as {credentials.username}", file=sys.stderr)
    return EXIT_OK


@_reporting
def _logout(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.logout()
        print(f"logged out of {client.url}", file=sys.stderr)
    return EXIT_OK


def _one_scene(text: str, style: str | None) -> dict[str, Any]:
    """``--text``: one scene in the script format (an entry id is optional)."""
    entries = parse_script(text).entries or parse_script(f"[0001] {text}").entries
    if len(entries) != 1:
        raise InvalidInput(f"--text holds {len(entries)} scenes; put a script of several scenes in a file",
                           code="not_one_scene", details={"field": "text"})
    scene = entries[0].to_scene(style=style).model_dump(mode="json")
    return {name: value for name, value in scene.items() if value not in (None, [], "")}


@_reporting
def _submit(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.text is None):
        args.parser.error("give a script FILE or --text (one scene), not both")
    with _client(args) as client:
        if args.text is not None:
            scene = _one_scene(args.text, args.style)
            if args.priority:
                scene["priority"] = args.priority
            record = Record("job", dict(client.process(scene)))
        else:
            script = read_script_file(args.file)
            record = Record("batch", dict(client.batch(script, format=args.format, strict=args.strict or None,
                                                       style=args.style, priority=args.priority,
                                                       force=args.force or None)))
        total = _counts(record).get("total", 1)
        print(f"{record.kind} {record.id} accepted ({total} scene{'s' if total != 1 else ''})", file=sys.stderr)
        gallery = (record.data.get("links") or {}).get("gallery")
        if gallery:
            print(f"gallery: {client.url}{gallery}", file=sys.stderr)
        if not args.wait:
            if args.json:
                _print_json(record.data)
            else:
                print(record.id, flush=True)
            return EXIT_OK
        return _finish(client, _follow(client, record), args.json)


@_reporting
def _status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        return _finish(client, client.status(args.id), args.json)


@_reporting
def _watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        return _finish(client, _follow(client, client.status(args.id)), args.json)


@_reporting
def _cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        record = client.cancel(args.id)
        print(f"{record.kind} {record.id}: cancel requested", file=sys.stderr)
        if args.json:
            _print_json(record.data)
        else:
            print(_describe(client, record), flush=True)
    return EXIT_OK


def _file_name(entry_id: str | None, speaker: str | None, index: int, used: set[str]) -> str:
    stem = f"{_UNSAFE.sub('_', entry_id or f'{index + 1:04d}')}-{_UNSAFE.sub('_', speaker or 'scene')}"
    stem = stem.strip("._")[:120] or f"{index + 1:04d}"
    name, n = f"{stem}.png", 2
    while name in used:  # a repeated entry id and speaker
        name, n = f"{stem}-{n}.png", n + 1
    used.add(name)
    return name


@_reporting
def _fetch(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with _client(args) as client:
        record = client.status(args.id)
        lines: list[dict[str, Any]]
        if record.kind == "job":
            scene = record.data.get("scene") or {}
            result = record.data.get("result") or {}
            lines = [{"index": 0, "entry_id": scene.get("entry_id"), "job_id": record.id,
                      "status": record.data.get("status"), "image_url": result.get("image_url"),
                      "error": record.data.get("error")}]
            speakers = {record.id: scene.get("speaker")}
        else:
            lines = [dict(line) for line in client.results(record.id)]
            speakers = {item["job_id"]: (item.get("scene") or {}).get("speaker") for item in client.items(record.id)}
        used: set[str] = set()
        saved = 0
        for line in sorted(lines, key=lambda line: int(line.get("index") or 0)):
            line["file"] = None
            if line.get("status") == "succeeded" and line.get("image_url"):
                name = _file_name(line.get("entry_id"), speakers.get(str(line.get("job_id"))),
                                  int(line.get("index") or 0), used)
                client.save_image(str(line["image_url"]), out / name)
                line["file"] = name
                saved += 1
        with (out / "results.jsonl").open("w", encoding="utf-8") as results:
            for line in sorted(lines, key=lambda line: int(line.get("index") or 0)):
                results.write(json.dumps(line, ensure_ascii=False) + "\n")
        print(f"{saved} of {len(lines)} pictures saved in {out}, with results.jsonl", file=sys.stderr)
        if args.json:
            _print_json(record.data)
        if saved == len(lines):
            return EXIT_OK
        return EXIT_FAILED


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def command(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--url", default=None,
                            help=f"the API (default: ${URL_VARIABLE}, else the last one logged in to, else {DEFAULT_URL})")
        parser.set_defaults(func=func, parser=parser)
        return parser

    login = command("login", _login, "log in to the API; the tokens are kept in your config directory")
    login.add_argument("--username", required=True)
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    command("logout", _logout, "revoke and forget the stored tokens")

    submit = command("submit", _submit, "submit a script FILE (a batch) or --text of one scene (a job)")
    submit.add_argument("file", nargs="?")
    submit.add_argument("--text", help="one scene, in the script format")
    submit.add_argument("--style")
    submit.add_argument("--priority", choices=PRIORITIES)
    submit.add_argument("--format", choices=FORMATS, default=None, help="the script's format (default: auto)")
    submit.add_argument("--strict", action="store_true", help="refuse a script with any parse warning")
    submit.add_argument("--force", action="store_true", help="draw again what the result cache holds")
    submit.add_argument("--wait", action="store_true", help="follow it live until it finishes")
    submit.add_argument("--json", action="store_true", help="print the job or batch record as JSON")

    for name, func, help_text in (("status", _status, "a job or batch, now"),
                                  ("watch", _watch, "follow a job or batch live until it finishes"),
                                  ("cancel", _cancel, "cancel a job or batch")):
        parser = command(name, func, help_text)
        parser.add_argument("id")
        parser.add_argument("--json", action="store_true")

    fetch = command("fetch", _fetch, "download the pictures (<entry_id>-<speaker>.png) and results.jsonl")
    fetch.add_argument("id")
    fetch.add_argument("--out", required=True, metavar="DIR")
    fetch.add_argument("--json", action="store_true")
