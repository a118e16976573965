"""The contract a wire format fulfils for the gateway."""

from __future__ import annotations

from omniroute.errors import GatewayError


class Format:
    """A wire format (an API dialect) registered through ``register_formats``.

    A format owns how failures look to clients that speak it: the JSON error body for a plain
    answer and the event that ends a stream that failed after it started. Request and response
    codecs (to and from the gateway's IR) extend this class as translation between formats
    arrives; a format that only passes through needs nothing more.
    """

    id: str = ""
    name: str = ""
    error_content_type: str = "application/json"

    def error_body(self, err: GatewayError) -> bytes:
        """The body of an error answer in this format."""
        raise NotImplementedError

    def stream_error_event(self, err: GatewayError) -> bytes:
        """One complete stream event that tells a client the stream failed."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
