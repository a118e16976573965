"""``/api/combos``, ``/api/settings/model-aliases`` and ``/api/fallback/chains``.

Each change is validated and written in one transaction on the DB thread
(:mod:`omniroute.admin.combo_ops`), then the routing index is rebuilt so the next request sees
it.
"""

from __future__ import annotations

from aiohttp import web

from omniroute.admin import combo_ops
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import REGISTRY, STORE
from omniroute.reload import reload_index
from omniroute.routing import combos
from omniroute.routing.aliases import load_aliases
from omniroute.routing.fallback import load_chains


async def list_combos(request: web.Request) -> web.Response:
    """``GET /api/combos``: every combo, by name."""
    rows = await request.config_dict[STORE].call(combos.list_rows)
    return json_response([combos.to_api(r) for r in rows])


async def create_combo(request: web.Request) -> web.Response:
    """``POST /api/combos``: 201 with the stored combo."""
    data = await json_body(request)
    app = request.config_dict
    created = await app[STORE].call(combo_ops.create_combo, app[REGISTRY], data)
    await reload_index(app)
    return json_response(created, 201)


async def get_combo(request: web.Request) -> web.Response:
    """``GET /api/combos/{id}`` (an id or a name)."""
    ident = request.match_info["id"]
    row = await request.config_dict[STORE].call(combos.find_row, ident)
    if row is None:
        raise not_found("combo", ident)
    return json_response(combos.to_api(row))


async def update_combo(request: web.Request) -> web.Response:
    """``PUT /api/combos/{id}``: fields left out keep their value."""
    ident = request.match_info["id"]
    data = await json_body(request)
    app = request.config_dict
    updated = await app[STORE].call(combo_ops.update_combo, app[REGISTRY], ident, data)
    if updated is None:
        raise not_found("combo", ident)
    await reload_index(app)
    return json_response(updated)


async def delete_combo(request: web.Request) -> web.Response:
    """``DELETE /api/combos/{id}``: 409 while another combo, alias or chain uses it."""
    ident = request.match_info["id"]
    deleted = await request.config_dict[STORE].call(combo_ops.delete_combo, ident)
    if deleted is None:
        raise not_found("combo", ident)
    await reload_index(request.config_dict)
    return json_response({"deleted": deleted})


async def get_aliases(request: web.Request) -> web.Response:
    """``GET /api/settings/model-aliases``: ``{"aliases": {pattern: target}}``."""
    aliases = await request.config_dict[STORE].call(load_aliases)
    return json_response({"aliases": aliases})


async def put_aliases(request: web.Request) -> web.Response:
    """``PUT /api/settings/model-aliases``: replace the whole table."""
    data = await json_body(request)
    app = request.config_dict
    stored = await app[STORE].call(combo_ops.put_aliases, app[REGISTRY], data)
    await reload_index(app)
    return json_response(stored)


async def list_chains(request: web.Request) -> web.Response:
    """``GET /api/fallback/chains``."""
    return json_response(await request.config_dict[STORE].call(load_chains))


async def create_chain(request: web.Request) -> web.Response:
    """``POST /api/fallback/chains``: 201 when new, 200 when it replaced the pattern's chain."""
    data = await json_body(request)
    app = request.config_dict
    chain, created = await app[STORE].call(combo_ops.create_chain, app[REGISTRY], data)
    await reload_index(app)
    return json_response(chain, 201 if created else 200)


async def remove_chain(request: web.Request) -> web.Response:
    """``DELETE /api/fallback/chains/{id}``."""
    ident = request.match_info["id"]
    if not await request.config_dict[STORE].call(combo_ops.remove_chain, ident):
        raise not_found("fallback chain", ident)
    await reload_index(request.config_dict)
    return json_response({"deleted": ident})


def add_routes(api: web.Application) -> None:
    """Mount the routes (before ``/settings/{section}``, which would otherwise match)."""
    r = api.router
    r.add_get("/combos", list_combos)
    r.add_post("/combos", create_combo)
    r.add_get("/combos/{id}", get_combo)
    r.add_put("/combos/{id}", update_combo)
    r.add_delete("/combos/{id}", delete_combo)
    r.add_get("/settings/model-aliases", get_aliases)
    r.add_put("/settings/model-aliases", put_aliases)
    r.add_get("/fallback/chains", list_chains)
    r.add_post("/fallback/chains", create_chain)
    r.add_delete("/fallback/chains/{id}", remove_chain)
