"""Provider-scoped routes: ``POST /v1/providers/{provider}/...`` reaches one provider only.

The path names the provider (an id, prefix or alias); ``model`` then names one of its models,
with or without the prefix (``gpt-5`` and ``openai/gpt-5`` are the same at
``/v1/providers/openai``). A model that names another provider is a 400 in the caller's shape.
No combo, alias or fallback chain applies: the caller asked for this provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.gateway.dispatch import PlanFor, Validator, serve
from omniroute.gateway.pipeline import Gateway
from omniroute.gateway.validate import (
    validate_chat,
    validate_embeddings,
    validate_images,
    validate_messages,
    validate_responses,
)
from omniroute.providers import Endpoint
from omniroute.routing.plan import Plan, Resolved

#: Path under ``/v1/providers/{provider}``: the format the caller speaks, the endpoint, and
#: the validator of its body.
ROUTES: tuple[tuple[str, str, Endpoint, Validator], ...] = (
    ("/chat/completions", "openai", Endpoint.CHAT, validate_chat),
    ("/embeddings", "openai", Endpoint.EMBEDDINGS, validate_embeddings),
    ("/images/generations", "openai", Endpoint.IMAGES, validate_images),
    ("/messages", "anthropic", Endpoint.CHAT, validate_messages),
    ("/responses", "responses", Endpoint.CHAT, validate_responses),
)


def scoped_planner(name: str) -> PlanFor:
    """Plans requests for the provider ``name``: its model, and only that target."""

    def plan(gw: Gateway, model: str) -> Plan:
        provider = gw.index.prefixes.get(name.lower())
        if provider is None:
            raise GatewayError(
                ErrorKind.NOT_FOUND,
                f"unknown provider '{name}' in the path; see GET /api/plugins for the "
                "providers installed",
                code="provider_not_found",
            )
        head, slash, rest = model.partition("/")
        owner = gw.index.prefixes.get(head.lower()) if slash else None
        if owner is provider:
            model = rest
        elif owner is not None:
            raise BadRequest(
                f"model '{model}' belongs to provider '{owner.id}', not to '{provider.id}' "
                f"named in the path; to send '{model}' to '{provider.id}' as is, write "
                f"'{provider.prefix}/{model}'",
                param="model",
                code="provider_mismatch",
            )
        return Plan((Resolved(provider, model or None),))

    return plan


def _handler(
    source_id: str, endpoint: Endpoint, validate: Validator
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        planner = scoped_planner(request.match_info["provider"])
        return await serve(request, source_id, endpoint, validate, planner=planner)

    handle.__name__ = f"provider_{source_id}_{endpoint.value}"
    return handle


def add_routes(app: web.Application) -> None:
    """Mount ``/v1/providers/{provider}/...`` for each scoped endpoint."""
    for path, source_id, endpoint, validate in ROUTES:
        app.router.add_post(
            f"/v1/providers/{{provider}}{path}", _handler(source_id, endpoint, validate)
        )
