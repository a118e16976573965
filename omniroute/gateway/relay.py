"""The same-format relay for OpenAI chat streams, the hot path: peek before committing, relay
as it arrives, heartbeat while idle, and never end a stream silently truncated."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web

from omniroute.accounts.vault import Secret, redact
from omniroute.appkeys import SETTINGS
from omniroute.errors import ErrorKind, UpstreamError
from omniroute.extensions import Attempt, UpstreamResponse
from omniroute.formats.base import Format
from omniroute.formats.openai_stream import usage_from_openai
from omniroute.gateway.front import (
    CLIENT_CLOSED,
    ClientGone,
    EventStream,
    end_stream,
    record,
    usage_columns,
    write_or_gone,
)
from omniroute.gateway.pipeline import TRANSPORT_ERRORS, Gateway, RequestContext, transport_error
from omniroute.gateway.route_headers import route_headers
from omniroute.gateway.sse import SSEScanner, event_data, split_events
from omniroute.providers import Provider

DONE_EVENT = b"data: [DONE]\n\n"
PING_EVENT = b": ping\n\n"


def is_error_event(data: bytes) -> bool:
    """Whether an event's data is an error object (``{"error": ...}``) rather than a chunk."""
    return data.lstrip()[:8] == b'{"error"'


def stream_error(provider: Provider, data: bytes) -> UpstreamError:
    """Classify an error event, giving the provider's classifier the status it implies."""
    try:
        err: Any = orjson.loads(data).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        err = None
    status = 500
    if isinstance(err, dict):
        code = err.get("code")
        hint = f"{err.get('type', '')} {code or ''}".lower()
        if isinstance(code, int) and 400 <= code < 600:
            status = code
        elif "rate_limit" in hint or "quota" in hint:
            status = 429
    return provider.classify_error(status, {}, data)


def first_data(block: bytes) -> bytes | None:
    """The data of the first event in ``block`` that has any."""
    position = 0
    while position < len(block):
        end = block.find(b"\n\n", position)
        if end < 0:
            end = len(block)
        data = event_data(block[position:end].lstrip(b"\n"))
        if data is not None:
            return data
        position = end + 2
    return None


@dataclass(slots=True)
class StreamStart:
    """An upstream stream that produced a usable first event: the point of no return."""

    response: UpstreamResponse
    chunks: AsyncIterator[bytes]
    scanner: SSEScanner
    first_block: bytes


async def check_stream_response(
    attempt: Attempt, resp: UpstreamResponse, content_type: str = "text/event-stream"
) -> None:
    """Raise the classified error unless the upstream answered with a stream
    (``content_type``: the stream media type of the format it speaks)."""
    if resp.status < 400 and content_type in resp.headers.get("Content-Type", ""):
        return
    body = await resp.read()
    status = resp.status if resp.status >= 400 else 502
    err = attempt.provider.classify_error(status, resp.headers, body)
    if resp.status < 400:
        err = UpstreamError(
            ErrorKind.UPSTREAM,
            f"upstream answered a stream request without a stream: {err.message}",
        )
    raise err


async def open_stream(attempt: Attempt, resp: UpstreamResponse) -> StreamStart:
    """Read up to the first event with data; raise :class:`UpstreamError` if the upstream failed
    before then, so the gateway can still fail over without the client seeing anything."""
    await check_stream_response(attempt, resp)
    scanner = SSEScanner()
    chunks = resp.chunks()
    async for chunk in chunks:
        block = scanner.feed_block(chunk)
        data = first_data(block)
        if data is not None:  # blocks of comments only are dropped
            if is_error_event(data):
                raise stream_error(attempt.provider, data)
            return StreamStart(resp, chunks, scanner, block)
    raise UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended before its first event")


@dataclass(slots=True)
class ChatStreamState:
    """What the relay has seen of an OpenAI chat stream."""

    client_wants_usage: bool
    credential: Secret | None = None
    usage: dict[str, Any] | None = None
    done: bool = False
    finished: bool = False
    errored: bool = False
    last_write: float = field(default_factory=time.monotonic)

    def take(self, events: list[tuple[bytes, bytes | None]]) -> bytes:
        """The bytes to relay for these events, noting usage, finish and errors on the way."""
        out = []
        for raw, data in events:
            if data is None:
                out.append(raw)  # comments pass through: they are valid keep-alives
                continue
            if data == b"[DONE]":
                self.done = True
            elif b'"usage":{' in data or b'"usage": {' in data:
                chunk = orjson.loads(data)
                self.usage = chunk.get("usage")
                if not self.client_wants_usage and not chunk.get("choices"):
                    continue  # the usage event the gateway asked for on the ledger's behalf
            if not self.finished and (
                b'"finish_reason":"' in data or b'"finish_reason": "' in data
            ):
                self.finished = True
            elif is_error_event(data):
                self.errored = True
                # Upstreams sometimes quote the key they were given; never relay it.
                raw = b"data: " + redact(data.decode("utf-8", "replace"), self.credential).encode()
                raw += b"\n\n"
            out.append(raw)
        return b"".join(out)

    def take_block(self, block: bytes) -> bytes:
        """Like :meth:`take` for a block of whole events, without splitting it when it need not
        be: the common block (content deltas) is scanned once and relayed as it is.

        The markers are matched with their framing (a line start, JSON punctuation), which a
        model's text cannot produce: inside a JSON string, newlines and quotes are escaped.
        """
        if b'{"error"' in block:
            return self.take(split_events(block))
        if not self.done and _has_done(block):
            self.done = True
        if not self.finished and (b'"finish_reason":"' in block or b'"finish_reason": "' in block):
            self.finished = True
        start = _usage_at(block, 0)
        while start >= 0:
            begin = block.rfind(b"\n\n", 0, start)
            begin = 0 if begin < 0 else begin + 2
            end = block.find(b"\n\n", start) + 2
            chunk = orjson.loads(event_data(block[begin : end - 2]) or b"null")
            if isinstance(chunk, dict):
                self.usage = chunk.get("usage")
                if not self.client_wants_usage and not chunk.get("choices"):
                    block = block[:begin] + block[end:]
                    end = begin
            start = _usage_at(block, end)
        return block


def _has_done(block: bytes) -> bool:
    for marker in (b"data: [DONE]\n", b"data:[DONE]\n"):
        if block.startswith(marker) or b"\n" + marker in block:
            return True
    return False


def _usage_at(block: bytes, offset: int) -> int:
    """Where the next non-null ``"usage"`` object starts in ``block``, or -1."""
    found = [
        i for i in (block.find(b'"usage":{', offset), block.find(b'"usage": {', offset)) if i >= 0
    ]
    return min(found) if found else -1


class WriteClock(Protocol):
    """Anything that remembers when the relay last wrote (``time.monotonic()``)."""

    last_write: float


class Heartbeat:
    """Writes ``: ping`` to a stream that has been idle for ``interval`` seconds.

    Uses a timer handle rather than a task per stream, so a stream that never idles costs one
    scheduled callback; the relay only writes whole events, so a ping never splits one.
    """

    def __init__(self, response: web.StreamResponse, state: WriteClock, interval: float):
        self._response = response
        self._state = state
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._pending: asyncio.Task[None] | None = None
        self._handle = self._loop.call_later(interval, self._tick)

    def _tick(self) -> None:
        idle = time.monotonic() - self._state.last_write
        if idle >= self._interval and (self._pending is None or self._pending.done()):
            self._state.last_write = time.monotonic()
            self._pending = self._loop.create_task(self._ping())
            delay = self._interval
        else:
            delay = max(self._interval - idle, 0.05)
        self._handle = self._loop.call_later(delay, self._tick)

    async def _ping(self) -> None:
        # The client may have left; the relay notices on its next write.
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._response.write(PING_EVENT)

    async def stop(self) -> None:
        """Stop pinging and wait for a ping in flight."""
        self._handle.cancel()
        if self._pending is not None and not self._pending.done():
            await asyncio.gather(self._pending, return_exceptions=True)


async def _emit(response: web.StreamResponse, state: ChatStreamState, out: bytes) -> None:
    """Relay ``out``; once it holds ``[DONE]``, with the end of the body in the same send."""
    if state.done:
        await end_stream(response, out)
    elif out:
        state.last_write = time.monotonic()
        await write_or_gone(response, out)


async def _relay_rest(
    start: StreamStart, state: ChatStreamState, response: web.StreamResponse, fmt: Format
) -> UpstreamError | None:
    """Relay events until the upstream ends; end the client's stream properly in every case.

    Returns the error the stream ended with, if any.
    """
    cut: UpstreamError | None = None
    try:
        async for chunk in start.chunks:
            if state.done:
                continue  # nothing follows [DONE]; read on so the connection can be reused
            await _emit(response, state, state.take_block(start.scanner.feed_block(chunk)))
        if start.scanner.pending.strip() and not state.done:
            cut = UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended mid-event")
    except TRANSPORT_ERRORS as exc:
        cut = transport_error(exc)
        cut.message = f"upstream stream was cut: {cut.message}"
    if state.done:
        return None
    if cut is None and state.finished:
        await end_stream(response, DONE_EVENT)  # the upstream omitted it; clients wait for it
        return None
    if cut is None and state.errored:
        return UpstreamError(ErrorKind.UPSTREAM, "upstream sent an error event")
    cut = cut or UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended before it was complete")
    await end_stream(response, fmt.stream_error_event(cut))
    return cut


async def relay_chat_stream(
    request: web.Request, gw: Gateway, ctx: RequestContext, start: StreamStart
) -> web.StreamResponse:
    """Relay an OpenAI chat stream that :func:`open_stream` started, as its events arrive."""
    options = ctx.body.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    state = ChatStreamState(client_wants_usage=wants_usage)
    state.credential = ctx.connection.api_key if ctx.connection else None
    fmt = ctx.source
    response = EventStream(route_headers(ctx))
    status, error_kind, ttft = 200, None, None
    heartbeat: Heartbeat | None = None
    try:
        await response.prepare(request)
        first = state.take_block(start.first_block)
        if not (state.done or start.response.arrived()):  # more to wait for: keep it alive
            heartbeat = Heartbeat(response, state, request.app[SETTINGS].heartbeat_interval)
        await _emit(response, state, first)
        ttft = round(ctx.elapsed_ms(), 2)
        failure = await _relay_rest(start, state, response, fmt)
        if failure is not None:
            status, error_kind = 502, failure.kind.value
        if heartbeat is not None:
            await heartbeat.stop()
        await response.write_eof()  # nothing to do when [DONE] already ended the stream
    except ClientGone:
        status, error_kind = CLIENT_CLOSED, "client_closed"
    except asyncio.CancelledError:
        status, error_kind = CLIENT_CLOSED, "client_closed"
        raise
    finally:
        if heartbeat is not None:
            await heartbeat.stop()
        start.response.close()
        usage = usage_from_openai(state.usage) if state.usage else None
        record(gw, ctx, status, error_kind=error_kind, ttft_ms=ttft, **usage_columns(usage))
    return response
