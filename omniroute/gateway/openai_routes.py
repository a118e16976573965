"""The OpenAI-compatible front door: chat completions, embeddings, images, models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from omniroute.appkeys import GATEWAY, REGISTRY, SETTINGS
from omniroute.errors import ErrorKind, GatewayError, UpstreamError
from omniroute.extensions import Attempt, UpstreamResponse
from omniroute.formats.base import Format
from omniroute.gateway.pipeline import TRANSPORT_ERRORS, Gateway, RequestContext, transport_error
from omniroute.gateway.relay import (
    DONE_EVENT,
    ChatStreamState,
    Heartbeat,
    StreamStart,
    open_stream,
)
from omniroute.gateway.validate import (
    parse_json_object,
    validate_chat,
    validate_embeddings,
    validate_images,
)
from omniroute.ledger.usage import openai_usage
from omniroute.providers import Endpoint

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
CLIENT_CLOSED = 499


def error_response(fmt: Format, err: GatewayError) -> web.Response:
    """An error answer in the caller's own format."""
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(err.retry_after)))
    return web.Response(
        body=fmt.error_body(err),
        status=err.status,
        content_type=fmt.error_content_type,
        headers=headers,
    )


async def read_body(request: web.Request) -> bytes:
    """The request body, refusing bodies over the configured limit with a 413."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].max_body_bytes
        raise GatewayError(
            ErrorKind.TOO_LARGE, f"request body exceeds the {limit // (1024 * 1024)} MB limit"
        ) from None


def record(gw: Gateway, ctx: RequestContext, status: int, **extra: Any) -> None:
    """Queue the ledger row for a finished request."""
    row = {
        "ts": time.time(),
        "request_id": ctx.request_id,
        "endpoint": ctx.endpoint.value,
        "provider": ctx.resolved.provider.id,
        "model": ctx.model,
        "connection_id": ctx.connection.id if ctx.connection else None,
        "key_id": ctx.key_id,
        "stream": int(ctx.stream),
        "status": status,
        "latency_ms": round(ctx.elapsed_ms(), 2),
    }
    row.update(extra)
    gw.ledger.record(row)


async def _accept_json(attempt: Attempt, resp: UpstreamResponse) -> tuple[int, bytes, Any]:
    if resp.status >= 400:
        body = await resp.read()
        raise attempt.provider.classify_error(resp.status, resp.headers, body)
    body = await resp.read()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError(
            ErrorKind.UPSTREAM, f"upstream answered HTTP {resp.status} with a body that is not JSON"
        ) from None
    return resp.status, body, parsed


async def forward_json(gw: Gateway, ctx: RequestContext) -> web.Response:
    """Forward a request whose answer is one JSON document, and relay that document as is."""
    try:
        status, body, parsed = await gw.forward(ctx, _accept_json)
    except GatewayError as err:
        record(gw, ctx, err.status, error_kind=err.kind.value)
        raise
    usage = parsed.get("usage") if isinstance(parsed, dict) else None
    record(gw, ctx, status, **openai_usage(usage))
    return web.Response(body=body, status=status, content_type="application/json")


class ClientGone(Exception):
    """The client closed its connection while we were writing to it."""


async def _write(response: web.StreamResponse, data: bytes) -> None:
    try:
        await response.write(data)
    except (ConnectionResetError, RuntimeError) as exc:
        raise ClientGone from exc


async def _relay_rest(
    start: StreamStart, state: ChatStreamState, response: web.StreamResponse, fmt: Format
) -> UpstreamError | None:
    """Relay events until the upstream ends; end the client's stream properly in every case.

    Returns the error the stream ended with, if any.
    """
    cut: UpstreamError | None = None
    try:
        async for chunk in start.chunks:
            out = state.take_block(start.scanner.feed_block(chunk))
            if out:
                state.last_write = time.monotonic()
                await _write(response, out)
        if start.scanner.pending.strip() and not state.done:
            cut = UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended mid-event")
    except TRANSPORT_ERRORS as exc:
        cut = transport_error(exc)
        cut.message = f"upstream stream was cut: {cut.message}"
    if state.done:
        return None
    if cut is None and state.finished:
        await _write(response, DONE_EVENT)  # the upstream omitted it; clients wait for it
        return None
    if cut is None and state.errored:
        return UpstreamError(ErrorKind.UPSTREAM, "upstream sent an error event")
    cut = cut or UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended before it was complete")
    await _write(response, fmt.stream_error_event(cut))
    return cut


async def relay_chat_stream(
    request: web.Request, gw: Gateway, ctx: RequestContext
) -> web.StreamResponse:
    """Forward a streaming chat request and relay its events as they arrive."""
    options = ctx.body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    state = ChatStreamState(client_wants_usage=wants_usage)
    try:
        start = await gw.forward(ctx, open_stream)
    except GatewayError as err:
        record(gw, ctx, err.status, error_kind=err.kind.value)
        raise

    state.credential = ctx.connection.api_key if ctx.connection else None
    fmt = request.app[REGISTRY].formats["openai"]
    response = web.StreamResponse(headers=SSE_HEADERS)
    status, error_kind, ttft = 200, None, None
    heartbeat: Heartbeat | None = None
    try:
        await response.prepare(request)
        heartbeat = Heartbeat(response, state, request.app[SETTINGS].heartbeat_interval)
        await _write(response, state.take_block(start.first_block))
        ttft = round(ctx.elapsed_ms(), 2)
        failure = await _relay_rest(start, state, response, fmt)
        if failure is not None:
            status, error_kind = 502, failure.kind.value
        await heartbeat.stop()
        await response.write_eof()
    except ClientGone:
        status, error_kind = CLIENT_CLOSED, "client_closed"
    except asyncio.CancelledError:
        status, error_kind = CLIENT_CLOSED, "client_closed"
        raise
    finally:
        if heartbeat is not None:
            await heartbeat.stop()
        start.response.close()
        record(gw, ctx, status, error_kind=error_kind, ttft_ms=ttft, **openai_usage(state.usage))
    return response


def _handler(
    endpoint: Endpoint, validate: Callable[[dict[str, Any]], str]
) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        gw = request.app[GATEWAY]
        fmt = request.app[REGISTRY].formats["openai"]
        try:
            key_id = gw.authenticate(request)
            body = parse_json_object(await read_body(request))
            model = validate(body)
            ctx = RequestContext(endpoint, body, gw.index.resolve(model), key_id)
            if endpoint is Endpoint.CHAT and body.get("stream") is True:
                ctx.stream = True
                return await relay_chat_stream(request, gw, ctx)
            return await forward_json(gw, ctx)
        except GatewayError as err:
            return error_response(fmt, err)

    handle.__name__ = f"{endpoint.value}_handler"
    return handle


chat_completions = _handler(Endpoint.CHAT, validate_chat)
embeddings = _handler(Endpoint.EMBEDDINGS, validate_embeddings)
images_generations = _handler(Endpoint.IMAGES, validate_images)


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models``: every model of every provider with an active connection."""
    gw = request.app[GATEWAY]
    try:
        gw.authenticate(request)
    except GatewayError as err:
        return error_response(request.app[REGISTRY].formats["openai"], err)
    return web.Response(body=gw.index.models_body, content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Mount the OpenAI-compatible front door, versioned and unversioned."""
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
        app.router.add_post(f"{prefix}/embeddings", embeddings)
        app.router.add_post(f"{prefix}/images/generations", images_generations)
        app.router.add_get(f"{prefix}/models", list_models)
