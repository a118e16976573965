"""``GET /health`` for load balancers and ``GET /``, a plain landing page for people."""

from __future__ import annotations

import html

import orjson
from aiohttp import web

from omniroute.appkeys import GATEWAY, PLUGIN_MANAGER
from omniroute.plugins import kernel_version


async def health(request: web.Request) -> web.Response:
    """Liveness and a little context; no secrets, no authentication needed."""
    gw = request.app[GATEWAY]
    body = {
        "status": "ok",
        "version": kernel_version(),
        "providersConnected": len(gw.index.connections),
        "ledger": {"written": gw.ledger.written, "dropped": gw.ledger.dropped},
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OmniRoute</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:.1rem .3rem}}</style></head><body>
<h1>OmniRoute {version}</h1>
<p>The gateway is running with {providers} connected provider(s) and {plugins} plugin(s).</p>
<ul>
<li>OpenAI-compatible API: <code>{base}/v1</code>
(for example <code>GET {base}/v1/models</code>)</li>
<li>Management API: <code>{base}/api</code> (log in with <code>POST /api/auth/login</code>)</li>
<li>Command line: <code>omniroute --help</code></li>
</ul>
</body></html>
"""


async def landing(request: web.Request) -> web.Response:
    """What is running and where to go next."""
    base = f"{request.scheme}://{request.host}"
    page = _PAGE.format(
        version=html.escape(kernel_version()),
        providers=len(request.app[GATEWAY].index.connections),
        plugins=len(request.app[PLUGIN_MANAGER].get_plugins()),
        base=html.escape(base),
    )
    return web.Response(text=page, content_type="text/html")


def add_routes(app: web.Application) -> None:
    """Mount ``/`` and ``/health``."""
    app.router.add_get("/", landing)
    app.router.add_get("/health", health)
