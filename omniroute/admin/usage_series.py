"""``GET /api/usage/series``: requests, tokens and cost per time bucket, one series per
provider, model or key, for the dashboard's charts.

It takes the filters of the other ``/api/usage/*`` endpoints (``from`` is required; ``to``
defaults to now) plus ``bucket`` (seconds per bucket) and ``by``. The busiest series are kept
and the rest are summed into one ``(other)`` series, so a chart stays readable.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import sqlite_utils
from aiohttp import web
from pydantic import Field

from omniroute.admin.http import json_response
from omniroute.admin.usage import FilterQuery, _drained, _query
from omniroute.appkeys import STORE
from omniroute.errors import BadRequest
from omniroute.ledger import history
from omniroute.ledger.history import DIMENSIONS, UsageFilter
from omniroute.ledger.ledger import TABLE

MAX_BUCKETS = 1000
OTHER = "(other)"
METRICS = ("requests", "tokens", "costUsd")

_SERIES = """
SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, {expr} AS name, COUNT(*) AS requests,
       COALESCE(SUM(tokens_in), 0) + COALESCE(SUM(tokens_out), 0) AS tokens,
       COALESCE(SUM(cost_usd), 0) AS costUsd
FROM {table} {where} GROUP BY bucket, name
"""


class SeriesQuery(FilterQuery):
    """Filters, the bucket size in seconds, the grouping and how many series to keep."""

    bucket: int = Field(3600, ge=60, le=30 * 86400)
    by: Literal["provider", "model", "key", "total"] = "provider"
    top: int = Field(6, ge=1, le=50)


def bucket_rows(
    db: sqlite_utils.Database, usage_filter: UsageFilter, bucket: int, by: str
) -> list[dict[str, Any]]:
    """``{bucket, name, requests, tokens, costUsd}`` per (bucket index, group) (DB thread)."""
    where, params = usage_filter.where()
    expr = "'total'" if by == "total" else DIMENSIONS[by]
    sql = _SERIES.format(expr=expr, table=TABLE, where=where)
    cursor = db.execute(sql, [usage_filter.since, bucket, *params])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def build_series(
    rows: list[dict[str, Any]], count: int, top: int
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Series with one value per bucket for each metric, busiest first, and the totals."""
    groups: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        index = row["bucket"]
        if not 0 <= index < count:
            continue
        group = groups.setdefault(row["name"], _empty(row["name"], count))
        for metric in METRICS:
            group[metric] += row[metric]
            group["points"][metric][index] += row[metric]
    ordered = sorted(groups.values(), key=lambda g: (-g["requests"], -g["costUsd"], str(g["name"])))
    kept, rest = ordered[:top], ordered[top:]
    if rest:
        other = _empty(OTHER, count)
        for group in rest:
            for metric in METRICS:
                other[metric] += group[metric]
                for i, value in enumerate(group["points"][metric]):
                    other["points"][metric][i] += value
        kept.append(other)
    for group in kept:
        group["costUsd"] = round(group["costUsd"], 8)
        group["points"]["costUsd"] = [round(v, 8) for v in group["points"]["costUsd"]]
    totals = {metric: sum(g[metric] for g in ordered) for metric in METRICS}
    totals["costUsd"] = round(totals["costUsd"], 8)
    return kept, totals


def _empty(name: str | None, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "requests": 0,
        "tokens": 0,
        "costUsd": 0.0,
        "points": {metric: [0] * count for metric in METRICS},
    }


async def usage_series(request: web.Request) -> web.Response:
    """``GET /api/usage/series``."""
    query: SeriesQuery = _query(SeriesQuery, request)
    if query.since is None:
        raise BadRequest("'from': required", param="from")
    if query.until is None:
        query.until = max(time.time(), query.since + 1)
    usage_filter = query.usage_filter()
    assert usage_filter.since is not None and usage_filter.until is not None
    count = math.ceil((usage_filter.until - usage_filter.since) / query.bucket)
    if count > MAX_BUCKETS:
        raise BadRequest(
            f"'bucket': {count} buckets in that range; at most {MAX_BUCKETS}", param="bucket"
        )
    await _drained(request)
    store = request.config_dict[STORE]
    rows = await store.call(bucket_rows, usage_filter, query.bucket, query.by)
    series, totals = build_series(rows, count, query.top)
    if query.by == "key":
        names = await store.call(history.key_names)
        for group in series:
            group["keyName"] = names.get(group["name"])
    return json_response(
        {
            "from": usage_filter.since,
            "to": usage_filter.until,
            "bucket": query.bucket,
            "by": query.by,
            "buckets": [usage_filter.since + i * query.bucket for i in range(count)],
            "series": series,
            "totals": totals,
        }
    )


def add_routes(api: web.Application) -> None:
    """Register ``GET /usage/series`` on the management API."""
    api.router.add_get("/usage/series", usage_series)
