"""``omniroute budgets set|list|remove`` on the database, and a running gateway enforcing them."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

from omniroute.store.db import open_database
from tests.test_cli import created_key, ok, omniroute


def _key_id(tmp_path, name: str) -> str:
    listed = json.loads(ok("keys", "list", "--json", data_dir=tmp_path))
    return next(k["id"] for k in listed if k["name"] == name)


def test_set_list_and_remove_a_budget_by_key_name(tmp_path):
    ok("keys", "create", "team", data_dir=tmp_path)
    key_id = _key_id(tmp_path, "team")
    output = ok("budgets", "set", "team", "12.5", "--period", "weekly", data_dir=tmp_path)
    assert f"budget for key {key_id}: $12.5 weekly" in output
    [budget] = json.loads(ok("budgets", "list", "--json", data_dir=tmp_path))
    assert budget["keyName"] == "team" and budget["limit"] == 12.5
    assert budget["period"] == "weekly" and budget["spent"] == 0 and not budget["exceeded"]
    assert "team" in ok("budgets", "list", data_dir=tmp_path)
    assert "removed the budget" in ok("budgets", "remove", key_id, data_dir=tmp_path)
    assert json.loads(ok("budgets", "list", "--json", data_dir=tmp_path)) == []


def test_list_shows_what_the_ledger_says_the_key_spent(tmp_path):
    ok("keys", "create", "team", data_dir=tmp_path)
    key_id = _key_id(tmp_path, "team")
    ok("budgets", "set", "team", "1", data_dir=tmp_path)
    db = open_database(tmp_path / "storage.sqlite")
    for cost in (0.25, 0.5):
        db["usage"].insert({"ts": time.time(), "key_id": key_id, "status": 200, "cost_usd": cost})
    db.close()
    [budget] = json.loads(ok("budgets", "list", "--json", data_dir=tmp_path))
    assert budget["spent"] == pytest.approx(0.75) and not budget["exceeded"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("budgets", "set", "nobody", "5"), "key 'nobody' not found"),
        (("budgets", "set", "team", "2e9"), "limit"),
        (("budgets", "set", "team", "5", "--period", "yearly"), "yearly"),
        (("budgets", "set", "team", "5", "--warn-at", "2"), "warnAt"),
        (("budgets", "remove", "team"), "has no budget"),
    ],
)
def test_bad_input_is_refused_with_a_message(tmp_path, args, message):
    ok("keys", "create", "team", data_dir=tmp_path)
    result = omniroute(*args, data_dir=tmp_path)
    assert result.exit_code != 0 and message in result.output


async def test_a_running_gateway_enforces_a_budget_set_from_the_cli(
    make_gateway, upstream, tmp_path
):
    gateway = await make_gateway(data_dir=tmp_path)
    await gateway.connect(upstream)
    key = created_key(ok("keys", "create", "team", data_dir=tmp_path))
    ok("budgets", "set", "team", "0", data_dir=tmp_path)  # nothing more may be spent
    client = gateway.openai(api_key=key)
    for _ in range(100):  # the gateway notices within its poll interval (50 ms in tests)
        await asyncio.sleep(0.05)
        try:
            await client.chat.completions.create(
                model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
            )
        except openai.RateLimitError as exc:
            assert exc.code == "budget_exceeded"
            return
    raise AssertionError("the budget set from the CLI was never enforced")
