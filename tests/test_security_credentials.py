"""No management API answer ever contains a credential: client keys, provider keys, proxy
passwords."""

from __future__ import annotations

import asyncio
import contextlib

import openai

from omniroute.admin.routes import create_api_app
from omniroute.admin.settings_sections import ALL_SECTIONS
from tests.conftest import UPSTREAM_KEY

PROXY_PASSWORD = "proxy-secret-Vb93kq1"


def get_paths(key_id: str, connection_id: str) -> list[str]:
    """Every GET route of the management API, with its parameters filled in."""
    paths = []
    for route in create_api_app().router.routes():
        if route.method != "GET":
            continue
        path = "/api" + route.resource.canonical
        if "{section}" in path:
            paths += [path.replace("{section}", name) for name in ALL_SECTIONS]
        elif "{id}" in path and path.startswith("/api/keys"):
            paths.append(path.replace("{id}", key_id))
        elif "{id}" in path and path.startswith("/api/providers"):
            paths.append(path.replace("{id}", connection_id))
        elif "{" not in path:
            paths.append(path)
    return paths


async def test_no_get_answer_of_the_api_contains_a_credential(gateway, upstream):
    connection = await gateway.connect(upstream)
    status, key = await gateway.api("POST", "/api/keys", json={"name": "sweep"})
    assert status == 201
    proxy = {
        "type": "socks5",
        "host": "127.0.0.1",
        "port": 1,
        "username": "u",
        "password": PROXY_PASSWORD,
    }
    status, _ = await gateway.api("PUT", "/api/settings/proxy", json={"global": proxy})
    assert status == 200
    secrets = (key["key"], UPSTREAM_KEY, PROXY_PASSWORD)
    paths = get_paths(key["id"], connection["id"])
    assert {"/api/settings/proxy", "/api/keys", f"/api/keys/{key['id']}"} <= set(paths)
    for path in paths:
        async with gateway.admin.get(gateway.url + path) as resp:
            if resp.content_type == "text/event-stream":
                text = await first_event(gateway, resp, key["key"])
            else:
                text = (await resp.read()).decode(errors="replace")
        for secret in secrets:
            assert secret not in text, path


async def first_event(gateway, resp, client_key: str) -> str:
    """An event stream (the live monitor) never ends: send a request through the gateway
    so that it has something to say, and read up to its first event. (The request fails at
    the broken global proxy, which is recorded, and reported, like any other.)"""
    client = gateway.openai(client_key)
    with contextlib.suppress(openai.APIError):
        await client.chat.completions.create(
            model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
        )
    text = ""
    async with asyncio.timeout(10):
        while "data:" not in text:
            text += (await resp.content.readany()).decode(errors="replace")
    return text
