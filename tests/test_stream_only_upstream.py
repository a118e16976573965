"""Upstreams that answer chat only as a stream (``Provider.upstream_streams``): the gateway asks
them for a stream whatever the client asked, and a client that wants one JSON answer gets the
stream collected into it, in its own format, with usage in the ledger; failures, before or
after the first event, move the request to the next account.

The upstream is the OpenAI fake, registered by a test plugin as a provider flagged stream-only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from omniroute import Provider, hookimpl
from omniroute.formats import ir
from omniroute.gateway.collect import fold
from omniroute.plugins import get_plugin_manager
from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class StreamOnlyProvider(Provider):
    upstream_streams = True


class _Plugin:
    """Two providers at the fake: ``so/`` only streams, ``plain/`` is an ordinary one."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @hookimpl
    def register_providers(self, register: Callable[[Provider], None]) -> None:
        register(StreamOnlyProvider(id="so", name="Stream only", base_url=self.base_url))
        register(Provider(id="plain", name="Plain", base_url=self.base_url))


@pytest.fixture
async def fake_url(fake: FakeOpenAIUpstream, aiohttp_server: Any) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/v1"))


@pytest.fixture
async def gw(make_gateway: Any, fake_url: str) -> Any:
    pm = get_plugin_manager()
    pm.register(_Plugin(fake_url), name="stream-only-test")
    gateway = await make_gateway(pm=pm)
    await gateway.connect(fake_url, provider="so", priority=1)
    return gateway


async def ledger_rows(gateway: Any) -> list[dict[str, Any]]:
    for _ in range(100):  # the ledger is flushed every 10 ms in tests
        status, page = await gateway.api("GET", "/api/usage/history")
        assert status == 200, page
        if page["rows"]:
            return list(page["rows"])
        await asyncio.sleep(0.02)
    raise AssertionError("no ledger row was written")


async def test_a_json_client_is_answered_from_the_collected_stream(gw, fake):
    reply = await gw.openai().chat.completions.create(model="so/gpt-5", messages=HI)
    assert reply.choices[0].message.content == "echo: hi there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "so/gpt-5"
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    sent = fake.requests[-1].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_the_collected_answer_records_its_usage_in_the_ledger(gw, fake):
    reply = await gw.openai().chat.completions.create(model="so/gpt-5", messages=HI)
    assert reply.usage is not None
    [row] = await ledger_rows(gw)
    assert row["status"] == 200
    assert row["tokensIn"] == reply.usage.prompt_tokens
    assert row["tokensOut"] == reply.usage.completion_tokens


async def test_a_streamed_tool_call_is_collected_whole(gw):
    reply = await gw.openai().chat.completions.create(
        model="so/gpt-5", messages=HI, tools=[WEATHER_TOOL]
    )
    [call] = reply.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert call.function.arguments.startswith("{")
    assert reply.choices[0].finish_reason == "tool_calls"


async def test_a_client_of_another_format_gets_the_collected_answer_translated(gw, fake):
    client = anthropic.AsyncAnthropic(base_url=gw.url, api_key="no-key", max_retries=0)
    message = await client.messages.create(model="so/gpt-5", max_tokens=100, messages=HI)
    assert message.content[0].type == "text" and message.content[0].text == "echo: hi there"
    assert message.usage.output_tokens > 0
    assert fake.requests[-1].json["stream"] is True


async def test_a_streaming_client_is_relayed_as_before(gw, fake):
    stream = await gw.openai().chat.completions.create(model="so/gpt-5", messages=HI, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi there"
    assert fake.requests[-1].json["stream"] is True


async def test_an_ordinary_provider_still_gets_a_json_request(gw, fake, fake_url):
    await gw.connect(fake_url, provider="plain")
    reply = await gw.openai().chat.completions.create(model="plain/gpt-5", messages=HI)
    assert reply.choices[0].message.content == "echo: hi there"
    assert "stream" not in fake.requests[-1].json


async def test_an_error_before_the_stream_moves_to_the_next_account(gw, fake, fake_url):
    await gw.connect(fake_url, provider="so", priority=2)
    fake.enqueue(Reply.error(429, "Rate limit reached"))
    reply = await gw.openai().chat.completions.create(model="so/gpt-5", messages=HI)
    assert reply.choices[0].message.content == "echo: hi there"
    assert len(fake.requests) == 2


async def test_an_error_inside_the_stream_moves_to_the_next_account(gw, fake, fake_url):
    await gw.connect(fake_url, provider="so", priority=2)
    fake.enqueue(Reply.midstream_error(after_chunks=2))
    reply = await gw.openai().chat.completions.create(model="so/gpt-5", messages=HI)
    assert reply.choices[0].message.content == "echo: hi there"
    assert len(fake.requests) == 2


async def test_a_cut_stream_is_a_failure_not_a_partial_answer(gw, fake):
    fake.enqueue(Reply.cut(after_chunks=2))
    status, body, _ = await gw.post(
        "/v1/chat/completions", json={"model": "so/gpt-5", "messages": HI}
    )
    assert status == 502, body
    assert "error" in body


def test_fold_assembles_parts_in_order_with_usage_and_stop():
    answer = fold(
        [
            ir.MessageStart("msg_1", "m"),
            ir.PartStart(0, "thinking"),
            ir.ThinkingDelta(0, "let me "),
            ir.ThinkingDelta(0, "think"),
            ir.SignatureDelta(0, "sig"),
            ir.PartStop(0),
            ir.PartStart(1, "tool_call", id="call_1", name="f"),
            ir.ToolArgumentsDelta(1, '{"a"'),
            ir.ToolArgumentsDelta(1, ": 1}"),
            ir.PartStart(2, "tool_call", id="call_2", name="g"),
            ir.UsageUpdate(ir.Usage(input=3, output=4)),
            ir.Stop("tool_use"),
        ]
    )
    assert answer.id == "msg_1" and answer.stop_reason == "tool_use"
    assert answer.usage == ir.Usage(input=3, output=4)
    thinking, first, second = answer.parts
    assert thinking == ir.ThinkingPart("let me think", signature="sig")
    assert first == ir.ToolCallPart("call_1", "f", '{"a": 1}')
    assert second == ir.ToolCallPart("call_2", "g", "{}")


def test_fold_accepts_text_deltas_without_a_part_start():
    answer = fold([ir.TextDelta(0, "a"), ir.TextDelta(0, "b"), ir.Stop("end_turn")])
    assert answer.parts == [ir.TextPart("ab")]


def test_a_provider_does_not_stream_upstream_unless_flagged():
    assert Provider(id="p", name="P", base_url="http://x").upstream_streams is False
    assert StreamOnlyProvider(id="s", name="S", base_url="http://x").upstream_streams is True


@pytest.fixture
def fake() -> FakeOpenAIUpstream:
    return FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
