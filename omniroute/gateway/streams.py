"""Streams through the IR: translated hops, and same-format hops of formats without a
specialised relay (observed by their decoder for usage and completeness, relayed unchanged)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from omniroute.appkeys import SETTINGS
from omniroute.errors import ErrorKind, UpstreamError
from omniroute.extensions import Attempt, UpstreamResponse
from omniroute.formats import ir
from omniroute.formats.base import Format, StreamDecoder, StreamEncoder
from omniroute.gateway.front import (
    CLIENT_CLOSED,
    ClientGone,
    EventStream,
    end_stream,
    record,
    usage_columns,
    write_or_gone,
)
from omniroute.gateway.pipeline import (
    TRANSPORT_ERRORS,
    Accept,
    Gateway,
    RequestContext,
    transport_error,
)
from omniroute.gateway.relay import Heartbeat, check_stream_response
from omniroute.gateway.route_headers import route_headers
from omniroute.gateway.sse import SSEScanner
from omniroute.providers import Provider

#: Events that mean the answer has really started (metadata and usage alone do not).
_CONTENT = (
    ir.PartStart,
    ir.TextDelta,
    ir.ThinkingDelta,
    ir.SignatureDelta,
    ir.ToolArgumentsDelta,
    ir.PartStop,
    ir.Stop,
)


def error_from_event(provider: Provider, event: ir.StreamError) -> UpstreamError:
    """Classify an in-stream error with the provider's own rules, by the status it implies."""
    status = event.status
    if status is None:
        hint = event.kind.lower()
        status = 429 if ("rate" in hint or "quota" in hint) else 500
    body = orjson.dumps({"error": {"type": event.kind, "message": event.message}})
    return provider.classify_error(status, {}, body)


@dataclass(slots=True)
class DecodedStart:
    """An upstream stream whose first content event has arrived: the point of no return."""

    response: UpstreamResponse
    chunks: AsyncIterator[bytes]
    scanner: SSEScanner | None
    decoder: StreamDecoder
    blocks: list[bytes]
    events: list[ir.Event]

    def take(self, chunk: bytes) -> tuple[bytes, list[ir.Event]]:
        """Decode a chunk. For a same-format relay, also cut out the complete events to pass on
        (a translated relay re-encodes, so the decoder alone splits the stream)."""
        if self.scanner is None:
            return b"", self.decoder.feed(chunk)
        block = self.scanner.feed_block(chunk)
        return block, self.decoder.feed(block) if block else []

    def close(self) -> list[ir.Event]:
        """The decoder's last events, given any unterminated bytes first (Gemini sends errors
        as bare JSON without a closing blank line)."""
        if self.scanner is not None and self.scanner.pending.strip():
            self.decoder.feed(self.scanner.pending + b"\n\n")
        return self.decoder.close()


def open_decoded(target: Format, *, same_format: bool) -> Accept[DecodedStart]:
    """An acceptor that decodes the upstream's stream until its first content event, failing
    over (by raising) on an error before it."""

    async def accept(attempt: Attempt, resp: UpstreamResponse) -> DecodedStart:
        await check_stream_response(attempt, resp, target.stream_content_type)
        start = DecodedStart(
            resp,
            resp.chunks(),
            SSEScanner() if same_format else None,
            target.stream_decoder(),
            [],
            [],
        )
        events = start.events
        async for chunk in start.chunks:
            block, new = start.take(chunk)
            if block:
                start.blocks.append(block)
            events += new
            for event in events:
                if isinstance(event, _CONTENT):  # started: later errors are the client's
                    return start
                if isinstance(event, ir.StreamError):
                    raise error_from_event(attempt.provider, event)
        for event in start.close():
            if isinstance(event, ir.StreamError):
                raise error_from_event(attempt.provider, event)
        raise UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended before its first event")

    return accept


@dataclass(slots=True)
class Observed:
    """What the relay learned from the events: usage, whether the answer completed."""

    usage: ir.Usage | None = None
    stopped: bool = False
    failed: ir.StreamError | None = None
    last_write: float = field(default_factory=time.monotonic)

    def note(self, events: list[ir.Event]) -> None:
        """Remember usage, completion and errors."""
        for event in events:
            if isinstance(event, ir.UsageUpdate) or (
                isinstance(event, ir.MessageStart) and event.usage is not None
            ):
                self.usage = event.usage
            elif isinstance(event, ir.Stop):
                self.stopped = True
            elif isinstance(event, ir.StreamError):
                self.failed = event


def coalesce(events: list[ir.Event]) -> list[ir.Event]:
    """Merge adjacent deltas of the same part that arrived together.

    Upstreams often deliver many small deltas in one read; re-encoding each as its own client
    event costs time and bytes and tells the client nothing more, since they arrived at once.
    """
    out: list[ir.Event] = []
    for event in events:
        previous = out[-1] if out else None
        if (
            previous is not None
            and type(event) is type(previous)
            and isinstance(event, ir.TextDelta | ir.ThinkingDelta)
            and isinstance(previous, ir.TextDelta | ir.ThinkingDelta)
            and event.index == previous.index
        ):
            out[-1] = type(event)(event.index, previous.text + event.text)
        elif (
            isinstance(event, ir.ToolArgumentsDelta)
            and isinstance(previous, ir.ToolArgumentsDelta)
            and event.index == previous.index
        ):
            out[-1] = ir.ToolArgumentsDelta(event.index, previous.fragment + event.fragment)
        else:
            out.append(event)
    return out


class _Output:
    """Bytes for the client: the upstream's own blocks (same format) or re-encoded events."""

    def __init__(self, encoder: StreamEncoder | None) -> None:
        self.encoder = encoder

    def render(self, blocks: list[bytes], events: list[ir.Event]) -> bytes:
        if self.encoder is None:
            return b"".join(blocks)
        return self.encoder.encode(coalesce(events) if len(events) > 1 else events)


async def relay_decoded(
    request: web.Request, gw: Gateway, ctx: RequestContext, start: DecodedStart
) -> web.StreamResponse:
    """Relay a stream that :func:`open_decoded` started, in the client's format.

    ``ctx.resolved`` is the target that answered, so its format decides the encoding.
    """
    source, target = ctx.source, gw.formats[ctx.resolved.provider.format]
    model = ctx.client_model or ctx.model or ""
    output = _Output(None if target is source else source.stream_encoder(model, ctx.body))
    seen = Observed()
    seen.note(start.events)
    response = EventStream(route_headers(ctx))
    status, error_kind, ttft = 200, None, None
    heartbeat: Heartbeat | None = None
    try:
        await response.prepare(request)
        if not start.response.arrived():  # more to wait for: keep the client's stream alive
            heartbeat = Heartbeat(response, seen, request.app[SETTINGS].heartbeat_interval)
        await write_or_gone(response, output.render(start.blocks, start.events))
        ttft = round(ctx.elapsed_ms(), 2)
        final, failure = await _relay_rest(start, seen, output, response, source)
        if failure is not None:
            status, error_kind = 502, failure.kind.value
        if heartbeat is not None:
            await heartbeat.stop()
        await end_stream(response, final)
    except ClientGone:
        status, error_kind = CLIENT_CLOSED, "client_closed"
    except asyncio.CancelledError:
        status, error_kind = CLIENT_CLOSED, "client_closed"
        raise
    finally:
        if heartbeat is not None:
            await heartbeat.stop()
        start.response.close()
        record(gw, ctx, status, error_kind=error_kind, ttft_ms=ttft, **usage_columns(seen.usage))
    return response


async def _relay_rest(
    start: DecodedStart,
    seen: Observed,
    output: _Output,
    response: web.StreamResponse,
    source: Format,
) -> tuple[bytes, UpstreamError | None]:
    """Relay until the upstream ends; return the bytes that end the client's stream properly
    (whatever happened) and the failure, if there was one."""
    cut: UpstreamError | None = None
    try:
        async for chunk in start.chunks:
            block, events = start.take(chunk)
            seen.note(events)
            out = output.render([block], events)
            if out:
                seen.last_write = time.monotonic()
                await write_or_gone(response, out)
    except TRANSPORT_ERRORS as exc:
        cut = transport_error(exc)
        cut.message = f"upstream stream was cut: {cut.message}"
    closing = [] if cut is not None else start.close()
    seen.note(closing)
    if cut is None and seen.failed is None and seen.stopped:
        final = (
            b""
            if output.encoder is None
            else (output.encoder.encode(closing) + output.encoder.finish())
        )
        return final, None
    if cut is None and seen.failed is not None:
        failure = UpstreamError(ErrorKind.UPSTREAM, seen.failed.message)
        if output.encoder is not None:
            return output.encoder.encode(closing), failure
        if any(isinstance(e, ir.StreamError) for e in closing):
            return source.stream_error_event(failure), failure  # not relayed by the upstream
        return b"", failure
    cut = cut or UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended before it was complete")
    return source.stream_error_event(cut), cut
