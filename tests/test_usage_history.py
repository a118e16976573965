"""``/api/usage/history``, ``/breakdown`` and ``/export``: filters, paging, totals, files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from omniroute.appkeys import LEDGER

DAY1 = datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 3, 2, 10, tzinfo=UTC).timestamp()


def row(n: int, **fields: Any) -> dict[str, Any]:
    """A ledger row as the gateway records one."""
    base: dict[str, Any] = {
        "ts": DAY1 + n,
        "request_id": f"r{n}",
        "endpoint": "chat",
        "provider": "openai",
        "model": "gpt-5",
        "connection_id": "c1",
        "key_id": "k1",
        "stream": 0,
        "status": 200,
        "tokens_in": 100,
        "tokens_out": 10,
        "tokens_cached": 0,
        "tokens_reasoning": 0,
        "tokens_cache_write": 0,
        "cost_usd": 0.5,
        "latency_ms": 12.0,
        "combo": None,
    }
    base.update(fields)
    return base


ROWS = [
    row(1),
    row(2, provider="anthropic", model="claude-sonnet-4-5", cost_usd=1.0),
    row(3, key_id="k2", combo="fast", cost_usd=0.25),
    row(4, status=429, error_kind="rate_limited", tokens_in=None, tokens_out=None, cost_usd=None),
    row(5, ts=DAY2, combo="fast"),
    row(6, ts=DAY2 + 1, status=502, error_kind="upstream", tokens_in=None, cost_usd=None),
]


@pytest.fixture
async def recorded(gateway):
    ledger = gateway.app[LEDGER]
    for r in ROWS:
        ledger.record(dict(r))
    return gateway


async def history(gateway: Any, query: str = "") -> dict[str, Any]:
    status, body = await gateway.api("GET", "/api/usage/history" + query)
    assert status == 200, body
    return body


async def test_history_is_newest_first_with_every_column(recorded):
    body = await history(recorded)
    assert [r["requestId"] for r in body["rows"]] == ["r6", "r5", "r4", "r3", "r2", "r1"]
    assert body["total"] == 6 and body["nextCursor"] is None
    first = body["rows"][-1]
    assert first["provider"] == "openai" and first["costUsd"] == 0.5 and first["keyId"] == "k1"
    assert {"combo", "tokensCacheWrite", "ttftMs", "errorKind"} <= first.keys()


async def test_cursor_paging_visits_every_row_once(recorded):
    seen: list[str] = []
    query = "?limit=4"
    while True:
        body = await history(recorded, query)
        seen += [r["requestId"] for r in body["rows"]]
        if body["nextCursor"] is None:
            break
        query = f"?limit=4&cursor={body['nextCursor']}"
    assert seen == ["r6", "r5", "r4", "r3", "r2", "r1"]


async def test_a_full_last_page_has_no_next_cursor(recorded):
    body = await history(recorded, "?limit=6")
    assert len(body["rows"]) == 6 and body["nextCursor"] is None


async def test_a_row_written_between_pages_does_not_shift_the_next_page(recorded):
    page1 = await history(recorded, "?limit=3")
    recorded.app[LEDGER].record(row(7, ts=DAY2 + 5))
    page2 = await history(recorded, f"?limit=3&cursor={page1['nextCursor']}")
    assert [r["requestId"] for r in page2["rows"]] == ["r3", "r2", "r1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?provider=anthropic", ["r2"]),
        ("?model=gpt-5", ["r6", "r5", "r4", "r3", "r1"]),
        ("?keyId=k2", ["r3"]),
        ("?combo=fast", ["r5", "r3"]),
        ("?status=ok", ["r5", "r3", "r2", "r1"]),
        ("?status=error", ["r6", "r4"]),
        ("?status=429", ["r4"]),
        (f"?from={DAY2}", ["r6", "r5"]),
        ("?from=2026-03-02", ["r6", "r5"]),
        ("?to=2026-03-02T00:00:00Z", ["r4", "r3", "r2", "r1"]),
        (f"?from={DAY1 + 2}&to={DAY1 + 4}", ["r3", "r2"]),
        ("?provider=openai&combo=fast&status=ok", ["r5", "r3"]),
    ],
)
async def test_history_filters(recorded, query, expected):
    body = await history(recorded, query)
    assert [r["requestId"] for r in body["rows"]] == expected
    assert body["total"] == len(expected)


async def test_breakdown_by_provider_sums_tokens_and_cost(recorded):
    status, body = await recorded.api("GET", "/api/usage/breakdown?by=provider")
    assert status == 200
    groups = {g["name"]: g for g in body["groups"]}
    openai = groups["openai"]
    assert (openai["requests"], openai["succeeded"], openai["failed"]) == (5, 3, 2)
    assert openai["costUsd"] == pytest.approx(1.25)
    assert openai["tokensIn"] == 300
    assert openai["unpricedRequests"] == 0
    assert groups["anthropic"]["costUsd"] == 1.0
    assert body["groups"][0]["name"] == "openai"  # the most expensive first


async def test_breakdown_by_model_key_combo_and_day(recorded):
    _, by_model = await recorded.api("GET", "/api/usage/breakdown?by=model")
    assert {g["name"] for g in by_model["groups"]} == {
        "openai/gpt-5",
        "anthropic/claude-sonnet-4-5",
    }
    _, by_key = await recorded.api("GET", "/api/usage/breakdown?by=key&status=ok")
    assert {g["name"]: g["requests"] for g in by_key["groups"]} == {"k1": 3, "k2": 1}
    _, by_combo = await recorded.api("GET", "/api/usage/breakdown?by=combo")
    assert {g["name"]: g["requests"] for g in by_combo["groups"]} == {None: 4, "fast": 2}
    _, by_day = await recorded.api("GET", "/api/usage/breakdown?by=day")
    assert [(g["name"], g["requests"]) for g in by_day["groups"]] == [
        ("2026-03-01", 4),
        ("2026-03-02", 2),
    ]


async def test_breakdown_by_key_names_the_keys(recorded):
    key = await recorded.api("POST", "/api/keys", json={"name": "alice"})
    recorded.app[LEDGER].record(row(9, key_id=key[1]["id"]))
    _, by_key = await recorded.api("GET", "/api/usage/breakdown?by=key")
    names = {g["name"]: g["keyName"] for g in by_key["groups"]}
    assert names[key[1]["id"]] == "alice" and names["k1"] is None


async def export(gateway: Any, query: str) -> tuple[int, bytes, Any]:
    async with gateway.admin.get(gateway.url + "/api/usage/export" + query) as resp:
        return resp.status, await resp.read(), resp.headers


async def test_json_export_is_the_filtered_history_as_an_attachment(recorded):
    status, raw, headers = await export(recorded, "?format=json&combo=fast")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    disposition = headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="omniroute-usage-')
    assert disposition.endswith('.json"')
    assert orjson.loads(raw) == (await history(recorded, "?combo=fast"))["rows"]


async def test_csv_export_has_a_header_and_one_line_per_row(recorded):
    status, raw, headers = await export(recorded, "?format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"].endswith('.csv"')
    lines = list(csv.DictReader(io.StringIO(raw.decode())))
    assert [line["requestId"] for line in lines] == ["r6", "r5", "r4", "r3", "r2", "r1"]
    assert lines[-1]["costUsd"] == "0.5" and lines[2]["costUsd"] == ""


async def test_an_export_of_many_rows_streams_them_all(gateway, monkeypatch):
    monkeypatch.setattr("omniroute.admin.usage.EXPORT_BATCH", 7)
    ledger = gateway.app[LEDGER]
    for n in range(30):
        ledger.record(row(n))
    _, raw, _ = await export(gateway, "?format=json")
    assert len(orjson.loads(raw)) == 30
    _, raw, _ = await export(gateway, "?format=csv")
    assert len(raw.decode().splitlines()) == 31


async def test_an_empty_export_is_valid(gateway):
    _, raw, _ = await export(gateway, "?format=json")
    assert orjson.loads(raw) == []


async def test_the_usage_summary_reports_cost(recorded):
    status, body = await recorded.api("GET", "/api/usage?since=0")
    assert status == 200
    assert body["overall"]["costUsd"] == pytest.approx(2.25)
    assert body["recent"][0]["costUsd"] is None


async def test_a_real_request_reaches_the_history(gateway, upstream):
    await gateway.connect(upstream)
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    body = await history(gateway, "?provider=openai&status=200")
    assert body["total"] == 1 and body["rows"][0]["model"] == "gpt-5"


BAD_QUERIES = [
    ("limit=0", "limit"),
    ("limit=5000", "limit"),
    ("limit=ten", "limit"),
    ("cursor=-1", "cursor"),
    ("status=teapot", "status"),
    ("status=999", "status"),
    ("from=yesterday", "from"),
    ("to=2026-13-45", "to"),
    ("from=2026-03-02&to=2026-03-01", "to"),
    ("provider=", "provider"),
    ("colour=blue", "colour"),
    ("limit=1&limit=2", "limit"),
]


@pytest.mark.parametrize(("query", "param"), BAD_QUERIES)
async def test_every_bad_history_parameter_is_a_400_naming_it(gateway, query, param):
    status, body = await gateway.api("GET", "/api/usage/history?" + query)
    assert status == 400, body
    assert body["error"]["param"] == param


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("breakdown", "by=colour", "by"),
        ("breakdown", "limit=3", "limit"),
        ("breakdown", "from=nope", "from"),
        ("export", "format=xml", "format"),
        ("export", "status=bad", "status"),
        ("export", "cursor=3", "cursor"),
    ],
)
async def test_every_bad_breakdown_and_export_parameter_is_a_400(gateway, path, query, param):
    status, body = await gateway.api("GET", f"/api/usage/{path}?{query}")
    assert status == 400, body
    assert body["error"]["param"] == param


async def test_a_request_through_a_combo_is_recorded_under_the_combo(gateway, upstream):
    await gateway.connect(upstream)
    status, data = await gateway.api(
        "POST", "/api/combos", json={"name": "cheap", "models": ["openai/gpt-5-nano"]}
    )
    assert status == 201, data
    await gateway.openai().chat.completions.create(
        model="cheap", messages=[{"role": "user", "content": "hi"}]
    )
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    body = await history(gateway, "?combo=cheap")
    assert [(r["combo"], r["model"]) for r in body["rows"]] == [("cheap", "gpt-5-nano")]
    assert body["rows"][0]["costUsd"] > 0
    _, by_combo = await gateway.api("GET", "/api/usage/breakdown?by=combo")
    assert {g["name"]: g["requests"] for g in by_combo["groups"]} == {"cheap": 1, None: 1}
