"""Failures inside translated streams reach the client as an error in its own format."""

from __future__ import annotations

import anthropic
import openai
import pytest
from anthropic import AsyncAnthropic

from omniroute.testing import FakeGeminiUpstream, GeminiReply, Reply
from tests.conftest import UPSTREAM_KEY

ASK = [{"role": "user", "content": "one two three four five six seven"}]


async def test_openai_midstream_error_reaches_an_anthropic_client_as_an_error_event(
    gateway, upstream, fake
):
    await gateway.connect(upstream)
    fake.enqueue(Reply.midstream_error(after_chunks=2))
    client = AsyncAnthropic(base_url=gateway.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError):
        async with client.messages.stream(
            model="openai/gpt-5", max_tokens=64, messages=ASK
        ) as stream:
            async for _ in stream:
                pass


async def test_openai_stream_cut_reaches_an_anthropic_client_as_an_error_event(
    gateway, upstream, fake
):
    await gateway.connect(upstream)
    fake.enqueue(Reply.cut(after_chunks=2))
    client = AsyncAnthropic(base_url=gateway.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(
            model="openai/gpt-5", max_tokens=64, messages=ASK
        ) as stream:
            async for _ in stream:
                pass
    assert "cut" in str(caught.value)


@pytest.mark.parametrize("raw", [False, True], ids=["data-framed", "bare-json"])
async def test_gemini_midstream_error_reaches_an_openai_client(gateway, aiohttp_server, raw):
    fake = FakeGeminiUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    await gateway.connect(str(server.make_url("")).rstrip("/"), provider="gemini")
    fake.enqueue(
        GeminiReply.midstream_error(after_chunks=2, code=429, message="Resource exhausted", raw=raw)
    )
    stream = await gateway.openai().chat.completions.create(
        model="gemini/gemini-2.5-flash", messages=ASK, stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        async for _ in stream:
            pass
    assert "Resource exhausted" in str(caught.value)


async def test_gemini_error_before_any_content_fails_over_to_the_next_account(
    gateway, aiohttp_server
):
    fakes = []
    for priority in (0, 1):
        fake = FakeGeminiUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(
            str(server.make_url("")).rstrip("/"), provider="gemini", priority=priority
        )
        fakes.append(fake)
    fakes[0].enqueue(GeminiReply.error(429, "Resource exhausted", retry_delay="7s"))
    stream = await gateway.openai().chat.completions.create(
        model="gemini/gemini-2.5-flash", messages=ASK, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert "one two three" in text
    assert len(fakes[1].requests) == 1


def test_deltas_that_arrive_together_are_merged_per_part():
    from omniroute.formats import ir
    from omniroute.gateway.streams import coalesce

    events = [
        ir.PartStart(0, "text"),
        ir.TextDelta(0, "a"),
        ir.TextDelta(0, "b"),
        ir.PartStop(0),
        ir.PartStart(1, "tool_call", id="c", name="f"),
        ir.ToolArgumentsDelta(1, '{"x"'),
        ir.ToolArgumentsDelta(1, ":1}"),
        ir.PartStop(1),
    ]
    assert coalesce(events) == [
        ir.PartStart(0, "text"),
        ir.TextDelta(0, "ab"),
        ir.PartStop(0),
        ir.PartStart(1, "tool_call", id="c", name="f"),
        ir.ToolArgumentsDelta(1, '{"x":1}'),
        ir.PartStop(1),
    ]
