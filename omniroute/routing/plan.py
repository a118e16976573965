"""Target plans: what a model name leads to, and the order targets are tried in per request.

When the routing index is built, combos, aliases and fallback chains are compiled into
:class:`ComboNode` trees of :class:`Candidate` entries, and each model name a client uses is
turned into a :class:`ModelRoute` once (then remembered by the index). Per request,
:class:`Planner` lets each combo's strategy order its candidates, flattens nested combos, adds
the fallback chain, and moves targets whose every connection is resting to the end, soonest
to recover first: with one healthy target, that target is tried first whatever the strategy.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from omniroute.extensions import AccountState, Strategy, StrategyContext
from omniroute.providers import Provider
from omniroute.routing.state import HotState, MemoryHotState


@dataclass(frozen=True, slots=True)
class Resolved:
    """One target: a provider and the model id it expects (``None`` when the request named
    only the provider, so each connection's default model is used), optionally pinned to one
    ``connection`` (an id) of that provider."""

    provider: Provider
    model: str | None
    connection: str | None = None

    @property
    def name(self) -> str:
        """The target as users write it: ``prefix/model``."""
        return f"{self.provider.prefix}/{self.model or ''}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry of a combo as its strategy sees it: a target or a nested combo.

    ``connection_ids`` are the active connections it can reach (for a nested combo, those of
    all its targets), so strategies can judge its health from the hot state; ``price`` is the
    blended list price (input + output, USD per 1M tokens), ``None`` when unknown.
    """

    name: str
    weight: float
    connection_ids: tuple[str, ...]
    price: float | None = None
    target: Resolved | None = None
    combo: ComboNode | None = None


@dataclass(frozen=True, slots=True)
class ComboNode:
    """A compiled combo (or fallback chain): its strategy and its candidates in stored order."""

    name: str
    strategy: Strategy
    candidates: tuple[Candidate, ...]

    def first_target(self) -> Resolved | None:
        """The first target in stored order, nested combos included."""
        for candidate in self.candidates:
            if candidate.target is not None:
                return candidate.target
            if candidate.combo is not None:
                found = candidate.combo.first_target()
                if found is not None:
                    return found
        return None


@dataclass(frozen=True, slots=True)
class Plan:
    """The targets to try for one request, in order, and the combo the model named."""

    targets: tuple[Resolved, ...]
    combo: str | None = None


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """Where a model name leads before any per-request ordering: one combo or one target, and
    the fallback chain that follows them. ``static`` is the plan itself when nothing needs
    ordering (a plain model without a chain), so such requests plan for free."""

    combo: ComboNode | None
    target: Candidate | None
    chain: ComboNode | None = None
    static: Plan | None = None

    @staticmethod
    def of(
        combo: ComboNode | None, target: Candidate | None, chain: ComboNode | None
    ) -> ModelRoute:
        """A route; the static plan is filled in when it can be."""
        static = None
        if combo is None and chain is None and target is not None and target.target is not None:
            static = Plan((target.target,))
        return ModelRoute(combo, target, chain, static)

    def first(self) -> Resolved:
        """The first target in stored order (for callers that need just one)."""
        found = self.combo.first_target() if self.combo else None
        if found is None and self.target is not None:
            found = self.target.target
        if found is None and self.chain is not None:
            found = self.chain.first_target()
        assert found is not None, "compiled routes always hold a target"
        return found


class Planner:
    """Orders a route's targets per request, with the random source every strategy draws from.

    Each combo's turn (how many requests it ordered, what round-robin rotates by) is kept in
    the hot state as the ``streak`` of the rotation record ``combo:<name>``, so it is shared
    and reset like every other rotation.
    """

    def __init__(self, rng: random.Random | None = None, state: HotState | None = None) -> None:
        self.rng = rng or random.Random()
        self.state: HotState = state if state is not None else MemoryHotState()

    def plan(self, route: ModelRoute, states: Mapping[str, AccountState], now: float) -> Plan:
        """The ordered targets for one request."""
        if route.static is not None:
            return route.static
        ordered: list[Candidate] = []
        seen: set[tuple[str, str | None, str | None]] = set()
        if route.combo is not None:
            self._expand(route.combo, states, now, ordered, seen)
        elif route.target is not None:
            self._add(route.target, ordered, seen)
        if route.chain is not None:
            self._expand(route.chain, states, now, ordered, seen)
        ordered = ready_first(ordered, states, now)
        return Plan(
            tuple(c.target for c in ordered if c.target is not None),
            route.combo.name if route.combo else None,
        )

    def _expand(
        self,
        node: ComboNode,
        states: Mapping[str, AccountState],
        now: float,
        out: list[Candidate],
        seen: set[tuple[str, str | None, str | None]],
    ) -> None:
        rotation = self.state.rotation(f"combo:{node.name}")
        turn = rotation.streak
        rotation.streak = turn + 1
        ctx = StrategyContext(
            provider="", states=states, now=now, combo=node.name, turn=turn, rng=self.rng
        )
        for candidate in node.strategy.order(node.candidates, ctx):
            if candidate.combo is not None:
                self._expand(candidate.combo, states, now, out, seen)
            else:
                self._add(candidate, out, seen)

    @staticmethod
    def _add(
        candidate: Candidate,
        out: list[Candidate],
        seen: set[tuple[str, str | None, str | None]],
    ) -> None:
        target = candidate.target
        if target is None:
            return
        key = (target.provider.id, target.model, target.connection)
        if key not in seen:  # a target reached twice (nested combos, chains) is tried once
            seen.add(key)
            out.append(candidate)


def resting_until(
    candidate: Candidate, states: Mapping[str, AccountState], now: float
) -> float | None:
    """When the candidate's first connection recovers, or ``None`` when one is ready now.

    A candidate without any active connection never recovers by itself (``inf``).
    """
    soonest = float("inf")
    for cid in candidate.connection_ids:
        state = states.get(cid)
        if state is None or not state.cooling(now):
            return None
        soonest = min(soonest, state.cooldown_until)
    return soonest


def ready_first(
    ordered: list[Candidate], states: Mapping[str, AccountState], now: float
) -> list[Candidate]:
    """``ordered`` with the candidates that can be served now first (in their order), then the
    resting ones, soonest to recover first: trying those beats refusing when all rest."""
    ready: list[Candidate] = []
    resting: list[tuple[float, int, Candidate]] = []
    for i, candidate in enumerate(ordered):
        until = resting_until(candidate, states, now)
        if until is None:
            ready.append(candidate)
        else:
            resting.append((until, i, candidate))
    if not resting:
        return ordered
    resting.sort(key=lambda item: (item[0], item[1]))
    return ready + [c for _, _, c in resting]
