"""``/api/keys``: client API keys with scopes, expiry, rate limits and rotation.

The operations (``create``, ``update``, ``regenerate``) take the database first and run
synchronously, so the CLI (``omniroute keys``) uses them too. The plain key appears in exactly
two answers, creation and regeneration, and nowhere else.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from aiohttp import web

from omniroute.accounts import client_keys
from omniroute.admin.config_ops import parse
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import SECRETS, STORE
from omniroute.reload import reload_index


def create(db: sqlite_utils.Database, hash_secret: str, data: Any) -> dict[str, Any]:
    """Validate and create a client key; the answer holds the plain key, shown this once."""
    fields = parse(client_keys.KeyCreate, data)
    row, key = client_keys.create(db, hash_secret, fields)
    return {**client_keys.to_api(row), "key": key}


def update(db: sqlite_utils.Database, key_id: str, data: Any) -> dict[str, Any] | None:
    """Validate and apply changes to a key; None when it does not exist."""
    fields = parse(client_keys.KeyFields, data)
    row = client_keys.update(db, key_id, fields)
    return client_keys.to_api(row) if row else None


def regenerate(db: sqlite_utils.Database, hash_secret: str, key_id: str) -> dict[str, Any] | None:
    """A new secret for a key (the old one stops working); None when it does not exist."""
    result = client_keys.regenerate(db, hash_secret, key_id)
    if result is None:
        return None
    row, key = result
    return {**client_keys.to_api(row), "key": key}


# -- handlers -----------------------------------------------------------------------------------


async def list_keys(request: web.Request) -> web.Response:
    """``GET /api/keys``: every key, masked."""
    rows = await request.config_dict[STORE].call(client_keys.list_rows)
    return json_response([client_keys.to_api(r) for r in rows])


async def create_key(request: web.Request) -> web.Response:
    """``POST /api/keys``: 201 with the plain key."""
    data = await json_body(request)
    secret = request.config_dict[SECRETS].api_key_secret
    created = await request.config_dict[STORE].call(create, secret, data)
    await reload_index(request.config_dict)
    return json_response(created, 201)


async def get_key(request: web.Request) -> web.Response:
    """``GET /api/keys/{id}``: one key, masked."""
    ident = request.match_info["id"]
    row = await request.config_dict[STORE].call(client_keys.get_row, ident)
    if row is None:
        raise not_found("key", ident)
    return json_response(client_keys.to_api(row))


async def update_key(request: web.Request) -> web.Response:
    """``PATCH /api/keys/{id}``: name, allowed models, expiry, rate limit."""
    ident = request.match_info["id"]
    data = await json_body(request)
    updated = await request.config_dict[STORE].call(update, ident, data)
    if updated is None:
        raise not_found("key", ident)
    await reload_index(request.config_dict)
    return json_response(updated)


async def regenerate_key(request: web.Request) -> web.Response:
    """``POST /api/keys/{id}/regenerate``: the new plain key, shown this once."""
    ident = request.match_info["id"]
    secret = request.config_dict[SECRETS].api_key_secret
    result = await request.config_dict[STORE].call(regenerate, secret, ident)
    if result is None:
        raise not_found("key", ident)
    await reload_index(request.config_dict)
    return json_response(result)


async def revoke_key(request: web.Request) -> web.Response:
    """``DELETE /api/keys/{id}``: revoke (the row stays, so past usage keeps its owner)."""
    ident = request.match_info["id"]
    if not await request.config_dict[STORE].call(client_keys.revoke, ident):
        raise not_found("key", ident)
    await reload_index(request.config_dict)
    return json_response({"revoked": ident})


def add_routes(api: web.Application) -> None:
    """Mount the key routes on the management API."""
    r = api.router
    r.add_get("/keys", list_keys)
    r.add_post("/keys", create_key)
    r.add_get("/keys/{id}", get_key)
    r.add_patch("/keys/{id}", update_key)
    r.add_delete("/keys/{id}", revoke_key)
    r.add_post("/keys/{id}/regenerate", regenerate_key)
