"""The renderer process: one port for WebSocket sessions and plain HTTP, stopped by a signal."""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve

from .events_dialect import EventsHub
from .http_routes import bearer_matches, make_process_request
from .options import RendererOptions
from .state import RendererState
from .weaver_dialect import WeaverDialectHandler

__all__ = ["READY_PREFIX", "ready_line", "serve", "serve_async"]

READY_PREFIX = "renderer listening on "
CLOSE_POLICY = 1008
CLOSE_OVERLOADED = 1013
SHUTDOWN_GRACE = 1.5
MAX_FRAME = 16 * 2**20


def ready_line(host: str, port: int) -> str:
    return f"{READY_PREFIX}ws://{host}:{port}/ws"


def default_download_dir() -> Path:
    return Path(tempfile.gettempdir()) / "semantest-downloads"


def _authorized(connection: ServerConnection, api_key: str) -> bool:
    return connection.request is not None and bearer_matches(connection.request.headers, api_key)


def _base_url(connection: ServerConnection, fallback: str) -> str:
    """Image URLs use the address the client reached us by, so they work through port maps."""
    host = connection.request.headers.get("Host") if connection.request else None
    return f"http://{host or fallback}"


def _bound_address(server: Server, host: str) -> tuple[str, int]:
    port = int(server.sockets[0].getsockname()[1])
    return ("127.0.0.1" if host in ("", "0.0.0.0", "::") else host), port


async def serve_async(options: RendererOptions, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then close every connection within a couple of seconds."""
    state = RendererState(options)
    hub: EventsHub | None = None
    if options.dialect == "semantest-events":
        download_dir = options.download_dir or default_download_dir()
        download_dir.mkdir(parents=True, exist_ok=True)
        hub = EventsHub(state, download_dir)
    fallback_host = f"{options.host}:{options.port}"

    async def handler(connection: ServerConnection) -> None:
        state.stats.connections += 1
        if options.api_key and not _authorized(connection, options.api_key):
            await connection.close(CLOSE_POLICY, "unauthorized")
            return
        if options.overload:
            await connection.close(CLOSE_OVERLOADED, "overloaded, try again later")
            return
        if hub is not None:
            await hub.serve(connection)
        else:
            await WeaverDialectHandler(connection, state, _base_url(connection, fallback_host)).run()

    server = await websockets_serve(
        handler, options.host, options.port, process_request=make_process_request(state, options.api_key),
        close_timeout=1, max_size=MAX_FRAME,
    )
    host, port = _bound_address(server, options.host)
    fallback_host = f"{host}:{port}"
    print(ready_line(options.host, port), flush=True)
    try:
        await stop.wait()
    finally:
        if hub is not None:
            hub.close()
        server.close()
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE):
                await server.wait_closed()
        except TimeoutError:
            pass


async def _main(options: RendererOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve_async(options, stop)


def serve(options: RendererOptions) -> None:
    """Run the renderer in this process until SIGINT or SIGTERM."""
    asyncio.run(_main(options))
