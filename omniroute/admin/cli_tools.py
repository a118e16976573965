"""``/api/cli-tools``: how to point each coding tool at this gateway, and writing the config
files that can be written (on the gateway's host, in ``CLI_TOOLS_HOME`` or the user's home).

The plain client key travels only in the body of ``render`` and ``apply`` requests: it is not
stored by the gateway, not logged, and the listing shows a placeholder instead.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiohttp import web

from omniroute.accounts import client_keys
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import SECRETS, STORE
from omniroute.errors import BadRequest
from omniroute.tools import (
    PLACEHOLDER_KEY,
    TOOLS,
    Target,
    Tool,
    apply,
    check_url,
    describe,
    get_tool,
    make_target,
    tools_home,
)

#: A URL clients should use when it is not the one the dashboard is reached at (a proxy).
PUBLIC_URL_ENV = "OMNIROUTE_PUBLIC_URL"
BODY_FIELDS = frozenset({"key", "model", "url"})


def gateway_url(request: web.Request, given: Any = None) -> str:
    """The URL tools should use: the one given, ``OMNIROUTE_PUBLIC_URL``, or this request's."""
    if given not in (None, ""):
        return check_url(given)
    public = os.environ.get(PUBLIC_URL_ENV)
    if public:
        return check_url(public)
    return f"{request.scheme}://{request.host}"


def _tool(request: web.Request) -> Tool:
    tool_id = request.match_info["tool"]
    tool = get_tool(tool_id)
    if tool is None:
        raise not_found("CLI tool", tool_id)
    return tool


async def _target(request: web.Request) -> Target:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(data) - BODY_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field '{unknown[0]}'", param=unknown[0])
    return make_target(gateway_url(request, data.get("url")), data.get("key"), data.get("model"))


async def _key_known(request: web.Request, key: str) -> bool:
    """Whether ``key`` is an active key of this gateway (a typo shows up before the tool
    fails)."""
    digest = client_keys.hash_key(request.config_dict[SECRETS].api_key_secret, key)
    keys = await request.config_dict[STORE].call(client_keys.load)
    return digest in keys


async def list_tools(request: web.Request) -> web.Response:
    """``GET /api/cli-tools[?url=&model=]``: every tool, rendered with a placeholder key."""
    url = gateway_url(request, request.query.get("url"))
    target = make_target(url, PLACEHOLDER_KEY, request.query.get("model"))
    home = tools_home()
    tools = await asyncio.to_thread(lambda: [describe(tool, target, home) for tool in TOOLS])
    return json_response({"url": url, "home": str(home), "tools": tools})


async def render_tool(request: web.Request) -> web.Response:
    """``POST /api/cli-tools/{tool}/render {key, model?, url?}``: the tool with the real key."""
    tool = _tool(request)
    target = await _target(request)
    answer = await asyncio.to_thread(describe, tool, target, tools_home())
    answer["keyKnown"] = await _key_known(request, target.key)
    return json_response(answer)


async def apply_tool(request: web.Request) -> web.Response:
    """``POST /api/cli-tools/{tool}/apply {key, model?, url?}``: write the tool's file."""
    tool = _tool(request)
    target = await _target(request)
    applied = await asyncio.to_thread(apply, tool, target, tools_home())
    answer = applied.to_api(tool)
    answer["keyKnown"] = await _key_known(request, target.key)
    return json_response(answer)


def add_routes(api: web.Application) -> None:
    """Mount the CLI tools endpoints on the management API."""
    api.router.add_get("/cli-tools", list_tools)
    api.router.add_post("/cli-tools/{tool}/render", render_tool)
    api.router.add_post("/cli-tools/{tool}/apply", apply_tool)
