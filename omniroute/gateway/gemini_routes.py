"""The Gemini front door: ``models/{model}:generateContent`` and ``:streamGenerateContent``
under ``/v1beta`` and ``/v1`` (google-genai 3 defaults to ``/v1``), and the Gemini model list.

Gemini names the model in the URL. A gateway model with a prefix contains a slash
(``models/ds/deepseek-chat``), so the route takes everything up to the action.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.errors import ErrorKind, GatewayError
from omniroute.gateway.dispatch import serve
from omniroute.gateway.front import error_response
from omniroute.gateway.key_limits import models_body_for
from omniroute.gateway.validate import validate_gemini
from omniroute.providers import Endpoint

ACTIONS = ("generateContent", "streamGenerateContent")
ROUTE = "{target:.+:(?:generateContent|streamGenerateContent)}"


async def generate(request: web.Request) -> web.StreamResponse:
    """Answer ``…/{model}:generateContent`` (JSON) or ``:streamGenerateContent`` (SSE)."""
    target = request.match_info["target"]
    model, _, action = target.rpartition(":")
    model = model.removeprefix("models/")
    if not model:
        fmt = request.app[REGISTRY].formats["gemini"]
        err = GatewayError(ErrorKind.BAD_REQUEST, "the URL names no model", param="model")
        return error_response(fmt, err)

    def validate(body: dict[str, Any]) -> str:
        validate_gemini(body)
        return model

    return await serve(
        request,
        "gemini",
        Endpoint.CHAT,
        validate,
        stream=lambda body: action == "streamGenerateContent",
    )


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1beta/models`` in Gemini's shape: every model the connected accounts reach."""
    gw = request.app[GATEWAY]
    try:
        key = gw.authenticate(request, listing=True)
    except GatewayError as err:
        return error_response(request.app[REGISTRY].formats["gemini"], err)
    models = []
    for entry in orjson.loads(models_body_for(gw.index.models_body, key))["data"]:
        if entry.get("type") != "chat":
            continue
        model: dict[str, Any] = {
            "name": f"models/{entry['id']}",
            "displayName": entry["id"],
            "supportedGenerationMethods": list(ACTIONS),
        }
        if entry.get("context_length"):
            model["inputTokenLimit"] = entry["context_length"]
        models.append(model)
    return web.json_response({"models": models})


async def unknown(request: web.Request) -> web.Response:
    """Anything else under ``/v1beta``: a 404 in Gemini's shape, naming what is served."""
    fmt = request.app[REGISTRY].formats["gemini"]
    message = (
        f"{request.method} {request.path} is not served here; use "
        "models/{model}:generateContent or :streamGenerateContent"
    )
    return error_response(fmt, GatewayError(ErrorKind.NOT_FOUND, message))


def add_routes(app: web.Application) -> None:
    """Mount the Gemini routes (after the OpenAI ones, which they never shadow)."""
    app.router.add_get("/v1beta/models", list_models)
    for version in ("v1beta", "v1"):
        app.router.add_post(f"/{version}/{ROUTE}", generate)
    app.router.add_route("*", "/v1beta/{tail:.*}", unknown)
