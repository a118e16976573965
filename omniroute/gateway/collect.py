"""One answer collected from a stream, for upstreams that answer chat only as a stream
(:attr:`omniroute.providers.Provider.upstream_streams`) serving a client that asked for JSON.

The upstream's stream is decoded with its format's decoder and folded into an
:class:`~omniroute.formats.ir.Response`, which the client's format renders like any translated
answer. Nothing reaches the client before the stream has ended, so any failure, even one after
the first event, still moves the request to the next account.
"""

from __future__ import annotations

from collections.abc import Iterable

from omniroute.errors import ErrorKind, UpstreamError
from omniroute.extensions import Attempt, UpstreamResponse
from omniroute.formats import ir
from omniroute.formats.base import Format
from omniroute.gateway.relay import check_stream_response
from omniroute.gateway.streams import error_from_event


class StreamFold:
    """Folds IR stream events into one :class:`ir.Response` (a small state machine: the parts
    by index, the stop once seen)."""

    def __init__(self) -> None:
        self.response = ir.Response(id="", model="")
        self.parts: dict[int, ir.Part] = {}
        self.stopped = False

    def add(self, event: ir.Event) -> ir.StreamError | None:
        """Take one event; return it when it is an error (the caller decides what that means)."""
        if isinstance(event, ir.MessageStart):
            self.response.id = event.id or self.response.id
            self.response.model = event.model or self.response.model
            if event.usage is not None:
                self.response.usage = event.usage
        elif isinstance(event, ir.PartStart):
            self.parts[event.index] = _new_part(event)
        elif isinstance(event, ir.TextDelta):
            text = self.parts.get(event.index)
            if not isinstance(text, ir.TextPart):  # a decoder that sent no PartStart
                text = self.parts[event.index] = ir.TextPart(text="")
            text.text += event.text
        elif isinstance(event, ir.ThinkingDelta):
            thinking = self.parts.get(event.index)
            if not isinstance(thinking, ir.ThinkingPart):
                thinking = self.parts[event.index] = ir.ThinkingPart()
            thinking.text += event.text
        elif isinstance(event, ir.SignatureDelta):
            signed = self.parts.get(event.index)
            if isinstance(signed, ir.ThinkingPart | ir.ToolCallPart):
                signed.signature = (signed.signature or "") + event.signature
        elif isinstance(event, ir.ToolArgumentsDelta):
            call = self.parts.get(event.index)
            if isinstance(call, ir.ToolCallPart):
                call.arguments += event.fragment
        elif isinstance(event, ir.UsageUpdate):
            self.response.usage = event.usage
        elif isinstance(event, ir.Stop):
            self.response.stop_reason = event.reason
            self.response.stop_sequence = event.stop_sequence
            self.stopped = True
        elif isinstance(event, ir.StreamError):
            return event
        return None

    def result(self) -> ir.Response:
        """The answer: parts in index order, tool calls without arguments given ``{}``."""
        parts = [self.parts[index] for index in sorted(self.parts)]
        for part in parts:
            if isinstance(part, ir.ToolCallPart) and not part.arguments:
                part.arguments = "{}"
        self.response.parts = parts
        return self.response


def _new_part(event: ir.PartStart) -> ir.Part:
    if event.kind == "tool_call":
        return ir.ToolCallPart(id=event.id or "", name=event.name or "", arguments="")
    if event.kind == "thinking":
        return ir.ThinkingPart()
    if event.kind == "redacted_thinking":
        return ir.ThinkingPart(redacted=True, data=event.data)
    return ir.TextPart(text="")


def fold(events: Iterable[ir.Event]) -> ir.Response:
    """The answer a complete list of stream events adds up to (errors are ignored)."""
    folded = StreamFold()
    for event in events:
        folded.add(event)
    return folded.result()


async def collect_stream(target: Format, attempt: Attempt, resp: UpstreamResponse) -> ir.Response:
    """Read the upstream's whole stream (in ``target``'s format) into one answer.

    Raises the classified :class:`UpstreamError` for an error answer, an error event or a
    stream that ends before its final event, so the gateway fails over as for a JSON answer.
    """
    await check_stream_response(attempt, resp, target.stream_content_type)
    decoder = target.stream_decoder()
    folded = StreamFold()
    async for chunk in resp.chunks():
        for event in decoder.feed(chunk):
            if (error := folded.add(event)) is not None:
                raise error_from_event(attempt.provider, error)
    for event in decoder.close():
        if (error := folded.add(event)) is not None:
            raise error_from_event(attempt.provider, error)
    if not folded.stopped:
        raise UpstreamError(ErrorKind.UPSTREAM, "upstream stream ended before it was complete")
    return folded.result()
