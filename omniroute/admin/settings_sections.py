"""``GET/PATCH /api/settings/{security|routing|resilience|ai|advanced}``.

Each section is one pydantic model stored as a settings document. ``PATCH`` merges the body into
the stored section (objects merge key by key, like JSON Merge Patch), validates the result as a
whole (an unknown field or a bad value is a 400 naming it) and stores it; the running gateway
sees it at once, other processes within a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlite_utils
from aiohttp import web
from pydantic import BaseModel

from omniroute.admin.config_ops import find_provider
from omniroute.admin.http import json_body, json_response
from omniroute.appkeys import REGISTRY, STORE
from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.plugins import Registry
from omniroute.reload import reload_index
from omniroute.routing import config as routing_config
from omniroute.settings_model import SECTIONS, SecuritySettings, load_section
from omniroute.store.db import transaction
from omniroute.store.documents import put_document

#: Section name → (document key, model), the routing and resilience sections included.
ALL_SECTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "security": SECTIONS["security"],
    "routing": (routing_config.ROUTING_KEY, routing_config.RoutingSettings),
    "resilience": (routing_config.RESILIENCE_KEY, routing_config.ResilienceSettings),
    "ai": SECTIONS["ai"],
    "advanced": SECTIONS["advanced"],
}


def _check_security(db: sqlite_utils.Database, registry: Registry, model: BaseModel) -> BaseModel:
    """Blocked providers must exist; they are stored by id, whatever name was given."""
    assert isinstance(model, SecuritySettings)
    ids = []
    for i, name in enumerate(model.blocked_providers):
        provider = find_provider(db, registry, name)
        if provider is None:
            raise BadRequest(
                f"'blockedProviders.{i}': unknown provider '{name}'",
                param=f"blockedProviders.{i}",
            )
        ids.append(provider.id)
    return model.model_copy(update={"blocked_providers": list(dict.fromkeys(ids))})


def _check_routing(db: sqlite_utils.Database, registry: Registry, model: BaseModel) -> BaseModel:
    assert isinstance(model, routing_config.RoutingSettings)
    known = {sid for kind, sid in registry.strategies if kind == "account"}
    routing_config.check_strategies(model, known)
    return model


#: Checks that need more than the model: the registry or the database.
CHECKS: dict[str, Callable[[sqlite_utils.Database, Registry, BaseModel], BaseModel]] = {
    "security": _check_security,
    "routing": _check_routing,
}


def _section(request: web.Request) -> tuple[str, str, type[BaseModel]]:
    name = request.match_info["section"]
    if name not in ALL_SECTIONS:
        raise GatewayError(
            ErrorKind.NOT_FOUND,
            f"no settings section '{name}'; the sections are: {', '.join(ALL_SECTIONS)}",
            code="not_found",
        )
    key, model = ALL_SECTIONS[name]
    return name, key, model


def read(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    """A section in wire form (its defaults when nothing was saved)."""
    key, model = ALL_SECTIONS[name]
    return routing_config.dump(load_section(db, key, model))


def patch(db: sqlite_utils.Database, registry: Registry, name: str, data: Any) -> dict[str, Any]:
    """Merge ``data`` into a section, validate and store it; returns the new section."""
    key, model = ALL_SECTIONS[name]
    with transaction(db):
        updated = routing_config.apply_patch(load_section(db, key, model), data)
        check = CHECKS.get(name)
        if check is not None:
            updated = check(db, registry, updated)
        stored = routing_config.dump(updated)
        put_document(db, key, stored)
    return stored


async def get_section(request: web.Request) -> web.Response:
    """``GET /api/settings/{section}``."""
    name, _key, _model = _section(request)
    return json_response(await request.config_dict[STORE].call(read, name))


async def patch_section(request: web.Request) -> web.Response:
    """``PATCH /api/settings/{section}``: a partial update."""
    name, _key, _model = _section(request)
    data = await json_body(request)
    app = request.config_dict
    stored = await app[STORE].call(patch, app[REGISTRY], name, data)
    await reload_index(app)
    return json_response(stored)


def add_routes(api: web.Application) -> None:
    """Mount the settings section routes on the management API."""
    api.router.add_get("/settings/{section}", get_section)
    api.router.add_patch("/settings/{section}", patch_section)
