"""The OAuth kernel end to end: login through the API, the stored (encrypted) connection, calls
with its token, proactive refresh, rotation persisted before use, one refresh at a time, refresh
+ retry on a 401, ``invalid_grant`` → needs re-auth and failover, re-login of the same account."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from omniroute.accounts import connections
from omniroute.app import create_app
from omniroute.appkeys import REGISTRY, SECRETS, STORE
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.oauth.plugin import oauth_context, runtime_of
from omniroute.plugins import get_plugin_manager
from tests.conftest import ADMIN_PASSWORD, Gateway, make_settings
from tests.oauth_fakes import AuthServer, SubscriptionPlugin, Upstream

HELLO = [{"role": "user", "content": "hello"}]
pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def oauth(tmp_path: Path, aiohttp_server: Any):
    """The auth server, the upstream and a gateway with the test plugin (and the OAuth runtime
    bound to the app, as ``create_app`` does through ``oauth_context``)."""
    auth = AuthServer()
    auth_server = await aiohttp_server(auth.app)
    upstream = Upstream(auth)
    up_server = await aiohttp_server(upstream.app)
    plugin = SubscriptionPlugin(
        str(auth_server.make_url("")).rstrip("/"), str(up_server.make_url("/v1"))
    )
    pm = get_plugin_manager()
    pm.register(plugin, name="subscription-test")
    app = create_app(make_settings(tmp_path / "data"), pm)
    if oauth_context not in app.cleanup_ctx:
        app.cleanup_ctx.append(oauth_context)
    server = await aiohttp_server(app)
    admin = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with admin.post(
        str(server.make_url("/api/auth/login")), json={"password": ADMIN_PASSWORD}
    ) as resp:
        assert resp.status == 200
    gw = Gateway(server, admin)

    def stored_refresh() -> str | None:
        db = app[STORE].db
        rows = list(db[connections.TABLE].rows)
        vault = app[SECRETS].vault
        return [
            OAuthCredentials.from_secret(vault.decrypt(r["secret"]).reveal()).refresh_token
            for r in rows
        ]

    upstream.stored = stored_refresh
    yield auth, upstream, gw
    await admin.close()


async def api_login(gw: Gateway, auth: AuthServer, provider: str = "tst", **extra: Any) -> dict:
    """The dashboard's login: authorize, the user approves in a browser, paste code#state."""
    status, start = await gw.api("GET", f"/api/oauth/{provider}/authorize")
    assert status == 200, start
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(start["url"], allow_redirects=False) as resp,
    ):
        location = resp.headers["Location"]
    query = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))
    pasted = f"{query['code']}#{query['state']}"
    status, conn = await gw.api(
        "POST",
        f"/api/oauth/{provider}/exchange",
        json={"session": start["session"], "code": pasted, **extra},
    )
    assert status in (200, 201), conn
    return conn


def keeper(gw: Gateway):
    runtime = runtime_of(gw.app[REGISTRY])
    assert runtime is not None and runtime.keeper is not None
    return runtime.keeper


def client(gw: Gateway) -> AsyncOpenAI:
    return gw.openai()


async def ask(gw: Gateway) -> str:
    reply = await client(gw).chat.completions.create(model="tst/sub-model", messages=HELLO)
    return reply.choices[0].message.content or ""


def later(gw: Gateway, seconds: float) -> None:
    """Move the keeper's clock forward (tokens issued now look that much older)."""
    keeper(gw).clock = lambda: time.time() + seconds


async def test_login_through_the_api_stores_an_encrypted_connection(oauth, tmp_path):
    auth, _upstream, gw = oauth
    conn = await api_login(gw, auth)
    assert conn["provider"] == "tst" and conn["name"] == "alice@example.com"
    assert conn["status"] == "active" and conn["needsReauth"] is False
    token = next(iter(auth.access))
    assert token not in str(conn)
    db_bytes = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("storage.sqlite*"))
    assert token.encode() not in db_bytes
    assert next(iter(auth.refresh_tokens)).encode() not in db_bytes


async def test_the_upstream_gets_the_access_token_as_bearer(oauth):
    auth, upstream, gw = oauth
    await api_login(gw, auth)
    assert await ask(gw) == "hi alice"
    assert upstream.seen[0][0] in auth.access and auth.refresh_calls == 0


async def test_testing_a_connection_uses_its_access_token(oauth):
    auth, _upstream, gw = oauth
    conn = await api_login(gw, auth)
    status, result = await gw.api("POST", f"/api/providers/{conn['id']}/test")
    assert status == 200 and result["ok"] is True and result["models"] == ["sub-model"]


async def test_a_token_near_expiry_is_refreshed_before_the_call(oauth):
    auth, upstream, gw = oauth
    await api_login(gw, auth)
    first = next(iter(auth.access))
    later(gw, 3600 - 100)  # 100 s left, under the 300 s lead
    assert await ask(gw) == "hi alice"
    assert auth.refresh_calls == 1
    assert upstream.seen[-1][0] != first


async def test_the_rotated_refresh_token_is_stored_before_the_new_access_token_is_used(oauth):
    auth, upstream, gw = oauth
    await api_login(gw, auth)
    later(gw, 3600)
    await ask(gw)
    new_refresh = next(iter(auth.refresh_tokens))  # the old one was rotated away
    _token, stored_at_call = upstream.seen[-1]
    assert stored_at_call == [new_refresh]
    _status, rows = await gw.api("GET", "/api/providers")
    assert rows[0]["status"] == "active" and new_refresh not in str(rows)


async def test_concurrent_requests_share_one_refresh(oauth):
    auth, upstream, gw = oauth
    await api_login(gw, auth)
    auth.refresh_delay = 0.2
    later(gw, 3600)
    answers = await asyncio.gather(*(ask(gw) for _ in range(6)))
    assert answers == ["hi alice"] * 6
    assert auth.refresh_calls == 1
    assert len({token for token, _ in upstream.seen}) == 1


async def test_an_upstream_401_refreshes_once_and_retries_once(oauth):
    auth, upstream, gw = oauth
    await api_login(gw, auth)
    auth.revoke_access("alice")  # the upstream stops accepting the token it did not expire
    assert await ask(gw) == "hi alice"
    assert auth.refresh_calls == 1 and len(upstream.rejected) == 1


async def test_invalid_grant_marks_needs_reauth_and_fails_over(oauth):
    auth, _upstream, gw = oauth
    alice = await api_login(gw, auth)
    auth.account = "bob"
    bob = await api_login(gw, auth)
    await gw.api("PUT", f"/api/providers/{bob['id']}", json={"priority": 5})
    auth.revoke_access("alice")
    auth.revoke_refresh("alice")

    assert await ask(gw) == "hi bob"
    _status, rows = await gw.api("GET", "/api/providers")
    by_id = {r["id"]: r for r in rows}
    assert by_id[alice["id"]]["needsReauth"] is True
    assert by_id[alice["id"]]["status"] == "needs_reauth"
    assert by_id[bob["id"]]["needsReauth"] is False
    _, health = await gw.api("GET", "/api/monitoring/health")
    assert [(c["connection"], c["reason"]) for c in health["cooling"]] == [
        (alice["id"], "needs_reauth")
    ]
    # Next requests skip alice without asking the token endpoint again.
    calls = auth.refresh_calls
    assert await ask(gw) == "hi bob"
    assert auth.refresh_calls == calls


async def test_needs_reauth_alone_fails_with_a_message_naming_omniroute_login(oauth):
    auth, _upstream, gw = oauth
    await api_login(gw, auth)
    auth.revoke_access("alice")
    auth.revoke_refresh("alice")
    with pytest.raises(openai.APIStatusError) as info:
        await ask(gw)
    assert "omniroute login tst" in str(info.value)


async def test_relogin_of_the_same_account_updates_it_and_clears_needs_reauth(oauth):
    auth, _upstream, gw = oauth
    first = await api_login(gw, auth)
    auth.revoke_access("alice")
    auth.revoke_refresh("alice")
    with pytest.raises(openai.APIStatusError):
        await ask(gw)
    again = await api_login(gw, auth)
    assert again["id"] == first["id"] and again["needsReauth"] is False
    _, rows = await gw.api("GET", "/api/providers")
    assert len(rows) == 1
    _, health = await gw.api("GET", "/api/monitoring/health")
    assert health["cooling"] == []
    assert await ask(gw) == "hi alice"


async def test_a_new_account_gets_its_own_connection_named_by_the_caller(oauth):
    auth, _upstream, gw = oauth
    await api_login(gw, auth)
    auth.account = "carol"
    conn = await api_login(gw, auth, name="spare")
    _, rows = await gw.api("GET", "/api/providers")
    assert conn["name"] == "spare" and len(rows) == 2


async def test_device_code_login_polls_until_approved(oauth):
    _auth, _upstream, gw = oauth
    status, start = await gw.api("POST", "/api/oauth/tdv/device-code")
    assert status == 200 and start["userCode"] == "ABCD-EFGH"
    assert set(start) >= {"session", "verificationUri", "interval", "expiresIn"}
    status, answer = await gw.api("POST", "/api/oauth/tdv/poll", json={"session": start["session"]})
    assert (status, answer["status"]) == (200, "pending")
    status, conn = await gw.api("POST", "/api/oauth/tdv/poll", json={"session": start["session"]})
    assert status == 201 and conn["provider"] == "tdv" and conn["name"] == "alice@example.com"


async def test_a_denied_device_login_is_a_clear_error(oauth):
    auth, _upstream, gw = oauth
    _, start = await gw.api("POST", "/api/oauth/tdv/device-code")
    for device in auth.devices.values():
        device["denied"] = True
    status, err = await gw.api("POST", "/api/oauth/tdv/poll", json={"session": start["session"]})
    assert status == 400 and err["error"]["code"] == "access_denied"


async def test_import_of_a_claude_code_credential_file(oauth):
    auth, _upstream, gw = oauth
    tokens = auth.issue("dave")
    block = {"accessToken": tokens["access_token"], "refreshToken": tokens["refresh_token"]}
    content = json.dumps({"claudeAiOauth": {**block, "expiresAt": 9999999999999}})
    status, conn = await gw.api("POST", "/api/oauth/tst/import", json={"content": content})
    assert status == 201 and conn["name"] == "dave@example.com"
    assert tokens["access_token"] not in str(conn)
    assert await ask(gw) == "hi dave"


async def test_api_errors_name_the_field(oauth):
    _auth, _upstream, gw = oauth
    status, err = await gw.api("POST", "/api/oauth/tst/exchange", json={"session": "x"})
    assert status == 400 and err["error"]["param"] == "code"
    status, err = await gw.api(
        "POST", "/api/oauth/tst/exchange", json={"session": "nope", "code": "c#s"}
    )
    assert status == 400 and err["error"]["param"] == "session"
    status, err = await gw.api("POST", "/api/oauth/tst/import", json={"content": "{}"})
    assert status == 400 and err["error"]["param"] == "content"
    status, err = await gw.api("GET", "/api/oauth/openai/authorize")
    assert status == 400 and err["error"]["param"] == "provider"
    status, err = await gw.api("POST", "/api/oauth/tst/device-code")
    assert status == 400 and err["error"]["param"] == "provider"


async def test_a_pasted_code_of_another_login_is_refused(oauth):
    _auth, _upstream, gw = oauth
    _, start = await gw.api("GET", "/api/oauth/tst/authorize")
    status, err = await gw.api(
        "POST",
        "/api/oauth/tst/exchange",
        json={"session": start["session"], "code": "abc#not-the-state"},
    )
    assert status == 400 and err["error"]["code"] == "invalid_state"


async def test_an_account_logged_in_with_the_cli_serves_a_running_gateway(oauth, monkeypatch):
    from click.testing import CliRunner

    from omniroute.appkeys import GATEWAY, PLUGIN_MANAGER, SETTINGS
    from omniroute.cli import build_cli, manage
    from tests.test_oauth_cli import approve

    auth, _upstream, gw = oauth
    plugin = gw.app[PLUGIN_MANAGER].get_plugin("subscription-test")

    def pm(**kwargs: Any) -> Any:
        manager = get_plugin_manager(**kwargs)
        manager.register(plugin, name="subscription-test")
        return manager

    monkeypatch.setattr(manage, "get_plugin_manager", pm)
    stdin = io.BytesIO()

    def open_browser(url: str) -> bool:
        stdin.write(approve(url).encode() + b"\n")
        stdin.seek(0)
        return True

    monkeypatch.setattr("webbrowser.open", open_browser)
    data_dir = str(gw.app[SETTINGS].data_dir)
    result = await asyncio.to_thread(
        CliRunner().invoke, build_cli(), ["login", "tst", "--data-dir", data_dir], input=stdin
    )
    assert result.exit_code == 0, result.output
    for _ in range(100):  # the gateway notices the CLI's change within a poll interval
        if gw.app[GATEWAY].index.active("tst"):
            break
        await asyncio.sleep(0.02)
    assert await ask(gw) == "hi alice"
    later(gw, 3600)
    assert await ask(gw) == "hi alice" and auth.refresh_calls == 1
