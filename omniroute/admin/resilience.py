"""``/api/resilience``: breaker profiles, connection limits and hint cap; lockouts; reset.

The settings are the same document as ``/api/settings/resilience``; this resource adds the
live state (breakers, resting connections) and the controls over it.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from aiohttp import web
from pydantic import BaseModel

from omniroute.accounts import connections
from omniroute.admin.config_ops import find_provider
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import GATEWAY, REGISTRY, STORE
from omniroute.errors import BadRequest
from omniroute.gateway.pipeline import Gateway
from omniroute.plugins import Registry
from omniroute.reload import reload_index
from omniroute.routing.config import (
    ResilienceSettings,
    apply_patch,
    dump,
    load_resilience,
    save_resilience,
)
from omniroute.store.db import transaction


def check_references(
    db: sqlite_utils.Database, registry: Registry, settings: BaseModel
) -> ResilienceSettings:
    """Overrides must name a known provider (stored under its id, whatever name was given:
    ``ds`` → ``deepseek``) or an existing connection; otherwise a 400 naming the field."""
    assert isinstance(settings, ResilienceSettings)
    changes: dict[str, Any] = {}
    for field, alias in (("providers", "providers"), ("provider_limits", "providerLimits")):
        overrides: dict[str, Any] = {}
        for name, override in getattr(settings, field).items():
            provider = find_provider(db, registry, name)
            if provider is None:
                raise BadRequest(
                    f"'{alias}.{name}': unknown provider '{name}'", param=f"{alias}.{name}"
                )
            overrides[provider.id] = override
        changes[field] = overrides
    for connection_id in settings.connection_limits:
        if connections.get_row(db, connection_id) is None:
            raise BadRequest(
                f"'connectionLimits.{connection_id}': unknown connection '{connection_id}'",
                param=f"connectionLimits.{connection_id}",
            )
    return settings.model_copy(update=changes)


def _patch(db: sqlite_utils.Database, registry: Registry, data: Any) -> ResilienceSettings:
    with transaction(db):
        updated = check_references(db, registry, apply_patch(load_resilience(db), data))
        save_resilience(db, updated)
    return updated


def _view(gw: Gateway) -> dict[str, Any]:
    return {
        "settings": dump(gw.index.resilience),
        "breakers": gw.resilience.breakers(),
        "lockouts": gw.resilience.lockouts(gw.index.all_connections),
    }


async def get_resilience(request: web.Request) -> web.Response:
    """``GET /api/resilience``: the settings and the live state."""
    return json_response(_view(request.config_dict[GATEWAY]))


async def patch_resilience(request: web.Request) -> web.Response:
    """``PATCH /api/resilience``: a partial update of the settings (JSON Merge Patch style)."""
    data = await json_body(request)
    app = request.config_dict
    await app[STORE].call(_patch, app[REGISTRY], data)
    await reload_index(app)
    return json_response(_view(app[GATEWAY]))


async def list_lockouts(request: web.Request) -> web.Response:
    """``GET /api/resilience/lockouts``: resting connections and open breakers."""
    gw = request.config_dict[GATEWAY]
    return json_response({"lockouts": gw.resilience.lockouts(gw.index.all_connections)})


async def delete_lockout(request: web.Request) -> web.Response:
    """``DELETE /api/resilience/lockouts/{id}``: unlock a connection (by id), one model on a
    connection (``<connection>/<model>``) or a provider."""
    ident = request.match_info["id"]
    gw = request.config_dict[GATEWAY]
    known = (
        ident.split("/", 1)[0] in gw.index.all_connections
        or ident in gw.index.providers
        or ident in gw.resilience.state.accounts()
        or ident in gw.resilience.state.breakers()
    )
    if not known:
        raise not_found("connection or provider", ident)
    return json_response({"unlocked": ident, "wasLocked": gw.resilience.unlock(ident)})


async def reset_state(request: web.Request) -> web.Response:
    """``POST /api/resilience/reset``: forget every cooldown, breaker, window and sample."""
    request.config_dict[GATEWAY].resilience.reset()
    return json_response({"reset": True})


def add_routes(api: web.Application) -> None:
    """Mount the resilience routes on the management API."""
    api.router.add_get("/resilience", get_resilience)
    api.router.add_patch("/resilience", patch_resilience)
    api.router.add_get("/resilience/lockouts", list_lockouts)
    # ``.+``: a model's rest is ``<connection>/<model>``, and model ids may hold slashes too.
    api.router.add_delete("/resilience/lockouts/{id:.+}", delete_lockout)
    api.router.add_post("/resilience/reset", reset_state)
