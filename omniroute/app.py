"""The application factory: ``create_app(settings, pm)`` wires plugins, storage and routes."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from omniroute.admin import routes as admin_routes
from omniroute.admin.sessions import SessionSigner, ensure_password
from omniroute.appkeys import (
    BACKUPS,
    GATEWAY,
    HTTP_SESSION,
    LEDGER,
    PLUGIN_MANAGER,
    REGISTRY,
    REQUEST_LOG,
    SECRETS,
    SESSIONS,
    SETTINGS,
    STORE,
)
from omniroute.dashboard import routes as dashboard_routes
from omniroute.errors import ConfigError
from omniroute.gateway import (
    anthropic_routes,
    gemini_routes,
    metrics,
    openai_routes,
    provider_routes,
    responses_routes,
    status,
)
from omniroute.gateway.ip_rules import ip_middleware
from omniroute.gateway.pipeline import Gateway
from omniroute.ledger.budgets import seed_spending
from omniroute.ledger.ledger import Ledger
from omniroute.ledger.request_logs import open_request_log
from omniroute.oauth.plugin import oauth_context
from omniroute.plugins import PluginManager, build_registry, get_plugin_manager
from omniroute.reload import index_from_db, watch_config
from omniroute.routing.resilience import Resilience
from omniroute.secrets_store import load_secrets
from omniroute.settings import Settings
from omniroute.store.backup_schedule import BackupScheduler
from omniroute.store.db import Store

REQUIRED_FORMATS = ("openai", "anthropic", "responses", "gemini")


def create_app(
    settings: Settings | None = None, pm: PluginManager | None = None
) -> web.Application:
    """Build the gateway application. Resources (database, HTTP client, ledger writer) open
    when the app starts and close, in reverse order, when it stops."""
    settings = settings or Settings()
    pm = pm or get_plugin_manager()
    registry = build_registry(pm)
    for format_id in REQUIRED_FORMATS:
        if format_id not in registry.formats:
            raise ConfigError(f"no plugin registers the '{format_id}' format the gateway needs")
    registry.strategy("account", settings.account_strategy)  # fail at startup, not per request

    app = web.Application(client_max_size=settings.max_body_bytes)
    app.middlewares.append(ip_middleware(app))
    app[SETTINGS] = settings
    app[PLUGIN_MANAGER] = pm
    app[REGISTRY] = registry
    openai_routes.add_routes(app)
    anthropic_routes.add_routes(app)
    responses_routes.add_routes(app)
    gemini_routes.add_routes(app)
    provider_routes.add_routes(app)
    status.add_routes(app)
    metrics.add_routes(app)
    dashboard_routes.add_routes(app)
    api = admin_routes.create_api_app()
    dashboard_routes.add_api_routes(api)
    for route in registry.routes:
        # Plugin routes under /api/ join the management API and its session check.
        if route.path.startswith("/api/"):
            api.router.add_route(route.method, route.path[4:], route.handler, name=route.name)
        else:
            app.router.add_route(route.method, route.path, route.handler, name=route.name)
    app.add_subapp("/api", api)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_gateway)
    # Subscription accounts refresh their tokens through the store, vault and HTTP session.
    app.cleanup_ctx.append(oauth_context)
    app.cleanup_ctx.append(_backups)
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[SECRETS] = await asyncio.to_thread(load_secrets, settings)
    store = await asyncio.to_thread(Store, settings.database_path)
    app[STORE] = store
    generated = await store.call(ensure_password, settings.initial_password)
    if generated:  # printed once, to the operator's terminal; never logged
        print(f"Dashboard password (shown once): {generated}", file=sys.stderr, flush=True)
    app[SESSIONS] = SessionSigner(app[SECRETS].jwt_secret, settings.session_hours * 3600)
    yield
    await asyncio.to_thread(store.close)


async def _gateway(app: web.Application) -> AsyncIterator[None]:
    settings, store, registry = app[SETTINGS], app[STORE], app[REGISTRY]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout, sock_read=settings.read_timeout
        ),
    )
    ledger = Ledger(
        store, queue_size=settings.ledger_queue_size, flush_seconds=settings.ledger_flush_seconds
    )
    await seed_spending(store, ledger.spending)
    ledger.start()
    request_log = app[REQUEST_LOG] = open_request_log(settings)
    app[HTTP_SESSION] = session
    app[LEDGER] = ledger
    app[GATEWAY] = Gateway(
        index=await store.call(index_from_db, registry, app[SECRETS].vault),
        session=session,
        ledger=ledger,
        resilience=Resilience(
            cooldown_seconds=settings.cooldown_seconds,
            strategies={
                sid: s for (kind, sid), s in registry.strategies.items() if kind == "account"
            },
            default_strategy=settings.account_strategy,
        ),
        # The request log is innermost: it records exactly what goes to the wire.
        middlewares=[*registry.middlewares, *([request_log.middleware] if request_log else [])],
        formats=registry.formats,
        api_key_secret=app[SECRETS].api_key_secret,
        require_api_key=settings.require_api_key,
    )
    metrics.start_metrics(app)
    watcher = asyncio.create_task(watch_config(app), name="omniroute-config-watch")
    yield
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await ledger.close()
    if request_log is not None:
        await request_log.close()
    await app[GATEWAY].proxy_pool.close()
    await session.close()


async def _backups(app: web.Application) -> AsyncIterator[None]:
    """Automatic backups run in the background (stopped before the ledger's last flush)."""
    scheduler = BackupScheduler(app[STORE], app[SETTINGS].backups_dir)
    app[BACKUPS] = scheduler
    scheduler.start()
    yield
    await scheduler.stop()
