"""From a parsed client request to the answer, whatever formats the client and provider speak."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.errors import ErrorKind, GatewayError, UpstreamError
from omniroute.extensions import Attempt, UpstreamResponse
from omniroute.formats import ir
from omniroute.formats.base import Format
from omniroute.gateway.collect import collect_stream
from omniroute.gateway.front import error_response, read_body, record, usage_columns
from omniroute.gateway.injection import apply_ai_settings
from omniroute.gateway.pipeline import Accept, Gateway, RequestContext
from omniroute.gateway.relay import open_stream, relay_chat_stream
from omniroute.gateway.route_headers import route_headers
from omniroute.gateway.streams import DecodedStart, open_decoded, relay_decoded
from omniroute.gateway.validate import parse_json_object
from omniroute.ledger import budgets
from omniroute.pricing.cost import cost_header
from omniroute.providers import Endpoint
from omniroute.routing.plan import Plan

Relay = Callable[[web.Request, Gateway, RequestContext, Any], Awaitable[web.StreamResponse]]


class FastRelay(NamedTuple):
    """A same-format stream relay specialised for speed: how to open the upstream's stream
    (up to its first event) and how to relay the rest."""

    open: Accept[Any]
    relay: Relay


#: Fast relays by format id, used per attempt when the target speaks the client's format;
#: every other stream goes through the format's decoder (and, across formats, the client's
#: encoder).
FAST_RELAYS: dict[str, FastRelay] = {"openai": FastRelay(open_stream, relay_chat_stream)}

Validator = Callable[[dict[str, Any]], str]
#: Plans a provider-scoped request: the gateway and the model to the targets to try.
PlanFor = Callable[[Gateway, str], Plan]

COST_HEADER = "X-OmniRoute-Cost"


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
    """Forward a request whose answer is one JSON document, relayed as is or translated
    (or collected from the stream of an upstream that only streams)."""

    async def accept(attempt: Attempt, resp: UpstreamResponse) -> tuple[int, bytes, Any]:
        if attempt.stream:  # Provider.upstream_streams
            target = gw.formats[attempt.provider.format]
            return resp.status, b"", await collect_stream(target, attempt, resp)
        return await _accept_json(attempt, resp)

    try:
        status, body, parsed = await gw.forward(ctx, accept)
    except GatewayError as err:
        record(gw, ctx, err.status, error_kind=err.kind.value)
        raise
    target = gw.formats[ctx.resolved.provider.format]
    usage: ir.Usage | None
    if isinstance(parsed, ir.Response):  # collected from a stream
        parsed.model = ctx.client_model or parsed.model
        usage = parsed.usage
        body = orjson.dumps(ctx.source.render_response(parsed, ctx.body))
    elif target is ctx.source:
        usage = target.usage_of(parsed) if isinstance(parsed, dict) else None
    else:
        answer = target.parse_response(parsed)
        answer.model = ctx.client_model or answer.model
        usage = answer.usage
        body = orjson.dumps(ctx.source.render_response(answer, ctx.body))
    cost = record(gw, ctx, status, **usage_columns(usage))
    headers = route_headers(ctx)
    # Streams have no such header: their cost is known only after the headers are sent.
    if cost is not None:
        headers[COST_HEADER] = cost_header(cost)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


async def forward_stream(
    request: web.Request, gw: Gateway, ctx: RequestContext
) -> web.StreamResponse:
    """Forward a streaming request. The relay is chosen per attempt by the format of the
    target tried, so a combo may fall from a target of one format to one of another."""
    source = ctx.source
    fast = FAST_RELAYS.get(source.id)

    async def accept(attempt: Attempt, resp: UpstreamResponse) -> Any:
        target = gw.formats[attempt.provider.format]
        if target is source and fast is not None:
            return await fast.open(attempt, resp)
        return await open_decoded(target, same_format=target is source)(attempt, resp)

    try:
        start = await gw.forward(ctx, accept)
    except GatewayError as err:
        record(gw, ctx, err.status, error_kind=err.kind.value)
        raise
    if isinstance(start, DecodedStart) or fast is None:
        return await relay_decoded(request, gw, ctx, start)
    return await fast.relay(request, gw, ctx, start)


async def serve(
    request: web.Request,
    source_id: str,
    endpoint: Endpoint,
    validate: Validator,
    *,
    stream: Callable[[dict[str, Any]], bool] = lambda body: body.get("stream") is True,
    planner: PlanFor | None = None,
) -> web.StreamResponse:
    """Authenticate, parse, validate, resolve and answer one request of format ``source_id``.

    ``planner`` replaces model resolution (provider-scoped routes).
    """
    gw = request.app[GATEWAY]
    source: Format = request.app[REGISTRY].formats[source_id]
    ctx: RequestContext | None = None
    try:
        key = gw.authenticate(request)
        key_id = key.id if key is not None else None
        budgets.enforce(gw.index.budgets, gw.ledger.spending, key_id)
        body = parse_json_object(await read_body(request))
        model = validate(body)
        if endpoint is Endpoint.CHAT:
            body = apply_ai_settings(gw.index.sections.ai, source, body)
        plan = gw.plan(model) if planner is None else planner(gw, model)
        resolved = plan.targets[0]
        gw.admit(key, model, resolved, combo=plan.combo is not None)
        ctx = RequestContext(endpoint, body, resolved, key_id, source)
        ctx.client_model, ctx.plan, ctx.combo = model, plan, plan.combo
        ctx.client_headers = request.headers
        for name in source.forwarded_headers:
            if name in request.headers:
                ctx.forwarded[name] = request.headers[name]
        if endpoint is Endpoint.CHAT and stream(body):
            ctx.stream = True
            return await forward_stream(request, gw, ctx)
        return await forward_json(gw, ctx)
    except GatewayError as err:
        response = error_response(source, err)
        if ctx is not None and ctx.attempts:
            response.headers.update(route_headers(ctx))
        return response
