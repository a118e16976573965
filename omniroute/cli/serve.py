"""``omniroute run``: start the gateway."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

import click
from aiohttp import web

from omniroute.admin.sessions import ensure_password
from omniroute.app import create_app
from omniroute.errors import ConfigError
from omniroute.settings import Settings
from omniroute.store.db import open_database


def settings_with(**overrides: object) -> Settings:
    """Settings from the environment, with the flags the user gave on top."""
    settings = Settings()
    given = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=given) if given else settings


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


#: Container allocations between two young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


def _tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the request path.

    What is built at startup (plugins, catalogues, the routing index) lives for the whole run:
    frozen, the collector never walks it again. A request allocates hundreds of short-lived
    containers that reference counting frees; with CPython's default threshold a young
    collection ran every few requests, so it is raised. Cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


async def serve(settings: Settings, app: web.Application) -> None:
    """Serve until SIGINT/SIGTERM, then let in-flight requests finish and flush the ledger."""
    runner = web.AppRunner(
        app,
        handler_cancellation=True,  # a client that disconnects cancels its upstream request
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
        shutdown_timeout=30,
    )
    # Handle signals before announcing readiness, so a stop right after start is graceful.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    await site.start()
    _tune_garbage_collector()
    base = f"http://{settings.host}:{settings.port}"
    click.echo(f"OmniRoute listening on {base}")
    click.echo(f"  API base URL:  {base}/v1")
    click.echo(f"  Dashboard:     {base}/  (management API under {base}/api)")
    click.echo(f"  Data dir:      {settings.data_dir}")
    await stop.wait()
    click.echo("shutting down: finishing in-flight requests")
    await runner.cleanup()


@click.command()
@click.option("--port", type=int, help="Port to listen on (env PORT, default 20128).")
@click.option("--host", help="Address to bind (env HOSTNAME, default 127.0.0.1).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database and generated secrets live (env DATA_DIR, default ~/.omniroute).",
)
def run(port: int | None, host: str | None, data_dir: Path | None) -> None:
    """Start the gateway (OpenAI-compatible API under /v1, management API under /api)."""
    settings = settings_with(
        port=port, host=host, data_dir=data_dir.expanduser() if data_dir else None
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    db = open_database(settings.database_path)
    generated = ensure_password(db, settings.initial_password)
    db.close()
    if generated:
        click.echo(f"First start: the dashboard password is {generated}")
        click.echo("  (shown once; stored hashed. Set INITIAL_PASSWORD to choose your own.)")
    try:
        app = create_app(settings)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    _install_uvloop()
    try:
        asyncio.run(serve(settings, app))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", err=True)
        sys.exit(1)
