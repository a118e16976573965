"""What a request costs: tokens times prices, in the ledger and in ``X-OmniRoute-Cost``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from omniroute import ModelPrice, Provider, hookimpl
from omniroute.plugins import get_plugin_manager
from omniroute.pricing.cost import cost_header, request_cost
from omniroute.pricing.prices import PriceEntry, PriceTable
from omniroute.testing import AnthropicReply, FakeAnthropicUpstream, FakeOpenAIUpstream
from omniroute.testing.fake_openai import Reply
from tests.conftest import UPSTREAM_KEY

GPT5 = ModelPrice(input=1.25, output=10.0, cached_input=0.125)


def completion(prompt: int, cached: int, completion_tokens: int, reasoning: int) -> dict[str, Any]:
    """A chat completion whose usage has cached prompt tokens and reasoning tokens."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-5",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        },
    }


async def ledger_rows(gateway: Any) -> list[dict[str, Any]]:
    status, page = await gateway.api("GET", "/api/usage/history")
    assert status == 200, page
    rows: list[dict[str, Any]] = page["rows"]
    return rows


# -- the arithmetic -------------------------------------------------------------------------------


def test_cached_reasoning_and_cache_write_tokens_are_priced_at_their_own_rates():
    price = ModelPrice(input=2.0, output=10.0, cached_input=0.5, cache_write=2.5, reasoning=20.0)
    cost = price.cost(input=1000, cached=400, cache_write=100, output=500, reasoning=200)
    assert cost == pytest.approx((1000 * 2 + 400 * 0.5 + 100 * 2.5 + 300 * 10 + 200 * 20) / 1e6)


def test_unlisted_rates_fall_back_to_the_input_and_output_prices():
    price = ModelPrice(input=2.0, output=10.0)
    cost = price.cost(input=100, cached=100, cache_write=100, output=100, reasoning=50)
    assert cost == pytest.approx((300 * 2 + 100 * 10) / 1e6)


def test_a_model_without_input_or_output_price_has_no_cost():
    assert ModelPrice(input=1.0).cost(input=10, output=10) is None


def test_a_ledger_row_is_priced_with_cached_tokens_taken_out_of_tokens_in():
    table = PriceTable({("openai", "gpt-5"): PriceEntry("openai", "gpt-5", GPT5, None)})
    row = {"tokens_in": 1000, "tokens_cached": 400, "tokens_out": 500, "tokens_reasoning": 200}
    assert request_cost(table, "openai", "GPT-5", row) == pytest.approx(
        (600 * 1.25 + 400 * 0.125 + 500 * 10) / 1e6
    )
    assert request_cost(table, "openai", "gpt-4", row) is None
    assert request_cost(table, "openai", "gpt-5", {"status": 502}) is None


def test_the_header_value_is_plain_decimal_dollars():
    assert cost_header(0.0058) == "0.0058"
    assert cost_header(1.5) == "1.5"
    assert cost_header(0.0) == "0"
    assert cost_header(1e-8) == "0.00000001"


# -- end to end -----------------------------------------------------------------------------------


async def test_a_json_answer_carries_its_cost_and_the_ledger_records_it(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.json(completion(1000, 400, 500, 200)))
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    expected = (600 * 1.25 + 400 * 0.125 + 300 * 10 + 200 * 10) / 1e6
    assert float(raw.headers["x-omniroute-cost"]) == pytest.approx(expected)
    [row] = await ledger_rows(gateway)
    assert row["costUsd"] == pytest.approx(expected)
    assert (row["tokensIn"], row["tokensCached"], row["tokensReasoning"]) == (1000, 400, 200)


async def test_a_reasoning_price_override_prices_reasoning_tokens_separately(
    gateway, upstream, fake
):
    await gateway.connect(upstream)
    status, _ = await gateway.api(
        "PUT", "/api/pricing", json={"openai": {"gpt-5": {"reasoning": 20}}}
    )
    assert status == 200
    fake.enqueue(Reply.json(completion(1000, 400, 500, 200)))
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    expected = (600 * 1.25 + 400 * 0.125 + 300 * 10 + 200 * 20) / 1e6
    assert float(raw.headers["x-omniroute-cost"]) == pytest.approx(expected)


async def test_a_model_without_a_price_has_no_cost_header_and_a_null_cost(gateway, upstream):
    await gateway.connect(upstream)
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="openai/some-unpriced-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert "x-omniroute-cost" not in raw.headers
    [row] = await ledger_rows(gateway)
    assert row["costUsd"] is None and row["tokensIn"] > 0


async def test_a_streamed_answer_records_its_cost_in_the_ledger_only(gateway, upstream):
    await gateway.connect(upstream)
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for _chunk in raw.parse():
        pass
    assert "x-omniroute-cost" not in raw.headers
    [row] = await ledger_rows(gateway)
    assert row["stream"] == 1
    tokens_in, tokens_out = row["tokensIn"], row["tokensOut"]
    assert row["costUsd"] == pytest.approx((tokens_in * 1.25 + tokens_out * 10) / 1e6)


async def test_anthropic_cache_writes_are_priced_as_cache_writes(make_gateway, aiohttp_server):
    fake = FakeAnthropicUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    gateway = await make_gateway()
    await gateway.connect(str(server.make_url("")), provider="anthropic")
    fake.enqueue(
        AnthropicReply.json(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "hi"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 100,
                    "output_tokens": 50,
                    "cache_creation_input_tokens": 1000,
                    "cache_read_input_tokens": 2000,
                },
            }
        )
    )
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key="no-key", max_retries=0)
    raw = await client.messages.with_raw_response.create(
        model="anthropic/claude-sonnet-4-5",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
    )
    expected = (100 * 3 + 1000 * 3.75 + 2000 * 0.3 + 50 * 15) / 1e6
    assert float(raw.headers["x-omniroute-cost"]) == pytest.approx(expected)
    [row] = await ledger_rows(gateway)
    assert row["tokensCacheWrite"] == 1000 and row["tokensCached"] == 2000
    assert row["costUsd"] == pytest.approx(expected)


class _SubscriptionPlugin:
    """A provider billed by subscription, at the fake upstream's address."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @hookimpl
    def register_providers(self, register: Callable[[Provider], None]) -> None:
        register(
            Provider(
                id="sub",
                name="Subscription",
                base_url=self.base_url,
                billing="subscription",
                models=[],
            )
        )


async def test_a_subscription_provider_records_tokens_at_zero_cost(make_gateway, aiohttp_server):
    fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    base = str(server.make_url("/v1"))
    pm = get_plugin_manager()
    pm.register(_SubscriptionPlugin(base), name="subscription-test")
    gateway = await make_gateway(pm=pm)
    await gateway.connect(base, provider="sub")
    status, _ = await gateway.api(
        "PUT", "/api/pricing", json={"sub": {"m": {"input": 5, "output": 5}}}
    )
    assert status == 200
    fake.enqueue(Reply.json(completion(1000, 0, 500, 0)))
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="sub/m", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-omniroute-cost"] == "0"
    [row] = await ledger_rows(gateway)
    assert row["costUsd"] == 0 and row["tokensIn"] == 1000 and row["tokensOut"] == 500
