"""Reading the ledger back for the management API."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from omniroute.ledger.ledger import TABLE

_TOTALS = """
SELECT {column} AS name, COUNT(*) AS requests,
       SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END) AS succeeded,
       COALESCE(SUM(tokens_in), 0) AS tokensIn, COALESCE(SUM(tokens_out), 0) AS tokensOut,
       COALESCE(SUM(tokens_cached), 0) AS tokensCached,
       COALESCE(SUM(tokens_reasoning), 0) AS tokensReasoning,
       ROUND(COALESCE(SUM(cost_usd), 0), 8) AS costUsd,
       ROUND(AVG(latency_ms), 1) AS avgLatencyMs
FROM {table} WHERE ts >= ? GROUP BY {column} ORDER BY requests DESC
"""

_COLUMNS = {
    "id": "id",
    "ts": "ts",
    "requestId": "request_id",
    "endpoint": "endpoint",
    "provider": "provider",
    "model": "model",
    "connectionId": "connection_id",
    "keyId": "key_id",
    "stream": "stream",
    "status": "status",
    "errorKind": "error_kind",
    "tokensIn": "tokens_in",
    "tokensOut": "tokens_out",
    "tokensCached": "tokens_cached",
    "tokensReasoning": "tokens_reasoning",
    "tokensCacheWrite": "tokens_cache_write",
    "costUsd": "cost_usd",
    "combo": "combo",
    "latencyMs": "latency_ms",
    "ttftMs": "ttft_ms",
}


def recent(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """The newest rows, newest first, with camelCase keys."""
    select = ", ".join(f"{col} AS {name}" for name, col in _COLUMNS.items())
    cursor = db.execute(f"SELECT {select} FROM {TABLE} ORDER BY id DESC LIMIT ?", [limit])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def totals(db: sqlite_utils.Database, since: float) -> dict[str, Any]:
    """Totals since ``since`` (unix time), overall and by provider, model and key."""
    out: dict[str, Any] = {}
    for group, column in (("byProvider", "provider"), ("byModel", "model"), ("byKey", "key_id")):
        cursor = db.execute(_TOTALS.format(column=column, table=TABLE), [since])
        names = [d[0] for d in cursor.description]
        out[group] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    cursor = db.execute(_TOTALS.format(column="'all'", table=TABLE), [since])
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    overall = dict(zip(names, row, strict=True)) if row else {"requests": 0}
    overall.pop("name", None)
    out["overall"] = overall
    return out
