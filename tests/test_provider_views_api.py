"""``GET /api/provider-catalog``: the connectable providers with their auth-flow fields."""

from __future__ import annotations

import aiohttp

from tests.conftest import Gateway


async def test_catalog_lists_registered_providers_with_their_auth_flow(gateway: Gateway) -> None:
    status, data = await gateway.api("GET", "/api/provider-catalog")
    assert status == 200
    by_id = {p["id"]: p for p in data}
    openai = by_id["openai"]
    assert openai["name"] == "OpenAI"
    assert openai["prefix"] == "openai"
    assert openai["format"] == "openai"
    assert openai["baseUrl"].startswith("https://")
    assert openai["node"] is False
    assert openai["connected"] is False
    assert openai["authFlow"] == {
        "id": "api-key",
        "kind": "api-key",
        "title": "API key",
        "fields": [{"name": "apiKey", "label": "API key", "secret": True, "required": True}],
        "installed": True,
    }
    assert by_id["deepseek"]["prefix"] == "ds"
    # Templates are instantiated as provider nodes, never connected by themselves.
    assert "openai-compatible" not in by_id
    names = [p["name"].lower() for p in data]
    assert names == sorted(names)


async def test_catalog_includes_nodes_and_connection_state(gateway: Gateway, upstream: str) -> None:
    status, node = await gateway.api(
        "POST",
        "/api/provider-nodes",
        json={"name": "Local vLLM", "prefix": "local", "baseUrl": upstream, "models": ["m1"]},
    )
    assert status == 201, node
    await gateway.connect(upstream)
    _, data = await gateway.api("GET", "/api/provider-catalog")
    by_id = {p["id"]: p for p in data}
    local = next(p for p in data if p["prefix"] == "local")
    assert local["node"] is True
    assert local["name"] == "Local vLLM"
    assert local["baseUrl"] == upstream
    assert local["authFlow"]["kind"] == "api-key"
    assert by_id["openai"]["connected"] is True


async def test_catalog_needs_a_session(gateway: Gateway) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(gateway.url + "/api/provider-catalog") as resp,
    ):
        assert resp.status == 401
