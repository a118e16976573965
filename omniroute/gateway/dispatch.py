"""From a parsed client request to the answer, whatever formats the client and provider speak."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.errors import ErrorKind, GatewayError, UpstreamError
from omniroute.extensions import Attempt, UpstreamResponse
from omniroute.formats.base import Format
from omniroute.gateway.front import error_response, read_body, record, usage_columns
from omniroute.gateway.pipeline import Gateway, RequestContext
from omniroute.gateway.relay import relay_chat_stream
from omniroute.gateway.streams import relay_decoded
from omniroute.gateway.validate import parse_json_object
from omniroute.providers import Endpoint

Relay = Callable[[web.Request, Gateway, RequestContext], Awaitable[web.StreamResponse]]

#: Same-format stream relays specialised for speed, by format id; every other stream goes
#: through the format's decoder (and, across formats, the client's encoder).
FAST_RELAYS: dict[str, Relay] = {"openai": relay_chat_stream}

Validator = Callable[[dict[str, Any]], str]


async def _accept_json(attempt: Attempt, resp: UpstreamResponse) -> tuple[int, bytes, Any]:
    body = await resp.read()
    if resp.status >= 400:
        raise attempt.provider.classify_error(resp.status, resp.headers, body)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError(
            ErrorKind.UPSTREAM, f"upstream answered HTTP {resp.status} with a body that is not JSON"
        ) from None
    return resp.status, body, parsed


async def forward_json(gw: Gateway, ctx: RequestContext) -> web.Response:
    """Forward a request whose answer is one JSON document, relayed as is or translated."""
    try:
        status, body, parsed = await gw.forward(ctx, _accept_json)
    except GatewayError as err:
        record(gw, ctx, err.status, error_kind=err.kind.value)
        raise
    target = gw.formats[ctx.resolved.provider.format]
    if target is ctx.source:
        usage = target.usage_of(parsed) if isinstance(parsed, dict) else None
        record(gw, ctx, status, **usage_columns(usage))
        return web.Response(body=body, status=status, content_type="application/json")
    answer = target.parse_response(parsed)
    answer.model = ctx.client_model or answer.model
    record(gw, ctx, status, **usage_columns(answer.usage))
    return web.Response(
        body=orjson.dumps(ctx.source.render_response(answer, ctx.body)),
        status=status,
        content_type="application/json",
    )


async def serve(
    request: web.Request,
    source_id: str,
    endpoint: Endpoint,
    validate: Validator,
    *,
    stream: Callable[[dict[str, Any]], bool] = lambda body: body.get("stream") is True,
) -> web.StreamResponse:
    """Authenticate, parse, validate, resolve and answer one request of format ``source_id``."""
    gw = request.app[GATEWAY]
    source: Format = request.app[REGISTRY].formats[source_id]
    try:
        key_id = gw.authenticate(request)
        body = parse_json_object(await read_body(request))
        model = validate(body)
        ctx = RequestContext(endpoint, body, gw.index.resolve(model), key_id, source)
        ctx.client_model = model
        for name in source.forwarded_headers:
            if name in request.headers:
                ctx.forwarded[name] = request.headers[name]
        if endpoint is Endpoint.CHAT and stream(body):
            ctx.stream = True
            target = gw.formats[ctx.resolved.provider.format]
            fast = FAST_RELAYS.get(source.id) if target is source else None
            return await (fast or relay_decoded)(request, gw, ctx)
        return await forward_json(gw, ctx)
    except GatewayError as err:
        return error_response(source, err)
