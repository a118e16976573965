"""Testing a connection with one real upstream call (management API and CLI)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from omniroute.accounts.vault import redact
from omniroute.gateway.pipeline import TRANSPORT_ERRORS, transport_error
from omniroute.providers import Connection, Provider


async def check_connection(
    session: aiohttp.ClientSession, provider: Provider, conn: Connection
) -> dict[str, Any]:
    """Run the provider's check; report latency or the error, never the credential."""
    started = time.perf_counter()
    try:
        result = await provider.check(session, conn)
    except TRANSPORT_ERRORS as exc:
        return {
            "ok": False,
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
            "status": None,
            "error": redact(transport_error(exc).message, conn.api_key),
            "models": [],
        }
    return {
        "ok": result.ok,
        "latencyMs": round(result.latency_ms, 1),
        "status": result.status,
        "error": redact(result.error, conn.api_key) if result.error else None,
        "models": result.models[:200],
    }
