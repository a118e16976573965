"""``/api/provider-models`` (custom models) and ``GET /api/models/catalog``.

A custom model joins its provider's catalogue: ``/v1/models`` lists it once the provider has an
active connection, and its bare id resolves like a built-in one.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from aiohttp import web

from omniroute.accounts import provider_models
from omniroute.admin.config_ops import find_provider, parse
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import GATEWAY, REGISTRY, STORE
from omniroute.errors import BadRequest
from omniroute.plugins import Registry
from omniroute.reload import reload_index
from omniroute.routing.index import RoutingIndex


def create(db: sqlite_utils.Database, registry: Registry, data: Any) -> dict[str, Any]:
    """Validate and store a custom model; returns its API view."""
    fields = parse(provider_models.ProviderModelCreate, data)
    provider = find_provider(db, registry, fields.provider)
    if provider is None:
        raise BadRequest(
            f"unknown provider '{fields.provider}'; see GET /api/models/catalog",
            param="provider",
        )
    wanted = fields.model_id.lower()
    if any(m.id.lower() == wanted for m in provider.models) or provider_models.find(
        db, provider.id, fields.model_id
    ):
        raise BadRequest(
            f"provider '{provider.id}' already lists model '{fields.model_id}'", param="modelId"
        )
    return provider_models.to_api(provider_models.insert(db, provider.id, fields))


def catalog(index: RoutingIndex, custom: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every model of every provider (built-in and custom), grouped by provider."""
    added: dict[str, list[dict[str, Any]]] = {}
    for row in custom:
        added.setdefault(row["provider"], []).append(row)
    groups = []
    for provider in sorted(index.providers.values(), key=lambda p: p.id):
        models = [
            {
                "id": f"{provider.prefix}/{m.id}",
                "modelId": m.id,
                "name": m.id,
                "type": m.type,
                "contextLength": m.context_length,
                "custom": False,
            }
            for m in provider.models
        ]
        models += [
            {
                "id": f"{provider.prefix}/{row['model_id']}",
                "modelId": row["model_id"],
                "name": row["model_name"] or row["model_id"],
                "type": row["type"],
                "contextLength": None,
                "custom": True,
            }
            for row in added.get(provider.id, [])
        ]
        groups.append(
            {
                "provider": provider.id,
                "name": provider.name,
                "prefix": provider.prefix,
                "connected": bool(index.active(provider.id)),
                "blocked": provider.id in index.blocked,
                "models": models,
            }
        )
    return groups


# -- handlers -----------------------------------------------------------------------------------


async def list_custom(request: web.Request) -> web.Response:
    """``GET /api/provider-models[?provider=ID]``."""
    provider = request.query.get("provider")
    rows = await request.config_dict[STORE].call(provider_models.list_rows, provider)
    return json_response([provider_models.to_api(r) for r in rows])


async def create_custom(request: web.Request) -> web.Response:
    """``POST /api/provider-models {provider, modelId, modelName?, type?}`` → 201."""
    data = await json_body(request)
    app = request.config_dict
    created = await app[STORE].call(create, app[REGISTRY], data)
    await reload_index(app)
    return json_response(created, 201)


async def delete_custom(request: web.Request) -> web.Response:
    """``DELETE /api/provider-models/{id}``."""
    ident = request.match_info["id"]
    if not await request.config_dict[STORE].call(provider_models.delete, ident):
        raise not_found("custom model", ident)
    await reload_index(request.config_dict)
    return json_response({"deleted": ident})


async def get_catalog(request: web.Request) -> web.Response:
    """``GET /api/models/catalog``: every model by provider, with its type."""
    custom = await request.config_dict[STORE].call(provider_models.list_rows)
    return json_response(catalog(request.config_dict[GATEWAY].index, custom))


def add_routes(api: web.Application) -> None:
    """Mount the custom model and catalog routes on the management API."""
    api.router.add_get("/provider-models", list_custom)
    api.router.add_post("/provider-models", create_custom)
    api.router.add_delete("/provider-models/{id}", delete_custom)
    api.router.add_get("/models/catalog", get_catalog)
