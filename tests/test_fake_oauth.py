"""The fake OAuth authorization server: each check the real servers make, one test each."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from omniroute.testing import FakeOAuthServer
from omniroute.testing.fake_oauth import DEVICE_GRANT, OAuthPaths, pkce_challenge

pytestmark = pytest.mark.timeout(10)

CLIENT = "client-123"
REDIRECT = "http://localhost:54545/callback"
TIMEOUT = aiohttp.ClientTimeout(total=5)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


def verifier() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(96)).rstrip(b"=").decode()


def authorize_params(challenge: str, **extra: str) -> dict[str, str]:
    return {
        "client_id": CLIENT,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "user:inference",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-1",
        **extra,
    }


async def post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], *, fmt: str = "form", **kw: Any
) -> tuple[int, dict[str, Any]]:
    data = {"json": body} if fmt == "json" else {"data": body}
    async with http.post(url, **data, **kw) as resp:
        return resp.status, await resp.json()


async def login(
    oauth: FakeOAuthServer, base: str, http: aiohttp.ClientSession, *, fmt: str = "form"
) -> dict[str, Any]:
    """A whole authorization code login; returns the token answer."""
    code_verifier = verifier()
    url = (
        oauth.authorize_url(base) + "?" + urlencode(authorize_params(pkce_challenge(code_verifier)))
    )
    code = await code_from(oauth, url)
    status, answer = await post(
        http,
        oauth.token_url(base),
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": CLIENT,
            "code_verifier": code_verifier,
        },
        fmt=fmt,
    )
    assert status == 200, answer
    return answer


async def code_from(oauth: FakeOAuthServer, url: str) -> str:
    got = await oauth.approve_authorization(url)
    if oauth.paste_back:
        return got.partition("#")[0]
    return parse_qs(urlsplit(got).query)["code"][0]


# -- authorization endpoint --------------------------------------------------------------------


async def test_authorization_redirects_with_code_and_state():
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        url = oauth.authorize_url(base) + "?" + urlencode(authorize_params(pkce_challenge("v")))
        location = await oauth.approve_authorization(url)
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(REDIRECT + "?")
    assert query["state"] == ["st-1"] and query["code"][0]


async def test_paste_back_mode_shows_code_hash_state_on_the_page(http):
    oauth = FakeOAuthServer(client_id=CLIENT, paste_back=True)
    async with oauth.serve() as base:
        url = oauth.authorize_url(base) + "?" + urlencode(authorize_params(pkce_challenge("v")))
        async with http.get(url, allow_redirects=False) as resp:
            page = await resp.text()
    code, _, state = resp.headers["X-Code-State"].partition("#")
    assert resp.status == 200 and state == "st-1" and f"{code}#st-1" in page


async def test_authorization_refuses_an_unknown_client(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        params = authorize_params(pkce_challenge("v"), client_id="someone-else")
        async with http.get(oauth.authorize_url(base), params=params) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "invalid_client"


async def test_authorization_requires_an_s256_challenge(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        params = authorize_params("x")
        del params["code_challenge"]
        async with http.get(oauth.authorize_url(base), params=params) as resp:
            assert resp.status == 400
        params = authorize_params("x", code_challenge_method="plain")
        async with http.get(oauth.authorize_url(base), params=params) as resp:
            assert resp.status == 400


async def test_authorization_refuses_an_unregistered_redirect_uri(http):
    oauth = FakeOAuthServer(client_id=CLIENT, redirect_uris=["http://localhost:1455/auth/callback"])
    async with (
        oauth.serve() as base,
        http.get(oauth.authorize_url(base), params=authorize_params("x")) as resp,
    ):
        assert resp.status == 400


async def test_redirect_parameter_name_is_configurable_for_iflow():
    oauth = FakeOAuthServer(client_id=CLIENT, redirect_param="redirect", require_pkce=False)
    async with oauth.serve() as base:
        params = {"client_id": CLIENT, "redirect": REDIRECT, "state": "s"}
        location = await oauth.approve_authorization(
            oauth.authorize_url(base) + "?" + urlencode(params)
        )
    assert location.startswith(REDIRECT + "?code=")


# -- authorization code exchange ---------------------------------------------------------------


async def test_code_exchange_with_the_right_verifier_issues_valid_tokens(http):
    oauth = FakeOAuthServer(client_id=CLIENT, expires_in=600)
    async with oauth.serve() as base:
        answer = await login(oauth, base, http)
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 600
    assert answer["refresh_token"] and oauth.is_valid(answer["access_token"])
    assert oauth.token_requests == 1 and oauth.refresh_requests == 0


async def test_code_exchange_with_a_wrong_verifier_is_invalid_grant(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        url = (
            oauth.authorize_url(base) + "?" + urlencode(authorize_params(pkce_challenge("a" * 43)))
        )
        code = await code_from(oauth, url)
        status, answer = await post(
            http,
            oauth.token_url(base),
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": CLIENT,
                "code_verifier": "b" * 43,
            },
        )
    assert (status, answer["error"]) == (400, "invalid_grant")
    assert "code_verifier" in answer["error_description"]


async def test_a_code_is_single_use(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        code_verifier = verifier()
        url = (
            oauth.authorize_url(base)
            + "?"
            + urlencode(authorize_params(pkce_challenge(code_verifier)))
        )
        code = await code_from(oauth, url)
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": CLIENT,
            "code_verifier": code_verifier,
        }
        first, _ = await post(http, oauth.token_url(base), body)
        second, answer = await post(http, oauth.token_url(base), body)
    assert (first, second, answer["error"]) == (200, 400, "invalid_grant")


async def test_redirect_uri_must_equal_the_one_authorized(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        code_verifier = verifier()
        url = (
            oauth.authorize_url(base)
            + "?"
            + urlencode(authorize_params(pkce_challenge(code_verifier)))
        )
        code = await code_from(oauth, url)
        status, answer = await post(
            http,
            oauth.token_url(base),
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://localhost:9999/other",
                "client_id": CLIENT,
                "code_verifier": code_verifier,
            },
        )
    assert (status, answer["error"]) == (400, "invalid_grant")


async def test_token_endpoint_refuses_the_wrong_client_id(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        status, answer = await post(
            http, oauth.token_url(base), {"grant_type": "refresh_token", "client_id": "nope"}
        )
    assert (status, answer["error"]) == (401, "invalid_client")


async def test_a_configured_client_secret_is_required_in_the_body_or_basic_auth(http):
    oauth = FakeOAuthServer(client_id=CLIENT, client_secret="s3cret")
    async with oauth.serve() as base:
        pair = oauth.issue()
        body = {
            "grant_type": "refresh_token",
            "client_id": CLIENT,
            "refresh_token": pair.refresh_token,
        }
        missing, _ = await post(http, oauth.token_url(base), body)
        in_body, _ = await post(http, oauth.token_url(base), {**body, "client_secret": "s3cret"})
        refreshed = oauth.live_refresh_tokens[0]
        basic = {"Authorization": "Basic " + base64.b64encode(f"{CLIENT}:s3cret".encode()).decode()}
        with_basic, _ = await post(
            http, oauth.token_url(base), {**body, "refresh_token": refreshed}, headers=basic
        )
    assert (missing, in_body, with_basic) == (401, 200, 200)


async def test_json_mode_refuses_a_form_body_and_accepts_json(http):
    oauth = FakeOAuthServer(client_id=CLIENT, token_format="json", paste_back=True)
    async with oauth.serve() as base:
        status, answer = await post(http, oauth.token_url(base), {"grant_type": "x"}, fmt="form")
        assert (status, answer["error"]) == (400, "invalid_request")
        tokens = await login(oauth, base, http, fmt="json")
    assert oauth.is_valid(tokens["access_token"])


async def test_form_mode_refuses_a_json_body(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        status, answer = await post(
            http, oauth.token_url(base), {"grant_type": "refresh_token"}, fmt="json"
        )
    assert (status, answer["error"]) == (400, "invalid_request")


async def test_token_extra_fields_are_in_every_answer(http):
    account = {"uuid": "acc-1", "email_address": "a@example.com"}
    oauth = FakeOAuthServer(client_id=CLIENT, token_extra={"account": account})
    async with oauth.serve() as base:
        answer = await login(oauth, base, http)
    assert answer["account"] == account


# -- refresh -----------------------------------------------------------------------------------


async def test_refresh_rotates_and_the_old_refresh_token_becomes_invalid_grant(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        first = await login(oauth, base, http)
        body = {"grant_type": "refresh_token", "client_id": CLIENT}
        status, second = await post(
            http, oauth.token_url(base), {**body, "refresh_token": first["refresh_token"]}
        )
        assert status == 200 and second["refresh_token"] != first["refresh_token"]
        status, reused = await post(
            http, oauth.token_url(base), {**body, "refresh_token": first["refresh_token"]}
        )
    assert (status, reused["error"]) == (400, "invalid_grant")
    assert oauth.refresh_requests == 2 and oauth.token_requests == 3
    assert oauth.is_valid(second["access_token"])


async def test_without_rotation_the_answer_omits_the_refresh_token_and_the_old_one_works(http):
    oauth = FakeOAuthServer(client_id=CLIENT, rotate_refresh=False)
    async with oauth.serve() as base:
        first = await login(oauth, base, http)
        body = {
            "grant_type": "refresh_token",
            "client_id": CLIENT,
            "refresh_token": first["refresh_token"],
        }
        _, second = await post(http, oauth.token_url(base), body)
        again, _ = await post(http, oauth.token_url(base), body)
    assert "refresh_token" not in second and again == 200


async def test_a_revoked_refresh_token_is_invalid_grant(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        pair = oauth.issue()
        assert pair.refresh_token is not None
        oauth.revoke(pair.refresh_token)
        status, answer = await post(
            http,
            oauth.token_url(base),
            {
                "grant_type": "refresh_token",
                "client_id": CLIENT,
                "refresh_token": pair.refresh_token,
            },
        )
    assert (status, answer["error"]) == (400, "invalid_grant")


def test_access_tokens_expire_and_can_be_revoked():
    now = [1000.0]
    oauth = FakeOAuthServer(client_id=CLIENT, expires_in=60, clock=lambda: now[0])
    pair = oauth.issue()
    assert oauth.check_access(pair.access_token) == "ok"
    now[0] += 61
    assert oauth.check_access(pair.access_token) == "expired"
    fresh = oauth.issue()
    oauth.expire(fresh.access_token)
    assert oauth.check_access(fresh.access_token) == "expired"
    other = oauth.issue()
    oauth.revoke(other.access_token)
    assert oauth.check_access(other.access_token) == "revoked"
    assert oauth.check_access("never-issued") == "unknown"


# -- device code -------------------------------------------------------------------------------


async def test_device_flow_is_pending_until_the_user_approves(http):
    oauth = FakeOAuthServer(client_id=CLIENT, require_pkce=False)
    async with oauth.serve() as base:
        status, device = await post(
            http, oauth.device_url(base), {"client_id": CLIENT, "scope": "read:user"}
        )
        assert status == 200 and device["verification_uri"] and device["interval"] == 0
        poll = {
            "client_id": CLIENT,
            "device_code": device["device_code"],
            "grant_type": DEVICE_GRANT,
        }
        status, pending = await post(http, oauth.token_url(base), poll)
        assert (status, pending["error"]) == (400, "authorization_pending")
        oauth.approve(device["user_code"])
        status, tokens = await post(http, oauth.token_url(base), poll)
        assert status == 200 and oauth.is_valid(tokens["access_token"])
        status, reused = await post(http, oauth.token_url(base), poll)
    assert (status, reused["error"]) == (400, "invalid_grant")
    assert oauth.device_polls == 3


async def test_polling_faster_than_the_interval_is_slow_down(http):
    oauth = FakeOAuthServer(client_id=CLIENT, device_interval=5, pending_status=200)
    async with oauth.serve() as base:
        _, device = await post(http, oauth.device_url(base), {"client_id": CLIENT})
        poll = {
            "client_id": CLIENT,
            "device_code": device["device_code"],
            "grant_type": DEVICE_GRANT,
        }
        first = await post(http, oauth.token_url(base), poll)
        second = await post(http, oauth.token_url(base), poll)
    assert first == (
        200,
        {"error": "authorization_pending", "error_description": "the user has not approved yet"},
    )
    assert second[0] == 200 and second[1]["error"] == "slow_down"


async def test_a_denied_device_request_is_access_denied(http):
    oauth = FakeOAuthServer(client_id=CLIENT)
    async with oauth.serve() as base:
        _, device = await post(http, oauth.device_url(base), {"client_id": CLIENT})
        oauth.deny(device["user_code"])
        poll = {
            "client_id": CLIENT,
            "device_code": device["device_code"],
            "grant_type": DEVICE_GRANT,
        }
        status, answer = await post(http, oauth.token_url(base), poll)
    assert (status, answer["error"]) == (400, "access_denied")


async def test_an_expired_device_code_is_expired_token(http):
    now = [1000.0]
    oauth = FakeOAuthServer(client_id=CLIENT, clock=lambda: now[0])
    async with oauth.serve() as base:
        _, device = await post(http, oauth.device_url(base), {"client_id": CLIENT})
        now[0] += 901
        poll = {
            "client_id": CLIENT,
            "device_code": device["device_code"],
            "grant_type": DEVICE_GRANT,
        }
        status, answer = await post(http, oauth.token_url(base), poll)
    assert (status, answer["error"]) == (400, "expired_token")


async def test_device_flow_with_pkce_checks_the_verifier_qwen_style(http):
    oauth = FakeOAuthServer(
        client_id=CLIENT, device_pkce=True, token_extra={"resource_url": "portal.example"}
    )
    code_verifier = verifier()
    async with oauth.serve() as base:
        status, _ = await post(http, oauth.device_url(base), {"client_id": CLIENT})
        assert status == 400
        _, device = await post(
            http,
            oauth.device_url(base),
            {
                "client_id": CLIENT,
                "code_challenge": pkce_challenge(code_verifier),
                "code_challenge_method": "S256",
            },
        )
        oauth.approve(device["user_code"])
        poll = {
            "client_id": CLIENT,
            "device_code": device["device_code"],
            "grant_type": DEVICE_GRANT,
        }
        wrong, _ = await post(http, oauth.token_url(base), {**poll, "code_verifier": "x" * 43})
        oauth.approve(device["user_code"])
        status, tokens = await post(
            http, oauth.token_url(base), {**poll, "code_verifier": code_verifier}
        )
    assert wrong == 400 and status == 200 and tokens["resource_url"] == "portal.example"


# -- AWS SSO OIDC ------------------------------------------------------------------------------


async def test_aws_oidc_registers_a_client_and_speaks_camel_case(http):
    paths = OAuthPaths(token="/token", device="/device_authorization")
    oauth = FakeOAuthServer(client_id="unused", token_format="aws", paths=paths)
    async with oauth.serve() as base:
        status, client = await post(
            http,
            oauth.register_url(base),
            {
                "clientName": "kiro-oauth-client",
                "clientType": "public",
                "scopes": ["codewhisperer:completions"],
            },
            fmt="json",
        )
        assert status == 200 and client["clientSecretExpiresAt"] > 0
        auth = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
        _, device = await post(
            http,
            base + "/device_authorization",
            {**auth, "startUrl": "https://view.awsapps.com/start"},
            fmt="json",
        )
        assert {"deviceCode", "userCode", "verificationUriComplete"} <= device.keys()
        poll = {**auth, "deviceCode": device["deviceCode"], "grantType": DEVICE_GRANT}
        status, pending = await post(http, base + "/token", poll, fmt="json")
        assert (status, pending["error"]) == (400, "authorization_pending")
        oauth.approve(device["userCode"])
        _, tokens = await post(http, base + "/token", poll, fmt="json")
        assert {"accessToken", "refreshToken", "expiresIn", "tokenType"} <= tokens.keys()
        refresh = {**auth, "refreshToken": tokens["refreshToken"], "grantType": "refresh_token"}
        status, refreshed = await post(http, base + "/token", refresh, fmt="json")
        wrong_secret, _ = await post(
            http, base + "/token", {**refresh, "clientSecret": "x"}, fmt="json"
        )
    assert status == 200 and refreshed["refreshToken"] != tokens["refreshToken"]
    assert wrong_secret == 401
