"""Built-in combo strategies (default plugin): the order a combo's targets are tried in.

Each strategy orders a combo's candidates (:class:`omniroute.routing.plan.Candidate`: a target
or a nested combo, with its weight, connections and price). They read only what the context
and candidates hold (hot state, never the database) and draw randomness from ``ctx.rng``, which
tests seed. Whatever a strategy says, the planner then moves targets whose connections all
rest to the end, so "first" always means "first healthy".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omniroute.extensions import Strategy, StrategyContext
from omniroute.hookspecs import hookimpl

Candidates = Sequence[Any]


def priority(candidates: Candidates, ctx: StrategyContext) -> list[Any]:
    """The order the combo lists its targets in."""
    return list(candidates)


def round_robin(candidates: Candidates, ctx: StrategyContext) -> list[Any]:
    """Each request starts one target further along the list (then wraps around)."""
    if not candidates:
        return []
    start = ctx.turn % len(candidates)
    return [*candidates[start:], *candidates[:start]]


def random_order(candidates: Candidates, ctx: StrategyContext) -> list[Any]:
    """A uniformly random order."""
    ordered = list(candidates)
    ctx.rng.shuffle(ordered)
    return ordered


def weighted(candidates: Candidates, ctx: StrategyContext) -> list[Any]:
    """A random order in which each target comes first in proportion to its weight.

    Efraimidis-Spirakis sampling: each target draws ``u ** (1 / weight)`` and the largest
    goes first, so the whole fallback order (not only the first pick) follows the weights.
    """
    keyed = [(ctx.rng.random() ** (1.0 / c.weight), i) for i, c in enumerate(candidates)]
    keyed.sort(reverse=True)
    return [candidates[i] for _, i in keyed]


def least_used(candidates: Candidates, ctx: StrategyContext) -> list[Any]:
    """The target whose connections were used longest ago first (never used: first of all)."""

    def last_use(candidate: Any) -> float:
        ids = candidate.connection_ids
        return max((ctx.state(cid).last_used for cid in ids), default=0.0)

    return sorted(candidates, key=last_use)


def cost_optimized(candidates: Candidates, ctx: StrategyContext) -> list[Any]:
    """Cheapest first by the pricing table (input + output list price per 1M tokens);
    targets without a known price go last, in the combo's order."""
    return sorted(candidates, key=lambda c: (c.price is None, c.price or 0.0))


BUILT_IN: tuple[tuple[str, Callable[[Candidates, StrategyContext], list[Any]], str], ...] = (
    ("priority", priority, "The first healthy target in the combo's order (default)."),
    ("round-robin", round_robin, "Each request starts at the next target."),
    ("random", random_order, "A uniformly random order per request."),
    ("weighted", weighted, "A random order, each target first in proportion to its weight."),
    ("least-used", least_used, "The target used longest ago first."),
    ("cost-optimized", cost_optimized, "Cheapest target first by the pricing table."),
)


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register the six built-in combo strategies."""
    for strategy_id, order, description in BUILT_IN:
        register(Strategy(id=strategy_id, kind="combo", order=order, description=description))
