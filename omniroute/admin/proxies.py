"""``/api/settings/proxy``: outbound proxies, and a test that connects through one.

``PUT`` replaces the whole configuration (``{global, providers, combos, keys}``); provider
names are stored as ids, and combos and keys must exist. Passwords are encrypted at rest and
answered as ``********``; sending that mask back keeps the stored password.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import sqlite_utils
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from omniroute.accounts.vault import Secret, Vault, redact
from omniroute.admin.config_ops import find_provider, parse
from omniroute.admin.http import json_body, json_response
from omniroute.appkeys import GATEWAY, REGISTRY, SECRETS, SETTINGS, STORE
from omniroute.errors import BadRequest
from omniroute.gateway import proxy_config
from omniroute.gateway.proxies import PROXY_ERRORS, ProxyRoute
from omniroute.plugins import Registry
from omniroute.reload import reload_index
from omniroute.store.db import transaction
from omniroute.store.documents import delete_document, get_document, put_document


def _check_names(db: sqlite_utils.Database, registry: Registry, config: Any) -> None:
    """Providers become ids; unknown providers, combos and keys are 400s naming the entry."""
    providers = {}
    for name, spec in config.providers.items():
        provider = find_provider(db, registry, name)
        if provider is None:
            raise BadRequest(f"'providers.{name}': unknown provider", param=f"providers.{name}")
        providers[provider.id] = spec
    config.providers = providers
    for name in config.combos:
        found = db.execute("SELECT 1 FROM combos WHERE name = ? COLLATE NOCASE", [name]).fetchone()
        if found is None:
            raise BadRequest(f"'combos.{name}': unknown combo", param=f"combos.{name}")
    for key_id in config.keys:
        if db.execute("SELECT 1 FROM api_keys WHERE id = ?", [key_id]).fetchone() is None:
            raise BadRequest(f"'keys.{key_id}': unknown key id", param=f"keys.{key_id}")


def put(db: sqlite_utils.Database, registry: Registry, vault: Vault, data: Any) -> dict[str, Any]:
    """Validate and store a new proxy configuration; returns it masked."""
    config = parse(proxy_config.ProxyConfig, data)
    with transaction(db):
        _check_names(db, registry, config)
        previous = get_document(db, proxy_config.DOCUMENT_KEY) or {}
        stored = proxy_config.to_stored(config, previous, vault)
        put_document(db, proxy_config.DOCUMENT_KEY, stored)
    return proxy_config.to_api(stored)


def read(db: sqlite_utils.Database) -> dict[str, Any]:
    """The configuration, masked."""
    return proxy_config.to_api(get_document(db, proxy_config.DOCUMENT_KEY))


def clear(db: sqlite_utils.Database) -> dict[str, Any]:
    """Remove every proxy; returns the (empty) configuration."""
    delete_document(db, proxy_config.DOCUMENT_KEY)
    return proxy_config.to_api(None)


class ProxyTest(BaseModel):
    """``POST /api/settings/proxy/test``: a proxy and the URL to fetch through it."""

    model_config = ConfigDict(extra="forbid")

    proxy: proxy_config.ProxySpec
    url: str | None = Field(None, pattern=r"^https?://", max_length=2000)


async def check_proxy(
    route: ProxyRoute, url: str, client_timeout: aiohttp.ClientTimeout
) -> dict[str, Any]:
    """Fetch ``url`` through ``route``: ``{ok, latencyMs, status, error}`` (never credentials)."""
    started = time.perf_counter()
    status, error = None, None
    try:
        async with (
            aiohttp.ClientSession(connector=route.connector(), timeout=client_timeout) as session,
            session.get(url, allow_redirects=False) as resp,
        ):
            status = resp.status
            await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError, *PROXY_ERRORS) as exc:
        secret = route.password.reveal() if route.password else None
        error = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, secret)
    return {
        "ok": error is None,
        "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        "status": status,
        "error": error,
        "proxy": route.describe(),
        "url": url,
    }


# -- handlers -----------------------------------------------------------------------------------


async def get_proxies(request: web.Request) -> web.Response:
    """``GET /api/settings/proxy``."""
    return json_response(await request.config_dict[STORE].call(read))


async def put_proxies(request: web.Request) -> web.Response:
    """``PUT /api/settings/proxy``: replace the configuration."""
    data = await json_body(request)
    app = request.config_dict
    stored = await app[STORE].call(put, app[REGISTRY], app[SECRETS].vault, data)
    await reload_index(app)
    return json_response(stored)


async def delete_proxies(request: web.Request) -> web.Response:
    """``DELETE /api/settings/proxy``: every request goes direct (or by the environment)."""
    cleared = await request.config_dict[STORE].call(clear)
    await reload_index(request.config_dict)
    return json_response(cleared)


async def test_proxy(request: web.Request) -> web.Response:
    """``POST /api/settings/proxy/test {proxy, url?}``: connect through ``proxy``."""
    fields = parse(ProxyTest, await json_body(request))
    spec = fields.proxy
    if spec.type == "direct":
        raise BadRequest("'proxy.type': test a proxy, not 'direct'", param="proxy.type")
    if spec.password == proxy_config.MASK:
        raise BadRequest("'proxy.password': send the password to test with", param="proxy.password")
    route = ProxyRoute(
        spec.type,
        spec.host or "",
        spec.port or 0,
        spec.username,
        Secret(spec.password) if spec.password else None,
    )
    app = request.config_dict
    url = fields.url or app[GATEWAY].index.sections.advanced.proxy_test_url
    settings = app[SETTINGS]
    timeout = aiohttp.ClientTimeout(
        total=settings.connect_timeout * 3, connect=settings.connect_timeout
    )
    return json_response(await check_proxy(route, url, timeout))


def add_routes(api: web.Application) -> None:
    """Mount the proxy routes (before ``/settings/{section}``, which would shadow them)."""
    api.router.add_get("/settings/proxy", get_proxies)
    api.router.add_put("/settings/proxy", put_proxies)
    api.router.add_delete("/settings/proxy", delete_proxies)
    api.router.add_post("/settings/proxy/test", test_proxy)
