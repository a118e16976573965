"""Custom models join a provider's catalogue; the catalog groups every model by provider."""

from __future__ import annotations

from typing import Any

import pytest

CHAT = [{"role": "user", "content": "hi"}]
NEW = {"provider": "oai", "modelId": "gpt-9-preview", "modelName": "GPT 9", "type": "chat"}


async def add(gw, **fields: Any) -> dict[str, Any]:
    status, body = await gw.api("POST", "/api/provider-models", json={**NEW, **fields})
    assert status == 201, body
    return body


async def listed(gw) -> list[str]:
    return [m.id async for m in gw.openai().models.list()]


async def test_a_custom_model_is_listed_and_routes_by_its_bare_id(gateway, upstream, fake):
    await gateway.connect(upstream)
    created = await add(gateway)
    assert created["provider"] == "openai" and created["modelName"] == "GPT 9"
    assert "openai/gpt-9-preview" in await listed(gateway)
    await gateway.openai().chat.completions.create(model="gpt-9-preview", messages=CHAT)
    assert fake.last_request.json["model"] == "gpt-9-preview"


async def test_deleting_a_custom_model_removes_it(gateway, upstream):
    await gateway.connect(upstream)
    created = await add(gateway)
    status, _ = await gateway.api("DELETE", f"/api/provider-models/{created['id']}")
    assert status == 200
    assert "openai/gpt-9-preview" not in await listed(gateway)
    assert (await gateway.api("GET", "/api/provider-models"))[1] == []
    assert (await gateway.api("DELETE", f"/api/provider-models/{created['id']}"))[0] == 404


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"provider": "no-such"}, "provider"),
        ({"modelId": "gpt-5"}, "modelId"),  # already in the built-in catalogue
        ({"modelId": "has space"}, "modelId"),
        ({"type": "video"}, "type"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_custom_models_are_a_400_naming_the_field(gateway, fields, param):
    status, body = await gateway.api("POST", "/api/provider-models", json={**NEW, **fields})
    assert status == 400, body
    assert body["error"]["param"] == param


async def test_a_custom_model_cannot_be_added_twice(gateway):
    await add(gateway)
    status, body = await gateway.api(
        "POST", "/api/provider-models", json={**NEW, "modelId": "GPT-9-PREVIEW"}
    )
    assert status == 400 and body["error"]["param"] == "modelId"


async def test_the_catalog_groups_every_model_by_provider_with_its_type(gateway, upstream):
    await gateway.connect(upstream)
    await add(gateway, modelId="whisper-9", modelName="Whisper 9", type="audio")
    status, catalog = await gateway.api("GET", "/api/models/catalog")
    assert status == 200
    groups = {group["provider"]: group for group in catalog}
    openai_group = groups["openai"]
    assert openai_group["connected"] is True
    types = {m["modelId"]: m["type"] for m in openai_group["models"]}
    assert types["gpt-5"] == "chat"
    assert types["text-embedding-3-small"] == "embedding"
    assert types["gpt-image-1"] == "image"
    custom = next(m for m in openai_group["models"] if m["custom"])
    assert (custom["id"], custom["name"], custom["type"]) == (
        "openai/whisper-9",
        "Whisper 9",
        "audio",
    )
    assert groups["deepseek"]["connected"] is False
    assert all(
        m["type"] in ("chat", "embedding", "image", "audio") for g in catalog for m in g["models"]
    )
