"""Account strategies: how one provider's connections are ordered, checked with seeded RNGs."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from omniroute.accounts.vault import Secret
from omniroute.extensions import AccountState, Rotation, StrategyContext
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.providers import Connection
from omniroute.routing import strategies
from omniroute.routing.config import RoutingSettings
from omniroute.routing.resilience import Resilience
from tests.test_resilience_api import accounts, chat

NOW = 1000.0
CONNS = tuple(
    Connection(id=f"c{i}", provider="openai", name=f"c{i}", api_key=Secret("k"), priority=i)
    for i in range(4)
)


def ctx(states=None, *, seed=0, rotation=None, sticky=3) -> StrategyContext:
    return StrategyContext(
        provider="openai",
        states=states or {},
        now=NOW,
        rng=random.Random(seed),
        rotation=rotation or Rotation(),
        sticky_limit=sticky,
    )


def ids(conns) -> list[str]:
    return [c.id for c in conns]


def resting(until: float) -> AccountState:
    return AccountState(cooldown_until=until, cooldown_reason="rate_limited")


def test_every_builtin_account_strategy_is_registered():
    registry = build_registry(get_plugin_manager(entry_points=[]))
    registered = {sid for kind, sid in registry.strategies if kind == "account"}
    expected = {"fill-first", "round-robin", "p2c", "random", "least-used", "cost-optimized"}
    assert expected <= registered


@pytest.mark.parametrize(
    "order",
    [
        strategies.fill_first,
        strategies.round_robin,
        strategies.power_of_two,
        strategies.random_order,
        strategies.least_used,
        strategies.cost_optimized,
    ],
)
def test_resting_accounts_go_last_soonest_recovery_first(order):
    states = {"c0": resting(NOW + 50), "c2": resting(NOW + 10)}
    ordered = ids(order(CONNS, ctx(states)))
    assert sorted(ordered) == ["c0", "c1", "c2", "c3"], "nothing is dropped"
    assert ordered[2:] == ["c2", "c0"]


def test_fill_first_keeps_priority_order():
    assert ids(strategies.fill_first(CONNS, ctx())) == ["c0", "c1", "c2", "c3"]


def test_round_robin_gives_each_account_the_sticky_limit_in_turn():
    rotation = Rotation()
    firsts = [strategies.round_robin(CONNS, ctx(rotation=rotation))[0].id for _ in range(12)]
    assert firsts == ["c0"] * 3 + ["c1"] * 3 + ["c2"] * 3 + ["c3"] * 3


def test_round_robin_sticky_limit_of_one_alternates():
    rotation = Rotation()
    firsts = [
        strategies.round_robin(CONNS[:2], ctx(rotation=rotation, sticky=1))[0].id for _ in range(4)
    ]
    assert firsts == ["c0", "c1", "c0", "c1"]


def test_round_robin_skips_a_resting_account_and_fails_over_in_turn_order():
    rotation = Rotation(current="c0", streak=3)
    ordered = ids(strategies.round_robin(CONNS, ctx({"c1": resting(NOW + 5)}, rotation=rotation)))
    assert ordered == ["c2", "c3", "c0", "c1"]


def test_round_robin_leaves_an_account_that_started_resting_mid_streak():
    rotation = Rotation(current="c1", streak=1)
    ordered = ids(strategies.round_robin(CONNS, ctx({"c1": resting(NOW + 5)}, rotation=rotation)))
    assert ordered[0] == "c2"


def test_random_order_is_uniform_over_first_places():
    rng = random.Random(42)
    firsts: Counter[str] = Counter()
    trials = 8000
    for _ in range(trials):
        context = StrategyContext(provider="openai", states={}, now=NOW, rng=rng)
        firsts[strategies.random_order(CONNS, context)[0].id] += 1
    # Each of 4 accounts expects 2000 (sd ~39); 5 sd either way never fails by chance.
    for conn in CONNS:
        assert abs(firsts[conn.id] - trials / 4) < 200, firsts


def test_random_order_produces_every_permutation_of_three():
    rng = random.Random(7)
    seen: Counter[tuple[str, ...]] = Counter()
    for _ in range(6000):
        context = StrategyContext(provider="openai", states={}, now=NOW, rng=rng)
        seen[tuple(ids(strategies.random_order(CONNS[:3], context)))] += 1
    assert len(seen) == 6
    assert all(abs(n - 1000) < 160 for n in seen.values()), seen  # 5 sd of 1000 ± 29


def test_p2c_prefers_the_account_with_fewer_recent_errors():
    states = {"c0": AccountState(recent_errors=0.9), "c1": AccountState(recent_errors=0.0)}
    rng = random.Random(1)
    firsts: Counter[str] = Counter()
    for _ in range(2000):
        context = StrategyContext(provider="openai", states=states, now=NOW, rng=rng)
        firsts[strategies.power_of_two(CONNS[:2], context)[0].id] += 1
    assert firsts == {"c1": 2000}


def test_p2c_prefers_lower_latency_when_errors_are_equal():
    states = {"c0": AccountState(latency_ms=900), "c1": AccountState(latency_ms=100)}
    assert strategies.power_of_two(CONNS[:2], ctx(states))[0].id == "c1"


def test_p2c_spreads_load_and_the_worst_account_never_leads():
    # c3 is the slowest: it wins no pair it is in, so it never goes first; the others lead in
    # proportion to how many pairs they win (c0: 3 of 6 pairs, c1: 2, c2: 1).
    states = {f"c{i}": AccountState(latency_ms=100 * (i + 1)) for i in range(4)}
    rng = random.Random(3)
    firsts: Counter[str] = Counter()
    trials = 6000
    for _ in range(trials):
        context = StrategyContext(provider="openai", states=states, now=NOW, rng=rng)
        firsts[strategies.power_of_two(CONNS, context)[0].id] += 1
    assert firsts["c3"] == 0
    for conn_id, share in (("c0", 3 / 6), ("c1", 2 / 6), ("c2", 1 / 6)):
        assert abs(firsts[conn_id] - trials * share) < 200, firsts  # 5 sd is at most ~190


def test_least_used_takes_the_account_used_longest_ago():
    states = {
        "c0": AccountState(last_used=NOW - 1),
        "c1": AccountState(last_used=NOW - 30),
        "c2": AccountState(last_used=NOW - 5),
    }
    assert ids(strategies.least_used(CONNS, ctx(states))) == ["c3", "c1", "c2", "c0"]


def test_cost_optimized_takes_the_lowest_priority_value_and_shares_ties():
    tied = (
        Connection(id="a", provider="p", name="a", api_key=Secret("k"), priority=5),
        Connection(id="b", provider="p", name="b", api_key=Secret("k"), priority=1),
        Connection(id="c", provider="p", name="c", api_key=Secret("k"), priority=1),
    )
    states = {"b": AccountState(last_used=NOW - 1), "c": AccountState(last_used=NOW - 9)}
    assert ids(strategies.cost_optimized(tied, ctx(states))) == ["c", "b", "a"]


# -- chosen per provider ---------------------------------------------------------------------


def make_resilience(seed: int = 0) -> Resilience:
    registry = build_registry(get_plugin_manager(entry_points=[]))
    accounts = {sid: s for (kind, sid), s in registry.strategies.items() if kind == "account"}
    return Resilience(
        cooldown_seconds=30,
        strategies=accounts,
        default_strategy="fill-first",
        clock=lambda: NOW,
        rng=random.Random(seed),
    )


def test_the_global_strategy_applies_to_every_provider():
    resilience = make_resilience()
    routing = RoutingSettings(account_strategy="round-robin", sticky_limit=1)
    firsts = [resilience.order("openai", CONNS[:2], routing)[0].id for _ in range(4)]
    assert firsts == ["c0", "c1", "c0", "c1"]


def test_a_provider_override_beats_the_global_strategy():
    resilience = make_resilience()
    routing = RoutingSettings(
        account_strategy="round-robin", provider_strategies={"openai": "fill-first"}
    )
    firsts = {resilience.order("openai", CONNS, routing)[0].id for _ in range(10)}
    assert firsts == {"c0"}


def test_each_provider_rotates_on_its_own():
    resilience = make_resilience()
    routing = RoutingSettings(account_strategy="round-robin", sticky_limit=1)
    other = tuple(
        Connection(id=f"d{i}", provider="groq", name="d", api_key=Secret("k")) for i in range(2)
    )
    assert resilience.order("openai", CONNS[:2], routing)[0].id == "c0"
    assert resilience.order("groq", other, routing)[0].id == "d0"
    assert resilience.order("openai", CONNS[:2], routing)[0].id == "c1"


def test_an_unknown_stored_strategy_falls_back_to_the_default():
    resilience = make_resilience()
    routing = RoutingSettings(account_strategy="gone-plugin")
    assert ids(resilience.order("openai", CONNS, routing)) == ["c0", "c1", "c2", "c3"]


# -- end to end ----------------------------------------------------------------------------------


async def test_round_robin_set_in_the_routing_settings_spreads_requests(gateway, aiohttp_server):
    fakes = await accounts(gateway, aiohttp_server, count=3)
    patch = {"accountStrategy": "round-robin", "stickyLimit": 2}
    status, _ = await gateway.api("PATCH", "/api/settings/routing", json=patch)
    assert status == 200
    for _ in range(12):
        await chat(gateway)
    assert [len(f.requests) for f in fakes] == [4, 4, 4]


async def test_a_per_provider_strategy_overrides_the_global_one(gateway, aiohttp_server):
    fakes = await accounts(gateway, aiohttp_server, count=2)
    patch = {"accountStrategy": "round-robin", "providerStrategies": {"openai": "fill-first"}}
    assert (await gateway.api("PATCH", "/api/settings/routing", json=patch))[0] == 200
    for _ in range(4):
        await chat(gateway)
    assert [len(f.requests) for f in fakes] == [4, 0]


async def test_an_unknown_strategy_is_refused_naming_the_field(gateway):
    patch = {"providerStrategies": {"openai": "fastest"}}
    status, body = await gateway.api("PATCH", "/api/settings/routing", json=patch)
    assert status == 400
    assert body["error"]["param"] == "providerStrategies.openai"
