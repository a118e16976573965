"""Outbound proxies: which requests go through which proxy, at each level of precedence.

Two small real proxies run in the test: an HTTP CONNECT proxy and a SOCKS5 proxy, each with
optional username/password authentication, recording every tunnel they open.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from omniroute.appkeys import STORE
from omniroute.gateway.proxies import EnvironmentProxies, route_from_url
from tests.conftest import UPSTREAM_KEY
from tests.proxy_servers import ConnectProxy, RecordingProxy, Socks5Proxy

CHAT = [{"role": "user", "content": "hi"}]
PASSWORD = "proxy-pass-Zq81xv0"


@pytest.fixture
async def proxies() -> AsyncIterator[dict[str, RecordingProxy]]:
    started = {
        "http": await ConnectProxy().start(),
        "socks5": await Socks5Proxy().start(),
        "http-auth": await ConnectProxy("alice", PASSWORD).start(),
        "socks5-auth": await Socks5Proxy("bob", PASSWORD).start(),
    }
    yield started
    for proxy in started.values():
        await proxy.stop()


def spec(proxy: RecordingProxy, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "host": "127.0.0.1", "port": proxy.port}
    if proxy.username:
        out.update(username=proxy.username, password=proxy.password)
    return out


@pytest.fixture
async def gw(gateway, upstream):
    await gateway.connect(upstream)
    gateway.upstream = upstream.split("//", 1)[1].split("/", 1)[0]  # host:port
    return gateway


async def put(gw, config: dict[str, Any]) -> dict[str, Any]:
    status, body = await gw.api("PUT", "/api/settings/proxy", json=config)
    assert status == 200, body
    return body


async def chat(gw, api_key: str = "no-key", model: str = "openai/gpt-5") -> dict[str, Any]:
    """A chat completion over plain aiohttp (which, unlike the SDKs' httpx, ignores the
    environment's proxies: the tests set them for the gateway, not for themselves)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    body = {"model": model, "messages": CHAT}
    status, answer, _ = await gw.post("/v1/chat/completions", json=body, headers=headers)
    assert status == 200, answer
    return answer


def went_through(proxies: dict[str, RecordingProxy], gw) -> list[str]:
    """The proxies that tunnelled to the fake upstream."""
    return [name for name, proxy in proxies.items() if gw.upstream in proxy.tunnels]


# -- precedence ----------------------------------------------------------------------------------


async def test_without_proxies_requests_go_direct(gw, proxies):
    await chat(gw)
    assert went_through(proxies, gw) == []


async def test_the_global_proxy_carries_every_request(gw, proxies):
    await put(gw, {"global": spec(proxies["http"], "http")})
    await chat(gw)
    assert went_through(proxies, gw) == ["http"]


async def test_streams_go_through_the_proxy_too(gw, proxies):
    await put(gw, {"global": spec(proxies["socks5"], "socks5")})
    chunks = await gw.openai().chat.completions.create(
        model="openai/gpt-5", messages=CHAT, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    assert text
    assert went_through(proxies, gw) == ["socks5"]


async def test_a_provider_proxy_beats_the_global_one(gw, proxies):
    await put(
        gw,
        {
            "global": spec(proxies["http"], "http"),
            "providers": {"oai": spec(proxies["socks5"], "socks5")},
        },
    )
    await chat(gw)
    assert went_through(proxies, gw) == ["socks5"]


async def test_a_combo_proxy_beats_the_provider_one(gw, proxies):
    status, body = await gw.api(
        "POST", "/api/combos", json={"name": "team", "models": ["openai/gpt-5"]}
    )
    assert status == 201, body
    await put(
        gw,
        {
            "providers": {"openai": spec(proxies["socks5"], "socks5")},
            "combos": {"team": spec(proxies["http"], "http")},
        },
    )
    await chat(gw, model="team")
    assert went_through(proxies, gw) == ["http"]
    await chat(gw, model="openai/gpt-5")  # the provider's own proxy outside the combo
    assert went_through(proxies, gw) == ["http", "socks5"]


async def test_a_key_proxy_beats_every_other(gw, proxies):
    status, key = await gw.api("POST", "/api/keys", json={"name": "proxied"})
    assert status == 201
    await put(
        gw,
        {
            "global": spec(proxies["http"], "http"),
            "providers": {"openai": spec(proxies["http"], "http")},
            "keys": {key["id"]: spec(proxies["socks5"], "socks5")},
        },
    )
    await chat(gw, key["key"])
    assert went_through(proxies, gw) == ["socks5"]


async def test_direct_at_a_specific_level_overrides_a_proxy_above(gw, proxies):
    await put(
        gw,
        {"global": spec(proxies["http"], "http"), "providers": {"openai": {"type": "direct"}}},
    )
    await chat(gw)
    assert went_through(proxies, gw) == []


async def test_the_environment_proxy_is_the_last_resort(
    make_gateway, upstream, proxies, monkeypatch
):
    monkeypatch.setenv("ALL_PROXY", f"socks5://127.0.0.1:{proxies['socks5'].port}")
    gw = await make_gateway()
    await gw.connect(upstream)
    gw.upstream = upstream.split("//", 1)[1].split("/", 1)[0]
    await chat(gw)
    assert went_through(proxies, gw) == ["socks5"]
    await put(gw, {"global": spec(proxies["http"], "http")})
    await chat(gw)
    assert sorted(went_through(proxies, gw)) == ["http", "socks5"]


async def test_the_environment_can_be_ignored(make_gateway, upstream, proxies, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", f"socks5://127.0.0.1:{proxies['socks5'].port}")
    gw = await make_gateway()
    await gw.connect(upstream)
    gw.upstream = upstream.split("//", 1)[1].split("/", 1)[0]
    status, _ = await gw.api("PATCH", "/api/settings/advanced", json={"useEnvironmentProxy": False})
    assert status == 200
    await chat(gw)
    assert went_through(proxies, gw) == []


def test_environment_proxies_follow_scheme_and_no_proxy():
    env = EnvironmentProxies.read(
        {"HTTPS_PROXY": "http://p:3128", "all_proxy": "socks5h://s:1080", "NO_PROXY": ".internal"}
    )
    assert env.for_url("https://api.example.com/v1") == route_from_url("http://p:3128")
    assert env.for_url("http://api.example.com/v1").type == "socks5"
    assert env.for_url("https://llm.internal/v1") is None


# -- credentials ---------------------------------------------------------------------------------


async def test_authenticated_proxies_get_their_credentials(gw, proxies):
    await put(gw, {"global": spec(proxies["socks5-auth"], "socks5")})
    await chat(gw)
    await put(gw, {"global": spec(proxies["http-auth"], "http")})
    await chat(gw)
    assert proxies["socks5-auth"].users == ["bob"]
    assert proxies["http-auth"].users == ["alice"]


async def test_passwords_are_masked_in_every_answer_and_the_mask_keeps_them(gw, proxies):
    config = {"providers": {"openai": spec(proxies["http-auth"], "http")}}
    answer = await put(gw, config)
    assert answer["providers"]["openai"]["password"] == "********"
    async with gw.admin.get(gw.url + "/api/settings/proxy") as resp:
        text = await resp.text()
    assert PASSWORD not in text and "alice" in text
    # Sending the masked answer back keeps the stored password: the proxy still admits us.
    await put(gw, answer)
    await chat(gw)
    assert proxies["http-auth"].users == ["alice"]
    # The database holds only the ciphertext.
    assert PASSWORD.encode() not in gw.app[STORE].path.read_bytes()


async def test_delete_sends_everything_direct_again(gw, proxies):
    await put(gw, {"global": spec(proxies["http"], "http")})
    status, body = await gw.api("DELETE", "/api/settings/proxy")
    assert status == 200 and body["global"] is None
    await chat(gw)
    assert went_through(proxies, gw) == []


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "param"),
    [
        ({"global": {"type": "ftp", "host": "h", "port": 1}}, "global.type"),
        ({"global": {"type": "http", "host": "h"}}, "global"),
        ({"providers": {"nope": {"type": "direct"}}}, "providers.nope"),
        ({"combos": {"missing": {"type": "direct"}}}, "combos.missing"),
        ({"keys": {"no-such-key": {"type": "direct"}}}, "keys.no-such-key"),
        ({"global": {"type": "socks5", "host": "h", "port": 70000}}, "global.port"),
        ({"everywhere": {}}, "everywhere"),
    ],
)
async def test_bad_proxy_configuration_is_a_400_naming_the_field(gw, config, param):
    status, body = await gw.api("PUT", "/api/settings/proxy", json=config)
    assert status == 400, body
    assert body["error"]["param"] == param


# -- the proxy test ------------------------------------------------------------------------------


async def test_the_proxy_test_reports_latency_through_a_working_proxy(gw, proxies, upstream):
    body = {"proxy": spec(proxies["socks5-auth"], "socks5"), "url": upstream + "/models"}
    status, result = await gw.api("POST", "/api/settings/proxy/test", json=body)
    assert status == 200
    assert result["ok"] is True and result["status"] is not None
    assert result["latencyMs"] >= 0
    assert proxies["socks5-auth"].tunnels


async def test_the_proxy_test_reports_the_error_without_the_password(gw, proxies, upstream):
    wrong = {**spec(proxies["http-auth"], "http"), "password": "wrong-" + PASSWORD}
    status, result = await gw.api(
        "POST", "/api/settings/proxy/test", json={"proxy": wrong, "url": upstream}
    )
    assert status == 200
    assert result["ok"] is False and result["error"]
    assert PASSWORD not in str(result)


async def test_a_request_through_a_dead_proxy_fails_like_an_unreachable_upstream(gw):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    await put(gw, {"global": {"type": "socks5", "host": "127.0.0.1", "port": port}})
    with pytest.raises(openai.APIStatusError) as caught:
        await gw.openai().chat.completions.create(model="openai/gpt-5", messages=CHAT)
    assert caught.value.status_code == 502
    assert UPSTREAM_KEY not in caught.value.message
