"""Per-key budgets: status, enforcement (also under concurrency), periods in UTC."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from omniroute.errors import GatewayError
from omniroute.ledger.budgets import Budget, Spending, enforce, period_bounds
from omniroute.testing.fake_openai import Reply
from tests.conftest import UPSTREAM_KEY
from tests.test_cost import completion

#: What one request answered with ``completion(1000, 0, 500, 0)`` costs at gpt-5's price.
COST = (1000 * 1.25 + 500 * 10) / 1e6


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# -- periods and counters -------------------------------------------------------------------------


def test_periods_are_utc_calendar_day_iso_week_and_month():
    now = ts("2026-03-18T15:30:00")  # a Wednesday
    assert period_bounds("daily", now) == (ts("2026-03-18T00:00:00"), ts("2026-03-19T00:00:00"))
    assert period_bounds("weekly", now) == (ts("2026-03-16T00:00:00"), ts("2026-03-23T00:00:00"))
    assert period_bounds("monthly", now) == (ts("2026-03-01T00:00:00"), ts("2026-04-01T00:00:00"))
    december = ts("2026-12-31T23:59:59")
    assert period_bounds("monthly", december)[1] == ts("2027-01-01T00:00:00")


def test_spending_rolls_over_at_the_end_of_each_period():
    clock = [ts("2026-03-18T23:00:00")]
    spending = Spending(clock=lambda: clock[0])
    spending.add("k", 2.0)
    assert [spending.spent("k", p) for p in ("daily", "weekly", "monthly")] == [2.0, 2.0, 2.0]
    clock[0] = ts("2026-03-19T01:00:00")
    spending.add("k", 1.0)
    assert spending.spent("k", "daily") == 1.0
    assert spending.spent("k", "weekly") == 3.0
    clock[0] = ts("2026-04-01T00:00:00")
    assert spending.spent("k", "monthly") == 0.0


def test_a_spent_budget_refuses_with_a_429_until_the_period_ends():
    clock = [ts("2026-03-18T12:00:00")]
    spending = Spending(clock=lambda: clock[0])
    budgets = {"k": Budget("k", 1.0, "daily")}
    spending.add("k", 0.99)
    enforce(budgets, spending, "k")
    spending.add("k", 0.01)
    with pytest.raises(GatewayError) as caught:
        enforce(budgets, spending, "k")
    assert caught.value.status == 429 and caught.value.code == "budget_exceeded"
    assert caught.value.retry_after == 12 * 3600
    enforce(budgets, spending, "other")
    enforce(budgets, spending, None)
    clock[0] = ts("2026-03-19T00:00:00")
    enforce(budgets, spending, "k")


# -- the API --------------------------------------------------------------------------------------


async def key_id(gateway: Any, name: str = "team") -> tuple[str, str]:
    status, created = await gateway.api("POST", "/api/keys", json={"name": name})
    assert status == 201, created
    return created["id"], created["key"]


async def test_a_budget_is_created_then_replaced(gateway):
    kid, _ = await key_id(gateway)
    body = {"keyId": kid, "limit": 5, "period": "daily"}
    status, created = await gateway.api("POST", "/api/usage/budget", json=body)
    assert status == 201, created
    assert created["spent"] == 0 and created["warnAt"] == 0.8 and created["keyName"] == "team"
    assert created["resetsAt"].endswith("T00:00:00+00:00")
    status, replaced = await gateway.api(
        "POST", "/api/usage/budget", json={**body, "period": "monthly", "warnAt": 0.5}
    )
    assert status == 200 and replaced["period"] == "monthly"
    status, listed = await gateway.api("GET", "/api/usage/budget")
    assert status == 200 and [b["keyId"] for b in listed["budgets"]] == [kid]


async def test_a_budget_is_deleted(gateway):
    kid, _ = await key_id(gateway)
    await gateway.api(
        "POST", "/api/usage/budget", json={"keyId": kid, "limit": 1, "period": "weekly"}
    )
    status, _ = await gateway.api("DELETE", f"/api/usage/budget/{kid}")
    assert status == 200
    status, _ = await gateway.api("DELETE", f"/api/usage/budget/{kid}")
    assert status == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"limit": 1, "period": "daily"}, "keyId"),
        ({"keyId": "K", "limit": -1, "period": "daily"}, "limit"),
        ({"keyId": "K", "limit": "lots", "period": "daily"}, "limit"),
        ({"keyId": "K", "limit": 1, "period": "yearly"}, "period"),
        ({"keyId": "K", "limit": 1, "period": "daily", "warnAt": 1.5}, "warnAt"),
        ({"keyId": "K", "limit": 1, "period": "daily", "extra": 1}, "extra"),
    ],
)
async def test_bad_budget_bodies_are_refused_naming_the_field(gateway, body, param):
    kid, _ = await key_id(gateway)
    body = {k: (kid if v == "K" else v) for k, v in body.items()}
    status, answer = await gateway.api("POST", "/api/usage/budget", json=body)
    assert status == 400, answer
    assert answer["error"]["param"] == param


async def test_a_budget_for_an_unknown_key_is_a_404(gateway):
    body = {"keyId": "nope", "limit": 1, "period": "daily"}
    status, _ = await gateway.api("POST", "/api/usage/budget", json=body)
    assert status == 404


async def test_budget_status_rejects_unknown_parameters(gateway):
    status, answer = await gateway.api("GET", "/api/usage/budget?key=x")
    assert status == 400 and answer["error"]["param"] == "key"


# -- enforcement ----------------------------------------------------------------------------------


async def test_a_daily_budget_stops_the_key_at_the_limit(gateway, upstream, fake):
    await gateway.connect(upstream)
    kid, key = await key_id(gateway)
    limit = 2.5 * COST
    await gateway.api(
        "POST", "/api/usage/budget", json={"keyId": kid, "limit": limit, "period": "daily"}
    )
    client = gateway.openai(api_key=key)
    for _ in range(3):  # spent 0, 1 and 2 requests' worth: under the limit, so each may run
        fake.enqueue(Reply.json(completion(1000, 0, 500, 0)))
        await client.chat.completions.create(
            model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(
            model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "budget_exceeded"
    assert len(fake.requests) == 3  # the refused request never reached the provider
    _, listed = await gateway.api("GET", f"/api/usage/budget?keyId={kid}")
    [state] = listed["budgets"]
    assert state["spent"] == pytest.approx(3 * COST)
    assert state["exceeded"] and state["warning"] and state["remaining"] == 0
    # Another key is not affected.
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )


async def test_anthropic_and_gemini_clients_get_a_429_in_their_own_shape(gateway, upstream):
    await gateway.connect(upstream)
    kid, key = await key_id(gateway)
    await gateway.api(
        "POST", "/api/usage/budget", json={"keyId": kid, "limit": 0, "period": "daily"}
    )
    client = anthropic.AsyncAnthropic(base_url=gateway.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(
            model="openai/gpt-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert "budget" in caught.value.message
    status, body, _ = await gateway.post(
        "/v1beta/models/openai/gpt-5:generateContent",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": key},
    )
    assert status == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"


async def test_spending_survives_a_restart(make_gateway, upstream, fake, tmp_path):
    first = await make_gateway(data_dir=tmp_path / "d")
    await first.connect(upstream)
    kid, key = await key_id(first)
    await first.api(
        "POST", "/api/usage/budget", json={"keyId": kid, "limit": 1, "period": "monthly"}
    )
    fake.enqueue(Reply.json(completion(1000, 0, 500, 0)))
    await first.openai(api_key=key).chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    await first.api("GET", "/api/usage/history")  # the ledger is written
    second = await make_gateway(data_dir=tmp_path / "d")
    _, listed = await second.api("GET", "/api/usage/budget")
    assert listed["budgets"][0]["spent"] == pytest.approx(COST)


class GatedUpstream:
    """An OpenAI-compatible upstream that holds every chat request until released."""

    def __init__(self) -> None:
        self.arrived = 0
        self.release = asyncio.Event()
        self.waiting: asyncio.Event = asyncio.Event()
        self.expected = 0
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)

    async def chat(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
        self.arrived += 1
        if self.arrived >= self.expected:
            self.waiting.set()
        await self.release.wait()
        return web.json_response(completion(1000, 0, 500, 0))


async def test_concurrent_requests_overshoot_by_at_most_those_in_flight(gateway, aiohttp_server):
    gated = GatedUpstream()
    server = await aiohttp_server(gated.app)
    await gateway.connect(str(server.make_url("/v1")))
    kid, key = await key_id(gateway)
    limit = 1.5 * COST
    await gateway.api(
        "POST", "/api/usage/budget", json={"keyId": kid, "limit": limit, "period": "daily"}
    )
    client = gateway.openai(api_key=key)

    def ask() -> Any:
        return client.chat.completions.create(
            model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
        )

    in_flight = 6
    gated.expected = in_flight
    tasks = [asyncio.create_task(ask()) for _ in range(in_flight)]
    await gated.waiting.wait()  # all six passed the budget check and reached the provider
    gated.release.set()
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert not [a for a in answers if isinstance(a, BaseException)]

    _, listed = await gateway.api("GET", "/api/usage/budget")
    spent = listed["budgets"][0]["spent"]
    assert spent == pytest.approx(in_flight * COST)
    assert spent - limit < in_flight * COST  # the overshoot is bounded by what was in flight

    # Once the spending is recorded, a burst is refused entirely.
    burst = await asyncio.gather(*(ask() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(a, openai.RateLimitError) for a in burst)
    assert gated.arrived == in_flight
