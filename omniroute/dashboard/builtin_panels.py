"""The dashboard's own pages, registered through ``register_dashboard_panels`` like any
plugin's (default plugin)."""

from __future__ import annotations

from collections.abc import Callable

from omniroute.extensions import DashboardPanel
from omniroute.hookspecs import hookimpl


def _page(
    panel_id: str,
    title: str,
    icon: str,
    order: int,
    api_routes: tuple[str, ...],
    styles: tuple[str, ...] = (),
) -> DashboardPanel:
    """A built-in page: ``static/panels/<id>.js``, with style sheets named from that folder."""
    folder = "omniroute.dashboard:static/panels"
    return DashboardPanel(
        id=panel_id,
        title=title,
        page=f"{folder}/{panel_id}.js",
        icon=icon,
        order=order,
        assets=tuple(f"{folder}/{name}.css" for name in styles),
        api_routes=api_routes,
    )


BUILTIN_PANELS = (
    _page(
        "providers",
        "Providers",
        "plug",
        10,
        ("GET /api/providers", "POST /api/providers", "GET /api/provider-catalog"),
        styles=("providers",),
    ),
    _page(
        "combos",
        "Combos",
        "layers",
        20,
        (
            "GET /api/combos",
            "POST /api/combos",
            "PUT /api/combos/{id}",
            "DELETE /api/combos/{id}",
            "GET /api/plugins",
            "GET /api/models/catalog",
            "GET /api/providers",
            "GET /api/resilience",
        ),
        styles=("combos",),
    ),
    _page(
        "keys",
        "API keys",
        "key",
        30,
        (
            "GET /api/keys",
            "POST /api/keys",
            "PATCH /api/keys/{id}",
            "DELETE /api/keys/{id}",
            "POST /api/keys/{id}/regenerate",
            "GET /api/usage/budget",
            "POST /api/usage/budget",
            "DELETE /api/usage/budget/{keyId}",
        ),
        styles=("keys",),
    ),
    _page(
        "usage",
        "Usage",
        "chart",
        40,
        (
            "GET /api/usage/series",
            "GET /api/usage/history",
            "GET /api/usage/breakdown",
            "GET /api/usage/export",
        ),
        styles=("usage",),
    ),
    _page(
        "costs",
        "Costs",
        "coins",
        50,
        (
            "GET /api/usage/budget",
            "POST /api/usage/budget",
            "DELETE /api/usage/budget/{keyId}",
            "GET /api/pricing",
            "PUT /api/pricing",
            "GET /api/keys",
        ),
        styles=("usage",),
    ),
    _page(
        "health",
        "Health",
        "heart",
        60,
        (
            "GET /api/monitoring/health",
            "GET /api/resilience",
            "DELETE /api/resilience/lockouts/{id}",
            "POST /api/resilience/reset",
        ),
    ),
    _page(
        "settings",
        "Settings",
        "gear",
        70,
        ("GET /api/settings/{section}", "PATCH /api/settings/{section}", "POST /api/auth/password"),
    ),
    _page(
        "translator",
        "Translator",
        "swap",
        80,
        (
            "POST /api/translator/translate",
            "POST /api/translator/chat",
            "GET /api/translator/live",
        ),
    ),
    _page(
        "cli-tools",
        "CLI tools",
        "terminal",
        90,
        ("GET /api/cli-tools", "POST /api/cli-tools/{tool}/apply", "POST /api/keys"),
        styles=("cli-tools",),
    ),
)


@hookimpl
def register_dashboard_panels(register: Callable[[DashboardPanel], None]) -> None:
    """Register the built-in pages: providers, combos, keys, usage, costs, health, settings,
    translator and CLI tools."""
    for panel in BUILTIN_PANELS:
        register(panel)
