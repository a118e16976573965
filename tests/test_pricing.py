"""The price table: catalogue seeds, user overrides, ``GET``/``PUT /api/pricing``."""

from __future__ import annotations

from typing import Any

import pytest

from omniroute import ModelInfo, ModelPrice, Provider
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.pricing.prices import FREE
from omniroute.pricing.table import build_price_table


def entry(prices: list[dict[str, Any]], provider: str, model: str) -> dict[str, Any]:
    return next(p for p in prices if p["provider"] == provider and p["model"] == model)


def test_bundled_catalogues_seed_prices_for_their_models():
    registry = build_registry(get_plugin_manager())
    table = build_price_table(registry.providers, {})
    assert table.price("openai", "gpt-5") == ModelPrice(input=1.25, output=10.0, cached_input=0.125)
    assert table.price("anthropic", "claude-sonnet-4-5") == ModelPrice(
        input=3.0, output=15.0, cached_input=0.3, cache_write=3.75
    )
    assert table.price("gemini", "gemini-2.5-pro") == ModelPrice(input=1.25, output=10.0)
    assert table.price("openai-responses", "gpt-5-codex") is not None


def test_a_model_without_a_known_price_has_none():
    registry = build_registry(get_plugin_manager())
    table = build_price_table(registry.providers, {})
    assert table.price("openai", "gpt-image-1") is None
    assert table.price("openai", "never-heard-of-it") is None


def test_an_override_replaces_only_the_fields_it_sets():
    provider = Provider(
        id="p", name="P", base_url="http://x", models=[ModelInfo("m", price=ModelPrice(1.0, 2.0))]
    )
    table = build_price_table({"p": provider}, {("p", "M"): ModelPrice(output=4.0)})
    assert table.price("p", "m") == ModelPrice(input=1.0, output=4.0)
    [only] = list(table)
    assert (only.model, only.source) == ("m", "seed+override")


def test_subscription_and_free_providers_price_every_model_at_zero():
    provider = Provider(
        id="s",
        name="S",
        base_url="http://x",
        billing="subscription",
        models=[ModelInfo("m", price=ModelPrice(1.0, 2.0))],
    )
    table = build_price_table({"s": provider}, {})
    assert table.price("s", "m") == FREE
    assert table.price("s", "anything") == FREE
    assert table.listed("s", "m") == ModelPrice(1.0, 2.0)


async def test_get_lists_seeds_and_unknown_prices(gateway):
    status, body = await gateway.api("GET", "/api/pricing")
    assert status == 200
    gpt5 = entry(body["prices"], "openai", "gpt-5")
    assert gpt5["source"] == "seed" and gpt5["billing"] == "metered"
    assert gpt5["price"] == {
        "input": 1.25,
        "output": 10.0,
        "cachedInput": 0.125,
        "cacheWrite": None,
        "reasoning": None,
    }
    image = entry(body["prices"], "openai", "gpt-image-1")
    assert image["source"] == "unknown" and image["price"] is None


async def test_get_filters_by_provider_prefix_or_alias(gateway):
    status, body = await gateway.api("GET", "/api/pricing?provider=claude")
    assert status == 200
    assert {p["provider"] for p in body["prices"]} == {"anthropic"}


async def test_put_sets_an_override_and_null_removes_it(gateway):
    status, body = await gateway.api(
        "PUT", "/api/pricing", json={"oai": {"GPT-5": {"input": 2, "cachedInput": 0.2}}}
    )
    assert status == 200
    gpt5 = entry(body["prices"], "openai", "gpt-5")
    assert gpt5["source"] == "seed+override"
    assert gpt5["override"]["input"] == 2 and gpt5["seed"]["input"] == 1.25
    assert (gpt5["price"]["input"], gpt5["price"]["output"]) == (2, 10.0)

    status, body = await gateway.api("PUT", "/api/pricing", json={"openai": {"gpt-5": None}})
    assert status == 200
    assert entry(body["prices"], "openai", "gpt-5")["source"] == "seed"


async def test_an_override_for_an_uncatalogued_model_is_listed(gateway):
    status, body = await gateway.api(
        "PUT", "/api/pricing", json={"openai": {"my-finetune": {"input": 3, "output": 12}}}
    )
    assert status == 200
    mine = entry(body["prices"], "openai", "my-finetune")
    assert mine["source"] == "override" and mine["price"]["output"] == 12


async def test_overrides_survive_a_restart(make_gateway, tmp_path):
    first = await make_gateway(data_dir=tmp_path / "d")
    await first.api("PUT", "/api/pricing", json={"openai": {"gpt-5": {"output": 11}}})
    second = await make_gateway(data_dir=tmp_path / "d")
    _, body = await second.api("GET", "/api/pricing")
    assert entry(body["prices"], "openai", "gpt-5")["price"]["output"] == 11


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"nope": {"m": {"input": 1}}}, "nope"),
        ({"openai": {"gpt-5": {"input": -1}}}, "openai.gpt-5.input"),
        ({"openai": {"gpt-5": {"input": "cheap"}}}, "openai.gpt-5.input"),
        ({"openai": {"gpt-5": {"inptu": 1}}}, "openai.gpt-5.inptu"),
        ({"openai": {"gpt-5": {}}}, "openai.gpt-5"),
        ({"openai": {"gpt-5": 3}}, "openai.gpt-5"),
        ({"openai": []}, "openai"),
    ],
)
async def test_put_refuses_bad_input_naming_the_field(gateway, body, param):
    status, answer = await gateway.api("PUT", "/api/pricing", json=body)
    assert status == 400, answer
    assert answer["error"]["param"] == param


async def test_a_refused_put_changes_nothing(gateway):
    body = {"openai": {"gpt-5": {"input": 9}}, "nope": {"m": {"input": 1}}}
    status, _ = await gateway.api("PUT", "/api/pricing", json=body)
    assert status == 400
    _, table = await gateway.api("GET", "/api/pricing")
    assert entry(table["prices"], "openai", "gpt-5")["source"] == "seed"


async def test_get_refuses_an_unknown_provider(gateway):
    status, answer = await gateway.api("GET", "/api/pricing?provider=nope")
    assert status == 400 and answer["error"]["param"] == "provider"


async def test_get_refuses_an_unknown_parameter(gateway):
    status, answer = await gateway.api("GET", "/api/pricing?provder=openai")
    assert status == 400 and answer["error"]["param"] == "provder"
