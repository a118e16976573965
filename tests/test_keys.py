"""Client keys: model scopes, expiry, regeneration, requests per minute and last use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import openai
import pytest
from anthropic import AsyncAnthropic
from click.testing import CliRunner

from omniroute.appkeys import GATEWAY
from omniroute.cli import build_cli
from omniroute.gateway.key_limits import KeyRateLimiter
from omniroute.testing import FakeAnthropicUpstream
from tests.conftest import UPSTREAM_KEY

CHAT = [{"role": "user", "content": "hi"}]


async def make_key(gw, **fields: Any) -> dict[str, Any]:
    status, data = await gw.api("POST", "/api/keys", json={"name": "scoped", **fields})
    assert status == 201, data
    return data


@pytest.fixture
async def gw(make_gateway, upstream):
    gateway = await make_gateway(require_api_key=True)
    await gateway.connect(upstream)
    return gateway


# -- scopes --------------------------------------------------------------------------------------


async def test_a_scoped_key_may_use_a_model_its_patterns_allow(gw):
    key = await make_key(gw, allowedModels=["openai/gpt-5*"])
    reply = await gw.openai(key["key"]).chat.completions.create(model="gpt-5-mini", messages=CHAT)
    assert reply.choices[0].message.content


async def test_a_model_outside_the_scope_is_a_403_naming_the_model(gw):
    key = await make_key(gw, allowedModels=["openai/gpt-5*"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await gw.openai(key["key"]).chat.completions.create(model="openai/gpt-4.1", messages=CHAT)
    assert "openai/gpt-4.1" in caught.value.message
    assert caught.value.body["code"] == "model_not_allowed"


async def test_scope_is_enforced_in_the_anthropic_callers_own_shape(make_gateway, aiohttp_server):
    gw = await make_gateway(require_api_key=True)
    fake = FakeAnthropicUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    await gw.connect(str(server.make_url("")).rstrip("/"), provider="anthropic")
    key = await make_key(gw, allowedModels=["anthropic/claude-haiku-*"])
    client = AsyncAnthropic(base_url=gw.url, api_key=key["key"], max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        await client.messages.create(
            model="anthropic/claude-sonnet-4-5", max_tokens=64, messages=CHAT
        )
    assert caught.value.body["error"]["type"] == "permission_error"
    assert "anthropic/claude-sonnet-4-5" in caught.value.body["error"]["message"]
    assert fake.requests == []


async def test_a_scoped_key_lists_only_the_models_it_may_use(gw):
    key = await make_key(gw, allowedModels=["openai/gpt-5*"])
    listed = [m.id async for m in gw.openai(key["key"]).models.list()]
    assert "openai/gpt-5-mini" in listed
    assert all(m.startswith("openai/gpt-5") for m in listed)


async def test_scope_patterns_are_validated(gw):
    status, body = await gw.api("POST", "/api/keys", json={"allowedModels": ["ok", ""]})
    assert status == 400
    assert body["error"]["param"] == "allowedModels"


# -- expiry --------------------------------------------------------------------------------------


async def test_an_expired_key_is_a_401_saying_so(gw):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    key = await make_key(gw, expiresAt=past)
    with pytest.raises(openai.AuthenticationError) as caught:
        await gw.openai(key["key"]).chat.completions.create(model="openai/gpt-4o", messages=CHAT)
    assert "expired" in caught.value.message
    _, listed = await gw.api("GET", f"/api/keys/{key['id']}")
    assert listed["expired"] is True


async def test_a_key_works_until_its_expiry_and_the_expiry_can_be_lifted(gw):
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    key = await make_key(gw, expiresAt=future)
    await gw.openai(key["key"]).chat.completions.create(model="openai/gpt-4o", messages=CHAT)
    status, updated = await gw.api("PATCH", f"/api/keys/{key['id']}", json={"expiresAt": None})
    assert status == 200 and updated["expiresAt"] is None


async def test_an_expiry_without_a_timezone_is_refused(gw):
    status, body = await gw.api("POST", "/api/keys", json={"expiresAt": "2030-01-01T00:00:00"})
    assert status == 400
    assert body["error"]["param"] == "expiresAt"


# -- regenerate ----------------------------------------------------------------------------------


async def test_regenerating_shows_a_new_secret_once_and_the_old_one_stops_working(gw):
    key = await make_key(gw)
    status, regenerated = await gw.api("POST", f"/api/keys/{key['id']}/regenerate")
    assert status == 200
    assert regenerated["id"] == key["id"] and regenerated["key"] != key["key"]
    with pytest.raises(openai.AuthenticationError):
        await gw.openai(key["key"]).chat.completions.create(model="openai/gpt-4o", messages=CHAT)
    await gw.openai(regenerated["key"]).chat.completions.create(
        model="openai/gpt-4o", messages=CHAT
    )
    status, listed = await gw.api("GET", "/api/keys")
    assert regenerated["key"] not in str(listed)


async def test_regenerating_an_unknown_key_is_a_404(gw):
    status, _ = await gw.api("POST", "/api/keys/nope/regenerate")
    assert status == 404


# -- requests per minute -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_over_its_requests_per_minute_gets_a_429_with_retry_after(gw):
    clock = Clock()
    gw.app[GATEWAY].key_limiter = KeyRateLimiter(clock)
    key = await make_key(gw, rpmLimit=2)
    client = gw.openai(key["key"])
    for _ in range(2):
        await client.chat.completions.create(model="openai/gpt-4o", messages=CHAT)
        clock.now += 10
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="openai/gpt-4o", messages=CHAT)
    # The first request leaves the window 60 s after it was made: 40 s from now.
    assert caught.value.response.headers["Retry-After"] == "40"
    clock.now += 40
    await client.chat.completions.create(model="openai/gpt-4o", messages=CHAT)


async def test_the_limit_is_per_key(gw):
    clock = Clock()
    gw.app[GATEWAY].key_limiter = KeyRateLimiter(clock)
    limited = await make_key(gw, rpmLimit=1)
    other = await make_key(gw, rpmLimit=1)
    await gw.openai(limited["key"]).chat.completions.create(model="openai/gpt-4o", messages=CHAT)
    with pytest.raises(openai.RateLimitError):
        await gw.openai(limited["key"]).chat.completions.create(
            model="openai/gpt-4o", messages=CHAT
        )
    await gw.openai(other["key"]).chat.completions.create(model="openai/gpt-4o", messages=CHAT)


def test_the_window_slides():
    clock = Clock()
    limiter = KeyRateLimiter(clock)
    assert limiter.hit("k", 2) is None
    clock.now += 30
    assert limiter.hit("k", 2) is None
    assert limiter.hit("k", 2) == pytest.approx(30)
    clock.now += 30
    assert limiter.hit("k", 2) is None  # the first left the window
    assert limiter.hit("k", 2) == pytest.approx(30)


# -- last used -----------------------------------------------------------------------------------


async def test_last_used_is_stamped_after_a_request_by_the_batched_writer(gw):
    key = await make_key(gw)
    assert key["lastUsedAt"] is None
    await gw.openai(key["key"]).chat.completions.create(model="openai/gpt-4o", messages=CHAT)
    await gw.app[GATEWAY].ledger.drain()
    _, listed = await gw.api("GET", f"/api/keys/{key['id']}")
    assert listed["lastUsedAt"] is not None


# -- the CLI -------------------------------------------------------------------------------------


def test_the_cli_creates_a_scoped_key_and_updates_it(tmp_path):
    runner = CliRunner()
    data_dir = str(tmp_path / "data")
    created = runner.invoke(
        build_cli(),
        ["keys", "create", "ci", "--allow", "openai/*", "--rpm", "5", "--data-dir", data_dir],
    )
    assert created.exit_code == 0, created.output
    key_id = created.output.split()[2]
    updated = runner.invoke(
        build_cli(), ["keys", "update", key_id, "--no-rpm", "--data-dir", data_dir]
    )
    assert updated.exit_code == 0, updated.output
    listed = runner.invoke(build_cli(), ["keys", "list", "--json", "--data-dir", data_dir])
    assert '"rpmLimit": null' in listed.output
    assert '"openai/*"' in listed.output
    regenerated = runner.invoke(build_cli(), ["keys", "regenerate", key_id, "--data-dir", data_dir])
    assert regenerated.exit_code == 0
    assert regenerated.output.strip().splitlines()[-1].startswith("sk-omni-")


def test_windows_of_keys_that_no_longer_exist_are_forgotten():
    limiter = KeyRateLimiter(Clock())
    assert limiter.hit("gone", 1) is None
    assert limiter.hit("gone", 1) is not None
    limiter.forget({"other"})
    assert limiter.hit("gone", 1) is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/responses", {"model": "openai/gpt-4.1", "input": "hi"}),
        (
            "/v1beta/models/openai/gpt-4.1:generateContent",
            {"contents": [{"parts": [{"text": "hi"}]}]},
        ),
    ],
    ids=["responses", "gemini"],
)
async def test_scope_holds_at_the_responses_and_gemini_front_doors(gw, path, body):
    key = await make_key(gw, allowedModels=["openai/gpt-5*"])
    headers = {"Authorization": f"Bearer {key['key']}"}
    status, answer, _ = await gw.post(path, json=body, headers=headers)
    assert status == 403
    assert "openai/gpt-4.1" in answer["error"]["message"]


async def test_a_combo_is_in_scope_by_its_name_only(gw):
    status, body = await gw.api(
        "POST", "/api/combos", json={"name": "team", "models": ["openai/gpt-5"]}
    )
    assert status == 201, body
    by_name = await make_key(gw, allowedModels=["team"])
    await gw.openai(by_name["key"]).chat.completions.create(model="team", messages=CHAT)
    by_target = await make_key(gw, allowedModels=["openai/*"])
    with pytest.raises(openai.PermissionDeniedError):
        await gw.openai(by_target["key"]).chat.completions.create(model="team", messages=CHAT)
