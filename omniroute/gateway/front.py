"""What every front door shares: error answers, body limits, ledger rows, safe writes."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from omniroute.appkeys import SETTINGS
from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.base import Format
from omniroute.gateway.pipeline import Gateway, RequestContext
from omniroute.pricing.cost import request_cost

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
CLIENT_CLOSED = 499


class EventStream(web.StreamResponse):
    """A streamed answer (``text/event-stream``) whose headers leave with its first bytes.

    aiohttp sends a stream's headers on their own as soon as it is prepared; every relay here
    writes its first events right after preparing (they were read before committing), so
    holding the headers back delays nothing and saves a send per stream. ``web.Response``
    uses the same switch; it is not public API, so an aiohttp that renamed it would only
    lose the saving.
    """

    _send_headers_immediately = False

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(headers={**SSE_HEADERS, **headers})


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


def usage_columns(usage: ir.Usage | None) -> dict[str, int]:
    """Ledger columns from IR usage; ``tokens_in`` counts cached prompt tokens too."""
    if usage is None:
        return {}
    return {
        "tokens_in": usage.input + usage.cache_read + usage.cache_write,
        "tokens_out": usage.output,
        "tokens_cached": usage.cache_read,
        "tokens_reasoning": usage.reasoning,
        "tokens_cache_write": usage.cache_write,
    }


def record(gw: Gateway, ctx: RequestContext, status: int, **extra: Any) -> float | None:
    """Queue the ledger row for a finished request; its cost in USD (``None``: unknown)."""
    row = {
        "ts": time.time(),
        "request_id": ctx.request_id,
        "endpoint": ctx.endpoint.value,
        "format": ctx.source.id,  # not a ledger column: for the live monitor
        "provider": ctx.resolved.provider.id,
        "model": ctx.model,
        "connection_id": ctx.connection.id if ctx.connection else None,
        "key_id": ctx.key_id,
        "stream": int(ctx.stream),
        "status": status,
        "latency_ms": round(ctx.elapsed_ms(), 2),
        "combo": ctx.combo,
    }
    row.update(extra)
    cost = request_cost(gw.index.prices, ctx.resolved.provider.id, ctx.model, row)
    row["cost_usd"] = cost
    gw.ledger.record(row)
    return cost


class ClientGone(Exception):
    """The client closed its connection while we were writing to it."""


async def write_or_gone(response: web.StreamResponse, data: bytes) -> None:
    """Write to the client; a closed connection becomes :class:`ClientGone`."""
    try:
        await response.write(data)
    except (ConnectionResetError, RuntimeError) as exc:
        raise ClientGone from exc


async def end_stream(response: web.StreamResponse, final: bytes) -> None:
    """Write the last bytes together with the end of the chunked body: one send, not two."""
    try:
        await response.write_eof(final)
    except (ConnectionResetError, RuntimeError) as exc:
        raise ClientGone from exc
