"""Per-model rests: a provider that limits one model (a quota window of a model family, an
error the provider marks ``model_scoped``) rests that model on the connection, not the whole
connection; the account's other models keep using it."""

from __future__ import annotations

from omniroute.appkeys import GATEWAY
from omniroute.errors import ErrorKind, UpstreamError
from omniroute.routing.health import AccountHealth
from omniroute.testing import FakeOpenAIUpstream
from tests.conftest import UPSTREAM_KEY
from tests.test_combo_failover import Clock, use_clock

HI = [{"role": "user", "content": "hi"}]


def test_a_model_rest_covers_the_model_and_its_family_until_it_ends():
    clock = Clock()
    health = AccountHealth(30, clock=clock)
    health.rest_model("c1", "opus", clock() + 60, "quota_window")
    health.rest_model("c1", "gpt-5", clock() + 10, "rate_limited")
    assert health.model_rest("c1", "claude-opus-4-6") == (clock() + 60, "quota_window")
    assert health.model_rest("c1", "gpt-5") is not None
    assert health.model_rest("c1", "claude-sonnet-4-5") is None
    assert health.model_rest("c2", "gpt-5") is None
    assert not health.states["c1"].cooling(clock())  # the connection itself is not resting
    clock.now += 11
    assert health.model_rest("c1", "gpt-5") is None
    assert health.end_model_rest("c1", "opus")
    assert health.model_rest("c1", "claude-opus-4-6") is None


def test_a_model_scoped_failure_rests_the_model_only():
    clock = Clock()
    health = AccountHealth(30, clock=clock)
    err = UpstreamError(ErrorKind.RATE_LIMITED, "model is at capacity", retry_after=20)
    assert health.failed_model("c1", "gpt-5", err) == 20
    assert health.model_rest("c1", "gpt-5") == (clock() + 20, "rate_limited")
    assert not health.states["c1"].cooling(clock())


async def two_accounts(make_gateway, aiohttp_server):
    gateway = await make_gateway()
    fakes = [FakeOpenAIUpstream(api_key=UPSTREAM_KEY) for _ in range(2)]
    conns = []
    for priority, fake in enumerate(fakes):
        server = await aiohttp_server(fake.app)
        conns.append(
            await gateway.connect(
                str(server.make_url("/v1")), name=f"acct{priority}", priority=priority
            )
        )
    return gateway, fakes, conns


async def test_a_resting_model_goes_to_the_other_account_and_other_models_stay(
    make_gateway, aiohttp_server
):
    gateway, (first, second), (conn, _) = await two_accounts(make_gateway, aiohttp_server)
    clock = Clock()
    use_clock(gateway, clock)
    resilience = gateway.app[GATEWAY].resilience
    resilience.health.rest_model(conn["id"], "gpt-5", clock() + 300, "quota_window")
    client = gateway.openai()

    await client.chat.completions.create(model="openai/gpt-5", messages=HI)
    await client.chat.completions.create(model="openai/gpt-5-mini", messages=HI)
    assert [r.json["model"] for r in first.requests] == ["gpt-5-mini"]
    assert [r.json["model"] for r in second.requests] == ["gpt-5"]

    # The lockouts list shows the model's rest, and unlocking it ends it.
    status, body = await gateway.api("GET", "/api/resilience/lockouts")
    assert status == 200
    (row,) = [r for r in body["lockouts"] if r["type"] == "model"]
    assert row["id"] == f"{conn['id']}/gpt-5" and row["reason"] == "quota_window"
    assert row["secondsLeft"] == 300
    status, body = await gateway.api("DELETE", f"/api/resilience/lockouts/{row['id']}")
    assert (status, body["wasLocked"]) == (200, True)
    await client.chat.completions.create(model="openai/gpt-5", messages=HI)
    assert [r.json["model"] for r in first.requests] == ["gpt-5-mini", "gpt-5"]


async def test_an_account_whose_model_rests_is_still_tried_when_it_is_the_last(
    make_gateway, aiohttp_server
):
    gateway, (first, _), (conn, other) = await two_accounts(make_gateway, aiohttp_server)
    clock = Clock()
    use_clock(gateway, clock)
    health = gateway.app[GATEWAY].resilience.health
    health.rest_model(conn["id"], "gpt-5", clock() + 300, "quota_window")
    health.rest_model(other["id"], "gpt-5", clock() + 300, "quota_window")
    reply = await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    assert len(first.requests) == 1  # the rest may have ended early: the first is tried
