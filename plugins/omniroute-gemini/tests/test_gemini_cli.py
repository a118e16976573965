"""omniroute-gemini's ``gc/``: Gemini CLI subscriptions answer the official ``openai`` and
``google-genai`` SDKs through the gateway in static-token mode, streaming and not, over Code
Assist's envelope; the login's project discovery finds or provisions the account's project, and
its userinfo call names the Google account, so a re-login updates that account's connection.

The upstream is :class:`omniroute.testing.fake_code_assist.FakeCodeAssist`, which refuses an
unwrapped body, a missing project and another account's project, and wraps every answer.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import importlib_metadata
import orjson
import pytest
from google import genai
from google.genai import types as gtypes
from omniroute_gemini import code_assist
from omniroute_gemini.code_assist import SSEUnwrapper, discover_project, wrap
from openai import AsyncOpenAI

from omniroute.accounts import connections
from omniroute.app import create_app
from omniroute.appkeys import SECRETS, STORE
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.reload import reload_index
from omniroute.settings import Settings
from omniroute.testing.fake_code_assist import USERINFO_PATH, FakeCodeAssist

PACKAGE_DIR = Path(__file__).resolve().parents[1]
TOKEN = "ya29.fake-google-access-token"
PROJECT = "sunny-river-123456"
HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def pm(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGE_DIR))
    ep = importlib_metadata.EntryPoint(
        name="omniroute-gemini", value="omniroute_gemini", group="omniroute"
    )
    return get_plugin_manager(entry_points=[ep])


@pytest.fixture
def fake() -> FakeCodeAssist:
    return FakeCodeAssist({TOKEN: PROJECT, "ya29.newcomer": None})


@pytest.fixture
async def base_url(fake, aiohttp_server) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/v1internal"))


@pytest.fixture
async def gateway(pm, tmp_path, aiohttp_server, monkeypatch, base_url):
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_BASE_URL", base_url)
    # Nothing may reach the real service, not even a refresh attempt.
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_TOKEN_URL", "http://127.0.0.1:9/token")
    settings = Settings(
        data_dir=tmp_path,
        initial_password="gemini-cli-test-password",
        ledger_flush_seconds=0.01,
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    server = await aiohttp_server(create_app(settings, pm))
    creds = OAuthCredentials(access_token=TOKEN, extra={"project": PROJECT})
    app = server.app
    fields = connections.ConnectionCreate(provider="gemini-cli", name="me@example.com")
    vault = app[SECRETS].vault
    await app[STORE].call(lambda db: connections.insert(db, vault, fields, creds.to_secret()))
    await reload_index(app)
    return server


@pytest.fixture
async def sdk(gateway):
    url = str(gateway.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as client:
        yield client


@pytest.fixture
def genai_client(gateway) -> genai.Client:
    url = str(gateway.make_url("")).rstrip("/")
    options = gtypes.HttpOptions(base_url=url, api_version="v1beta", timeout=10_000)
    return genai.Client(api_key="none", http_options=options)


def generate_calls(fake: FakeCodeAssist) -> list:
    return [r for r in fake.requests if "GenerateContent" in r.path or "generateContent" in r.path]


async def test_openai_sdk_gets_an_answer_over_the_envelope(gateway, fake, sdk):
    reply = await sdk.chat.completions.create(model="gc/gemini-2.5-flash", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    (sent,) = generate_calls(fake)
    assert sent.path == "/v1internal:generateContent"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.json["model"] == "gemini-2.5-flash"
    assert sent.json["project"] == PROJECT
    assert sent.json["user_prompt_id"]
    assert sent.json["request"]["contents"][0]["parts"][0]["text"] == "hi"


async def test_openai_sdk_stream(gateway, fake, sdk):
    stream = await sdk.chat.completions.create(
        model="gc/gemini-3-flash-preview", messages=HELLO, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi"
    (sent,) = generate_calls(fake)
    assert sent.path == "/v1internal:streamGenerateContent"
    assert sent.query["alt"] == "sse"


async def test_google_genai_gets_plain_gemini_answers(gateway, fake, genai_client):
    reply = await genai_client.aio.models.generate_content(
        model="models/gc/gemini-2.5-pro", contents="hi"
    )
    assert reply.text == "echo: hi"
    assert reply.usage_metadata is not None and reply.usage_metadata.total_token_count
    sent = generate_calls(fake)[-1]
    assert sent.json["model"] == "gemini-2.5-pro" and "contents" not in sent.json


async def test_google_genai_stream_gets_plain_gemini_chunks(gateway, fake, genai_client):
    chunks = await genai_client.aio.models.generate_content_stream(
        model="models/gc/gemini-2.5-flash", contents="hi"
    )
    text = "".join([chunk.text or "" async for chunk in chunks])
    assert text == "echo: hi"


async def test_a_connection_without_a_project_is_refused_before_sending(gateway, fake, sdk):
    app = gateway.app
    creds = OAuthCredentials(access_token=TOKEN)
    vault = app[SECRETS].vault
    rows = await app[STORE].call(lambda db: connections.list_rows(db, "gemini-cli"))
    fields = connections.ConnectionFields(api_key=creds.to_secret())
    await app[STORE].call(
        lambda db: connections.update(db, vault, rows[0]["id"], fields, creds.to_secret())
    )
    await reload_index(app)
    with pytest.raises(Exception) as caught:
        await sdk.chat.completions.create(model="gc/gemini-2.5-flash", messages=HELLO)
    assert "omniroute login gc" in str(caught.value)
    assert generate_calls(fake) == []


async def test_the_fake_refuses_an_unwrapped_body_and_a_missing_project(fake, base_url):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    plain = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(base_url + ":generateContent", json=plain, headers=headers) as resp:
            assert resp.status == 400
            assert "Unknown name" in (await resp.json())["error"]["message"]
        no_project = {"model": "gemini-2.5-flash", "request": plain}
        async with session.post(
            base_url + ":generateContent", json=no_project, headers=headers
        ) as resp:
            assert resp.status == 400
        other = {**no_project, "project": "someone-elses"}
        async with session.post(base_url + ":generateContent", json=other, headers=headers) as r:
            assert r.status == 403


async def test_project_discovery_reads_an_onboarded_accounts_project(fake, base_url):
    async with aiohttp.ClientSession() as session:
        creds = await discover_project(session, OAuthCredentials(access_token=TOKEN), base_url)
    assert creds.extra["project"] == PROJECT


async def test_project_discovery_onboards_a_new_account(fake, base_url):
    async with aiohttp.ClientSession() as session:
        creds = await discover_project(
            session, OAuthCredentials(access_token="ya29.newcomer"), base_url, poll_seconds=0.01
        )
    assert creds.extra["project"] == fake.onboarded_project
    onboard = next(r for r in fake.requests if r.path.endswith(":onboardUser"))
    assert onboard.json["tierId"] == "free-tier"
    assert "cloudaicompanionProject" not in onboard.json
    assert any("/operations/" in r.path for r in fake.requests)


def test_sse_envelopes_are_unwrapped_across_any_split():
    stream = (
        b'data: {"response": {"candidates": [1]}, "traceId": "t"}\r\n\r\n'
        b'data: {"response": {"candidates": [2]}}\n\n'
    )
    expected = b'data: {"candidates":[1]}\r\n\r\ndata: {"candidates":[2]}\n\n'
    for cut in range(len(stream) + 1):
        unwrapper = SSEUnwrapper()
        out = unwrapper.feed(stream[:cut]) + unwrapper.feed(stream[cut:]) + unwrapper.close()
        assert out == expected, cut


def test_wrap_keeps_the_gemini_body_inside():
    body = {"contents": [], "generationConfig": {"temperature": 0.2}}
    wrapped = wrap(body, "gemini-2.5-pro", "p1")
    assert wrapped["request"] == body and wrapped["model"] == "gemini-2.5-pro"
    assert wrap(wrapped, "gemini-2.5-pro", "p2")["project"] == "p2"


def test_the_provider_and_its_endpoints_come_from_the_environment(pm, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_BASE_URL", "http://relay.example/v1internal")
    registry = build_registry(pm)
    provider = registry.providers["gemini-cli"]
    assert isinstance(provider, code_assist.GeminiCliProvider)
    assert provider.prefix == "gc" and provider.format == "gemini"
    assert {m.id for m in provider.models} == {
        "gemini-3-flash-preview",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    }
    assert provider.base_url == "http://relay.example/v1internal"
    defaults = code_assist.GeminiCliConfig.from_env({})
    assert defaults.base_url == "https://cloudcode-pa.googleapis.com/v1internal"
    assert defaults.client_secret == ""
    assert defaults.userinfo_url == "https://www.googleapis.com/oauth2/v2/userinfo"
    relay = {"OMNIROUTE_GEMINI_CLI_USERINFO_URL": "http://relay.example/userinfo"}
    assert (
        code_assist.GeminiCliConfig.from_env(relay).userinfo_url == "http://relay.example/userinfo"
    )
    assert "gemini" in registry.providers  # the API-key provider is still there


async def login_gateway(
    pm, tmp_path, aiohttp_server, monkeypatch, base_url, oauth, userinfo=USERINFO_PATH
):
    oauth_base = str((await aiohttp_server(oauth.app)).make_url("")).rstrip("/")
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_BASE_URL", base_url)
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_AUTHORIZE_URL", oauth.authorize_url(oauth_base))
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_TOKEN_URL", oauth.token_url(oauth_base))
    monkeypatch.setenv(
        "OMNIROUTE_GEMINI_CLI_USERINFO_URL", base_url.removesuffix("/v1internal") + userinfo
    )
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_CLIENT_SECRET", "gc-test-secret")
    # Not a local address: no listener is opened; the callback URL is pasted instead.
    monkeypatch.setenv("OMNIROUTE_GEMINI_CLI_REDIRECT_URI", "https://codeassist.example/authcode")
    settings = Settings(data_dir=tmp_path, initial_password="pw-gc-1", read_timeout=5.0)
    server = await aiohttp_server(create_app(settings, pm))
    admin = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    base = str(server.make_url("")).rstrip("/")
    await admin.post(base + "/api/auth/login", json={"password": "pw-gc-1"})
    return server, admin, base


async def test_a_google_login_discovers_the_project_and_answers_genai(
    pm, tmp_path, aiohttp_server, monkeypatch
):
    from omniroute.testing.fake_oauth import FakeOAuthServer

    oauth = FakeOAuthServer(
        client_id=code_assist.DEFAULTS["CLIENT_ID"], client_secret="gc-test-secret"
    )
    fake = FakeCodeAssist({}, accept=oauth.is_valid, onboard_polls=0)
    base_url = str((await aiohttp_server(fake.app)).make_url("/v1internal"))
    server, admin, base = await login_gateway(
        pm, tmp_path, aiohttp_server, monkeypatch, base_url, oauth
    )
    async with admin:
        async with admin.get(base + "/api/oauth/gc/authorize") as resp:
            assert resp.status == 200, await resp.text()
            started = await resp.json()
        assert "access_type=offline" in started["url"] and "code_challenge=" in started["url"]
        callback = await oauth.approve_authorization(started["url"])
        exchange = {"session": started["session"], "code": callback}
        async with admin.post(base + "/api/oauth/gc/exchange", json=exchange) as resp:
            assert resp.status in (200, 201), await resp.text()
    assert any(r.path.endswith(":onboardUser") for r in fake.requests)
    options = gtypes.HttpOptions(
        base_url=str(server.make_url("")).rstrip("/"), api_version="v1beta", timeout=10_000
    )
    client = genai.Client(api_key="none", http_options=options)
    reply = await client.aio.models.generate_content(
        model="models/gc/gemini-2.5-flash", contents="hi"
    )
    assert reply.text == "echo: hi"
    assert generate_calls(fake)[-1].json["project"] == fake.onboarded_project


async def test_a_gemini_cli_credential_file_is_imported_with_its_project(
    pm, tmp_path, aiohttp_server, monkeypatch, fake, base_url
):
    from omniroute.testing.fake_oauth import FakeOAuthServer

    server, admin, base = await login_gateway(
        pm, tmp_path, aiohttp_server, monkeypatch, base_url, FakeOAuthServer()
    )
    content = orjson.dumps(
        {"access_token": TOKEN, "refresh_token": "1//r", "expiry_date": 4_102_444_800_000}
    ).decode()
    async with (
        admin,
        admin.post(base + "/api/oauth/gc/import", json={"content": content}) as resp,
    ):
        assert resp.status in (200, 201), await resp.text()
    url = str(server.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as sdk:
        reply = await sdk.chat.completions.create(model="gc/gemini-2.5-pro", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert generate_calls(fake)[-1].json["project"] == PROJECT


async def google_login(admin: aiohttp.ClientSession, base: str, oauth) -> aiohttp.ClientResponse:
    """One ``gc`` login through the API, approved at the fake authorization server."""
    async with admin.get(base + "/api/oauth/gc/authorize") as resp:
        assert resp.status == 200, await resp.text()
        started = await resp.json()
    callback = await oauth.approve_authorization(started["url"])
    exchange = {"session": started["session"], "code": callback}
    async with admin.post(base + "/api/oauth/gc/exchange", json=exchange) as resp:
        await resp.read()
        return resp


async def stored_gc_credentials(server) -> list[OAuthCredentials]:
    app = server.app
    rows = await app[STORE].call(lambda db: connections.list_rows(db, "gemini-cli"))
    vault = app[SECRETS].vault
    return [OAuthCredentials.from_secret(vault.decrypt(r["secret"]).reveal()) for r in rows]


async def test_a_relogin_to_the_same_google_account_updates_its_connection(
    pm, tmp_path, aiohttp_server, monkeypatch
):
    from omniroute.testing.fake_oauth import FakeOAuthServer

    oauth = FakeOAuthServer(
        client_id=code_assist.DEFAULTS["CLIENT_ID"], client_secret="gc-test-secret"
    )
    fake = FakeCodeAssist({}, accept=oauth.is_valid, onboard_polls=0)
    base_url = str((await aiohttp_server(fake.app)).make_url("/v1internal"))
    server, admin, base = await login_gateway(
        pm, tmp_path, aiohttp_server, monkeypatch, base_url, oauth
    )
    async with admin:
        fake.use("104729000000000000001", "ann@example.com")
        first = await google_login(admin, base, oauth)
        assert first.status == 201
        again = await google_login(admin, base, oauth)
        assert again.status == 200  # the same account: its connection, updated
        async with admin.get(base + "/api/providers?provider=gemini-cli") as resp:
            listed = await resp.json()
        assert [c["name"] for c in listed] == ["ann@example.com"]
        (creds,) = await stored_gc_credentials(server)
        assert creds.account_id == "104729000000000000001"
        assert creds.email == "ann@example.com"
        assert creds.access_token == list(oauth.tokens)[-1]  # the second login's token
        assert creds.extra["project"] == fake.onboarded_project

        fake.use("104729000000000000002", "bob@example.com")
        other = await google_login(admin, base, oauth)
        assert other.status == 201  # another account: another connection
        async with admin.get(base + "/api/providers?provider=gemini-cli") as resp:
            listed = await resp.json()
        assert sorted(c["name"] for c in listed) == ["ann@example.com", "bob@example.com"]
    userinfo = [r for r in fake.requests if r.path == USERINFO_PATH]
    assert len(userinfo) == 3
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in userinfo)


async def test_importing_the_same_credential_file_twice_keeps_one_connection(
    pm, tmp_path, aiohttp_server, monkeypatch, fake, base_url
):
    from omniroute.testing.fake_oauth import FakeOAuthServer

    fake.identities[TOKEN] = {"id": "110248495921238986420", "email": "me@example.com"}
    server, admin, base = await login_gateway(
        pm, tmp_path, aiohttp_server, monkeypatch, base_url, FakeOAuthServer()
    )
    content = orjson.dumps({"access_token": TOKEN, "refresh_token": "1//r"}).decode()
    async with admin:
        for expected in (201, 200):
            async with admin.post(base + "/api/oauth/gc/import", json={"content": content}) as r:
                assert r.status == expected, await r.text()
                assert (await r.json())["name"] == "me@example.com"
    (creds,) = await stored_gc_credentials(server)
    assert (creds.account_id, creds.email) == ("110248495921238986420", "me@example.com")


async def test_a_login_whose_userinfo_fails_is_refused_and_stores_nothing(
    pm, tmp_path, aiohttp_server, monkeypatch, fake, base_url
):
    from omniroute.testing.fake_oauth import FakeOAuthServer

    server, admin, base = await login_gateway(
        pm, tmp_path, aiohttp_server, monkeypatch, base_url, FakeOAuthServer(), "/oauth2/v2/gone"
    )
    content = orjson.dumps({"access_token": TOKEN, "refresh_token": "1//r"}).decode()
    async with admin, admin.post(base + "/api/oauth/gc/import", json={"content": content}) as r:
        assert r.status == 400, await r.text()
        error = (await r.json())["error"]
    assert error["code"] == "no_identity"
    assert "userinfo" in error["message"] and "HTTP 404" in error["message"]
    assert await stored_gc_credentials(server) == []
