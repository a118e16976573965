"""Combo strategies and the planner: orders, distributions (seeded RNG), health awareness."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from omniroute.extensions import AccountState, Strategy, StrategyContext
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.providers import Provider
from omniroute.routing.plan import Candidate, ComboNode, ModelRoute, Planner, Resolved
from omniroute.testing import FakeOpenAIUpstream
from tests.conftest import UPSTREAM_KEY

PROVIDER = Provider(id="p", name="P", base_url="http://127.0.0.1:9")
STRATEGIES = {
    sid: s
    for (kind, sid), s in build_registry(get_plugin_manager()).strategies.items()
    if kind == "combo"
}


def target(name: str, weight: float = 1.0, price: float | None = None) -> Candidate:
    return Candidate(f"p/{name}", weight, (f"conn-{name}",), price, Resolved(PROVIDER, name))


def combo(strategy: str, *candidates: Candidate, name: str = "c") -> ComboNode:
    return ComboNode(name, STRATEGIES[strategy], candidates)


def first_picks(node: ComboNode, runs: int, states=None, seed: int = 7) -> Counter[str]:
    planner = Planner(random.Random(seed))
    route = ModelRoute.of(node, None, None)
    return Counter(
        planner.plan(route, states or {}, now=100.0).targets[0].model for _ in range(runs)
    )


def test_every_built_in_combo_strategy_is_registered():
    assert set(STRATEGIES) == {
        "priority",
        "round-robin",
        "random",
        "weighted",
        "least-used",
        "cost-optimized",
    }


def test_priority_keeps_the_listed_order():
    node = combo("priority", target("a"), target("b"), target("c"))
    plan = Planner().plan(ModelRoute.of(node, None, None), {}, now=0.0)
    assert [t.model for t in plan.targets] == ["a", "b", "c"]
    assert plan.combo == "c"


def test_round_robin_starts_one_further_each_request():
    node = combo("round-robin", target("a"), target("b"), target("c"))
    planner = Planner()
    route = ModelRoute.of(node, None, None)
    orders = [[t.model for t in planner.plan(route, {}, 0.0).targets] for _ in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_random_picks_each_target_first_about_equally_often():
    picks = first_picks(combo("random", target("a"), target("b"), target("c")), 3000)
    for name in "abc":
        assert 850 <= picks[name] <= 1150, picks


def test_weighted_picks_targets_first_in_proportion_to_their_weights():
    node = combo("weighted", target("a", 1), target("b", 3), target("c", 6))
    picks = first_picks(node, 5000)
    assert 400 <= picks["a"] <= 600, picks
    assert 1350 <= picks["b"] <= 1650, picks
    assert 2800 <= picks["c"] <= 3200, picks


def test_weighted_fallback_order_holds_every_target():
    node = combo("weighted", target("a", 1), target("b", 3))
    plan = Planner(random.Random(1)).plan(ModelRoute.of(node, None, None), {}, 0.0)
    assert sorted(t.model for t in plan.targets) == ["a", "b"]


def test_least_used_puts_the_target_used_longest_ago_first():
    states = {
        "conn-a": AccountState(last_used=50.0),
        "conn-b": AccountState(last_used=10.0),
        "conn-c": AccountState(last_used=30.0),
    }
    node = combo("least-used", target("a"), target("b"), target("c"))
    plan = Planner().plan(ModelRoute.of(node, None, None), states, 100.0)
    assert [t.model for t in plan.targets] == ["b", "c", "a"]


def test_cost_optimized_puts_the_cheapest_first_and_unknown_prices_last():
    node = combo(
        "cost-optimized",
        target("unknown"),
        target("pricey", price=20.0),
        target("cheap", price=0.5),
    )
    plan = Planner().plan(ModelRoute.of(node, None, None), {}, 0.0)
    assert [t.model for t in plan.targets] == ["cheap", "pricey", "unknown"]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_whatever_the_strategy_a_resting_target_goes_after_healthy_ones(strategy):
    states = {
        "conn-a": AccountState(cooldown_until=500.0),
        "conn-b": AccountState(cooldown_until=200.0),
    }
    node = combo(strategy, target("a", price=0.1), target("b", price=0.2), target("c", price=9))
    picks = first_picks(node, 200, states)
    assert picks == {"c": 200}
    plan = Planner(random.Random(3)).plan(ModelRoute.of(node, None, None), states, 100.0)
    assert [t.model for t in plan.targets] == ["c", "b", "a"], "resting: soonest back first"


def test_a_target_reached_twice_is_tried_once():
    inner = combo("priority", target("a"), target("b"), name="inner")
    outer = combo(
        "priority",
        target("b"),
        Candidate("inner", 1.0, ("conn-a", "conn-b"), combo=inner),
        name="outer",
    )
    plan = Planner().plan(ModelRoute.of(outer, None, None), {}, 0.0)
    assert [t.model for t in plan.targets] == ["b", "a"]


def test_strategies_read_the_combo_name_and_turn_from_the_context():
    seen = []

    def spy(candidates, ctx: StrategyContext):
        seen.append((ctx.combo, ctx.turn))
        return list(candidates)

    node = ComboNode("spy", Strategy("spy", "combo", spy), (target("a"),))
    planner = Planner()
    for _ in range(2):
        planner.plan(ModelRoute.of(node, None, None), {}, 0.0)
    assert seen == [("spy", 0), ("spy", 1)]


async def test_cost_optimized_reads_the_pricing_table(gateway, aiohttp_server):
    fakes = {}
    for provider in ("openai", "groq"):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), provider=provider)
        fakes[provider] = fake
    prices = {
        "openai": {"pricey-model": {"input": 10.0, "output": 30.0}},
        "groq": {"cheap-model": {"input": 0.1, "output": 0.2}},
    }
    status, data = await gateway.api("PUT", "/api/pricing", json=prices)
    assert status == 200, data
    combo = {
        "name": "thrifty",
        "strategy": "cost-optimized",
        "models": ["openai/unpriced-model", "openai/pricey-model", "groq/cheap-model"],
    }
    assert (await gateway.api("POST", "/api/combos", json=combo))[0] == 201
    await gateway.openai().chat.completions.create(
        model="thrifty", messages=[{"role": "user", "content": "hi"}]
    )
    assert fakes["groq"].last_request.json["model"] == "cheap-model"
    assert not fakes["openai"].requests
