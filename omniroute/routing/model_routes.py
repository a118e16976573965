"""Compiling stored combos, aliases and fallback chains for the routing index.

Runs once per index build, never per request. What cannot be routed any more (a provider whose
plugin was removed, a combo edited by hand into a cycle) is left out with a warning rather
than failing the build: the rest of the configuration keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omniroute.errors import GatewayError
from omniroute.extensions import Strategy
from omniroute.routing.aliases import MEMO_SIZE, PatternTable
from omniroute.routing.combos import MAX_DEPTH, StoredCombo
from omniroute.routing.plan import Candidate, ComboNode, ModelRoute, Resolved

log = logging.getLogger(__name__)

__all__ = ["IN_ORDER", "MEMO_SIZE", "RouteTable", "compile_table"]

#: The order of a fallback chain, and of a combo whose strategy's plugin is gone.
IN_ORDER = Strategy(id="priority", kind="combo", order=lambda candidates, ctx: list(candidates))

ResolveTarget = Callable[[str], Resolved]
MakeCandidate = Callable[[Resolved, float], Candidate]


@dataclass(frozen=True)
class RouteTable:
    """Compiled combos (by lowercased name), aliases, fallback chains, and the model routes
    already worked out (a bounded memo: model names come from clients)."""

    combos: dict[str, ComboNode] = field(default_factory=dict)
    aliases: PatternTable[str] = field(default_factory=PatternTable)
    chains: PatternTable[ComboNode] = field(default_factory=PatternTable)
    memo: dict[str, ModelRoute] = field(default_factory=dict)


def compile_table(
    combos: Sequence[StoredCombo],
    aliases: Mapping[str, str],
    chains: Sequence[Mapping[str, Any]],
    strategies: Mapping[str, Strategy],
    resolve: ResolveTarget,
    candidate: MakeCandidate,
) -> RouteTable:
    """Compile everything; ``resolve`` turns ``prefix/model`` into a target and ``candidate``
    makes a strategy's view of one (its connections and price)."""
    compiled = _compile_combos(combos, strategies, resolve, candidate)
    chain_table: list[tuple[str, ComboNode]] = []
    for chain in chains:
        pattern = str(chain.get("model", ""))
        entries = [
            {"combo": f} if f.lower() in compiled else {"model": f}
            for f in chain.get("fallbacks", ())
        ]
        node = _node(f"fallback:{pattern}", IN_ORDER, entries, compiled, resolve, candidate)
        if pattern and node is not None:
            chain_table.append((pattern, node))
    alias_table = [
        (pattern, target)
        for pattern, target in aliases.items()
        if _routable(target, compiled, resolve)
    ]
    return RouteTable(compiled, PatternTable(alias_table), PatternTable(chain_table))


def _routable(target: str, combos: Mapping[str, ComboNode], resolve: ResolveTarget) -> bool:
    if target.lower() in combos:
        return True
    try:
        resolve(target)
    except GatewayError as err:
        log.warning("model alias target %r is not routable and is ignored: %s", target, err)
        return False
    return True


def _compile_combos(
    stored: Sequence[StoredCombo],
    strategies: Mapping[str, Strategy],
    resolve: ResolveTarget,
    candidate: MakeCandidate,
) -> dict[str, ComboNode]:
    by_name = {c.name.lower(): c for c in stored}
    done: dict[str, ComboNode] = {}
    failed: set[str] = set()

    def build(key: str, path: tuple[str, ...]) -> ComboNode | None:
        if key in done or key in failed:
            return done.get(key)
        combo = by_name.get(key)
        if combo is None or key in path or len(path) >= MAX_DEPTH:
            log.warning("combo path %s is missing, cyclic or too deep; skipped", [*path, key])
            failed.add(key)
            return None
        for target in combo.targets:
            if "combo" in target:
                build(str(target["combo"]).lower(), (*path, key))
        strategy = strategies.get(combo.strategy)
        if strategy is None:
            log.warning(
                "combo %r uses strategy %r, which no loaded plugin registers; using priority",
                combo.name,
                combo.strategy,
            )
            strategy = IN_ORDER
        node = _node(combo.name, strategy, combo.targets, done, resolve, candidate)
        if node is None:
            failed.add(key)
        else:
            done[key] = node
        return node

    for key in by_name:
        build(key, ())
    return done


def _node(
    name: str,
    strategy: Strategy,
    targets: Sequence[Mapping[str, Any]],
    combos: Mapping[str, ComboNode],
    resolve: ResolveTarget,
    candidate: MakeCandidate,
) -> ComboNode | None:
    candidates: list[Candidate] = []
    for target in targets:
        weight = float(target.get("weight") or 1.0)
        if "combo" in target:
            nested = combos.get(str(target["combo"]).lower())
            if nested is None:
                log.warning("%s: nested combo %r is unavailable; skipped", name, target["combo"])
                continue
            candidates.append(_nested(nested, weight))
            continue
        try:
            resolved = resolve(str(target["model"]))
        except GatewayError as err:
            log.warning("%s: target %r is unavailable and skipped: %s", name, target["model"], err)
            continue
        if target.get("connection"):
            resolved = Resolved(resolved.provider, resolved.model, str(target["connection"]))
        candidates.append(candidate(resolved, weight))
    if not candidates:
        log.warning("%s has no usable target; it is unavailable", name)
        return None
    return ComboNode(name, strategy, tuple(candidates))


def _nested(node: ComboNode, weight: float) -> Candidate:
    """A nested combo as a candidate: it reaches every connection its targets reach and costs
    what its cheapest priced target costs."""
    ids: dict[str, None] = {}
    prices = []
    for c in node.candidates:
        ids.update(dict.fromkeys(c.connection_ids))
        if c.price is not None:
            prices.append(c.price)
    return Candidate(node.name, weight, tuple(ids), min(prices, default=None), combo=node)
