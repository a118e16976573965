"""The five settings sections: defaults, partial updates, validation errors naming the field."""

from __future__ import annotations

import pytest

SECTIONS = ("security", "routing", "resilience", "ai", "advanced")


@pytest.mark.parametrize("section", SECTIONS)
async def test_every_section_answers_its_defaults(gateway, section):
    status, body = await gateway.api("GET", f"/api/settings/{section}")
    assert status == 200
    assert isinstance(body, dict) and body


async def test_an_unknown_section_is_a_404_listing_the_sections(gateway):
    status, body = await gateway.api("GET", "/api/settings/colours")
    assert status == 404
    assert "security" in body["error"]["message"]


@pytest.mark.parametrize(
    ("section", "patch", "param"),
    [
        ("security", {"loginRequred": False}, "loginRequred"),
        ("security", {"ipRules": {"v1": {"allow": ["10.0.0.300"]}}}, "ipRules.v1.allow"),
        ("security", {"trustedProxies": ["proxy.local"]}, "trustedProxies"),
        ("security", {"blockedProviders": ["no-such-provider"]}, "blockedProviders.0"),
        ("routing", {"stickyLimit": 0}, "stickyLimit"),
        ("routing", {"accountStrategy": "no-such-strategy"}, "accountStrategy"),
        ("resilience", {"maxHintSeconds": -1}, "maxHintSeconds"),
        ("resilience", {"profile": {"failureTreshold": 3}}, "profile.failureTreshold"),
        ("ai", {"systemPromptPosition": "middle"}, "systemPromptPosition"),
        ("ai", {"defaultThinkingBudget": 10}, "defaultThinkingBudget"),
        ("ai", {"systemPromptEnabled": "yes please"}, "systemPromptEnabled"),
        ("advanced", {"proxyTestUrl": "ftp://example.com"}, "proxyTestUrl"),
        ("advanced", {"colour": "blue"}, "colour"),
    ],
)
async def test_a_bad_field_is_a_400_naming_it_and_nothing_is_stored(gateway, section, patch, param):
    _, before = await gateway.api("GET", f"/api/settings/{section}")
    status, body = await gateway.api("PATCH", f"/api/settings/{section}", json=patch)
    assert status == 400, body
    assert body["error"]["param"] == param
    assert param in body["error"]["message"]
    assert (await gateway.api("GET", f"/api/settings/{section}"))[1] == before


async def test_a_body_that_is_not_an_object_is_refused(gateway):
    status, _ = await gateway.api("PATCH", "/api/settings/ai", json=["x"])
    assert status == 400


async def test_a_patch_changes_only_what_it_names(gateway):
    await gateway.api(
        "PATCH", "/api/settings/ai", json={"systemPromptEnabled": True, "systemPrompt": "Be kind."}
    )
    status, ai = await gateway.api(
        "PATCH", "/api/settings/ai", json={"defaultThinkingBudget": 4096}
    )
    assert status == 200
    assert ai["systemPrompt"] == "Be kind." and ai["systemPromptEnabled"] is True
    assert ai["defaultThinkingBudget"] == 4096
    assert (await gateway.api("GET", "/api/settings/ai"))[1] == ai


async def test_nested_objects_merge_key_by_key(gateway):
    await gateway.api(
        "PATCH", "/api/settings/security", json={"ipRules": {"v1": {"deny": ["10.0.0.0/8"]}}}
    )
    _, security = await gateway.api(
        "PATCH", "/api/settings/security", json={"ipRules": {"api": {"allow": ["127.0.0.1"]}}}
    )
    assert security["ipRules"]["v1"]["deny"] == ["10.0.0.0/8"]
    assert security["ipRules"]["api"]["allow"] == ["127.0.0.1/32"]


async def test_blocked_providers_are_stored_by_id_whatever_name_was_given(gateway):
    status, security = await gateway.api(
        "PATCH", "/api/settings/security", json={"blockedProviders": ["oai", "ds"]}
    )
    assert status == 200
    assert security["blockedProviders"] == ["openai", "deepseek"]


async def test_the_routing_section_is_the_routing_settings_model(gateway):
    status, routing = await gateway.api("PATCH", "/api/settings/routing", json={"stickyLimit": 7})
    assert status == 200 and routing["stickyLimit"] == 7
