"""Command line: ``python -m scene_weaver.renderer`` and the ``scene-weaver renderer`` subcommand."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..constants import DIALECTS
from .options import FAIL_CODES, RendererOptions
from .server import serve

__all__ = ["add_arguments", "main", "options_from_args", "register", "run"]

_defaults = RendererOptions()
API_KEY_VARIABLE = "SEMANTEST_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default=_defaults.host, help="interface to bind (default %(default)s)")
    add("--port", type=int, default=_defaults.port, help="port to bind; 0 picks a free one (default %(default)s)")
    add("--latency", type=float, default=_defaults.latency, metavar="SECONDS",
        help="time a generation takes (default %(default)s)")
    add("--jitter", type=float, default=_defaults.jitter, metavar="SECONDS", help="random extra latency, 0..SECONDS")
    add("--fail-rate", type=float, default=_defaults.fail_rate, metavar="P", help="probability a request fails")
    add("--fail-code", choices=FAIL_CODES, default=_defaults.fail_code, help="error code of injected failures")
    add("--drop-rate", type=float, default=_defaults.drop_rate, metavar="P",
        help="probability the connection is dropped mid-request")
    add("--handshake-delay", type=float, default=_defaults.handshake_delay, metavar="SECONDS",
        help="delay before the handshake is acknowledged")
    add("--max-in-flight", type=int, default=_defaults.max_in_flight, metavar="N",
        help="concurrent requests per session (default %(default)s)")
    add("--overload", action="store_true", help="accept, then close every connection with 1013")
    add("--malformed-rate", type=float, default=_defaults.malformed_rate, metavar="P",
        help="probability of a garbage frame before an answer")
    # The same variable the client reads: a stack given a key locks its own renderer with it.
    add("--api-key", default=os.environ.get(API_KEY_VARIABLE) or None, metavar="KEY",
        help=f"require 'Authorization: Bearer KEY' on the WebSocket (else close 1008) and on image "
             f"downloads (else 401); default: ${API_KEY_VARIABLE}, unset: open")
    add("--seed", type=int, default=None, metavar="N", help="seed for injected faults, for repeatable runs")
    add("--dialect", choices=DIALECTS, default=_defaults.dialect, help="wire dialect (default %(default)s)")
    add("--download-dir", type=Path, default=None, metavar="DIR",
        help="where the semantest-events dialect writes images")
    add("--retry-after", type=float, default=None, metavar="SECONDS",
        help="name this retry delay in every OVERLOADED reply (error.retry_after)")
    add("--max-images", type=int, default=_defaults.max_images, metavar="N",
        help="generated images kept in memory (default %(default)s)")
    add("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def options_from_args(args: argparse.Namespace) -> RendererOptions:
    return RendererOptions(
        host=args.host, port=args.port, latency=args.latency, jitter=args.jitter, fail_rate=args.fail_rate,
        fail_code=args.fail_code, drop_rate=args.drop_rate, handshake_delay=args.handshake_delay,
        max_in_flight=args.max_in_flight, overload=args.overload, malformed_rate=args.malformed_rate,
        api_key=args.api_key, seed=args.seed, dialect=args.dialect, download_dir=args.download_dir,
        max_images=args.max_images, retry_after=args.retry_after,
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"renderer: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        serve(options)
    except OSError as exc:
        print(f"renderer: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``renderer`` subcommand to a parent CLI's ``add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "renderer", help="run the local Semantest renderer", description=__doc__)
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scene_weaver.renderer",
                                     description="The local Semantest renderer.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
