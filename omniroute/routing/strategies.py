"""Built-in account strategies (default plugin)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from omniroute.extensions import Strategy, StrategyContext
from omniroute.hookspecs import hookimpl
from omniroute.providers import Connection


def fill_first(connections: Sequence[Connection], ctx: StrategyContext) -> list[Connection]:
    """Use the best-priority healthy account until it fails; resting accounts go last.

    Connections arrive sorted by priority (lower value first). Accounts in cooldown are not
    dropped: when every account rests, trying the one that recovers first beats refusing.
    """
    ready = [c for c in connections if not ctx.state(c.id).cooling(ctx.now)]
    if len(ready) == len(connections):
        return list(connections)
    resting = sorted(
        (c for c in connections if ctx.state(c.id).cooling(ctx.now)),
        key=lambda c: ctx.state(c.id).cooldown_until,
    )
    return ready + resting


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register the default account strategy, ``fill-first``."""
    register(
        Strategy(
            id="fill-first",
            kind="account",
            order=fill_first,
            description="Highest-priority healthy account first; fail over in priority order.",
        )
    )
