"""OpenAI Chat Completions as a wire format (default plugin)."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats.base import Format
from omniroute.hookspecs import hookimpl

# The ``type`` OpenAI uses for each kind, so SDKs and tools recognise the error.
_OPENAI_TYPES = {
    ErrorKind.BAD_REQUEST: "invalid_request_error",
    ErrorKind.AUTH: "authentication_error",
    ErrorKind.NOT_FOUND: "invalid_request_error",
    ErrorKind.RATE_LIMITED: "rate_limit_error",
    ErrorKind.QUOTA_EXHAUSTED: "insufficient_quota",
    ErrorKind.UPSTREAM: "upstream_error",
    ErrorKind.TIMEOUT: "timeout_error",
    ErrorKind.UNREACHABLE: "upstream_error",
    ErrorKind.UNAVAILABLE: "service_unavailable",
    ErrorKind.TOO_LARGE: "invalid_request_error",
}


class OpenAIChatFormat(Format):
    """``POST /v1/chat/completions``: errors are ``{"error": {message, type, code, param}}``."""

    id = "openai"
    name = "OpenAI Chat Completions"

    def error_object(self, err: GatewayError) -> dict[str, object]:
        """The inner error object, shared by plain answers and stream events."""
        return {
            "message": err.message,
            "type": err.type or _OPENAI_TYPES.get(err.kind, "api_error"),
            "code": err.code or err.kind.value,
            "param": err.param,
        }

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps({"error": self.error_object(err)})

    def stream_error_event(self, err: GatewayError) -> bytes:
        # openai-python raises APIError on any data event whose object has an "error" key.
        return b"data: " + orjson.dumps({"error": self.error_object(err)}) + b"\n\n"


@hookimpl
def register_formats(register: Callable[[Format], None]) -> None:
    """Register the OpenAI Chat Completions format."""
    register(OpenAIChatFormat())
