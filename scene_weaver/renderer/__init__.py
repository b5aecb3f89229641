"""The local Semantest renderer: a real WebSocket server that speaks the protocol and draws PNGs.

Used for development, tests and benchmarks; start it with ``python -m scene_weaver.renderer``.
"""

from .drawing import render_png, resolve_seed
from .options import RendererOptions
from .server import ready_line, serve

__all__ = ["RendererOptions", "ready_line", "render_png", "resolve_seed", "serve"]
