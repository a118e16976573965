"""The contract a wire format fulfils for the gateway."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from omniroute.errors import BadRequest, GatewayError
from omniroute.formats import ir


class StreamDecoder(Protocol):
    """Turns a format's stream bytes into IR events, incrementally.

    ``feed`` accepts chunks split anywhere (mid-line, mid-CRLF, mid-JSON) and returns the events
    they completed; ``close`` is called at end of stream and returns what remains (for example a
    ``Stop`` a format implies by ending, or a ``StreamError`` for a truncated stream).
    """

    def feed(self, chunk: bytes) -> list[ir.Event]: ...

    def close(self) -> list[ir.Event]: ...


class StreamEncoder(Protocol):
    """Turns IR events into a format's stream bytes, with per-stream state (open blocks, tool
    call indices, usage so far). ``encode`` returns complete events only (each ending with a
    blank line); ``finish`` returns what the format needs at the end (a terminator such as
    ``data: [DONE]``) if the events did not already produce it."""

    def encode(self, events: list[ir.Event]) -> bytes: ...

    def finish(self) -> bytes: ...


class Format(ABC):
    """A wire format (an API dialect) registered through ``register_formats``.

    A format owns how failures look to clients that speak it (the JSON error body for a plain
    answer, and the event that ends a stream that failed after it started) and, for translation,
    its codecs to and from the IR (:mod:`omniroute.formats.ir`): pure functions and small stream
    state machines, no I/O. A format without codecs (``translates = False``) can still be used
    for same-format pass-through.
    """

    translates: bool = False
    #: Client headers passed on to an upstream of the same format (never credentials).
    forwarded_headers: tuple[str, ...] = ()

    id: str = ""
    name: str = ""
    error_content_type: str = "application/json"
    #: The media type of this format's streams, as an upstream labels them (AWS event streams
    #: are binary, ``application/vnd.amazon.eventstream``).
    stream_content_type: str = "text/event-stream"

    @abstractmethod
    def error_body(self, err: GatewayError) -> bytes:
        """The body of an error answer in this format."""

    @abstractmethod
    def stream_error_event(self, err: GatewayError) -> bytes:
        """One complete stream event that tells a client the stream failed."""

    def passthrough_request(
        self, body: dict[str, Any], model: str, *, stream_usage: bool
    ) -> dict[str, Any]:
        """The body for an upstream of this same format: the client's, with ``model`` replaced.

        ``stream_usage`` asks a format that reports streamed usage only on request to do so.
        """
        out = dict(body)
        out["model"] = model
        return out

    def usage_of(self, body: dict[str, Any]) -> ir.Usage | None:
        """Token counts of an answer relayed without translation, for the ledger.

        The default decodes the whole answer; formats override it to read only the usage.
        ``None`` when the answer has none (a token count, an unexpected shape).
        """
        if not self.translates:
            return None
        try:
            return self.parse_response(body).usage
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def parse_request(self, body: dict[str, Any]) -> ir.Request:
        """A request body in this format → IR."""
        raise NotImplementedError(f"format {self.id!r} has no request codec")

    def render_request(self, request: ir.Request) -> dict[str, Any]:
        """IR → a request body in this format."""
        raise NotImplementedError(f"format {self.id!r} has no request codec")

    def untranslatable(self, body: dict[str, Any]) -> BadRequest | None:
        """Why ``body`` cannot go to an upstream of another format, or ``None`` when it can.

        For requests that lean on state only this format's upstreams hold (a Responses
        ``previous_response_id``): translating them would silently drop the turns it stands for.
        """
        return None

    def parse_response(self, body: dict[str, Any]) -> ir.Response:
        """A complete response body in this format → IR."""
        raise NotImplementedError(f"format {self.id!r} has no response codec")

    def render_response(
        self, response: ir.Response, client_request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """IR → a complete response body in this format. ``client_request`` is the client's
        own request body, for choices it makes about the answer (as for :meth:`stream_encoder`).
        """
        raise NotImplementedError(f"format {self.id!r} has no response codec")

    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one stream in this format."""
        raise NotImplementedError(f"format {self.id!r} has no stream codec")

    def stream_encoder(
        self, model: str, client_request: dict[str, Any] | None = None
    ) -> StreamEncoder:
        """A fresh encoder for one stream in this format, answering as ``model``.

        ``client_request`` is the client's own request body, for choices it makes about the
        stream (OpenAI's ``stream_options.include_usage``)."""
        raise NotImplementedError(f"format {self.id!r} has no stream codec")

    def with_system_prompt(self, body: dict[str, Any], text: str, position: str) -> dict[str, Any]:
        """``body`` with ``text`` added to its system instructions, before (``position``
        ``"prepend"``) or after (``"append"``) the client's own; ``body`` itself is not changed.

        The default suits a format without system instructions: the body as it is.
        """
        return body

    def with_default_thinking(self, body: dict[str, Any], budget: int) -> dict[str, Any]:
        """``body`` asking for ``budget`` thinking tokens (or the nearest effort) when it says
        nothing about reasoning itself; ``body`` itself is not changed.

        The default suits a format without reasoning controls: the body as it is.
        """
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"


def joined_text(existing: str, text: str, position: str) -> str:
    """``text`` before (``prepend``) or after (``append``) ``existing`` instructions."""
    if not existing:
        return text
    return f"{text}\n\n{existing}" if position == "prepend" else f"{existing}\n\n{text}"


def with_part(parts: list[Any], part: dict[str, Any], position: str) -> list[Any]:
    """A copy of ``parts`` with ``part`` first (``prepend``) or last (``append``)."""
    return [part, *parts] if position == "prepend" else [*parts, part]
