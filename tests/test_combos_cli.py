"""``omniroute combos add|list|remove`` on the database, and a running gateway seeing them."""

from __future__ import annotations

import asyncio
import json
import time

from tests.test_cli import ok, omniroute

HI = [{"role": "user", "content": "hi"}]


def test_add_list_and_remove_a_combo(tmp_path):
    output = ok("combos", "add", "fast", "openai/gpt-5", "groq/llama", data_dir=tmp_path)
    assert "added combo fast" in output
    [combo] = json.loads(ok("combos", "list", "--json", data_dir=tmp_path))
    assert combo["name"] == "fast" and combo["strategy"] == "priority"
    assert [t["model"] for t in combo["models"]] == ["openai/gpt-5", "groq/llama"]
    assert "openai/gpt-5, groq/llama" in ok("combos", "list", data_dir=tmp_path)
    assert "removed combo fast" in ok("combos", "remove", "fast", data_dir=tmp_path)
    assert json.loads(ok("combos", "list", "--json", data_dir=tmp_path)) == []


def test_weights_and_strategy_are_stored(tmp_path):
    ok(
        "combos",
        "add",
        "spread",
        "openai/gpt-5",
        "groq/llama",
        "--strategy",
        "weighted",
        "--weights",
        "1,3",
        data_dir=tmp_path,
    )
    [combo] = json.loads(ok("combos", "list", "--json", data_dir=tmp_path))
    assert combo["strategy"] == "weighted"
    assert [t["weight"] for t in combo["models"]] == [1.0, 3.0]
    assert "groq/llama x3" in ok("combos", "list", data_dir=tmp_path)


def test_bad_input_is_refused_with_the_apis_message(tmp_path):
    result = omniroute("combos", "add", "x", "nosuch/model", data_dir=tmp_path)
    assert result.exit_code != 0 and "known provider prefix" in result.output
    result = omniroute("combos", "add", "x", "openai/a", "--strategy", "best", data_dir=tmp_path)
    assert result.exit_code != 0 and "unknown combo strategy 'best'" in result.output
    result = omniroute("combos", "add", "x", "openai/a", "--weights", "1,2", data_dir=tmp_path)
    assert result.exit_code != 0 and "one weight per target" in result.output


def test_a_combo_in_use_is_not_removed(tmp_path):
    ok("combos", "add", "inner", "openai/gpt-5", data_dir=tmp_path)
    ok("combos", "add", "outer", "inner", data_dir=tmp_path)
    result = omniroute("combos", "remove", "inner", data_dir=tmp_path)
    assert result.exit_code != 0 and "used by combo 'outer'" in result.output
    result = omniroute("combos", "remove", "nope", data_dir=tmp_path)
    assert result.exit_code != 0 and "not found" in result.output


async def test_a_combo_added_by_the_cli_reaches_a_running_gateway(make_gateway, upstream, tmp_path):
    data_dir = tmp_path / "shared"
    gw = await make_gateway(data_dir=data_dir)
    await gw.connect(upstream)
    ok("combos", "add", "from-cli", "openai/gpt-5-mini", data_dir=data_dir)
    client = gw.openai()
    deadline = time.monotonic() + 5
    while "from-cli" not in {m.id for m in (await client.models.list()).data}:
        assert time.monotonic() < deadline, "the gateway never saw the CLI's combo"
        await asyncio.sleep(0.05)
    reply = await client.chat.completions.create(model="from-cli", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
