"""The OpenAI Responses wire vocabulary shared by its codecs: ids, SSE frames, usage, stop
reasons and statuses, error codes and events, and the ``response`` object.

Used by :mod:`omniroute.formats.responses` (whole bodies), :mod:`~.responses_stream` (the
decoder) and :mod:`~.responses_stream_encoder`.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

import orjson

from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats import ir

TRUNCATED_MESSAGE = "stream ended before it was complete"


# -- wire vocabulary ----------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    """A fresh id in the API's style (``resp_...``, ``msg_...``, ``fc_...``, ``rs_...``)."""
    return prefix + secrets.token_hex(24)


def response_id(value: str | None) -> str:
    """A ``resp_`` id for an answer: the upstream's own when it is one, else derived from it."""
    if not value:
        return new_id("resp_")
    return value if value.startswith("resp_") else "resp_" + value


def frame(payload: dict[str, Any]) -> bytes:
    """One SSE event: ``event: <type>``, the JSON payload, and the terminating blank line."""
    name = str(payload["type"]).encode()
    return b"event: " + name + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_wire(usage: dict[str, Any]) -> ir.Usage:
    """IR usage from a Responses ``usage`` object. ``input_tokens`` includes cached tokens (read
    and written); the IR's ``input`` does not."""
    details = usage.get("input_tokens_details")
    if not isinstance(details, dict):
        details = {}
    cache_read = _count(details.get("cached_tokens"))
    cache_write = _count(details.get("cache_write_tokens"))
    output_details = usage.get("output_tokens_details")
    reasoning = (
        _count(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else 0
    )
    return ir.Usage(
        input=max(_count(usage.get("input_tokens")) - cache_read - cache_write, 0),
        output=_count(usage.get("output_tokens")),
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=reasoning,
    )


def usage_to_wire(usage: ir.Usage) -> dict[str, Any]:
    """A Responses ``usage`` object from IR usage (``cache_write_tokens`` is always present: the
    current SDK types require it)."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
        },
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": prompt + usage.output,
    }


def stop_from_wire(
    status: object, incomplete_details: object, *, tool_use: bool, refused: bool
) -> ir.StopReason:
    """The IR stop reason of a finished response: ``incomplete`` is ``max_tokens`` (or
    ``content_filter`` when that is the reason given), ``failed`` is ``error``; a completed
    answer with function calls is ``tool_use``, one with a refusal part ``refusal``."""
    if status == "incomplete":
        reason = incomplete_details.get("reason") if isinstance(incomplete_details, dict) else None
        return "content_filter" if reason == "content_filter" else "max_tokens"
    if status == "failed":
        return "error"
    if tool_use:
        return "tool_use"
    return "refusal" if refused else "end_turn"


def status_for(reason: ir.StopReason) -> tuple[str, dict[str, str] | None]:
    """The response ``status`` and ``incomplete_details`` for an IR stop reason."""
    if reason == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    if reason == "error":
        return "failed", None
    return "completed", None


#: The message of the ``error`` a response that ended with stop reason ``error`` carries.
STOPPED_WITH_ERROR = "the model could not complete its answer"

# Error codes the API itself uses for these kinds; clients such as Codex decide on them
# (``insufficient_quota`` is final, ``rate_limit_exceeded`` is retried). Other kinds keep their
# kind's name as the code, which the decoders read back.
_CODES: dict[ErrorKind, str] = {
    ErrorKind.RATE_LIMITED: "rate_limit_exceeded",
    ErrorKind.QUOTA_EXHAUSTED: "insufficient_quota",
    ErrorKind.UPSTREAM: "server_error",
    ErrorKind.UNREACHABLE: "server_error",
}


def error_code(err: GatewayError) -> str:
    """The ``code`` of an error object in this format."""
    return err.code or _CODES.get(err.kind) or err.kind.value


def error_events(
    error_object: dict[str, Any], response: dict[str, Any], sequence: int | None
) -> bytes:
    """``error`` then ``response.failed``, as the API ends a stream that failed.

    The ``error`` event has the fields flat, as the SDK's ``ResponseErrorEvent`` declares them,
    and nested under ``error``, as the live API sends them (openai-python raises ``APIError`` on
    an event whose data has an ``error`` object). ``sequence`` numbers the two events; None
    leaves the numbers out (when the events end a stream someone else numbered)."""
    error: dict[str, Any] = {"type": "error"}
    if sequence is not None:
        error["sequence_number"] = sequence
    error.update(
        code=error_object["code"],
        message=error_object["message"],
        param=error_object.get("param"),
        error=error_object,
    )
    failed: dict[str, Any] = {"type": "response.failed"}
    if sequence is not None:
        failed["sequence_number"] = sequence + 1
    response["status"] = "failed"
    response["error"] = {"code": error_object["code"], "message": error_object["message"]}
    failed["response"] = response
    return frame(error) + frame(failed)


# -- the response object ------------------------------------------------------------------------

# The fields of a ``response`` object that echo the request, with the API's defaults, in the
# order the API writes them (``id`` ... ``incomplete_details``, ``model``, ``output`` and
# ``usage`` are the answer's own and are placed among them).
_ECHO_DEFAULTS: dict[str, Any] = {
    "background": False,
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "reasoning": {"effort": None, "summary": None},
    "safety_identifier": None,
    "service_tier": "default",
    "store": False,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
}
# fmt: off
_ORDER = (
    "id", "object", "created_at", "status", "background", "error", "incomplete_details",
    "instructions", "max_output_tokens", "max_tool_calls", "model", "output",
    "parallel_tool_calls", "previous_response_id", "prompt_cache_key", "reasoning",
    "safety_identifier", "service_tier", "store", "temperature", "text", "tool_choice", "tools",
    "top_logprobs", "top_p", "truncation", "usage", "user", "metadata",
)
# fmt: on
#: The fields of a ``response`` object that are the answer's own (the rest echo the request).
ANSWER_FIELDS = frozenset(
    {"id", "object", "status", "error", "incomplete_details", "model", "output", "usage"}
)


def response_object(answer: dict[str, Any], echo: dict[str, Any]) -> dict[str, Any]:
    """A complete ``response`` object: the ``answer``'s own fields, the ``echo``ed request
    fields (the API's defaults for the others), in the API's order, then any other echo keys."""
    body: dict[str, Any] = {}
    for key in _ORDER:
        if key in answer:
            body[key] = answer[key]
        elif key in echo:
            body[key] = echo[key]
        elif key in _ECHO_DEFAULTS:
            body[key] = copy.deepcopy(_ECHO_DEFAULTS[key])
        else:
            body[key] = None
    for key, value in echo.items():
        body.setdefault(key, value)
    return body


def echo_of(request: dict[str, Any] | None) -> dict[str, Any]:
    """The request fields a ``response`` object repeats, taken from the client's request.

    ``store`` is not among them: a translated answer is stored nowhere, and saying so keeps a
    client from referring to it later with ``previous_response_id``."""
    if not request:
        return {}
    echo = {
        key: request[key]
        for key in _ECHO_DEFAULTS
        if key not in ("background", "store") and request.get(key) is not None
    }
    if isinstance(echo.get("reasoning"), dict):
        echo["reasoning"] = {**_ECHO_DEFAULTS["reasoning"], **echo["reasoning"]}
    if isinstance(echo.get("text"), dict):
        echo["text"] = {**_ECHO_DEFAULTS["text"], **echo["text"]}
    return echo


def _text_of(parts: object, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [
        p["text"]
        for p in parts
        if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get("text"), str)
    ]


def reasoning_text(item: dict[str, Any]) -> str:
    """The text of a reasoning item: its summary parts (else its raw reasoning parts), joined
    by blank lines."""
    return "\n\n".join(
        _text_of(item.get("summary"), "summary_text")
        or _text_of(item.get("content"), "reasoning_text")
    )
