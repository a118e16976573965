"""The OAuth kernel as a default plugin: the token middleware (one runtime per app)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from omniroute.appkeys import HTTP_SESSION, REGISTRY, SETTINGS
from omniroute.extensions import Middleware
from omniroute.hookspecs import hookimpl
from omniroute.oauth.middleware import OAuthRuntime
from omniroute.oauth.quota import QuotaWatcher


@hookimpl
def register_middlewares(register: Callable[[Middleware], None]) -> None:
    """Register the OAuth middleware; each registry build gets its own runtime."""
    register(OAuthRuntime().middleware)


def runtime_of(registry: Any) -> OAuthRuntime | None:
    """The OAuth runtime registered into ``registry`` (``None`` if the plugin is disabled)."""
    for middleware in registry.middlewares:
        owner = getattr(middleware.handler, "__self__", None)
        if isinstance(owner, OAuthRuntime):
            return owner
    return None


async def oauth_context(app: web.Application) -> AsyncIterator[None]:
    """An aiohttp cleanup context binding the app's OAuth runtime to its store, vault and
    client session while the app runs (append it after the gateway's own context), and
    running its quota watcher."""
    runtime = runtime_of(app[REGISTRY])
    if runtime is not None:
        keeper = runtime.bind(app)
        interval = app[SETTINGS].quota_refresh_seconds
        runtime.quota = QuotaWatcher(app, keeper, app[HTTP_SESSION], interval=interval)
        runtime.quota.start()
    yield
    if runtime is not None:
        if runtime.quota is not None:
            await runtime.quota.stop()
            runtime.quota = None
        if runtime.keeper is not None:
            await runtime.keeper.wait_idle()
        runtime.unbind()
