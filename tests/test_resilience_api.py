"""``/api/resilience``: settings, lockouts, forced unlock and reset; breaker and limits end to
end on a real gateway."""

from __future__ import annotations

import asyncio

import openai
import pytest

from omniroute.appkeys import GATEWAY
from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi"}]


async def accounts(gateway, aiohttp_server, count=2):
    fakes = []
    for priority in range(count):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(
            str(server.make_url("/v1")), priority=priority, name=f"acct{priority}"
        )
        fakes.append(fake)
    return fakes


async def chat(gateway):
    return await gateway.openai().chat.completions.create(model="openai/gpt-4o", messages=HI)


async def connection_ids(gateway) -> list[str]:
    _, rows = await gateway.api("GET", "/api/providers")
    return [r["id"] for r in sorted(rows, key=lambda r: r["priority"])]


class Clock:
    """Replaces the gateway's monotonic clock, so breaker cooldowns pass on command."""

    def __init__(self, gateway) -> None:
        resilience = gateway.app[GATEWAY].resilience
        self.now = resilience.clock()
        for part in (resilience, resilience.health, resilience.breaker, resilience.limiter):
            part.clock = self

    def __call__(self) -> float:
        return self.now


# -- settings ------------------------------------------------------------------------------------


async def test_defaults_throttle_nothing(gateway):
    status, body = await gateway.api("GET", "/api/resilience")
    assert status == 200
    settings = body["settings"]
    assert settings["limits"] == {
        "requestsPerMinute": None,
        "minIntervalMs": None,
        "maxConcurrent": None,
        "maxWaitMs": 1000,
    }
    assert settings["profile"]["failureThreshold"] == 5
    assert settings["maxHintSeconds"] == 3600
    assert body["breakers"] == [] and body["lockouts"] == []


async def test_patch_merges_and_is_stored(gateway):
    patch = {"profile": {"failureThreshold": 2}, "providers": {"groq": {"cooldownSeconds": 5}}}
    status, body = await gateway.api("PATCH", "/api/resilience", json=patch)
    assert status == 200
    assert body["settings"]["profile"]["failureThreshold"] == 2
    assert body["settings"]["profile"]["cooldownSeconds"] == 30, "untouched fields stay"
    assert body["settings"]["providers"] == {"groq": {"cooldownSeconds": 5}}
    # The same document as the settings section, and the running gateway uses it.
    _, section = await gateway.api("GET", "/api/settings/resilience")
    assert section == body["settings"]
    assert gateway.app[GATEWAY].index.resilience.profile_for("groq").cooldown_seconds == 5
    status, body = await gateway.api("PATCH", "/api/resilience", json={"providers": {"groq": None}})
    assert body["settings"]["providers"] == {}


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"profile": {"failureThreshold": 0}}, "profile.failureThreshold"),
        ({"limits": {"requestsPerMinute": -1}}, "limits.requestsPerMinute"),
        ({"limits": {"burst": 3}}, "limits.burst"),
        ({"maxHintSeconds": "long"}, "maxHintSeconds"),
        ({"connectionLimits": {"c1": {"maxConcurrent": 0}}}, "connectionLimits.c1.maxConcurrent"),
    ],
)
async def test_bad_settings_are_400_naming_the_field(gateway, patch, param):
    status, body = await gateway.api("PATCH", "/api/resilience", json=patch)
    assert status == 400
    assert body["error"]["param"] == param
    assert (await gateway.api("GET", "/api/resilience"))[1]["settings"]["limits"][
        "requestsPerMinute"
    ] is None, "nothing stored"


async def test_overrides_are_stored_under_the_provider_id(gateway):
    patch = {"providers": {"ds": {"failureThreshold": 2}}, "providerLimits": {"ds": {}}}
    status, body = await gateway.api("PATCH", "/api/resilience", json=patch)
    assert status == 200
    assert body["settings"]["providers"] == {"deepseek": {"failureThreshold": 2}}
    assert body["settings"]["providerLimits"] == {"deepseek": {}}


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"providers": {"nope": {"failureThreshold": 2}}}, "providers.nope"),
        ({"providerLimits": {"nope": {"maxConcurrent": 2}}}, "providerLimits.nope"),
        ({"connectionLimits": {"no-such-id": {"maxConcurrent": 2}}}, "connectionLimits.no-such-id"),
    ],
)
async def test_overrides_must_name_a_known_provider_or_connection(gateway, patch, param):
    status, body = await gateway.api("PATCH", "/api/resilience", json=patch)
    assert status == 400
    assert body["error"]["param"] == param


async def test_a_body_that_is_not_an_object_is_400(gateway):
    status, body = await gateway.api("PATCH", "/api/resilience", json=[1, 2])
    assert status == 400 and body["error"]["type"] == "bad_request"


# -- lockouts ------------------------------------------------------------------------------------


async def test_a_rate_limited_connection_is_listed_with_seconds_left(gateway, aiohttp_server):
    first, _ = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.error(429, "Slow down", headers={"retry-after": "60"}))
    await chat(gateway)
    status, body = await gateway.api("GET", "/api/resilience/lockouts")
    assert status == 200
    [lockout] = body["lockouts"]
    assert lockout["type"] == "connection"
    assert lockout["id"] == (await connection_ids(gateway))[0]
    assert (lockout["provider"], lockout["name"], lockout["reason"]) == (
        "openai",
        "acct0",
        "rate_limited",
    )
    assert 50 < lockout["secondsLeft"] <= 60


async def test_forced_unlock_puts_a_connection_back_to_work(gateway, aiohttp_server):
    first, _second = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.error(429, "Slow down", headers={"retry-after": "60"}))
    await chat(gateway)
    first_id = (await connection_ids(gateway))[0]
    status, body = await gateway.api("DELETE", f"/api/resilience/lockouts/{first_id}")
    assert (status, body) == (200, {"unlocked": first_id, "wasLocked": True})
    await chat(gateway)
    assert len(first.requests) == 2
    assert (await gateway.api("GET", "/api/resilience/lockouts"))[1]["lockouts"] == []
    status, body = await gateway.api("DELETE", f"/api/resilience/lockouts/{first_id}")
    assert (status, body["wasLocked"]) == (200, False)


async def test_unlocking_an_unknown_id_is_404(gateway):
    status, body = await gateway.api("DELETE", "/api/resilience/lockouts/no-such-thing")
    assert status == 404
    assert body["error"]["code"] == "not_found"


async def test_reset_clears_every_lockout(gateway, aiohttp_server):
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.error(429, "Slow down", headers={"retry-after": "60"}))
    second.enqueue(Reply.error(500, "boom"))
    with pytest.raises(openai.APIError):
        await chat(gateway)
    assert len((await gateway.api("GET", "/api/resilience/lockouts"))[1]["lockouts"]) == 2
    status, body = await gateway.api("POST", "/api/resilience/reset")
    assert (status, body) == (200, {"reset": True})
    assert (await gateway.api("GET", "/api/resilience/lockouts"))[1]["lockouts"] == []


async def test_the_hint_cap_bounds_how_long_a_hint_is_trusted(gateway, aiohttp_server):
    first, _ = await accounts(gateway, aiohttp_server)
    await gateway.api("PATCH", "/api/resilience", json={"maxHintSeconds": 5})
    first.enqueue(Reply.error(429, "Slow down", headers={"retry-after": "86400"}))
    await chat(gateway)
    [lockout] = (await gateway.api("GET", "/api/resilience/lockouts"))[1]["lockouts"]
    assert 0 < lockout["secondsLeft"] <= 5


# -- circuit breaker end to end ------------------------------------------------------------------


async def test_an_open_breaker_answers_503_with_retry_after_and_spares_the_provider(
    gateway, upstream, fake
):
    await gateway.connect(upstream)
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 2}})
    fake.enqueue(Reply.error(500, "boom"), Reply.error(503, "overloaded"))
    for _ in range(2):
        with pytest.raises(openai.APIError):
            await chat(gateway)
    status, body, resp = await gateway.post(
        "/v1/chat/completions", json={"model": "openai/gpt-4o", "messages": HI}
    )
    assert status == 503
    assert body["error"]["code"] == "circuit_open"
    assert "openai" in body["error"]["message"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 30
    assert len(fake.requests) == 2, "the open breaker kept the request away from the provider"
    _, state = await gateway.api("GET", "/api/resilience")
    assert state["breakers"][0]["provider"] == "openai"
    assert state["breakers"][0]["state"] == "open"
    provider_lockouts = [row for row in state["lockouts"] if row["type"] == "provider"]
    assert provider_lockouts[0]["id"] == "openai"


async def test_after_the_cooldown_one_probe_closes_the_breaker(gateway, upstream, fake):
    await gateway.connect(upstream)
    clock = Clock(gateway)
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 1}})
    fake.enqueue(Reply.error(500, "boom"))
    with pytest.raises(openai.APIError):
        await chat(gateway)
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(gateway)
    assert caught.value.status_code == 503
    clock.now += 31
    assert (await chat(gateway)).choices[0].message.content == "echo: hi"
    _, state = await gateway.api("GET", "/api/resilience")
    assert state["breakers"] == []
    assert len(fake.requests) == 2


async def test_a_failed_probe_reopens_the_breaker_for_longer(gateway, upstream, fake):
    await gateway.connect(upstream)
    clock = Clock(gateway)
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 1}})
    fake.enqueue(Reply.error(500, "boom"), Reply.error(500, "still down"))
    with pytest.raises(openai.APIError):
        await chat(gateway)
    clock.now += 31
    with pytest.raises(openai.APIError):
        await chat(gateway)  # the probe fails
    [breaker] = (await gateway.api("GET", "/api/resilience"))[1]["breakers"]
    assert breaker["state"] == "open"
    assert 30 < breaker["secondsLeft"] <= 60


async def test_forced_unlock_of_a_provider_closes_its_breaker(gateway, upstream, fake):
    await gateway.connect(upstream)
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 1}})
    fake.enqueue(Reply.error(500, "boom"))
    with pytest.raises(openai.APIError):
        await chat(gateway)
    status, body = await gateway.api("DELETE", "/api/resilience/lockouts/openai")
    assert (status, body) == (200, {"unlocked": "openai", "wasLocked": True})
    await gateway.api("POST", "/api/resilience/reset")  # the connection rests too
    assert (await chat(gateway)).choices[0].message.content == "echo: hi"


async def test_one_accounts_401_never_opens_the_breaker(gateway, aiohttp_server):
    first, _second = await accounts(gateway, aiohttp_server)
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 1}})
    first.enqueue(Reply.error(401, "Incorrect API key provided"))
    await chat(gateway)
    await chat(gateway)
    assert (await gateway.api("GET", "/api/resilience"))[1]["breakers"] == []


# -- connection limits end to end ----------------------------------------------------------------


async def test_a_connection_at_its_limit_passes_requests_to_the_next_account(
    gateway, aiohttp_server
):
    first, second = await accounts(gateway, aiohttp_server)
    first_id = (await connection_ids(gateway))[0]
    patch = {"connectionLimits": {first_id: {"requestsPerMinute": 2, "maxWaitMs": 0}}}
    assert (await gateway.api("PATCH", "/api/resilience", json=patch))[0] == 200
    for _ in range(5):
        await chat(gateway)
    assert (len(first.requests), len(second.requests)) == (2, 3)
    assert (await gateway.api("GET", "/api/resilience/lockouts"))[1]["lockouts"] == [], (
        "a local limit is not an upstream failure: nothing rests"
    )


async def test_when_no_account_has_room_the_client_gets_429(gateway, upstream, fake):
    await gateway.connect(upstream)
    patch = {"limits": {"requestsPerMinute": 1, "maxWaitMs": 0}}
    await gateway.api("PATCH", "/api/resilience", json=patch)
    await chat(gateway)
    status, body, resp = await gateway.post(
        "/v1/chat/completions", json={"model": "openai/gpt-4o", "messages": HI}
    )
    assert status == 429
    assert body["error"]["code"] == "connection_limit"
    assert int(resp.headers["Retry-After"]) >= 1
    assert len(fake.requests) == 1


async def test_max_concurrent_holds_across_concurrent_streams(gateway, upstream, fake):
    await gateway.connect(upstream)
    patch = {"limits": {"maxConcurrent": 2, "maxWaitMs": 60000}}
    await gateway.api("PATCH", "/api/resilience", json=patch)
    fake.enqueue(*[Reply.slow_stream(0.01)] * 12)
    resilience = gateway.app[GATEWAY].resilience
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(s.in_flight for s in resilience.state.accounts().values()))
            await asyncio.sleep(0)

    async def stream() -> str:
        chunks = await gateway.openai().chat.completions.create(
            model="openai/gpt-4o", messages=HI, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    watcher = asyncio.create_task(watch())
    texts = await asyncio.gather(*(stream() for _ in range(12)))
    watcher.cancel()
    assert texts == ["echo: hi"] * 12
    assert peak == 2
    assert sum(s.in_flight for s in resilience.state.accounts().values()) == 0


async def test_deleting_a_connection_drops_its_limits_so_later_changes_still_apply(
    gateway, upstream
):
    conn = await gateway.connect(upstream)
    patch = {"connectionLimits": {conn["id"]: {"maxConcurrent": 2}}}
    assert (await gateway.api("PATCH", "/api/resilience", json=patch))[0] == 200
    assert (await gateway.api("DELETE", f"/api/providers/{conn['id']}"))[0] == 200
    patch = {"profile": {"failureThreshold": 2}}
    status, body = await gateway.api("PATCH", "/api/resilience", json=patch)
    assert status == 200, body
    assert body["settings"]["connectionLimits"] == {}
