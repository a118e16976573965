"""Outbound proxies: which requests go through which proxy, at each level of precedence.

Two small real proxies run in the test: an HTTP CONNECT proxy and a SOCKS5 proxy, each with
optional username/password authentication, recording every tunnel they open.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from omniroute.appkeys import STORE
from omniroute.gateway.proxies import EnvironmentProxies, route_from_url
from tests.conftest import UPSTREAM_KEY

CHAT = [{"role": "user", "content": "hi"}]
PASSWORD = "proxy-pass-Zq81xv0"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def _tunnel(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
) -> None:
    up_reader, up_writer = await asyncio.open_connection(host, port)
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


class RecordingProxy:
    """A proxy server recording the targets it tunnels to (``host:port``) and the users."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username, self.password = username, password
        self.tunnels: list[str] = []
        self.users: list[str | None] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class ConnectProxy(RecordingProxy):
    """HTTP CONNECT, with ``Proxy-Authorization: Basic`` when a username is set."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, target, _ = head.split("\r\n")[0].split(" ")
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        user = None
        if self.username is not None:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if headers.get("Proxy-Authorization") != f"Basic {expected}":
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                writer.close()
                return
            user = self.username
        assert method == "CONNECT"
        host, port = target.rsplit(":", 1)
        self.tunnels.append(target)
        self.users.append(user)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _tunnel(reader, writer, host, int(port))


class Socks5Proxy(RecordingProxy):
    """SOCKS5 CONNECT (RFC 1928), with username/password auth (RFC 1929) when set."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        user = None
        if self.username is not None:
            assert 2 in methods
            writer.write(b"\x05\x02")
            _, length = await reader.readexactly(2)
            name = (await reader.readexactly(length)).decode()
            (length,) = await reader.readexactly(1)
            secret = (await reader.readexactly(length)).decode()
            ok = (name, secret) == (self.username, self.password)
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                writer.close()
                return
            user = name
        else:
            writer.write(b"\x05\x00")
        _version, _cmd, _rsv, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif kind == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.tunnels.append(f"{host}:{port}")
        self.users.append(user)
        writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        await writer.drain()
        await _tunnel(reader, writer, host, port)


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
