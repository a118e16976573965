"""The management plane end to end, through the API alone, as an operator would use it.

One scenario: a scoped key with a daily budget that stops at its limit; usage and cost by key,
model and provider; one provider routed through a SOCKS5 proxy and another direct; then the
database exported, wiped and imported back with nothing lost and traffic flowing as before.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from omniroute.appkeys import LEDGER
from omniroute.testing import FakeOpenAIUpstream
from tests.conftest import UPSTREAM_KEY, Gateway
from tests.proxy_servers import Socks5Proxy

CHAT = [{"role": "user", "content": "hello operator"}]
PROXIED, DIRECT = "openai/gpt-5", "groq/llama-3.3-70b-versatile"


async def ask(gw: Gateway, key: str, model: str) -> None:
    await gw.openai(api_key=key).chat.completions.create(model=model, messages=CHAT)


async def snapshot(gw: Gateway) -> dict[str, Any]:
    """Everything the operator configured, as the API shows it."""
    paths = ["/api/providers", "/api/keys", "/api/usage/budget", "/api/settings/proxy"]
    shown = {}
    for path in [*paths, "/api/pricing?provider=openai"]:
        status, body = await gw.api("GET", path)
        assert status == 200, body
        shown[path] = body
    for budget in shown["/api/usage/budget"]["budgets"]:
        budget.pop("spent"), budget.pop("remaining"), budget.pop("warning"), budget.pop("exceeded")
    return shown


@pytest.fixture
async def socks() -> Any:
    proxy = await Socks5Proxy().start()
    yield proxy
    await proxy.stop()


async def test_an_operator_runs_a_team_through_the_api(make_gateway, aiohttp_server, socks):
    gw = await make_gateway(require_api_key=True)
    upstreams = {}
    for provider in ("openai", "groq"):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        upstreams[provider] = (fake, f"{server.host}:{server.port}")
        await gw.connect(str(server.make_url("/v1")), provider=provider)

    # A key scoped to two providers' models, with a daily budget of about three requests.
    status, created = await gw.api(
        "POST", "/api/keys", json={"name": "team", "allowedModels": ["openai/*", "groq/*"]}
    )
    assert status == 201, created
    key, key_id = created["key"], created["id"]
    status, ops = await gw.api("POST", "/api/keys", json={"name": "ops"})  # no scope, no budget
    assert status == 201, ops
    prices = {"input": 1000.0, "output": 1000.0}  # $0.001 a token: every request costs cents
    status, _ = await gw.api("PUT", "/api/pricing", json={"openai": {"gpt-5": prices}})
    assert status == 200
    status, _ = await gw.api(
        "POST", "/api/usage/budget", json={"keyId": key_id, "limit": 0.05, "period": "daily"}
    )
    assert status == 201

    # One provider through the SOCKS proxy, the other direct.
    proxy = {"providers": {"openai": {"type": "socks5", "host": "127.0.0.1", "port": socks.port}}}
    status, _ = await gw.api("PUT", "/api/settings/proxy", json=proxy)
    assert status == 200
    await ask(gw, key, DIRECT)
    assert socks.tunnels == []
    await ask(gw, key, PROXIED)
    assert socks.tunnels == [upstreams["openai"][1]]

    with pytest.raises(openai.PermissionDeniedError):  # outside the key's scope
        await ask(gw, key, "xai/grok-4")

    # The budget stops the key once what it spent reaches the limit.
    answered = 1
    with pytest.raises(openai.RateLimitError) as caught:
        for _ in range(100):
            await ask(gw, key, PROXIED)
            answered += 1
    assert caught.value.code == "budget_exceeded"
    assert answered >= 2
    _, budgets = await gw.api("GET", f"/api/usage/budget?keyId={key_id}")
    assert budgets["budgets"][0]["exceeded"] and budgets["budgets"][0]["spent"] >= 0.05

    # Usage and cost by key, model and provider.
    await gw.app[LEDGER].drain()  # the ledger writes in batches; let the last one land
    costs = {}
    for by in ("key", "model", "provider"):
        status, breakdown = await gw.api("GET", f"/api/usage/breakdown?by={by}")
        assert status == 200, breakdown
        costs[by] = {group["name"]: group for group in breakdown["groups"]}
    assert costs["key"][key_id]["costUsd"] >= 0.05
    assert costs["model"][PROXIED]["requests"] == answered
    assert costs["provider"]["groq"]["requests"] == 1
    by_provider = sum(costs["provider"][p]["costUsd"] or 0 for p in ("openai", "groq"))
    assert costs["key"][key_id]["costUsd"] == pytest.approx(by_provider)

    # Export, wipe, import: nothing lost, and traffic flows (through the proxy) as before.
    before = await snapshot(gw)
    async with gw.admin.get(gw.url + "/api/db-backups/export") as resp:
        assert resp.status == 200
        backup = await resp.read()
    for connection in before["/api/providers"]:
        status, _ = await gw.api("DELETE", f"/api/providers/{connection['id']}")
        assert status in (200, 204)
    await gw.api("DELETE", f"/api/usage/budget/{key_id}")
    await gw.api("DELETE", "/api/settings/proxy")
    await gw.api("PUT", "/api/pricing", json={"openai": {"gpt-5": None}})
    await gw.api("DELETE", f"/api/keys/{key_id}")
    assert await snapshot(gw) != before

    form = aiohttp.FormData()
    form.add_field("file", backup, filename="omniroute.sqlite")
    status, imported = await gw.api("POST", "/api/db-backups/import", data=form)
    assert status == 200, imported
    assert await snapshot(gw) == before
    # The team key is back, still over its budget (its spending came back with the ledger)...
    with pytest.raises(openai.RateLimitError) as caught:
        await ask(gw, key, DIRECT)
    assert caught.value.code == "budget_exceeded"
    # ...and both connections route as before: openai through the proxy, groq direct.
    served = {name: len(fake.requests) for name, (fake, _address) in upstreams.items()}
    await ask(gw, ops["key"], PROXIED)
    await ask(gw, ops["key"], DIRECT)
    assert {name: len(fake.requests) for name, (fake, _) in upstreams.items()} == {
        name: count + 1 for name, count in served.items()
    }
    assert set(socks.tunnels) == {upstreams["openai"][1]}
