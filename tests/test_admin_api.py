"""The management API under /api: login, connections, provider nodes, keys, plugins, usage."""

from __future__ import annotations

import importlib.metadata
import socket
import sqlite3
import time
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import openai
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from omniroute.appkeys import SETTINGS
from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import ADMIN_PASSWORD, UPSTREAM_KEY

JWT_SECRET = "a-test-jwt-secret-that-is-long-enough-for-hs256-0123456789"
CHAT = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def closed_port_url() -> str:
    """A base URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def anonymous(
    gw, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    """A request without the admin session."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, gw.url + path, **kwargs) as resp,
    ):
        return resp.status, await resp.json(content_type=None), resp


async def raw_api(gw, method: str, path: str, **kwargs: Any) -> tuple[int, str]:
    """A logged-in call returning the raw body text, to search it for secrets."""
    async with gw.admin.request(method, gw.url + path, **kwargs) as resp:
        return resp.status, await resp.text()


def session_cookie(resp: aiohttp.ClientResponse) -> Any:
    cookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie["omniroute_session"]


def signed_token(secret: str, **claims: Any) -> str:
    now = int(time.time())
    return jwt.encode(
        {"alg": "HS256"}, {"sub": "admin", "iat": now, **claims}, OctKey.import_key(secret)
    )


def assert_bad_request(status: int, body: Any, param: str | None) -> None:
    assert status == 400, body
    assert body["error"]["type"] == "bad_request"
    assert body["error"]["param"] == param
    if param:
        assert param in body["error"]["message"]


async def chat(gw, **overrides: Any) -> tuple[int, Any]:
    status, body, _ = await gw.post("/v1/chat/completions", json={**CHAT, **overrides})
    return status, body


# -- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/providers"),
        ("POST", "/api/providers"),
        ("GET", "/api/provider-nodes"),
        ("POST", "/api/keys"),
        ("GET", "/api/plugins"),
        ("GET", "/api/usage"),
    ],
)
async def test_api_without_session_is_login_required(gateway, method, path):
    status, body, _ = await anonymous(gateway, method, path, json={})
    assert status == 401
    assert body["error"]["code"] == "login_required"
    assert set(body["error"]) == {"message", "type", "code", "param"}


async def test_wrong_password_is_refused_without_a_cookie(gateway):
    status, body, resp = await anonymous(
        gateway, "POST", "/api/auth/login", json={"password": "nope"}
    )
    assert status == 401 and body["error"]["code"] == "invalid_password"
    assert "Set-Cookie" not in resp.headers


async def test_login_sets_an_httponly_lax_cookie_not_secure_by_default(gateway):
    status, _, resp = await anonymous(
        gateway, "POST", "/api/auth/login", json={"password": ADMIN_PASSWORD}
    )
    cookie = session_cookie(resp)
    assert status == 200 and cookie.value
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["secure"]


async def test_login_cookie_is_secure_when_configured(make_gateway):
    gw = await make_gateway(auth_cookie_secure=True)
    _, _, resp = await anonymous(gw, "POST", "/api/auth/login", json={"password": ADMIN_PASSWORD})
    assert session_cookie(resp)["secure"]


LOGGED_IN = {"authenticated": True, "admitted": True, "user": "admin", "loginRequired": True}
LOGGED_OUT = {"authenticated": False, "admitted": False, "user": None, "loginRequired": True}


async def test_auth_status_tells_whether_the_session_is_valid(gateway):
    assert (await gateway.api("GET", "/api/auth/status")) == (200, LOGGED_IN)
    status, body, _ = await anonymous(gateway, "GET", "/api/auth/status")
    assert (status, body) == (200, LOGGED_OUT)


async def test_logout_ends_the_session(gateway):
    assert (await gateway.api("POST", "/api/auth/logout"))[0] == 200
    assert (await gateway.api("GET", "/api/auth/status"))[1] == LOGGED_OUT
    assert (await gateway.api("GET", "/api/providers"))[0] == 401


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param(signed_token("another-secret-" * 4, exp=int(time.time()) + 3600), id="forged"),
        pytest.param(signed_token(JWT_SECRET, exp=int(time.time()) - 10), id="expired"),
        pytest.param(signed_token(JWT_SECRET), id="no-expiry"),
    ],
)
async def test_a_forged_or_expired_session_cookie_is_refused(make_gateway, token):
    gw = await make_gateway(jwt_secret=JWT_SECRET)
    headers = {"Cookie": f"omniroute_session={token}"}
    status, body, _ = await anonymous(gw, "GET", "/api/providers", headers=headers)
    assert status == 401 and body["error"]["code"] == "login_required"


async def test_a_session_signed_with_the_configured_secret_is_accepted(make_gateway):
    gw = await make_gateway(jwt_secret=JWT_SECRET)
    token = signed_token(JWT_SECRET, exp=int(time.time()) + 60)
    headers = {"Cookie": f"omniroute_session={token}"}
    assert (await anonymous(gw, "GET", "/api/providers", headers=headers))[0] == 200


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, None),
        ({"json": {}}, "password"),
        ({"json": {"password": 123}}, "password"),
        ({"json": ["password"]}, "password"),
    ],
)
async def test_login_with_malformed_input_is_a_bad_request(gateway, kwargs, param):
    status, body, _ = await anonymous(gateway, "POST", "/api/auth/login", **kwargs)
    assert_bad_request(status, body, param)


# -- connections --------------------------------------------------------------------------------


async def test_connection_lifecycle_never_shows_the_plain_key(gateway, upstream):
    body = {"provider": "openai", "apiKey": UPSTREAM_KEY, "baseUrl": upstream, "name": "work"}
    status, created_text = await raw_api(gateway, "POST", "/api/providers", json=body)
    assert status == 201
    created = (await gateway.api("GET", "/api/providers"))[1][0]
    cid = created["id"]
    assert created["apiKey"] not in ("", UPSTREAM_KEY)
    assert created["apiKey"].startswith(UPSTREAM_KEY[:4])
    assert created["name"] == "work" and created["isActive"] is True
    texts = [created_text]
    for method, path, kwargs in [
        ("GET", "/api/providers", {}),
        ("GET", f"/api/providers/{cid}", {}),
        ("PUT", f"/api/providers/{cid}", {"json": {"name": "renamed"}}),
        ("POST", f"/api/providers/{cid}/test", {}),
        ("DELETE", f"/api/providers/{cid}", {}),
    ]:
        status, text = await raw_api(gateway, method, path, **kwargs)
        assert status == 200, text
        texts.append(text)
    assert all(UPSTREAM_KEY not in text for text in texts)
    assert (await gateway.api("GET", f"/api/providers/{cid}"))[0] == 404
    assert (await gateway.api("GET", "/api/providers"))[1] == []


async def test_updating_name_priority_and_active_flag_is_reflected(gateway, upstream):
    conn = await gateway.connect(upstream)
    changes = {"name": "spare", "priority": 7, "isActive": False}
    status, updated = await gateway.api("PUT", f"/api/providers/{conn['id']}", json=changes)
    assert status == 200
    assert {k: updated[k] for k in changes} == changes
    assert (await gateway.api("GET", f"/api/providers/{conn['id']}"))[1] == updated


async def test_rotating_the_api_key_changes_the_mask_and_the_key_sent_upstream(
    gateway, upstream, fake
):
    conn = await gateway.connect(upstream, api_key="sk-old-key-000000000000")
    status, updated = await gateway.api(
        "PUT", f"/api/providers/{conn['id']}", json={"apiKey": UPSTREAM_KEY}
    )
    assert status == 200 and updated["apiKey"] != conn["apiKey"]
    assert (await chat(gateway))[0] == 200
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"


async def test_changing_the_base_url_redirects_the_next_request(gateway, upstream, fake):
    conn = await gateway.connect(closed_port_url())
    assert (await chat(gateway))[0] == 502
    await gateway.api("PUT", f"/api/providers/{conn['id']}", json={"baseUrl": upstream})
    assert (await chat(gateway))[0] == 200
    assert fake.requests[-1].path == "/v1/chat/completions"


async def test_lowering_priority_number_makes_a_connection_first(gateway, aiohttp_server):
    fakes = [FakeOpenAIUpstream(api_key=UPSTREAM_KEY) for _ in range(2)]
    ids = []
    for priority, fake in enumerate(fakes, start=1):
        url = str((await aiohttp_server(fake.app)).make_url("/v1"))
        ids.append((await gateway.connect(url, priority=priority))["id"])
    await chat(gateway)
    await gateway.api("PUT", f"/api/providers/{ids[1]}", json={"priority": 0})
    await chat(gateway)
    assert [len(f.requests) for f in fakes] == [1, 1]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"provider": "no-such-provider", "apiKey": "sk-x-1234567890"}, "provider"),
        ({"provider": "openai"}, "apiKey"),
        ({"provider": "openai", "apiKey": ""}, "apiKey"),
        ({"provider": "openai", "apiKey": "sk-x-1234567890", "baseUrl": "ftp://h/v1"}, "baseUrl"),
        ({"provider": "openai", "apiKey": "sk-x-1234567890", "priority": -1}, "priority"),
        ({"provider": "openai", "apiKey": "sk-x-1234567890", "priority": "high"}, "priority"),
        ({"provider": "openai", "apiKey": "sk-x-1234567890", "priority": 1.5}, "priority"),
        ({"provider": "openai", "apiKey": "sk-x-1234567890", "colour": "red"}, "colour"),
        ([{"provider": "openai"}], None),
    ],
)
async def test_creating_a_connection_with_bad_fields_names_the_field(gateway, body, param):
    status, answer = await gateway.api("POST", "/api/providers", json=body)
    assert_bad_request(status, answer, param)
    assert (await gateway.api("GET", "/api/providers"))[1] == []


async def test_creating_a_connection_from_malformed_json_is_a_bad_request(gateway):
    headers = {"Content-Type": "application/json"}
    status, body = await gateway.api(
        "POST", "/api/providers", data=b'{"provider":', headers=headers
    )
    assert_bad_request(status, body, None)


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"apiKey": ""}, "apiKey"),
        ({"priority": -3}, "priority"),
        ({"priority": None}, "priority"),
        ({"isActive": None}, "isActive"),
        ({"baseUrl": "localhost:8000"}, "baseUrl"),
        ({"provider": "groq"}, "provider"),
    ],
)
async def test_updating_a_connection_with_bad_fields_names_the_field(
    gateway, upstream, changes, param
):
    conn = await gateway.connect(upstream)
    status, body = await gateway.api("PUT", f"/api/providers/{conn['id']}", json=changes)
    assert_bad_request(status, body, param)
    assert (await gateway.api("GET", f"/api/providers/{conn['id']}"))[1] == conn


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/providers/missing"),
        ("PUT", "/api/providers/missing"),
        ("DELETE", "/api/providers/missing"),
        ("POST", "/api/providers/missing/test"),
        ("PUT", "/api/provider-nodes/missing"),
        ("DELETE", "/api/provider-nodes/missing"),
        ("DELETE", "/api/keys/missing"),
    ],
)
async def test_unknown_ids_are_not_found(gateway, method, path):
    status, body = await gateway.api(method, path, json={"name": "x"})
    assert status == 404 and "missing" in body["error"]["message"]


@pytest.mark.parametrize(
    ("given", "stored"), [("ds", "deepseek"), ("deepseek", "deepseek"), ("oai", "openai")]
)
async def test_provider_given_by_prefix_or_alias_is_stored_as_its_id(
    gateway, upstream, given, stored
):
    assert (await gateway.connect(upstream, provider=given))["provider"] == stored


# -- testing a connection -----------------------------------------------------------------------


async def test_connection_test_reports_ok_and_latency(gateway, upstream):
    conn = await gateway.connect(upstream)
    status, result = await gateway.api("POST", f"/api/providers/{conn['id']}/test")
    assert status == 200
    assert result["ok"] is True and result["error"] is None
    assert result["latencyMs"] > 0 and "gpt-4o" in result["models"]


async def test_connection_test_reports_the_upstream_refusing_the_key(gateway, upstream):
    conn = await gateway.connect(upstream, api_key="sk-wrong-key-0123456789")
    result = (await gateway.api("POST", f"/api/providers/{conn['id']}/test"))[1]
    assert result["ok"] is False and result["status"] == 401
    assert "Incorrect API key" in result["error"]


async def test_connection_test_redacts_a_key_the_upstream_echoes(gateway, aiohttp_server):
    echo = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    echo.enqueue(Reply.error(401, f"bad key {UPSTREAM_KEY}"))
    server = await aiohttp_server(echo.app)
    # perplexity has no models endpoint: its check is a one-token chat, which the fake scripts.
    conn = await gateway.connect(str(server.make_url("/v1")), provider="perplexity")
    status, text = await raw_api(gateway, "POST", f"/api/providers/{conn['id']}/test")
    assert status == 200 and '"ok":false' in text
    assert UPSTREAM_KEY not in text and "bad key" in text


async def test_connection_test_against_a_closed_port_fails_quickly(gateway):
    conn = await gateway.connect(closed_port_url())
    started = time.monotonic()
    result = (await gateway.api("POST", f"/api/providers/{conn['id']}/test"))[1]
    assert time.monotonic() - started < 3
    assert result["ok"] is False and result["error"]


# -- changes apply without restart --------------------------------------------------------------


async def test_a_connection_added_through_the_api_serves_the_next_request(gateway, upstream):
    assert (await chat(gateway))[0] == 503
    await gateway.connect(upstream)
    status, body = await chat(gateway)
    assert status == 200 and body["choices"][0]["message"]["content"] == "echo: hi"


async def test_deactivating_the_only_connection_gives_no_active_connection(gateway, upstream):
    conn = await gateway.connect(upstream)
    await gateway.api("PUT", f"/api/providers/{conn['id']}", json={"isActive": False})
    status, body = await chat(gateway)
    assert status == 503
    assert body["error"]["code"] == "no_active_connection"
    assert "openai" in body["error"]["message"]


# -- provider nodes -----------------------------------------------------------------------------

NODE = {"name": "My LLM", "prefix": "myllm", "models": ["m1", {"id": "e1", "type": "embedding"}]}


async def create_node(gw, base_url: str, **fields: Any) -> dict[str, Any]:
    status, node = await gw.api(
        "POST", "/api/provider-nodes", json={**NODE, "baseUrl": base_url, **fields}
    )
    assert status == 201, node
    return node


async def test_provider_node_crud(gateway, upstream):
    node = await create_node(gateway, upstream)
    assert node["type"] == "openai-compatible" and node["prefix"] == "myllm"
    assert [(m["id"], m["type"]) for m in node["models"]] == [("m1", "chat"), ("e1", "embedding")]
    assert (await gateway.api("GET", "/api/provider-nodes"))[1] == [node]
    status, updated = await gateway.api(
        "PUT", f"/api/provider-nodes/{node['id']}", json={"name": "Renamed", "models": ["m2"]}
    )
    assert status == 200 and updated["name"] == "Renamed"
    assert [m["id"] for m in updated["models"]] == ["m2"]
    assert (await gateway.api("DELETE", f"/api/provider-nodes/{node['id']}"))[0] == 200
    assert (await gateway.api("GET", "/api/provider-nodes"))[1] == []


@pytest.mark.parametrize("provider_field", ["id", "prefix"])
async def test_a_connection_on_a_node_serves_its_models(gateway, upstream, fake, provider_field):
    node = await create_node(gateway, upstream)
    conn = await gateway.connect(upstream, provider=node[provider_field], baseUrl=None)
    assert conn["provider"] == node["id"]
    reply = await gateway.openai().chat.completions.create(
        model="myllm/m1", messages=[{"role": "user", "content": "yo"}]
    )
    assert reply.choices[0].message.content == "echo: yo"
    assert fake.requests[-1].json["model"] == "m1"
    listed = {m.id for m in (await gateway.openai().models.list()).data}
    assert {"myllm/m1", "myllm/e1"} <= listed


async def test_a_deleted_node_no_longer_serves_its_models(gateway, upstream):
    node = await create_node(gateway, upstream)
    await gateway.connect(upstream, provider=node["id"])
    await gateway.api("DELETE", f"/api/provider-nodes/{node['id']}")
    with pytest.raises(openai.NotFoundError):
        await gateway.openai().chat.completions.create(
            model="myllm/m1", messages=[{"role": "user", "content": "yo"}]
        )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prefix": "ds"}, "prefix"),
        ({"prefix": "MyLLM"}, "prefix"),
        ({"prefix": "my/llm"}, "prefix"),
        ({"type": "no-such-template"}, "type"),
        ({"baseUrl": None}, "baseUrl"),
        ({"baseUrl": "not a url"}, "baseUrl"),
        ({"models": [{"id": "x", "type": "video"}]}, "models.0"),
    ],
)
async def test_creating_a_node_with_bad_fields_names_the_field(gateway, upstream, fields, param):
    body = {**NODE, "baseUrl": upstream, **fields}
    status, answer = await gateway.api("POST", "/api/provider-nodes", json=body)
    assert status == 400, answer
    assert answer["error"]["param"].startswith(param)


async def test_a_second_node_with_the_same_prefix_is_refused(gateway, upstream):
    await create_node(gateway, upstream)
    status, body = await gateway.api(
        "POST", "/api/provider-nodes", json={**NODE, "baseUrl": upstream}
    )
    assert_bad_request(status, body, "prefix")


@pytest.mark.parametrize("changes", [{"baseUrl": None}, {"baseUrl": ""}, {"prefix": "ds"}])
async def test_updating_a_node_cannot_break_it(gateway, upstream, changes):
    node = await create_node(gateway, upstream)
    status, body = await gateway.api("PUT", f"/api/provider-nodes/{node['id']}", json=changes)
    assert status == 400, body
    assert (await gateway.api("GET", "/api/provider-nodes"))[1] == [node]


# -- client keys --------------------------------------------------------------------------------


async def test_a_new_key_is_shown_once_and_listed_only_masked(gateway):
    status, created = await gateway.api("POST", "/api/keys", json={"name": "laptop"})
    assert status == 201 and created["key"].startswith("sk-omni-")
    status, text = await raw_api(gateway, "GET", "/api/keys")
    assert status == 200 and created["key"] not in text
    listed = (await gateway.api("GET", "/api/keys"))[1]
    assert [(k["id"], k["name"], k["active"]) for k in listed] == [(created["id"], "laptop", True)]
    assert listed[0]["key"] != created["key"]


async def test_a_revoked_key_stops_working(make_gateway, upstream):
    gw = await make_gateway(require_api_key=True)
    await gw.connect(upstream)
    status, created = await gw.api("POST", "/api/keys", json={"name": "ci"})
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await gw.post("/v1/chat/completions", json=CHAT, headers=headers))[0] == 200
    assert (await gw.api("DELETE", f"/api/keys/{created['id']}"))[0] == 200
    status, body, _ = await gw.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert set(body["error"]) == {"message", "type", "code", "param"}
    assert (await gw.api("GET", "/api/keys"))[1][0]["active"] is False


# -- plugins ------------------------------------------------------------------------------------


async def test_plugins_lists_omniroute_openai_and_the_builtins(gateway):
    status, plugins = await gateway.api("GET", "/api/plugins")
    assert status == 200
    by_name = {p["name"]: p for p in plugins}
    openai_plugin = by_name["omniroute-openai"]
    assert openai_plugin["version"] == importlib.metadata.version("omniroute-openai")
    assert openai_plugin["builtin"] is False
    providers = set(openai_plugin["registered"]["provider"])
    assert {"openai", "deepseek", "groq", "perplexity", "openai-compatible"} <= providers
    builtins = {name for name, p in by_name.items() if p["builtin"]}
    assert {"omniroute.formats.openai", "omniroute.accounts.flows"} <= builtins
    assert by_name["omniroute.formats.openai"]["registered"]["format"] == ["openai"]


# -- usage --------------------------------------------------------------------------------------


async def test_usage_records_each_request_and_totals_it(gateway, upstream, fake):
    await gateway.connect(upstream)
    status, key = await gateway.api("POST", "/api/keys", json={"name": "meter"})
    client = gateway.openai(api_key=key["key"])
    messages = [{"role": "user", "content": "count these words"}]
    await client.chat.completions.create(model="openai/gpt-4o", messages=messages)
    stream = await client.chat.completions.create(
        model="openai/gpt-4o", messages=messages, stream=True
    )
    _ = [chunk async for chunk in stream]
    fake.enqueue(Reply.error(400, "nope"))
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="openai/gpt-4o", messages=messages)

    status, usage = await gateway.api("GET", "/api/usage")
    assert status == 200
    failed, streamed, plain = usage["recent"][:3]
    for row in (failed, streamed, plain):
        assert row["provider"] == "openai" and row["model"] == "gpt-4o"
        assert row["keyId"] == key["id"] and row["connectionId"]
        assert row["latencyMs"] > 0
    assert (plain["status"], streamed["status"], failed["status"]) == (200, 200, 400)
    assert plain["tokensIn"] > 0 and plain["tokensOut"] > 0
    assert streamed["tokensOut"] > 0 and streamed["ttftMs"] > 0
    assert plain["ttftMs"] is None
    [totals] = usage["byProvider"]
    assert (totals["name"], totals["requests"], totals["succeeded"]) == ("openai", 3, 2)
    assert [(m["name"], m["requests"]) for m in usage["byModel"]] == [("gpt-4o", 3)]
    assert [(k["name"], k["requests"]) for k in usage["byKey"]] == [(key["id"], 3)]


async def test_usage_limit_and_since_narrow_the_answer(gateway, upstream):
    await gateway.connect(upstream)
    for _ in range(3):
        await chat(gateway)
    _, usage = await gateway.api("GET", "/api/usage", params={"limit": "2"})
    assert len(usage["recent"]) == 2
    future = str(time.time() + 3600)
    _, usage = await gateway.api("GET", "/api/usage", params={"since": future})
    assert usage["byProvider"] == [] and usage["overall"]["requests"] == 0


@pytest.mark.parametrize(
    ("query", "param"),
    [({"limit": "ten"}, "limit"), ({"limit": "0"}, "limit"), ({"since": "yesterday"}, "since")],
)
async def test_usage_rejects_bad_query_numbers(gateway, query, param):
    status, body = await gateway.api("GET", "/api/usage", params=query)
    assert_bad_request(status, body, param)


async def test_usage_includes_a_request_the_ledger_writer_is_still_batching(make_gateway, upstream):
    gw = await make_gateway(ledger_flush_seconds=2)
    await gw.connect(upstream)
    assert (await chat(gw))[0] == 200
    _, usage = await gw.api("GET", "/api/usage")
    assert [row["status"] for row in usage["recent"]] == [200]


async def test_usage_of_the_last_request_before_shutdown_is_flushed(make_gateway, upstream):
    gw = await make_gateway(ledger_flush_seconds=2)
    await gw.connect(upstream)
    assert (await chat(gw))[0] == 200
    data_dir = gw.app[SETTINGS].data_dir
    await gw.server.close()
    with sqlite3.connect(data_dir / "storage.sqlite") as db:
        assert db.execute("SELECT status FROM usage").fetchall() == [(200,)]


async def test_unknown_api_path_and_wrong_method_answer_in_the_api_error_shape(gateway):
    status, body = await gateway.api("GET", "/api/no-such-thing")
    assert status == 404 and set(body["error"]) == {"message", "type", "code", "param"}
    status, body = await gateway.api("PATCH", "/api/keys")
    assert status == 405 and "PATCH /api/keys" in body["error"]["message"]
