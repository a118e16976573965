"""The OpenAI-compatible front door: chat completions, embeddings, images, models."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.errors import GatewayError
from omniroute.gateway.dispatch import Validator, serve
from omniroute.gateway.front import error_response
from omniroute.gateway.key_limits import models_body_for
from omniroute.gateway.validate import validate_chat, validate_embeddings, validate_images
from omniroute.providers import Endpoint


def _handler(endpoint: Endpoint, validate: Validator) -> Any:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await serve(request, "openai", endpoint, validate)

    handle.__name__ = f"{endpoint.value}_handler"
    return handle


chat_completions = _handler(Endpoint.CHAT, validate_chat)
embeddings = _handler(Endpoint.EMBEDDINGS, validate_embeddings)
images_generations = _handler(Endpoint.IMAGES, validate_images)


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models``: every model of every provider with an active connection (those in
    the key's scope, for a scoped key)."""
    gw = request.app[GATEWAY]
    try:
        key = gw.authenticate(request, listing=True)
    except GatewayError as err:
        return error_response(request.app[REGISTRY].formats["openai"], err)
    body = models_body_for(gw.index.models_body, key)
    return web.Response(body=body, content_type="application/json")


def add_routes(app: web.Application) -> None:
    """Mount the OpenAI-compatible front door, versioned and unversioned."""
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
        app.router.add_post(f"{prefix}/embeddings", embeddings)
        app.router.add_post(f"{prefix}/images/generations", images_generations)
        app.router.add_get(f"{prefix}/models", list_models)
