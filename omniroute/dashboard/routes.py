"""The dashboard's HTTP side: the shell page at ``/``, its own files, the files panels ship in
their packages, and ``GET /api/dashboard/panels`` (the navigation, for a logged-in user).

The shell is a static page: what a user may see arrives through ``/api/*``, which checks the
session, so nothing here needs one and no secret ever reaches the page source.
"""

from __future__ import annotations

from aiohttp import web

from omniroute.admin.http import json_response
from omniroute.appkeys import DASHBOARD_FILES, REGISTRY
from omniroute.dashboard.assets import CONTENT_TYPES, PackageFiles, asset_url, split_spec
from omniroute.extensions import DashboardPanel
from omniroute.plugins import Registry

SHELL_PACKAGE = "omniroute.dashboard"

#: Scripts and styles only from this origin, nothing inline, no framing: a panel that
#: rendered user data as markup by mistake still could not run it.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def add_routes(app: web.Application) -> None:
    """Serve the dashboard from ``app`` (the management API adds the panel list)."""
    registry = app[REGISTRY]
    packages = {SHELL_PACKAGE}
    for panel in registry.panels.values():
        packages.update(split_spec(spec)[0] for spec in (panel.page, *panel.assets))
    app[DASHBOARD_FILES] = PackageFiles(packages)
    app.router.add_get("/", shell)
    app.router.add_get("/dashboard", shell)
    app.router.add_get("/dashboard/", shell)
    app.router.add_get("/dashboard/plugins/{package}/{path:.+}", package_file)


def add_api_routes(api: web.Application) -> None:
    """``GET /api/dashboard/panels``."""
    api.router.add_get("/dashboard/panels", list_panels)


async def shell(request: web.Request) -> web.StreamResponse:
    """The dashboard's one HTML page (login form included)."""
    return _file(request, SHELL_PACKAGE, "static/index.html")


async def package_file(request: web.Request) -> web.StreamResponse:
    """A file of a package that a registered panel (or the shell) names."""
    return _file(request, request.match_info["package"], request.match_info["path"])


def _file(request: web.Request, package: str, path: str) -> web.StreamResponse:
    found = request.app[DASHBOARD_FILES].find(package, path)
    if found is None:
        raise web.HTTPNotFound(text=f"no dashboard file {package}:{path}")
    response = web.FileResponse(found, headers=SECURITY_HEADERS)
    response.content_type = CONTENT_TYPES[found.suffix]
    return response


def panel_rows(registry: Registry) -> list[dict[str, object]]:
    """The registered panels as the shell reads them, in navigation order."""
    panels = sorted(registry.panels.values(), key=lambda p: (p.order, p.title.lower()))
    return [_row(panel, registry.owner("dashboard panel", panel.id) or "") for panel in panels]


def _row(panel: DashboardPanel, plugin: str) -> dict[str, object]:
    return {
        "id": panel.id,
        "title": panel.title,
        "icon": panel.icon,
        "order": panel.order,
        "slot": panel.slot,
        "module": asset_url(panel.page),
        "styles": [asset_url(spec) for spec in panel.assets],
        "apiRoutes": list(panel.api_routes),
        "plugin": plugin,
    }


async def list_panels(request: web.Request) -> web.Response:
    """``GET /api/dashboard/panels``: every panel, pages and connect forms."""
    return json_response(panel_rows(request.config_dict[REGISTRY]))
