"""``/api/*``: login, plugins, connections, provider nodes, client keys and usage."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from omniroute.accounts import connections, nodes
from omniroute.accounts.checks import check_connection
from omniroute.admin import (
    backups,
    catalog,
    cli_tools,
    config_ops,
    keys,
    monitoring,
    oauth,
    provider_views,
    proxies,
    resilience,
    security,
    settings_sections,
    translator,
    translator_live,
    usage_series,
)
from omniroute.admin import combos as combos_api
from omniroute.admin import pricing as pricing_api
from omniroute.admin import usage as usage_api
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import (
    GATEWAY,
    HTTP_SESSION,
    PLUGIN_MANAGER,
    REGISTRY,
    SECRETS,
    STORE,
)
from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.ledger import queries
from omniroute.oauth.quota import with_quota
from omniroute.plugins import describe_plugins
from omniroute.providers import Connection
from omniroute.reload import reload_index

PUBLIC = frozenset({"/api/auth/login", "/api/auth/status"})


def _error(err: GatewayError) -> web.Response:
    body = {
        "error": {
            "message": err.message,
            "type": err.kind.value,
            "code": err.code or err.kind.value,
            "param": err.param,
        }
    }
    return json_response(body, err.status)


@web.middleware
async def api_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse cross-site writes, require a dashboard session and render every error in the
    API's JSON shape."""
    try:
        if security.cross_site_write(request):
            raise GatewayError(
                ErrorKind.AUTH,
                f"{request.method} {request.path} from another site's page is refused",
                status=403,
                code="cross_site_request",
                type="permission_error",
            )
        if request.path not in PUBLIC and not security.admitted(request):
            raise GatewayError(
                ErrorKind.AUTH, "login required: POST /api/auth/login", code="login_required"
            )
        return await handler(request)
    except GatewayError as err:
        return _error(err)
    except web.HTTPRequestEntityTooLarge:
        return _error(GatewayError(ErrorKind.TOO_LARGE, "request body too large"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = ErrorKind.NOT_FOUND if exc.status == 404 else ErrorKind.BAD_REQUEST
        return _error(
            GatewayError(kind, f"{request.method} {request.path}: {exc.reason}", status=exc.status)
        )


# -- plugins ------------------------------------------------------------------------------------


async def list_plugins(request: web.Request) -> web.Response:
    return json_response(
        describe_plugins(request.config_dict[PLUGIN_MANAGER], request.config_dict[REGISTRY])
    )


# -- connections --------------------------------------------------------------------------------


async def list_connections(request: web.Request) -> web.Response:
    provider = request.query.get("provider")
    rows = await request.config_dict[STORE].call(connections.list_rows, provider)
    views = [connections.to_api(r) for r in rows]
    return json_response(with_quota(request.config_dict, views))


async def create_connection(request: web.Request) -> web.Response:
    data = await json_body(request)
    app = request.config_dict
    created = await app[STORE].call(
        config_ops.create_connection, app[REGISTRY], app[SECRETS].vault, data
    )
    await reload_index(app)
    return json_response(created, 201)


async def get_connection(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    row = await request.config_dict[STORE].call(connections.get_row, ident)
    if row is None:
        raise not_found("connection", ident)
    return json_response(with_quota(request.config_dict, [connections.to_api(row)])[0])


async def update_connection(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    data = await json_body(request)
    app = request.config_dict
    updated = await app[STORE].call(
        config_ops.update_connection, app[REGISTRY], app[SECRETS].vault, ident, data
    )
    if updated is None:
        raise not_found("connection", ident)
    await reload_index(app)
    return json_response(updated)


async def delete_connection(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    if not await request.config_dict[STORE].call(config_ops.delete_connection, ident):
        raise not_found("connection", ident)
    await reload_index(request.config_dict)
    return json_response({"deleted": ident})


async def test_connection(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    app = request.config_dict
    conn: Connection | None = app[GATEWAY].index.all_connections.get(ident)
    if conn is None:
        raise not_found("connection", ident)
    provider = app[GATEWAY].index.providers.get(conn.provider)
    if provider is None:
        raise BadRequest(f"provider '{conn.provider}' is not installed", param="provider")
    result = await check_connection(app[HTTP_SESSION], provider, conn)
    return json_response(result)


# -- provider nodes -----------------------------------------------------------------------------


async def list_nodes(request: web.Request) -> web.Response:
    rows = await request.config_dict[STORE].call(nodes.list_rows)
    return json_response([nodes.to_api(r) for r in rows])


async def create_node(request: web.Request) -> web.Response:
    data = await json_body(request)
    created = await request.config_dict[STORE].call(
        config_ops.create_node, request.config_dict[REGISTRY], data
    )
    await reload_index(request.config_dict)
    return json_response(created, 201)


async def update_node(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    data = await json_body(request)
    updated = await request.config_dict[STORE].call(
        config_ops.update_node, request.config_dict[REGISTRY], ident, data
    )
    if updated is None:
        raise not_found("provider node", ident)
    await reload_index(request.config_dict)
    return json_response(updated)


async def delete_node(request: web.Request) -> web.Response:
    ident = request.match_info["id"]
    if not await request.config_dict[STORE].call(nodes.delete, ident):
        raise not_found("provider node", ident)
    await reload_index(request.config_dict)
    return json_response({"deleted": ident})


# -- usage --------------------------------------------------------------------------------------


def _query_number(
    request: web.Request, name: str, default: float, low: float, high: float
) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be a number", param=name) from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be between {low:g} and {high:g}", param=name)
    return value


async def usage(request: web.Request) -> web.Response:
    limit = int(_query_number(request, "limit", 100, 1, 1000))
    since = _query_number(request, "since", time.time() - 86400, 0, 1e11)
    store = request.config_dict[STORE]
    await request.config_dict[GATEWAY].ledger.drain()
    rows = await store.call(queries.recent, limit)
    totals = await store.call(queries.totals, since)
    return json_response({"since": since, "recent": rows, **totals})


def create_api_app() -> web.Application:
    """The management API, mounted at ``/api``: its own app, so its middleware (the session
    check) costs the gateway's ``/v1`` requests nothing."""
    api = web.Application(middlewares=[api_middleware])
    r = api.router
    combos_api.add_routes(api)  # before /settings/{section}, which would match its paths
    security.add_routes(api)
    proxies.add_routes(api)
    settings_sections.add_routes(api)
    catalog.add_routes(api)
    provider_views.add_routes(api)
    r.add_get("/plugins", list_plugins)
    r.add_get("/providers", list_connections)
    r.add_post("/providers", create_connection)
    r.add_get("/providers/{id}", get_connection)
    r.add_put("/providers/{id}", update_connection)
    r.add_delete("/providers/{id}", delete_connection)
    r.add_post("/providers/{id}/test", test_connection)
    r.add_get("/provider-nodes", list_nodes)
    r.add_post("/provider-nodes", create_node)
    r.add_put("/provider-nodes/{id}", update_node)
    r.add_delete("/provider-nodes/{id}", delete_node)
    keys.add_routes(api)
    r.add_get("/usage", usage)
    usage_api.add_routes(r)
    pricing_api.add_routes(r)
    usage_series.add_routes(api)
    r.add_post("/translator/detect", translator.detect)
    r.add_post("/translator/translate", translator.translate)
    translator_live.add_routes(api)
    backups.add_routes(r)
    resilience.add_routes(api)
    monitoring.add_routes(api)
    cli_tools.add_routes(api)
    oauth.add_routes(api)
    return api
