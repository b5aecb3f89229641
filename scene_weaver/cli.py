"""``scene-weaver``: the command line."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any

import redis

from . import redis_urls
from .client.cli import register as register_client
from .errors import InvalidInput, SceneWeaverError
from .renderer.cli import register as register_renderer
from .script import FORMATS, parse_script
from .script.cli import EXIT_OK, characters_file, print_invalid, read_script_file
from .script.cli import register as register_script
from .settings import Settings
from .stack import run_up
from .users import UserStore
from .weaving import weave_script

__all__ = ["main", "build_parser"]


def _up(args: argparse.Namespace) -> int:
    return run_up(Settings.from_env(), workers=args.workers, api_workers=args.api_workers,
                  with_flower=not args.no_flower)


def _users_store() -> UserStore:
    settings = Settings.from_env()
    return UserStore(redis_urls.client(settings.require_redis_url()))


def _users_add(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    user = _users_store().add(args.name, password, args.role, replace=args.replace)
    print(f"user {user.username} ({user.role}) saved")
    return 0


def _users_list(_args: argparse.Namespace) -> int:
    for user in _users_store().list():
        print(f"{user.username}\t{user.role}")
    return 0


def _users_remove(args: argparse.Namespace) -> int:
    _users_store().remove(args.name)
    print(f"user {args.name} removed")
    return 0


def _weave(args: argparse.Namespace) -> int:
    try:
        characters = characters_file(args.characters)
        result = parse_script(read_script_file(args.file), format=args.format, characters=characters)
        prompts = weave_script(result, style=args.style, max_length=args.max_length, characters=characters)
    except InvalidInput as exc:
        return print_invalid(exc)
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


def _add_weave(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``weave`` joins script parsing and prompt weaving, so it is registered here, above both."""
    weave = sub.add_parser("weave", help="parse a script and print a prompt per entry")
    weave.add_argument("file")
    weave.add_argument("--style", default=None, help="one of the 12 styles (default: graphic novel)")
    weave.add_argument("--format", choices=FORMATS, default="auto")
    weave.add_argument("--characters", metavar="FILE")
    weave.add_argument("--json", action="store_true")
    weave.add_argument("--max-length", type=int, default=1200, dest="max_length")
    weave.set_defaults(func=_weave)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scene-weaver", description="Turn scripts into illustrated scenes.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole stack in the foreground")
    up.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    up.add_argument("--api-workers", type=int, default=2, help="gunicorn worker processes")
    up.add_argument("--no-flower", action="store_true")
    up.set_defaults(func=_up)

    register_renderer(sub)
    register_script(sub)
    _add_weave(sub)
    register_client(sub)

    users = sub.add_parser("users", help="manage API users (needs REDIS_URL)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add")
    add.add_argument("name")
    add.add_argument("--role", choices=("user", "admin"), default="user")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--replace", action="store_true", help="change an existing user's password/role")
    add.set_defaults(func=_users_add)
    users_sub.add_parser("list").set_defaults(func=_users_list)
    remove = users_sub.add_parser("remove")
    remove.add_argument("name")
    remove.set_defaults(func=_users_remove)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SceneWeaverError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        if isinstance(exc.details, list):
            for item in exc.details:
                print(f"  {item}", file=sys.stderr)
        return 2
    except redis.ConnectionError as exc:
        print(f"error [redis_unavailable]: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
