"""``GET /api/provider-catalog``: the providers a user can connect, as the dashboard's Providers
page needs them (names, prefixes, formats, default base URLs and each one's auth flow with the
fields its form asks for; for subscription providers, ``oauthSteps``: the ``/api/oauth`` steps
their login offers). Read-only; the connections themselves stay at ``/api/providers``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from omniroute.admin.http import json_response
from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.extensions import AuthFlow
from omniroute.oauth.flows import AuthorizationCodeFlow, DeviceCodeFlow, ImportFlow
from omniroute.oauth.provider import OAuthProvider
from omniroute.plugins import Registry
from omniroute.routing.index import RoutingIndex


def _flow(flow: AuthFlow | None, flow_id: str) -> dict[str, Any]:
    if flow is None:  # the provider names a flow no plugin registered
        return {"id": flow_id, "kind": None, "title": flow_id, "fields": [], "installed": False}
    return {
        "id": flow.id,
        "kind": flow.kind,
        "title": flow.title,
        "fields": [
            {"name": f.name, "label": f.label, "secret": f.secret, "required": f.required}
            for f in flow.fields
        ],
        "installed": True,
    }


def _oauth_steps(provider: Any, registry: Registry) -> list[str] | None:
    """How a subscription provider's accounts log in: ``authorize`` (URL and pasted code),
    ``device-code``, ``import`` (the CLI's credential file); ``None`` for API-key providers."""
    if not isinstance(provider, OAuthProvider):
        return None
    steps = []
    login = getattr(registry.auth_flows.get(provider.auth_flow), "driver", None)
    if isinstance(login, AuthorizationCodeFlow):
        steps.append("authorize")
    elif isinstance(login, DeviceCodeFlow):
        steps.append("device-code")
    imported = getattr(registry.auth_flows.get(provider.import_flow or ""), "driver", None)
    if isinstance(imported, ImportFlow):
        steps.append("import")
    return steps


def provider_catalog(index: RoutingIndex, registry: Registry) -> list[dict[str, Any]]:
    """Every connectable provider (registered ones and provider nodes; templates are not
    connectable by themselves), sorted by name."""
    out = []
    for provider in index.providers.values():
        if provider.template:
            continue
        out.append(
            {
                "id": provider.id,
                "name": provider.name,
                "prefix": provider.prefix,
                "aliases": list(provider.aliases),
                "format": provider.format,
                "baseUrl": provider.base_url,
                "docsUrl": provider.docs_url,
                "billing": provider.billing,
                "node": provider.id not in registry.providers,
                "connected": bool(index.active(provider.id)),
                "blocked": provider.id in index.blocked,
                "authFlow": _flow(registry.auth_flows.get(provider.auth_flow), provider.auth_flow),
                "oauthSteps": _oauth_steps(provider, registry),
            }
        )
    out.sort(key=lambda p: (str(p["name"]).lower(), str(p["id"])))
    return out


async def get_provider_catalog(request: web.Request) -> web.Response:
    """``GET /api/provider-catalog``."""
    app = request.config_dict
    return json_response(provider_catalog(app[GATEWAY].index, app[REGISTRY]))


def add_routes(api: web.Application) -> None:
    """Mount the Providers page's read-only view on the management API."""
    api.router.add_get("/provider-catalog", get_provider_catalog)
