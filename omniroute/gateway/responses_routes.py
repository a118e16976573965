"""The OpenAI Responses front door: ``POST /v1/responses`` (what Codex CLI speaks)."""

from __future__ import annotations

from aiohttp import web

from omniroute.gateway.dispatch import serve
from omniroute.gateway.validate import validate_responses
from omniroute.providers import Endpoint


async def responses(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses``: streaming when the body says ``"stream": true``."""
    return await serve(request, "responses", Endpoint.CHAT, validate_responses)


def add_routes(app: web.Application) -> None:
    """Mount ``/v1/responses`` (Codex appends ``/responses`` to its ``.../v1`` base URL)."""
    app.router.add_post("/v1/responses", responses)
