"""``GET /api/monitoring/health``: how the gateway and its providers are doing right now.

Uptime, version, memory and data directory; each provider's circuit breaker; connections
resting with seconds left; everything locked out; and p50/p95/p99 answer latency per provider
over a rolling window (the newest samples of the last five minutes, bounded in number).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from omniroute.admin.http import json_response
from omniroute.appkeys import GATEWAY, METRICS, SETTINGS
from omniroute.extensions import AccountState
from omniroute.oauth.quota import health_rows
from omniroute.plugins import kernel_version
from omniroute.routing.state import LATENCY_WINDOW_SECONDS


def rss_bytes() -> int:
    """The process's resident memory now (Linux), else its peak (other systems)."""
    # procfs is served from kernel memory: reading it does not block the event loop.
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def file_size(path: os.PathLike[str]) -> int | None:
    """A file's size in bytes, or None when it is not there."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def request_counts(
    attempts: Mapping[tuple[str, int, str], int], accounts: Mapping[str, AccountState]
) -> dict[str, int]:
    """Upstream attempts since start (all, and those that failed) and requests in flight."""
    return {
        "attempts": sum(attempts.values()),
        "failed": sum(n for (_p, _s, outcome), n in attempts.items() if outcome != "ok"),
        "inFlight": sum(state.in_flight for state in accounts.values()),
    }


async def health(request: web.Request) -> web.Response:
    """``GET /api/monitoring/health``."""
    app = request.config_dict
    gw = app[GATEWAY]
    resilience = gw.resilience
    now = resilience.clock()
    providers: dict[str, dict[str, Any]] = {}
    for provider_id in sorted(set(gw.index.connections) | set(resilience.state.breakers())):
        breaker = resilience.state.breakers().get(provider_id)
        samples = resilience.state.latency_providers().get(provider_id)
        providers[provider_id] = {
            "breaker": breaker.phase.value if breaker else "closed",
            "breakerSecondsLeft": round(resilience.breaker.seconds_left(breaker), 1)
            if breaker
            else 0.0,
            "connections": len(gw.index.active(provider_id)),
            "latencyMs": samples.percentiles(now) if samples else {},
        }
    body = {
        "status": "ok",
        "version": kernel_version(),
        "uptimeSeconds": round(time.monotonic() - app[METRICS].started, 1),
        "memory": {"rssBytes": rss_bytes()},
        "dataDir": str(app[SETTINGS].data_dir),
        "database": {
            "path": str(app[SETTINGS].database_path),
            "sizeBytes": file_size(app[SETTINGS].database_path),
        },
        "requests": request_counts(app[METRICS].tally.attempts, resilience.state.accounts()),
        "latencyWindowSeconds": LATENCY_WINDOW_SECONDS,
        "providers": providers,
        "cooling": resilience.cooling(gw.index.all_connections),
        "lockouts": resilience.lockouts(gw.index.all_connections),
        "quota": health_rows(app, gw.index.all_connections),
    }
    return json_response(body)


def add_routes(api: web.Application) -> None:
    """Mount the monitoring routes on the management API."""
    api.router.add_get("/monitoring/health", health)
