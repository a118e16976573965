"""``omniroute budgets set|list|remove``: per-key spending limits from a terminal.

Like the other management commands these work on the database directly (a running gateway
notices within a second) and validate exactly as ``POST /api/usage/budget`` does. The money
spent is summed from the ledger, so ``list`` shows what the gateway enforces against.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click
import orjson
import sqlite_utils

from omniroute.admin.config_ops import parse
from omniroute.admin.usage import BudgetBody
from omniroute.cli.manage import Context, _table, json_option, with_context
from omniroute.ledger import budgets
from omniroute.ledger.history import key_names


@click.group("budgets")
def budgets_group() -> None:
    """Manage per-key spending budgets (USD per UTC day, ISO week or month)."""


def _key_id(db: sqlite_utils.Database, key: str) -> str:
    """The id of the key named by its id or its (unique) name."""
    names = key_names(db)
    if key in names:
        return key
    matches = [key_id for key_id, name in names.items() if name == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise click.ClickException(f"several keys are named '{key}': give the key's id")
    raise click.ClickException(f"key '{key}' not found (give its id or name)")


@budgets_group.command("set")
@click.argument("key")
@click.argument("limit", type=float)
@click.option(
    "--period",
    type=click.Choice(budgets.PERIODS),
    default="daily",
    show_default=True,
    help="The calendar period the limit applies to (UTC).",
)
@click.option(
    "--warn-at",
    type=float,
    default=budgets.DEFAULT_WARN_AT,
    show_default=True,
    help="Fraction of the limit at which the budget reports a warning.",
)
@with_context
def budgets_set(ctx: Context, key: str, limit: float, period: str, warn_at: float) -> None:
    """Limit KEY (its id or name) to LIMIT US dollars per period; replaces a previous budget."""
    key_id = _key_id(ctx.db, key)
    body = parse(BudgetBody, {"keyId": key_id, "limit": limit, "period": period, "warnAt": warn_at})
    budgets.save(ctx.db, budgets.Budget(body.key_id, body.limit, body.period, body.warn_at))
    click.echo(f"budget for key {key_id}: ${body.limit:g} {body.period}")


@budgets_group.command("list")
@json_option
@with_context
def budgets_list(ctx: Context, as_json: bool) -> None:
    """Every budget with what its key spent in the current period and when that ends."""
    now = time.time()
    spent = budgets.spent_sums(ctx.db, now)
    names = key_names(ctx.db)
    rows: list[dict[str, Any]] = []
    for budget in budgets.load(ctx.db).values():
        used = spent[budget.period].get(budget.key_id, 0.0)
        _start, end = budgets.period_bounds(budget.period, now)
        rows.append(
            {
                "keyId": budget.key_id,
                "keyName": names.get(budget.key_id),
                "limit": budget.limit,
                "period": budget.period,
                "spent": round(used, 6),
                "resetsAt": datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds"),
                "exceeded": used >= budget.limit,
            }
        )
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    _table(rows, ["keyId", "keyName", "limit", "period", "spent", "resetsAt", "exceeded"])


@budgets_group.command("remove")
@click.argument("key")
@with_context
def budgets_remove(ctx: Context, key: str) -> None:
    """Remove the budget of KEY (its id or name)."""
    key_id = _key_id(ctx.db, key)
    if not budgets.delete(ctx.db, key_id):
        raise click.ClickException(f"key {key_id} has no budget")
    click.echo(f"removed the budget of key {key_id}")
