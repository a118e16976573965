"""POST /api/translator/chat (a message through the real pipeline, hop by hop) and
GET /api/translator/live (every finished request as a server-sent event)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from omniroute.admin.translator_live import Subscriber
from omniroute.appkeys import GATEWAY
from omniroute.testing.fake_openai import Reply


async def _chat(gateway: Any, **body: Any) -> tuple[int, Any]:
    return await gateway.api("POST", "/api/translator/chat", json=body)


async def test_chat_answers_through_the_gateway_with_four_hops(gateway, upstream, fake):
    await gateway.connect(upstream, name="chat-openai")
    status, data = await _chat(gateway, format="openai", model="openai/gpt-4o", message="hello")
    assert status == 200, data
    assert data["status"] == 200 and data["text"] == "echo: hello"
    assert [h["hop"] for h in data["hops"]] == [
        "client-request",
        "provider-request",
        "provider-response",
        "client-response",
    ]
    sent = data["hops"][1]
    assert sent["provider"] == "openai" and sent["connection"] == "chat-openai"
    assert sent["translated"] is False and sent["body"]["model"] == "gpt-4o"
    assert fake.requests[-1].json["messages"][-1]["content"] == "hello"


async def test_chat_from_an_anthropic_client_shows_the_translated_hop(gateway, upstream):
    await gateway.connect(upstream)
    status, data = await _chat(
        gateway, format="anthropic", model="openai/gpt-4o", message="hello there"
    )
    assert status == 200, data
    client, sent, answer, received = data["hops"]
    assert client["body"]["max_tokens"] == 1024
    assert sent["translated"] is True and sent["format"] == "openai"
    assert sent["body"]["messages"][-1]["role"] == "user"
    assert answer["body"]["object"] == "chat.completion"
    assert received["format"] == "anthropic" and received["body"]["type"] == "message"
    assert data["text"] == "echo: hello there"


async def test_chat_is_recorded_like_any_request(gateway, upstream):
    await gateway.connect(upstream)
    _, data = await _chat(gateway, format="responses", model="openai/gpt-4o", message="count me")
    status, usage = await gateway.api("GET", "/api/usage")
    assert status == 200
    assert data["requestId"] in [row["requestId"] for row in usage["recent"]]


async def test_chat_shows_an_upstream_error_as_the_client_got_it(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.error(400, "bad things", code="invalid_request_error"))
    status, data = await _chat(gateway, format="openai", model="openai/gpt-4o", message="hi")
    assert status == 200, data
    assert data["status"] == 400 and data["text"] is None
    assert data["hops"][2]["status"] == 400
    assert "bad things" in json.dumps(data["hops"][-1]["body"])


async def test_chat_refuses_an_unknown_model_naming_the_field(gateway):
    status, data = await _chat(gateway, format="openai", model="nowhere/x", message="hi")
    assert status >= 400 and data["error"]["param"] == "model"


async def test_chat_refuses_a_bad_format(gateway):
    status, data = await _chat(gateway, format="cobol", model="m", message="hi")
    assert status == 400 and data["error"]["param"] == "format"


async def test_chat_needs_a_dashboard_session(gateway):
    status, data, _ = await gateway.post(
        "/api/translator/chat", json={"format": "openai", "model": "m", "message": "hi"}
    )
    assert status == 401 and data["error"]["code"] == "login_required"


async def _next_event(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    while True:
        line = await asyncio.wait_for(resp.content.readline(), 5)
        assert line, "the stream ended"
        if line.startswith(b"data: "):
            return json.loads(line[6:])


async def test_live_streams_each_finished_request(gateway, upstream):
    await gateway.connect(upstream, name="live-openai")
    async with gateway.admin.get(gateway.url + "/api/translator/live") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert await asyncio.wait_for(resp.content.readline(), 5) == b": connected\n"
        client = gateway.openai()
        await client.chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "watch me"}]
        )
        event = await _next_event(resp)
    assert event["model"] == "gpt-4o" and event["provider"] == "openai"
    assert event["connection"] == "live-openai" and event["format"] == "openai"
    assert event["status"] == 200 and event["tokensOut"] > 0 and event["requestId"]
    assert "keyId" not in event and "key_id" not in event


async def test_live_stops_listening_when_the_browser_leaves(gateway):
    ledger = gateway.app[GATEWAY].ledger
    async with gateway.admin.get(gateway.url + "/api/translator/live") as resp:
        await resp.content.readline()
        assert len(ledger.listeners) == 1
    for _ in range(100):
        if not ledger.listeners:
            break
        await asyncio.sleep(0.02)
    assert ledger.listeners == []


async def test_live_needs_a_dashboard_session(gateway):
    async with (
        aiohttp.ClientSession() as session,
        session.get(gateway.url + "/api/translator/live") as resp,
    ):
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "login_required"


def test_a_slow_subscriber_drops_its_oldest_rows():
    subscriber = Subscriber(limit=3)
    for n in range(5):
        subscriber({"request_id": str(n)})
    assert [row["request_id"] for row in subscriber.rows] == ["2", "3", "4"]
    assert subscriber.dropped == 2
