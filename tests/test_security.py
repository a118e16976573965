"""The security section: password change, login on/off, IP rules, /v1/models and blocked
providers."""

from __future__ import annotations

import ipaddress
from typing import Any

import aiohttp
import openai
import pytest
from anthropic import AsyncAnthropic, PermissionDeniedError

from omniroute.gateway.ip_rules import IpRules
from omniroute.settings_model import SecuritySettings
from tests.conftest import ADMIN_PASSWORD

CHAT = [{"role": "user", "content": "hi"}]
PROXY = {"trustedProxies": ["127.0.0.1"]}


async def anonymous(gw, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, gw.url + path, **kwargs) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def secure(gw, **fields: Any) -> dict[str, Any]:
    status, body = await gw.api("PATCH", "/api/settings/security", json=fields)
    assert status == 200, body
    return body


def via(address: str) -> dict[str, str]:
    """Headers of a request forwarded by the trusted proxy (this test) for ``address``."""
    return {"X-Forwarded-For": address}


# -- password ------------------------------------------------------------------------------------


async def test_changing_the_password_ends_other_sessions_and_keeps_the_callers(make_gateway):
    gw = await make_gateway()
    other = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with other:
        await other.post(gw.url + "/api/auth/login", json={"password": ADMIN_PASSWORD})
        body = {"current": ADMIN_PASSWORD, "new": "a-new-password-123"}
        status, answer = await gw.api("POST", "/api/auth/password", json=body)
        assert (status, answer) == (200, {"changed": True})
        async with other.get(gw.url + "/api/providers") as resp:
            assert resp.status == 401
    assert (await gw.api("GET", "/api/providers"))[0] == 200
    old = await anonymous(gw, "POST", "/api/auth/login", json={"password": ADMIN_PASSWORD})
    assert old[0] == 401
    new = await anonymous(gw, "POST", "/api/auth/login", json={"password": "a-new-password-123"})
    assert new[0] == 200


async def test_a_wrong_current_password_changes_nothing(gateway):
    body = {"current": "not-it", "new": "a-new-password-123"}
    status, answer = await gateway.api("POST", "/api/auth/password", json=body)
    assert status == 403 and answer["error"]["param"] == "current"
    assert (await gateway.api("GET", "/api/providers"))[0] == 200


async def test_a_short_new_password_is_a_400_naming_it(gateway):
    body = {"current": ADMIN_PASSWORD, "new": "short"}
    status, answer = await gateway.api("POST", "/api/auth/password", json=body)
    assert status == 400 and answer["error"]["param"] == "new"


# -- login on or off -----------------------------------------------------------------------------


async def test_with_login_off_the_api_needs_no_session_on_this_machine(gateway):
    assert (await anonymous(gateway, "GET", "/api/providers"))[0] == 401
    await secure(gateway, loginRequired=False)
    assert (await anonymous(gateway, "GET", "/api/providers"))[0] == 200
    await secure(gateway, loginRequired=True)
    assert (await anonymous(gateway, "GET", "/api/providers"))[0] == 401


async def test_with_login_off_a_request_forwarded_by_an_untrusted_proxy_still_needs_a_session(
    gateway,
):
    await secure(gateway, loginRequired=False)
    # A reverse proxy on this host forwards the world from 127.0.0.1.
    assert (await anonymous(gateway, "GET", "/api/providers", headers=via("8.8.8.8")))[0] == 401


async def test_with_login_off_and_an_api_allow_list_its_addresses_need_no_session(gateway):
    await secure(
        gateway, loginRequired=False, ipRules={"api": {"allow": ["198.51.100.0/24"]}}, **PROXY
    )
    status, _ = await anonymous(gateway, "GET", "/api/providers", headers=via("198.51.100.4"))
    assert status == 200
    status, _ = await anonymous(gateway, "GET", "/api/providers", headers=via("192.0.2.4"))
    assert status == 403


# -- IP rules ------------------------------------------------------------------------------------


async def test_a_denied_address_gets_a_403_at_the_front_door(gateway):
    await secure(gateway, ipRules={"v1": {"deny": ["203.0.113.0/24"]}}, **PROXY)
    status, body = await anonymous(gateway, "GET", "/v1/models", headers=via("203.0.113.9"))
    assert status == 403 and body["error"]["code"] == "ip_not_allowed"
    assert (await anonymous(gateway, "GET", "/v1/models", headers=via("198.51.100.1")))[0] == 200


async def test_the_denial_comes_in_the_callers_own_shape(gateway):
    await secure(gateway, ipRules={"v1": {"deny": ["203.0.113.0/24"]}}, **PROXY)
    client = AsyncAnthropic(
        base_url=gateway.url, api_key="k", max_retries=0, default_headers=via("203.0.113.9")
    )
    with pytest.raises(PermissionDeniedError) as caught:
        await client.messages.create(model="anthropic/x", max_tokens=8, messages=CHAT)
    assert caught.value.body["type"] == "error"


async def test_an_allow_list_admits_only_what_it_matches_ipv4_and_ipv6(gateway):
    allow = ["198.51.100.0/24", "2001:db8::/32"]
    await secure(gateway, ipRules={"v1": {"allow": allow}}, **PROXY)
    for address, expected in [
        ("198.51.100.7", 200),
        ("2001:db8::1", 200),
        ("192.0.2.1", 403),
        ("2001:db9::1", 403),
    ]:
        status, _ = await anonymous(gateway, "GET", "/v1/models", headers=via(address))
        assert status == expected, address


async def test_deny_wins_over_allow(gateway):
    rules = {"v1": {"allow": ["198.51.100.0/24"], "deny": ["198.51.100.7"]}}
    await secure(gateway, ipRules=rules, **PROXY)
    assert (await anonymous(gateway, "GET", "/v1/models", headers=via("198.51.100.7")))[0] == 403
    assert (await anonymous(gateway, "GET", "/v1/models", headers=via("198.51.100.8")))[0] == 200


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(gateway):
    await secure(gateway, ipRules={"v1": {"allow": ["198.51.100.0/24"]}})
    # The peer (127.0.0.1) is not trusted, so the header proves nothing and the peer is judged.
    assert (await anonymous(gateway, "GET", "/v1/models", headers=via("198.51.100.7")))[0] == 403


async def test_api_rules_are_separate_from_front_door_rules(gateway):
    await secure(gateway, ipRules={"api": {"deny": ["203.0.113.0/24"]}}, **PROXY)
    status, body = await gateway.api("GET", "/api/providers", headers=via("203.0.113.9"))
    assert status == 403 and body["error"]["code"] == "ip_not_allowed"
    assert (await anonymous(gateway, "GET", "/v1/models", headers=via("203.0.113.9")))[0] == 200
    assert (await gateway.api("GET", "/api/providers", headers=via("198.51.100.1")))[0] == 200


def test_the_client_address_is_the_right_most_untrusted_hop():
    rules = IpRules.of(SecuritySettings(trusted_proxies=["10.0.0.0/8"]))
    # The client wrote "1.1.1.1" itself; the trusted proxies appended what they saw.
    address = rules.client_address("10.0.0.2", "1.1.1.1, 203.0.113.5, 10.0.0.1")
    assert address == ipaddress.ip_address("203.0.113.5")
    assert rules.client_address("192.0.2.1", "1.1.1.1") == ipaddress.ip_address("192.0.2.1")
    assert rules.client_address("::ffff:10.0.0.2", "203.0.113.5") == ipaddress.ip_address(
        "203.0.113.5"
    )


# -- /v1/models and blocked providers ------------------------------------------------------------


async def test_the_model_list_can_be_opened_while_keys_stay_required(make_gateway, upstream):
    gw = await make_gateway(require_api_key=True)
    await gw.connect(upstream)
    assert (await anonymous(gw, "GET", "/v1/models"))[0] == 401
    await secure(gw, modelsRequireKey=False)
    status, listing = await anonymous(gw, "GET", "/v1/models")
    assert status == 200 and listing["data"]
    with pytest.raises(openai.AuthenticationError):
        await gw.openai().chat.completions.create(model="openai/gpt-5", messages=CHAT)


async def test_a_blocked_provider_vanishes_from_the_list_and_refuses_requests(gateway, upstream):
    await gateway.connect(upstream)
    await secure(gateway, blockedProviders=["openai"])
    listing = [m.id async for m in gateway.openai().models.list()]
    assert not any(m.startswith("openai/") for m in listing)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=CHAT)
    assert "'openai'" in caught.value.message
    await secure(gateway, blockedProviders=[])
    await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=CHAT)
