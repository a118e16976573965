"""SSE relay: as it arrives, heartbeats when idle, cancellation, and no silent truncation."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from omniroute.accounts.vault import Secret
from omniroute.gateway.relay import ChatStreamState
from omniroute.gateway.sse import SSEScanner, block_data, split_events
from omniroute.testing import Reply

HI = [{"role": "user", "content": "one two three four five six"}]
STREAM_BODY = {"model": "openai/gpt-5", "messages": HI, "stream": True}


def chunk(content: str | None = None, finish: str | None = None) -> dict:
    delta = {"content": content} if content is not None else {}
    return {
        "id": "chatcmpl-t",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-5",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def raw_stream(gateway, body=STREAM_BODY) -> list[bytes | None]:
    """The data payloads (None for comments) the client receives, in order."""
    scanner = SSEScanner()
    events: list[bytes | None] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url + "/v1/chat/completions", json=body) as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        async for piece in resp.content.iter_any():
            events += [data for _, data in scanner.feed(piece)]
    return events


async def test_midstream_error_reaches_the_client_as_an_error_event(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.midstream_error(after_chunks=2))
    stream = await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=HI, stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        async for piece in stream:
            received.append(piece)
    assert received, "content before the error is relayed"


async def test_stream_cut_midway_ends_with_an_error_event_not_silence(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.cut(after_chunks=2))
    events = await raw_stream(gateway)
    assert events[-1] is not None
    last = orjson.loads(events[-1])
    assert "stream was cut" in last["error"]["message"]
    assert b"[DONE]" not in events


async def test_missing_done_after_a_finished_stream_is_supplied(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.stream([chunk("hi"), chunk(finish="stop")], done=False))
    events = await raw_stream(gateway)
    assert events[-1] == b"[DONE]"


async def test_unfinished_stream_without_done_ends_with_an_error_event(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.stream([chunk("hi"), chunk(" there")], done=False))
    events = await raw_stream(gateway)
    assert "ended before it was complete" in orjson.loads(events[-1])["error"]["message"]


async def test_idle_stream_gets_ping_heartbeats(make_gateway, upstream, fake):
    gateway = await make_gateway(heartbeat_interval=0.1)
    await gateway.connect(upstream)
    fake.enqueue(Reply.slow_stream(gap=0.35))
    events = await raw_stream(gateway)
    assert None in events, "a ': ping' comment was sent while the upstream was quiet"
    assert events[-1] == b"[DONE]"
    payloads = [e for e in events if e is not None]
    assert all(p == b"[DONE]" or b"chat.completion.chunk" in p for p in payloads)


async def test_relay_does_not_wait_for_the_whole_stream(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.slow_stream(gap=0.4))
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url + "/v1/chat/completions", json=STREAM_BODY) as resp,
    ):
        await resp.content.readuntil(b"\n\n")
        first_event_after = loop.time() - started
        await resp.read()
        whole_stream_after = loop.time() - started
    assert first_event_after < whole_stream_after / 2


async def test_client_disconnect_cancels_the_upstream_request(gateway, aiohttp_server):
    upstream_cancelled = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: " + orjson.dumps(chunk("first")) + b"\n\n")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            upstream_cancelled.set()
            raise
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", endless)
    server = await aiohttp_server(app)
    await gateway.connect(str(server.make_url("/v1")))

    async with aiohttp.ClientSession() as session:
        resp = await session.post(gateway.url + "/v1/chat/completions", json=STREAM_BODY)
        await resp.content.readuntil(b"\n\n")
        resp.close()
    await asyncio.wait_for(upstream_cancelled.wait(), timeout=5)


async def test_streamed_request_is_in_the_ledger_with_time_to_first_token(gateway, upstream):
    await gateway.connect(upstream)
    await raw_stream(gateway)
    row = await first_usage_row(gateway)
    assert row["stream"] == 1 and row["status"] == 200
    assert row["ttftMs"] is not None and row["ttftMs"] <= row["latencyMs"]
    assert row["tokensOut"] > 0


async def first_usage_row(gateway) -> dict:
    """The newest ledger row; the ledger is written just after the response ends."""
    for _ in range(100):
        status, usage = await gateway.api("GET", "/api/usage")
        assert status == 200
        if usage["recent"]:
            return usage["recent"][0]
        await asyncio.sleep(0.02)
    raise AssertionError("no usage row was recorded")


@pytest.mark.parametrize(
    "pieces",
    [
        [b'data: {"a":1}\n\n'],
        [b'data: {"a"', b":1}\n", b"\n"],
        [b'data: {"a":1}\r', b"\n\r\n"],
        [b": comment\n\n", b'data:{"a":1}\r\n\r\n'],
        [b'data: {"a":1}\r\r'],
        [b'data: {"a":1}\r', b"\r"],
        [b'data: {"a":1}\n\r', b"\n"],
    ],
)
def test_sse_scanner_accepts_any_split_and_line_ending(pieces):
    scanner = SSEScanner()
    events = [event for piece in pieces for event in scanner.feed(piece)]
    assert [data for _, data in events if data is not None] == [b'{"a":1}']
    assert scanner.pending == b""


@pytest.mark.parametrize(
    ("block", "payloads"),
    [
        (b'data: {"a":1}\n\ndata: [DONE]\n\n', [b'{"a":1}', b"[DONE]"]),  # the fast path
        (b"data: \n\n", [b""]),
        (b'data:{"a":1}\n\n', [b'{"a":1}']),  # no space after the colon
        (b": ping\n\ndata: x\n\n", [b"x"]),  # comments are skipped
        (b"event: delta\ndata: x\n\n", [b"x"]),
        (b"data: a\ndata: b\n\n", [b"a\nb"]),  # multi-line data
        (b"\n\n\ndata: x\n\n", [b"x"]),  # stray blank lines
    ],
)
def test_block_data_gives_the_payloads_whatever_the_events_look_like(block, payloads):
    assert block_data(block) == payloads
    assert block_data(block) == [d for _, d in split_events(block) if d is not None]


def sse(*payloads: dict | str) -> bytes:
    return b"".join(
        b"data: " + (p.encode() if isinstance(p, str) else orjson.dumps(p)) + b"\n\n"
        for p in payloads
    )


USAGE_EVENT = {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}


@pytest.mark.parametrize("client_wants_usage", [True, False])
def test_a_whole_stream_in_one_block_is_relayed_with_usage_only_when_asked(client_wants_usage):
    block = sse(chunk("hi"), chunk(finish="stop"), USAGE_EVENT, "[DONE]")
    state = ChatStreamState(client_wants_usage=client_wants_usage)
    out = state.take_block(block)
    assert state.done and state.finished
    assert state.usage == USAGE_EVENT["usage"]
    assert (b'"usage":{' in out) is client_wants_usage
    assert out.endswith(b"data: [DONE]\n\n") and out.startswith(sse(chunk("hi")))


def test_model_text_mentioning_done_or_finish_does_not_end_the_stream():
    block = sse(chunk('data: [DONE] "finish_reason":"stop" {"error": 1}'))
    state = ChatStreamState(client_wants_usage=False)
    assert state.take_block(block) == block
    assert not state.done and not state.finished and not state.errored


def test_an_error_event_in_a_block_is_redacted():
    state = ChatStreamState(client_wants_usage=False, credential=Secret("sk-secret-abcdef123456"))
    out = state.take_block(sse(chunk("a"), {"error": {"message": "key sk-secret-abcdef123456"}}))
    assert state.errored
    assert b"sk-secret-abcdef123456" not in out and b'"content":"a"' in out
