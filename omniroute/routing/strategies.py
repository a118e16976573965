"""Built-in account strategies (default plugin): how one provider's connections are ordered.

Every strategy puts the accounts that are ready first, in its own order, and the accounts
resting after a failure last, the one that recovers first leading: when every account rests,
trying the nearest recovery beats refusing. Connections arrive sorted by priority (lower
value first, then age). Strategies run per request: no I/O, and randomness only from
``ctx.rng`` so tests can seed it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from omniroute.extensions import AccountState, Strategy, StrategyContext
from omniroute.hookspecs import hookimpl
from omniroute.providers import Connection

Conns = Sequence[Connection]


def split_ready(
    connections: Conns, ctx: StrategyContext
) -> tuple[list[Connection], list[Connection]]:
    """The ready connections (in the given order) and the resting ones (soonest back first)."""
    states, now = ctx.states, ctx.now
    if all((s := states.get(c.id)) is None or s.cooldown_until <= now for c in connections):
        return list(connections), []  # the common case: nobody rests
    ready: list[Connection] = []
    resting: list[Connection] = []
    for conn in connections:
        (resting if ctx.state(conn.id).cooling(ctx.now) else ready).append(conn)
    resting.sort(key=lambda c: ctx.state(c.id).cooldown_until)
    return ready, resting


def fill_first(connections: Conns, ctx: StrategyContext) -> list[Connection]:
    """Use the best-priority healthy account until it fails; resting accounts go last."""
    ready, resting = split_ready(connections, ctx)
    return ready + resting


def round_robin(connections: Conns, ctx: StrategyContext) -> list[Connection]:
    """Take turns: each ready account gets ``ctx.sticky_limit`` calls in a row, then the next.

    Staying on one account for a few calls keeps upstream prompt caches warm; turning keeps
    every account's rate limits in use. The turn is shared by all of the provider's requests.
    """
    ready, resting = split_ready(connections, ctx)
    if not ready:
        return resting
    rotation = ctx.rotation
    ids = [c.id for c in ready]
    if rotation.current in ids and rotation.streak < ctx.sticky_limit:
        at = ids.index(rotation.current)
    else:
        # Next after the current account in priority order (it may be resting or gone).
        order = [c.id for c in connections]
        start = order.index(rotation.current) + 1 if rotation.current in order else 0
        following = order[start:] + order[:start]
        at = ids.index(next(cid for cid in following if cid in ids))
        rotation.current, rotation.streak = ids[at], 0
    rotation.streak += 1
    return ready[at:] + ready[:at] + resting


def _health_key(state: AccountState, now: float) -> tuple[bool, float, float, int]:
    # Resting loses first, then more recent errors, then slower answers, then busier.
    return (state.cooling(now), round(state.recent_errors, 3), state.latency_ms, state.in_flight)


def power_of_two(connections: Conns, ctx: StrategyContext) -> list[Connection]:
    """Power of two choices: pick two ready accounts at random, lead with the healthier.

    Healthier means fewer recent errors, then lower latency, then fewer requests in flight.
    Two random picks spread load almost as well as checking every account, and avoid the
    herd that "always the best" sends to one account.
    """
    ready, resting = split_ready(connections, ctx)
    if len(ready) < 2:
        return ready + resting
    first, second = ctx.rng.sample(range(len(ready)), 2)
    a, b = ready[first], ready[second]
    winner = min((a, b), key=lambda c: _health_key(ctx.state(c.id), ctx.now))
    return [winner] + [c for c in ready if c is not winner] + resting


def random_order(connections: Conns, ctx: StrategyContext) -> list[Connection]:
    """Ready accounts in a uniformly random order (Fisher-Yates, from ``ctx.rng``)."""
    ready, resting = split_ready(connections, ctx)
    for i in range(len(ready) - 1, 0, -1):
        j = ctx.rng.randint(0, i)
        ready[i], ready[j] = ready[j], ready[i]
    return ready + resting


def least_used(connections: Conns, ctx: StrategyContext) -> list[Connection]:
    """The ready account used longest ago first (never used counts as oldest)."""
    ready, resting = split_ready(connections, ctx)
    ready.sort(key=lambda c: ctx.state(c.id).last_used)
    return ready + resting


def cost_optimized(connections: Conns, ctx: StrategyContext) -> list[Connection]:
    """The lowest priority value first (users give cheaper accounts lower values); accounts
    with equal priority take turns by least recent use, so equally cheap accounts share load."""
    ready, resting = split_ready(connections, ctx)
    ready.sort(key=lambda c: (c.priority, ctx.state(c.id).last_used))
    return ready + resting


_BUILTIN: tuple[tuple[str, Callable[[Conns, StrategyContext], list[Connection]], str], ...] = (
    (
        "fill-first",
        fill_first,
        "Highest-priority healthy account first; fail over in priority order.",
    ),
    (
        "round-robin",
        round_robin,
        "Accounts take turns, a few calls each (the sticky limit, 3 by default).",
    ),
    (
        "p2c",
        power_of_two,
        "Two random accounts, the healthier first (recent errors, latency, load).",
    ),
    ("random", random_order, "Accounts in a uniformly random order."),
    ("least-used", least_used, "The account used longest ago first."),
    (
        "cost-optimized",
        cost_optimized,
        "Lowest priority value (the cheapest account) first; ties share the load.",
    ),
)


@hookimpl
def register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register the built-in account strategies."""
    for strategy_id, order, description in _BUILTIN:
        register(Strategy(id=strategy_id, kind="account", order=order, description=description))
