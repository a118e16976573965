"""Compiling combos, aliases and chains into the routing index, including what no longer fits."""

from __future__ import annotations

import logging

import pytest

from omniroute.accounts.vault import Secret
from omniroute.errors import GatewayError
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.providers import Connection
from omniroute.routing.combos import StoredCombo
from omniroute.routing.index import StoredConfig, build_index


@pytest.fixture(scope="module")
def registry():
    return build_registry(get_plugin_manager())


def stored(name: str, *targets: dict, strategy: str = "priority") -> StoredCombo:
    return StoredCombo(name, name, strategy, targets, {})


def conn(cid: str, provider: str) -> Connection:
    return Connection(cid, provider, cid, Secret("sk-test"))


def index_of(registry, **config):
    return build_index(registry, StoredConfig(**config))


def test_a_plain_model_plans_for_free(registry):
    index = index_of(registry, connections=[conn("c1", "openai")])
    route = index.route("openai/gpt-5")
    assert route.static is not None and route.static.targets[0].model == "gpt-5"
    assert index.route("openai/gpt-5") is route, "worked out once, then remembered"


def test_a_target_whose_provider_is_gone_is_left_out(registry, caplog):
    combo = stored("c", {"model": "gone/model"}, {"model": "openai/gpt-5"})
    with caplog.at_level(logging.WARNING):
        index = index_of(registry, combos=[combo])
    node = index.routes.combos["c"]
    assert [c.name for c in node.candidates] == ["openai/gpt-5"]
    assert "gone/model" in caplog.text


def test_a_combo_with_nothing_left_is_not_routable(registry):
    index = index_of(registry, combos=[stored("c", {"model": "gone/model"})])
    with pytest.raises(GatewayError) as caught:
        index.route("c")
    assert caught.value.code == "model_not_found"


def test_a_cycle_written_behind_the_apis_back_is_skipped(registry):
    combos = [
        stored("a", {"combo": "b"}, {"model": "openai/gpt-5"}),
        stored("b", {"combo": "a"}),
    ]
    index = index_of(registry, combos=combos)  # must not recurse forever
    assert "b" not in index.routes.combos or "a" not in index.routes.combos


def test_an_unknown_strategy_falls_back_to_the_listed_order(registry):
    combo = stored("c", {"model": "openai/a"}, {"model": "openai/b"}, strategy="gone")
    index = index_of(registry, combos=[combo])
    assert index.routes.combos["c"].strategy.id == "priority"


def test_a_nested_combo_reaches_its_targets_connections(registry):
    connections = [conn("c1", "openai"), conn("c2", "groq")]
    combos = [
        stored("inner", {"model": "groq/llama"}),
        stored("outer", {"model": "openai/gpt-5"}, {"combo": "inner", "weight": 2}),
    ]
    index = index_of(registry, connections=connections, combos=combos)
    nested = index.routes.combos["outer"].candidates[1]
    assert nested.combo is index.routes.combos["inner"]
    assert nested.connection_ids == ("c2",) and nested.weight == 2


def test_a_pinned_target_reaches_only_its_connection(registry):
    connections = [conn("c1", "openai"), conn("c2", "openai")]
    combo = stored("c", {"model": "openai/gpt-5", "connection": "c2"})
    index = index_of(registry, connections=connections, combos=[combo])
    [candidate] = index.routes.combos["c"].candidates
    assert candidate.connection_ids == ("c2",)
    assert candidate.target is not None and candidate.target.connection == "c2"


def test_an_alias_to_nowhere_is_ignored(registry):
    index = index_of(registry, aliases={"x*": "gone/model", "y*": "openai/gpt-5"})
    assert index.route("yes").first().model == "gpt-5"
    with pytest.raises(GatewayError):
        index.route("xenon")


def test_resolve_gives_a_combos_first_target(registry):
    index = index_of(registry, combos=[stored("c", {"model": "groq/llama"})])
    resolved = index.resolve("C")
    assert resolved.provider.id == "groq" and resolved.model == "llama"
