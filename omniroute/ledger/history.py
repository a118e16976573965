"""Querying the ledger: filtered history pages, breakdowns and export batches (DB thread).

Every query takes a :class:`UsageFilter`; its conditions are built from fixed SQL fragments with
bound parameters, never from user text. Rows come back newest first by ``id`` (the insertion
order), which stays stable while new rows are written, so a cursor (the last ``id`` seen) pages
through history without skipping or repeating rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlite_utils

from omniroute.ledger.ledger import TABLE

#: API field name → ledger column, in the order of exports.
COLUMNS: dict[str, str] = {
    "id": "id",
    "ts": "ts",
    "requestId": "request_id",
    "endpoint": "endpoint",
    "provider": "provider",
    "model": "model",
    "combo": "combo",
    "connectionId": "connection_id",
    "keyId": "key_id",
    "stream": "stream",
    "status": "status",
    "errorKind": "error_kind",
    "tokensIn": "tokens_in",
    "tokensOut": "tokens_out",
    "tokensCached": "tokens_cached",
    "tokensCacheWrite": "tokens_cache_write",
    "tokensReasoning": "tokens_reasoning",
    "costUsd": "cost_usd",
    "latencyMs": "latency_ms",
    "ttftMs": "ttft_ms",
}
_SELECT = ", ".join(f"{col} AS {name}" for name, col in COLUMNS.items())

Dimension = Literal["provider", "model", "key", "combo", "day", "status"]
#: Breakdown dimension → the SQL expression rows are grouped by (days are UTC dates).
DIMENSIONS: dict[str, str] = {
    "provider": "provider",
    "model": "provider || '/' || model",
    "key": "key_id",
    "combo": "combo",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
    "status": "status",
}

_BREAKDOWN = """
SELECT {expr} AS name, COUNT(*) AS requests,
       SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END) AS succeeded,
       SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS failed,
       COALESCE(SUM(tokens_in), 0) AS tokensIn, COALESCE(SUM(tokens_out), 0) AS tokensOut,
       COALESCE(SUM(tokens_cached), 0) AS tokensCached,
       COALESCE(SUM(tokens_cache_write), 0) AS tokensCacheWrite,
       COALESCE(SUM(tokens_reasoning), 0) AS tokensReasoning,
       ROUND(COALESCE(SUM(cost_usd), 0), 8) AS costUsd,
       SUM(CASE WHEN tokens_in IS NOT NULL AND cost_usd IS NULL THEN 1 ELSE 0 END)
           AS unpricedRequests,
       ROUND(AVG(latency_ms), 1) AS avgLatencyMs
FROM {table} {where} GROUP BY {expr} ORDER BY {order}
"""


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """Which ledger rows a query covers; ``None`` fields do not filter.

    ``status`` is an HTTP status, or ``"ok"`` (below 400) or ``"error"`` (400 and above).
    ``since`` is inclusive and ``until`` exclusive (Unix times).
    """

    provider: str | None = None
    model: str | None = None
    key_id: str | None = None
    combo: str | None = None
    status: int | Literal["ok", "error"] | None = None
    since: float | None = None
    until: float | None = None

    def where(self, before_id: int | None = None) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause (or ``""``) and its parameters."""
        terms: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("provider", self.provider),
            ("model", self.model),
            ("key_id", self.key_id),
            ("combo", self.combo),
        ):
            if value is not None:
                terms.append(f"{column} = ?")
                params.append(value)
        if self.status == "ok":
            terms.append("status < 400")
        elif self.status == "error":
            terms.append("status >= 400")
        elif self.status is not None:
            terms.append("status = ?")
            params.append(self.status)
        if self.since is not None:
            terms.append("ts >= ?")
            params.append(self.since)
        if self.until is not None:
            terms.append("ts < ?")
            params.append(self.until)
        if before_id is not None:
            terms.append("id < ?")
            params.append(before_id)
        return ("WHERE " + " AND ".join(terms) if terms else ""), params


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def page(
    db: sqlite_utils.Database, usage_filter: UsageFilter, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows older than ``before_id`` (all rows when ``None``), newest first."""
    where, params = usage_filter.where(before_id)
    cursor = db.execute(
        f"SELECT {_SELECT} FROM {TABLE} {where} ORDER BY id DESC LIMIT ?", [*params, limit]
    )
    return _dicts(cursor)


def count(db: sqlite_utils.Database, usage_filter: UsageFilter) -> int:
    """How many rows the filter matches."""
    where, params = usage_filter.where()
    return int(db.execute(f"SELECT COUNT(*) FROM {TABLE} {where}", params).fetchone()[0])


def breakdown(
    db: sqlite_utils.Database, usage_filter: UsageFilter, by: Dimension
) -> list[dict[str, Any]]:
    """Totals per value of ``by``: days in date order, anything else by cost then requests."""
    where, params = usage_filter.where()
    expr = DIMENSIONS[by]
    order = "name" if by == "day" else "costUsd DESC, requests DESC, name"
    cursor = db.execute(_BREAKDOWN.format(expr=expr, table=TABLE, where=where, order=order), params)
    return _dicts(cursor)


def key_names(db: sqlite_utils.Database) -> dict[str, str]:
    """Client key names by id (revoked keys included: their usage still has an owner)."""
    return {row[0]: row[1] for row in db.execute("SELECT id, name FROM api_keys").fetchall()}
