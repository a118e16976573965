"""``omniroute combos add|list|remove``: manage combos from a terminal.

Like ``omniroute providers``, these work on the database directly (a running gateway notices
within a second) and validate exactly as the management API does.
"""

from __future__ import annotations

from typing import Any

import click
import orjson

from omniroute.admin import combo_ops
from omniroute.cli.manage import Context, _table, json_option, with_context
from omniroute.routing import combos as stored


@click.group()
def combos() -> None:
    """Manage combos: named sets of targets used as one model."""


@combos.command("add")
@click.argument("name")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--strategy",
    default="priority",
    show_default=True,
    help="priority, round-robin, random, weighted, least-used or cost-optimized.",
)
@click.option(
    "--weights",
    help="Comma-separated weights, one per target, for the weighted strategy (e.g. 1,3).",
)
@with_context
def combos_add(
    ctx: Context, name: str, targets: tuple[str, ...], strategy: str, weights: str | None
) -> None:
    """Add the combo NAME trying TARGETS: 'prefix/model' or the name of another combo."""
    models: list[Any] = list(targets)
    if weights is not None:
        parts = [w.strip() for w in weights.split(",")]
        if len(parts) != len(targets):
            raise click.BadParameter("give one weight per target", param_hint="--weights")
        try:
            numbers = [float(w) for w in parts]
        except ValueError:
            raise click.BadParameter("weights must be numbers", param_hint="--weights") from None
        models = [
            {("model" if "/" in t else "combo"): t, "weight": w}
            for t, w in zip(targets, numbers, strict=True)
        ]
    created = combo_ops.create_combo(
        ctx.db, ctx.registry, {"name": name, "models": models, "strategy": strategy}
    )
    click.echo(f"added combo {created['name']} ({created['id']}, {created['strategy']})")


@combos.command("list")
@json_option
@with_context
def combos_list(ctx: Context, as_json: bool) -> None:
    """List combos and their targets."""
    rows = [stored.to_api(r) for r in stored.list_rows(ctx.db)]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    for row in rows:
        row["targets"] = ", ".join(_describe(t) for t in row["models"])
    _table(rows, ["id", "name", "strategy", "targets"])


def _describe(target: dict[str, Any]) -> str:
    text = str(target.get("model") or target.get("combo"))
    if target.get("connection"):
        text += f" @{target['connection']}"
    if target.get("weight", 1) != 1:
        text += f" x{target['weight']:g}"
    return text


@combos.command("remove")
@click.argument("combo")
@with_context
def combos_remove(ctx: Context, combo: str) -> None:
    """Remove COMBO (its name or id); refused while another combo, alias or chain uses it."""
    deleted = combo_ops.delete_combo(ctx.db, combo)
    if deleted is None:
        raise click.ClickException(f"combo '{combo}' not found")
    click.echo(f"removed combo {combo}")
