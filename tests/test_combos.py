"""Combos through the management API: storing, validating, listing, and using one as a model."""

from __future__ import annotations

import pytest

from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi"}]


async def add_combo(gateway, name="fast", models=("openai/gpt-5",), **fields):
    status, data = await gateway.api(
        "POST", "/api/combos", json={"name": name, "models": list(models), **fields}
    )
    assert status == 201, data
    return data


async def test_a_combo_is_stored_with_its_targets_as_objects(gateway):
    created = await add_combo(
        gateway,
        models=["openai/gpt-5", {"model": "openai/gpt-5-mini", "weight": 3}],
        strategy="weighted",
    )
    assert created["strategy"] == "weighted"
    assert created["models"] == [
        {"model": "openai/gpt-5", "connection": None, "weight": 1.0},
        {"model": "openai/gpt-5-mini", "connection": None, "weight": 3.0},
    ]
    status, listed = await gateway.api("GET", "/api/combos")
    assert status == 200 and [c["name"] for c in listed] == ["fast"]


async def test_a_combo_is_found_by_id_or_by_name(gateway):
    created = await add_combo(gateway)
    for ident in (created["id"], "FAST"):
        status, data = await gateway.api("GET", f"/api/combos/{ident}")
        assert status == 200 and data["id"] == created["id"]


async def test_the_default_strategy_is_priority(gateway):
    assert (await add_combo(gateway))["strategy"] == "priority"


async def test_update_changes_only_the_fields_given(gateway):
    created = await add_combo(gateway, config={"note": "x"})
    status, data = await gateway.api(
        "PUT", f"/api/combos/{created['id']}", json={"strategy": "round-robin"}
    )
    assert status == 200, data
    assert data["strategy"] == "round-robin"
    assert data["models"] == created["models"] and data["config"] == {"note": "x"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x", "models": ["openai/gpt-5"], "strategy": "fastest"}, "strategy"),
        ({"name": "x", "models": []}, "models"),
        ({"name": "x", "models": [{"model": "openai/gpt-5", "weight": 0}]}, "models.0.weight"),
        ({"name": "x", "models": [{"model": "openai/gpt-5", "weight": "a"}]}, "models.0.weight"),
        ({"name": "openai", "models": ["openai/gpt-5"]}, "name"),
        ({"name": "a/b", "models": ["openai/gpt-5"]}, "name"),
        ({"name": "x", "models": ["nosuch/gpt-5"]}, "models.0"),
        ({"name": "x", "models": ["openai/"]}, "models.0"),
        ({"name": "x", "models": ["missing-combo"]}, "models.0"),
        ({"name": "x", "models": [{"model": "openai/a", "combo": "y"}]}, "models.0"),
        (
            {"name": "x", "models": [{"model": "openai/a", "connection": "nope"}]},
            "models.0.connection",
        ),
        ({"name": "x", "models": ["openai/gpt-5"], "colour": "red"}, "colour"),
        ({"models": ["openai/gpt-5"]}, "name"),
    ],
    ids=[
        "unknown-strategy",
        "empty-models",
        "zero-weight",
        "text-weight",
        "provider-prefix-name",
        "slash-in-name",
        "unknown-prefix",
        "no-model",
        "unknown-combo",
        "model-and-combo",
        "unknown-connection",
        "unknown-field",
        "no-name",
    ],
)
async def test_bad_combos_are_refused_naming_the_field(gateway, body, param):
    status, data = await gateway.api("POST", "/api/combos", json=body)
    assert status == 400, data
    assert data["error"]["param"] == param, data


async def test_names_are_unique_whatever_their_case(gateway):
    await add_combo(gateway, name="Fast")
    status, data = await gateway.api(
        "POST", "/api/combos", json={"name": "fast", "models": ["openai/gpt-5"]}
    )
    assert status == 400 and data["error"]["param"] == "name"


async def test_a_pinned_connection_must_belong_to_the_targets_provider(gateway, upstream):
    conn = await gateway.connect(upstream)
    good = {"model": "openai/gpt-5", "connection": conn["id"]}
    await add_combo(gateway, models=[good])
    bad = {"model": "deepseek/deepseek-chat", "connection": conn["id"]}
    status, data = await gateway.api("POST", "/api/combos", json={"name": "y", "models": [bad]})
    assert status == 400 and data["error"]["param"] == "models.0.connection"


async def test_a_cycle_is_refused_with_a_message_naming_it(gateway):
    await add_combo(gateway, name="a")
    await add_combo(gateway, name="b", models=["a"])
    status, data = await gateway.api("PUT", "/api/combos/a", json={"models": ["b"]})
    assert status == 400
    assert "a -> b -> a" in data["error"]["message"]


async def test_a_combo_cannot_include_itself(gateway):
    await add_combo(gateway, name="a")
    status, data = await gateway.api("PUT", "/api/combos/a", json={"models": ["a"]})
    assert status == 400 and "a -> a" in data["error"]["message"]


async def test_nesting_deeper_than_three_levels_is_refused(gateway):
    await add_combo(gateway, name="c1")
    await add_combo(gateway, name="c2", models=["c1"])
    await add_combo(gateway, name="c3", models=["c2"])
    status, data = await gateway.api("POST", "/api/combos", json={"name": "c4", "models": ["c3"]})
    assert status == 400 and "at most 3 levels" in data["error"]["message"]
    # Deepening the bottom of an existing chain is refused too.
    await add_combo(gateway, name="c0")
    status, data = await gateway.api("PUT", "/api/combos/c1", json={"models": ["c0"]})
    assert status == 400 and "at most 3 levels" in data["error"]["message"]


async def test_a_combo_in_use_cannot_be_deleted_or_renamed(gateway):
    inner = await add_combo(gateway, name="inner")
    await add_combo(gateway, name="outer", models=["inner", "openai/gpt-5"])
    status, data = await gateway.api("DELETE", f"/api/combos/{inner['id']}")
    assert status == 409 and "'outer'" in data["error"]["message"]
    status, data = await gateway.api("PUT", "/api/combos/inner", json={"name": "renamed"})
    assert status == 409
    assert (await gateway.api("DELETE", "/api/combos/outer"))[0] == 200
    assert (await gateway.api("DELETE", "/api/combos/inner"))[0] == 200
    assert (await gateway.api("GET", "/api/combos/inner"))[0] == 404


async def test_unknown_combo_ids_are_404(gateway):
    for method in ("GET", "PUT", "DELETE"):
        status, data = await gateway.api(method, "/api/combos/nope", json={})
        assert status == 404, (method, data)


# -- using a combo ----------------------------------------------------------------------------


async def test_a_combo_name_works_as_the_model(gateway, upstream, fake):
    await gateway.connect(upstream)
    await add_combo(gateway, models=["openai/gpt-5-mini"])
    reply = await gateway.openai().chat.completions.create(model="fast", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    assert fake.last_request.json["model"] == "gpt-5-mini"


async def test_combos_are_listed_among_the_models(gateway, upstream):
    await gateway.connect(upstream)
    await add_combo(gateway)
    models = await gateway.openai().models.list()
    entry = next(m for m in models.data if m.id == "fast")
    assert entry.owned_by == "combo"
    assert any(m.owned_by == "openai" for m in models.data)


async def test_a_deleted_combo_is_no_longer_routable(gateway, upstream):
    await gateway.connect(upstream)
    created = await add_combo(gateway)
    await gateway.api("DELETE", f"/api/combos/{created['id']}")
    status, data, _ = await gateway.post(
        "/v1/chat/completions", json={"model": "fast", "messages": HI}
    )
    assert status == 404 and data["error"]["code"] == "model_not_found"


async def test_a_nested_combo_is_flattened_into_the_plan(gateway, aiohttp_server):
    fakes = []
    for priority in (0, 1):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        conn = await gateway.connect(str(server.make_url("/v1")), priority=priority)
        fakes.append((fake, conn))
    (first, first_conn), (second, second_conn) = fakes
    await add_combo(
        gateway, name="inner", models=[{"model": "openai/b", "connection": second_conn["id"]}]
    )
    await add_combo(
        gateway,
        name="outer",
        models=[{"model": "openai/a", "connection": first_conn["id"]}, "inner"],
    )
    first.enqueue(Reply.error(500, "boom"))
    reply = await gateway.openai().chat.completions.create(model="outer", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    assert second.last_request.json["model"] == "b"
