"""Model aliases: wildcard patterns, which one wins, the API, and aliases at the front door."""

from __future__ import annotations

import pytest

from omniroute.routing.aliases import PatternTable, compile_pattern

HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("gpt-4*", "gpt-4o", True),
        ("gpt-4*", "GPT-4O-mini", True),
        ("gpt-4*", "gpt-5", False),
        ("claude-?-sonnet", "claude-3-sonnet", True),
        ("claude-?-sonnet", "claude-35-sonnet", False),
        ("*/gpt-5", "openrouter/openai/gpt-5", True),
        ("gpt.5", "gpt-5", False),
        ("exact", "EXACT", True),
    ],
)
def test_patterns_match_whole_names_case_insensitively(pattern, name, matches):
    assert (PatternTable([(pattern, 1)]).match(name) is not None) is matches
    assert compile_pattern(pattern).text == pattern


def test_the_most_specific_pattern_wins_whatever_the_order():
    patterns = ["*", "gpt-*", "gpt-4o*", "gpt-4o-mini", "gpt-4?-mini"]
    for items in (patterns, list(reversed(patterns))):
        table = PatternTable([(p, p) for p in items])
        assert table.match("gpt-4o-mini") == ("gpt-4o-mini", "gpt-4o-mini")
        assert table.match("gpt-4o-2024") == ("gpt-4o*", "gpt-4o*")
        assert table.match("gpt-4x-mini") == ("gpt-4?-mini", "gpt-4?-mini")
        assert table.match("gpt-3") == ("gpt-*", "gpt-*")
        assert table.match("llama") == ("*", "*")


def test_more_literal_characters_beat_fewer_wildcards():
    table = PatternTable([("gpt-*", "short"), ("gpt-4o-mini-????-??-??", "dated")])
    assert table.match("gpt-4o-mini-2024-07-18") == ("gpt-4o-mini-????-??-??", "dated")


def test_equal_specificity_is_decided_by_fewer_stars_then_text():
    table = PatternTable([("a*c", "star"), ("a?c", "mark")])
    assert table.match("abc") == ("a?c", "mark")


# -- the API ------------------------------------------------------------------------------------


async def test_aliases_are_stored_and_read_back(gateway):
    status, data = await gateway.api("GET", "/api/settings/model-aliases")
    assert status == 200 and data == {"aliases": {}}
    body = {"aliases": {"gpt-4*": "openai/gpt-4o", "cheap": "openai/gpt-5-mini"}}
    status, data = await gateway.api("PUT", "/api/settings/model-aliases", json=body)
    assert status == 200 and data == body
    assert (await gateway.api("GET", "/api/settings/model-aliases"))[1] == body


@pytest.mark.parametrize(
    "aliases",
    [
        {"gpt 4": "openai/gpt-4o"},
        {"**": "openai/gpt-4o"},
        {"x": "nosuch/model"},
        {"x": "missing-combo"},
        {"x": "openai/gpt-*"},
        {"X": "openai/a", "x": "openai/b"},
    ],
    ids=["space", "only-wildcards", "unknown-prefix", "unknown-combo", "wild-target", "case-dup"],
)
async def test_bad_aliases_are_refused(gateway, aliases):
    status, data = await gateway.api(
        "PUT", "/api/settings/model-aliases", json={"aliases": aliases}
    )
    assert status == 400, data
    assert data["error"]["param"].startswith("aliases"), data


async def test_an_alias_renames_the_model_at_the_front_door(gateway, upstream, fake):
    await gateway.connect(upstream)
    aliases = {"gpt-4*": "openai/gpt-4o", "gpt-4o-mini*": "openai/gpt-5-mini"}
    await gateway.api("PUT", "/api/settings/model-aliases", json={"aliases": aliases})
    client = gateway.openai()
    await client.chat.completions.create(model="GPT-4-turbo", messages=HI)
    assert fake.last_request.json["model"] == "gpt-4o"
    await client.chat.completions.create(model="gpt-4o-mini-2024", messages=HI)
    assert fake.last_request.json["model"] == "gpt-5-mini"


async def test_an_alias_may_name_a_combo(gateway, upstream, fake):
    await gateway.connect(upstream)
    await gateway.api("POST", "/api/combos", json={"name": "team", "models": ["openai/gpt-5"]})
    await gateway.api("PUT", "/api/settings/model-aliases", json={"aliases": {"claude*": "team"}})
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="claude-opus", messages=HI
    )
    assert raw.headers["x-omniroute-combo"] == "team"
    assert fake.last_request.json["model"] == "gpt-5"


async def test_a_combo_named_by_an_alias_cannot_be_deleted(gateway):
    await gateway.api("POST", "/api/combos", json={"name": "team", "models": ["openai/gpt-5"]})
    await gateway.api("PUT", "/api/settings/model-aliases", json={"aliases": {"c*": "team"}})
    status, data = await gateway.api("DELETE", "/api/combos/team")
    assert status == 409 and "'c*'" in data["error"]["message"]
