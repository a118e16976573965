"""``/api/usage/*``: history, breakdowns, export, and per-key budgets.

History, breakdown and export take the same filters as query parameters: ``provider``,
``model``, ``keyId``, ``combo``, ``status`` (an HTTP status, ``ok`` or ``error``), ``from``
(inclusive) and ``to`` (exclusive), each a Unix time in seconds or an ISO 8601 date or
date-time (UTC when it has no offset). Unknown parameters are refused like unknown JSON fields.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from omniroute.admin.config_ops import parse
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import GATEWAY, STORE
from omniroute.errors import BadRequest
from omniroute.ledger import budgets, history
from omniroute.ledger.history import COLUMNS, UsageFilter
from omniroute.reload import reload_index

EXPORT_BATCH = 1000


def parse_time(value: Any) -> float:
    """A Unix time from seconds or an ISO 8601 date / date-time (naive means UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be a Unix time or an ISO 8601 date or date-time") from None
    if len(text) == 10:  # a bare date: its midnight, UTC
        when = datetime.combine(date.fromisoformat(text), datetime.min.time())
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


class FilterQuery(BaseModel):
    """The filter parameters every usage query accepts."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    provider: str | None = Field(None, min_length=1, max_length=200)
    model: str | None = Field(None, min_length=1, max_length=300)
    key_id: str | None = Field(None, alias="keyId", min_length=1, max_length=200)
    combo: str | None = Field(None, min_length=1, max_length=200)
    status: str | None = None
    since: float | None = Field(None, alias="from")
    until: float | None = Field(None, alias="to")

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is None or value in ("ok", "error"):
            return value
        if not (value.isdigit() and 100 <= int(value) <= 599):
            raise ValueError("must be an HTTP status (100-599), 'ok' or 'error'")
        return value

    @field_validator("since", "until", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        return None if value is None else parse_time(value)

    def usage_filter(self) -> UsageFilter:
        """The ledger filter, after checking the range is not inverted."""
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise BadRequest("'to' must be later than 'from'", param="to")
        status: int | Literal["ok", "error"] | None = None
        if self.status == "ok":
            status = "ok"
        elif self.status == "error":
            status = "error"
        elif self.status is not None:
            status = int(self.status)
        return UsageFilter(
            self.provider, self.model, self.key_id, self.combo, status, self.since, self.until
        )


class HistoryQuery(FilterQuery):
    """``GET /api/usage/history``: filters, page size and the cursor from the previous page."""

    limit: int = Field(100, ge=1, le=1000)
    cursor: int | None = Field(None, ge=1)


class BreakdownQuery(FilterQuery):
    """``GET /api/usage/breakdown``: filters and the dimension to group by."""

    by: history.Dimension = "provider"


class ExportQuery(FilterQuery):
    """``GET /api/usage/export``: filters and the file format."""

    format: Literal["csv", "json"] = "json"


def _query(model: type[FilterQuery], request: web.Request) -> Any:
    params: dict[str, str] = {}
    for name, value in request.query.items():
        if name in params:
            raise BadRequest(f"'{name}' is given more than once", param=name)
        params[name] = value
    return parse(model, params)


async def _drained(request: web.Request) -> None:
    """Write what the ledger holds, so an answer includes the requests just made."""
    await request.config_dict[GATEWAY].ledger.drain()


async def usage_history(request: web.Request) -> web.Response:
    """One page of ledger rows, newest first; ``nextCursor`` fetches the next page."""
    query: HistoryQuery = _query(HistoryQuery, request)
    usage_filter = query.usage_filter()
    await _drained(request)
    store = request.config_dict[STORE]
    # One row more than asked tells whether there is a next page.
    rows = await store.call(history.page, usage_filter, query.limit + 1, query.cursor)
    total = await store.call(history.count, usage_filter)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = rows[-1]["id"] if more else None
    return json_response({"rows": rows, "total": total, "nextCursor": next_cursor})


async def usage_breakdown(request: web.Request) -> web.Response:
    """Totals per provider, model (``provider/model``), key, combo, UTC day or status."""
    query: BreakdownQuery = _query(BreakdownQuery, request)
    usage_filter = query.usage_filter()
    await _drained(request)
    store = request.config_dict[STORE]
    groups = await store.call(history.breakdown, usage_filter, query.by)
    if query.by == "key":
        names = await store.call(history.key_names)
        for group in groups:
            group["keyName"] = names.get(group["name"])
    return json_response({"by": query.by, "groups": groups})


async def usage_export(request: web.Request) -> web.StreamResponse:
    """Every matching row as CSV or a JSON array, streamed in batches, newest first."""
    query: ExportQuery = _query(ExportQuery, request)
    usage_filter = query.usage_filter()
    await _drained(request)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8"
            if query.format == "csv"
            else "application/json",
            "Content-Disposition": f'attachment; filename="omniroute-usage-{stamp}.{query.format}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    store = request.config_dict[STORE]
    cursor: int | None = None
    first = True
    await response.write(_csv_line(list(COLUMNS)) if query.format == "csv" else b"[")
    while True:
        rows = await store.call(history.page, usage_filter, EXPORT_BATCH, cursor)
        if not rows:
            break
        cursor = rows[-1]["id"]
        if query.format == "csv":
            chunk = b"".join(_csv_line([row[name] for name in COLUMNS]) for row in rows)
        else:
            chunk = b",".join(orjson.dumps(row) for row in rows)
            chunk = chunk if first else b"," + chunk
        first = False
        await response.write(chunk)
        if len(rows) < EXPORT_BATCH:
            break
    if query.format == "json":
        await response.write(b"]")
    await response.write_eof()
    return response


def _csv_line(values: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(["" if v is None else v for v in values])
    return out.getvalue().encode()


# -- budgets ------------------------------------------------------------------------------------


class BudgetBody(BaseModel):
    """The body of ``POST /api/usage/budget``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key_id: str = Field(alias="keyId", min_length=1, max_length=200)
    limit: float = Field(ge=0, le=1_000_000_000)
    period: budgets.Period
    warn_at: float = Field(budgets.DEFAULT_WARN_AT, alias="warnAt", gt=0, le=1)


def _key_exists(db: Any, key_id: str) -> bool:
    return db.execute("SELECT 1 FROM api_keys WHERE id = ?", [key_id]).fetchone() is not None


def budget_to_api(state: budgets.BudgetStatus, names: dict[str, str]) -> dict[str, Any]:
    """A budget and where its key stands, as the API shows it."""
    budget = state.budget
    return {
        "keyId": budget.key_id,
        "keyName": names.get(budget.key_id),
        "limit": budget.limit,
        "period": budget.period,
        "warnAt": budget.warn_at,
        "spent": round(state.spent, 8),
        "remaining": round(max(budget.limit - state.spent, 0.0), 8),
        "resetsAt": datetime.fromtimestamp(state.resets_at, UTC).isoformat(timespec="seconds"),
        "warning": state.warning,
        "exceeded": state.exceeded,
    }


async def set_budget(request: web.Request) -> web.Response:
    """Create or replace a key's budget (201 when created)."""
    body: BudgetBody = parse(BudgetBody, await json_body(request))
    app = request.config_dict
    store = app[STORE]
    if not await store.call(_key_exists, body.key_id):
        raise not_found("key", body.key_id)
    created = body.key_id not in app[GATEWAY].index.budgets
    budget = budgets.Budget(body.key_id, body.limit, body.period, body.warn_at)
    await store.call(budgets.save, budget)
    await reload_index(app)
    names = await store.call(history.key_names)
    state = budgets.status(budget, app[GATEWAY].ledger.spending)
    return json_response(budget_to_api(state, names), 201 if created else 200)


async def list_budgets(request: web.Request) -> web.Response:
    """Every budget with its spending in the current period (``?keyId=`` for one)."""
    known = set(request.query) - {"keyId"}
    if known:
        name = sorted(known)[0]
        raise BadRequest(f"'{name}': unknown parameter", param=name)
    gateway = request.config_dict[GATEWAY]
    wanted = request.query.get("keyId")
    selected = [b for k, b in gateway.index.budgets.items() if wanted is None or k == wanted]
    if wanted is not None and not selected:
        raise not_found("budget for key", wanted)
    names = await request.config_dict[STORE].call(history.key_names)
    states = [budgets.status(b, gateway.ledger.spending) for b in selected]
    return json_response({"budgets": [budget_to_api(s, names) for s in states]})


async def delete_budget(request: web.Request) -> web.Response:
    """Remove a key's budget."""
    key_id = request.match_info["keyId"]
    if not await request.config_dict[STORE].call(budgets.delete, key_id):
        raise not_found("budget for key", key_id)
    await reload_index(request.config_dict)
    return json_response({"deleted": key_id})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the usage routes on the management API's router."""
    router.add_get("/usage/history", usage_history)
    router.add_get("/usage/breakdown", usage_breakdown)
    router.add_get("/usage/export", usage_export)
    router.add_get("/usage/budget", list_budgets)
    router.add_post("/usage/budget", set_budget)
    router.add_delete("/usage/budget/{keyId}", delete_budget)
