"""JSON in and out for the management API."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from omniroute.errors import BadRequest, ErrorKind, GatewayError


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer (orjson)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def not_found(what: str, ident: str) -> GatewayError:
    """A 404 for a missing management object."""
    return GatewayError(ErrorKind.NOT_FOUND, f"{what} '{ident}' not found", code="not_found")


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; malformed JSON is a 400."""
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
