"""The Anthropic Messages front door: ``/v1/messages`` and ``/v1/messages/count_tokens``.

Claude Code and the anthropic SDKs post here (Claude Code adds ``?beta=true``, which changes
nothing for the gateway). Whatever the provider speaks, the client gets Anthropic's shapes.
"""

from __future__ import annotations

import math

import orjson
from aiohttp import web

from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.errors import GatewayError
from omniroute.gateway.dispatch import forward_json, serve
from omniroute.gateway.front import error_response, read_body
from omniroute.gateway.pipeline import RequestContext
from omniroute.gateway.validate import (
    parse_json_object,
    validate_count_tokens,
    validate_messages,
)
from omniroute.providers import Endpoint


async def messages(request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``: streaming when the body says ``"stream": true``."""
    return await serve(request, "anthropic", Endpoint.CHAT, validate_messages)


def estimate_tokens(body: dict[str, object]) -> int:
    """A rough count (4 bytes of JSON per token) for upstreams that cannot count for us."""
    counted = {key: body.get(key) for key in ("system", "messages", "tools")}
    return max(1, math.ceil(len(orjson.dumps(counted)) / 4))


async def count_tokens(request: web.Request) -> web.Response:
    """``POST /v1/messages/count_tokens``: counted by an Anthropic upstream, else estimated."""
    gw = request.app[GATEWAY]
    source = request.app[REGISTRY].formats["anthropic"]
    try:
        key = gw.authenticate(request)
        key_id = key.id if key is not None else None
        body = parse_json_object(await read_body(request))
        model = validate_count_tokens(body)
        resolved = gw.index.resolve(model)
        gw.admit(key, model, resolved)
        if resolved.provider.format == "anthropic":
            ctx = RequestContext(Endpoint.COUNT_TOKENS, body, resolved, key_id, source)
            return await forward_json(gw, ctx)
        return web.json_response({"input_tokens": estimate_tokens(body)})
    except GatewayError as err:
        return error_response(source, err)


def add_routes(app: web.Application) -> None:
    """Mount ``/v1/messages`` (also reached as ``/v1/messages?beta=true``) and its token count."""
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
