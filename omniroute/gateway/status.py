"""``GET /health`` for load balancers (people get the dashboard at ``/``)."""

from __future__ import annotations

import orjson
from aiohttp import web

from omniroute.appkeys import GATEWAY
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


def add_routes(app: web.Application) -> None:
    """Mount ``/health``."""
    app.router.add_get("/health", health)
