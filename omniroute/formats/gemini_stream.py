"""Gemini ``streamGenerateContent?alt=sse`` streams: the incremental decoder and encoder, and the
wire vocabulary (field names, finish reasons, usage, errors) they share with
:mod:`omniroute.formats.gemini`.

A Gemini stream is ``data: <GenerateContentResponse JSON>`` events (Google sends CRLF line
endings) with no terminator: the connection closes after the chunk carrying ``finishReason``.
Every chunk is a whole response object holding only the new parts; ``usageMetadata`` is
cumulative and repeated.

Choices made here:

* The encoder writes ``data: <json>\\r\\n\\r\\n``, the framing Google itself sends (clients written
  against the real API have only ever seen CRLF; google-genai and the JS SDK accept both).
* An error is ``data: {"error": {"code": <HTTP status>, "message", "status"}}``: google-genai
  raises ``ClientError``/``ServerError`` on a stream chunk whose JSON starts with ``{"error":``,
  choosing the class by ``code`` (so ``code`` must be the numeric status).
* Function calls go out as one part with complete ``args`` when their IR part stops (Gemini
  never streams argument text); invalid argument JSON becomes ``{}`` with a warning.
* Thought parts go out only when the client asked for them (``includeThoughts``), as Gemini
  does; without a client request they always go out.
* Vertex's streamed arguments (``functionCall.partialArgs`` with ``willContinue``, ended by an
  empty ``functionCall``) are assembled by JSON path and decoded as one arguments delta when
  the call ends: the fragments arrive by path, not in JSON-text order.
* A ``thoughtSignature`` on a plain text part has no place in the IR's stream events and is
  dropped by the decoder (Gemini validates signatures only on function calls).
"""

from __future__ import annotations

import logging
import re
import secrets
from functools import cache
from typing import Any

import orjson

from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.gemini_signatures import from_gemini, to_gemini
from omniroute.gateway.sse import SSEScanner, split_events

logger = logging.getLogger(__name__)

TRUNCATED_MESSAGE = "stream ended before it was complete"
FRAME_END = b"\r\n\r\n"

# -- field names --------------------------------------------------------------------------------


@cache
def snake(key: str) -> str:
    """The proto (snake_case) spelling of a REST (camelCase) field name."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


@cache
def camel(key: str) -> str:
    """The REST (camelCase) spelling of a proto (snake_case) field name."""
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def value_of(obj: Any, key: str) -> Any:
    """``obj[key]`` under its camelCase name or, failing that, its snake_case name (the proto3
    JSON mapping accepts both); None when ``obj`` is not an object."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    if value is None:
        value = obj.get(snake(key))
    return value


def first_candidate(candidates: Any) -> dict[str, Any] | None:
    """Candidate 0 (only the first candidate translates; ``index`` is omitted when 0)."""
    if isinstance(candidates, list):
        for candidate in candidates:
            if isinstance(candidate, dict) and candidate.get("index", 0) == 0:
                return candidate
    return None


def unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """The response inside a Code Assist envelope (``{"response": {...}, "traceId"}``)."""
    inner = body.get("response")
    if isinstance(inner, dict) and "candidates" not in body and "error" not in body:
        return inner
    return body


def new_response_id() -> str:
    """A fresh id in the style of Gemini's ``responseId``."""
    return secrets.token_urlsafe(17)


def new_call_id() -> str:
    """An id for a function call that came without one (Gemini's ids are optional)."""
    return "call_" + secrets.token_hex(12)


# -- finish reasons -----------------------------------------------------------------------------

# fmt: off
_STOP_FROM_GEMINI: dict[str, ir.StopReason] = {
    "STOP": "end_turn", "MAX_TOKENS": "max_tokens",
    **dict.fromkeys((
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR", "JAILBREAK",
    ), "content_filter"),
    # The model failed to produce a usable answer: not a normal end of turn.
    **dict.fromkeys((
        "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
        "MISSING_THOUGHT_SIGNATURE", "MALFORMED_RESPONSE",
    ), "error"),
}

#: IR → Gemini ``finishReason``. Gemini ends tool calls and stop sequences with ``STOP``.
FINISH_TO_GEMINI: dict[str, str] = {
    "end_turn": "STOP", "stop_sequence": "STOP", "tool_use": "STOP", "max_tokens": "MAX_TOKENS",
    "content_filter": "SAFETY", "refusal": "SAFETY", "error": "OTHER",
}
# fmt: on


def stop_reason(finish: Any, has_calls: bool) -> ir.StopReason:
    """The IR stop reason for a ``finishReason``; ``STOP`` after function calls is ``tool_use``
    (Gemini has no finish reason of its own for them). Unknown reasons are an ``end_turn``."""
    reason = _STOP_FROM_GEMINI.get(str(finish), "end_turn") if finish else "end_turn"
    return "tool_use" if reason == "end_turn" and has_calls else reason


# -- usage --------------------------------------------------------------------------------------


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


USAGE_FIELDS = (
    "promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount",
    "toolUsePromptTokenCount", "totalTokenCount",
)  # fmt: skip


def has_counts(meta: Any) -> bool:
    """Whether a ``usageMetadata`` holds token counts (Vertex sends some with none)."""
    return any(value_of(meta, key) is not None for key in USAGE_FIELDS)


def usage_from_gemini(meta: Any) -> ir.Usage:
    """IR usage from ``usageMetadata``. ``promptTokenCount`` includes cached tokens, which the
    IR's ``input`` excludes; ``candidatesTokenCount`` excludes thoughts, which the IR's
    ``output`` includes (as OpenAI's and Anthropic's output counts do)."""
    prompt = _count(value_of(meta, "promptTokenCount"))
    cached = _count(value_of(meta, "cachedContentTokenCount"))
    thoughts = _count(value_of(meta, "thoughtsTokenCount"))
    return ir.Usage(
        input=max(prompt - cached, 0) + _count(value_of(meta, "toolUsePromptTokenCount")),
        output=_count(value_of(meta, "candidatesTokenCount")) + thoughts,
        cache_read=cached,
        reasoning=thoughts,
    )


def usage_to_gemini(usage: ir.Usage) -> dict[str, Any]:
    """``usageMetadata`` from IR usage (the total includes thoughts, as Gemini's does)."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    out: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": max(usage.output - usage.reasoning, 0),
        "totalTokenCount": prompt + usage.output,
    }
    if usage.cache_read:
        out["cachedContentTokenCount"] = usage.cache_read
    if usage.reasoning:
        out["thoughtsTokenCount"] = usage.reasoning
    return out


# -- errors -------------------------------------------------------------------------------------

# fmt: off
# HTTP status → google.rpc status name, as Google's APIs pair them.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 413: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE",
}
_NAME_BY_KIND = {
    ErrorKind.BAD_REQUEST: "INVALID_ARGUMENT", ErrorKind.AUTH: "UNAUTHENTICATED",
    ErrorKind.NOT_FOUND: "NOT_FOUND", ErrorKind.RATE_LIMITED: "RESOURCE_EXHAUSTED",
    ErrorKind.QUOTA_EXHAUSTED: "RESOURCE_EXHAUSTED", ErrorKind.TOO_LARGE: "INVALID_ARGUMENT",
    ErrorKind.UPSTREAM: "INTERNAL", ErrorKind.TIMEOUT: "DEADLINE_EXCEEDED",
    ErrorKind.UNREACHABLE: "UNAVAILABLE", ErrorKind.UNAVAILABLE: "UNAVAILABLE",
}
_KIND_BY_NAME = {
    "INVALID_ARGUMENT": ErrorKind.BAD_REQUEST, "FAILED_PRECONDITION": ErrorKind.BAD_REQUEST,
    "OUT_OF_RANGE": ErrorKind.BAD_REQUEST, "UNAUTHENTICATED": ErrorKind.AUTH,
    "PERMISSION_DENIED": ErrorKind.AUTH, "NOT_FOUND": ErrorKind.NOT_FOUND,
    "RESOURCE_EXHAUSTED": ErrorKind.RATE_LIMITED, "DEADLINE_EXCEEDED": ErrorKind.TIMEOUT,
}
# The status an in-stream error (inside an HTTP 200) stands for, and the kind a bare status is.
_STATUS_BY_KIND = {
    ErrorKind.BAD_REQUEST: 400, ErrorKind.AUTH: 401, ErrorKind.NOT_FOUND: 404,
    ErrorKind.RATE_LIMITED: 429, ErrorKind.TIMEOUT: 504, ErrorKind.UPSTREAM: 500,
}
_KIND_BY_STATUS = {
    400: ErrorKind.BAD_REQUEST, 401: ErrorKind.AUTH, 403: ErrorKind.AUTH,
    404: ErrorKind.NOT_FOUND, 429: ErrorKind.RATE_LIMITED, 504: ErrorKind.TIMEOUT,
}
# fmt: on

_KINDS = frozenset(kind.value for kind in ErrorKind)


def status_name(status: int | None, kind: str) -> str:
    """The google.rpc ``status`` for an HTTP status, else for an error kind."""
    if status in _STATUS_NAMES:
        return _STATUS_NAMES[status]
    return _NAME_BY_KIND.get(ErrorKind(kind), "INTERNAL") if kind in _KINDS else "INTERNAL"


def error_object(err: GatewayError) -> dict[str, Any]:
    """Gemini's ``error`` object (google.rpc.Status) for a failure; a ``retry_after`` becomes a
    ``RetryInfo`` detail, which is where Google's clients look for back-off."""
    error: dict[str, Any] = {
        "code": err.status,
        "message": err.message,
        "status": status_name(err.status, err.kind.value),
    }
    if err.retry_after is not None and err.retry_after >= 0:
        delay = f"{err.retry_after:.3f}".rstrip("0").rstrip(".")
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"}
        ]
    return error


def error_frame(error: dict[str, Any]) -> bytes:
    """A stream event google-genai raises on (the chunk's JSON must start with ``{"error":``)."""
    return b"data: " + orjson.dumps({"error": error}) + FRAME_END


def stream_error(error: Any) -> ir.StreamError:
    """The IR event for a Gemini ``error`` object met inside a stream: the kind from ``status``
    (``RESOURCE_EXHAUSTED`` is ``rate_limited``), else from the numeric ``code``."""
    if not isinstance(error, dict):
        return ir.StreamError(ErrorKind.UPSTREAM.value, str(error), 500)
    code = error.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) else None
    kind = _KIND_BY_NAME.get(str(error.get("status") or ""))
    if kind is None:
        kind = _KIND_BY_STATUS.get(status or 0, ErrorKind.UPSTREAM)
    message = error.get("message")
    return ir.StreamError(
        kind.value,
        message if isinstance(message, str) and message else "upstream error",
        status if status is not None else _STATUS_BY_KIND.get(kind),
    )


def event_error(event: ir.StreamError) -> dict[str, Any]:
    """Gemini's ``error`` object for an IR stream error (whatever format it came from)."""
    kind = event.kind if event.kind in _KINDS else ErrorKind.UPSTREAM.value
    code = event.status or _STATUS_BY_KIND.get(ErrorKind(kind)) or 500
    return {"code": code, "message": event.message, "status": status_name(code, kind)}


# -- decoder ------------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(
    r"\.([^.\[\]]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]"
)


def _json_path(path: Any) -> list[str | int] | None:
    """``$.a.b[0]['c d']`` → ``["a", "b", 0, "c d"]``; None if it is not such a path."""
    if not isinstance(path, str) or not path.startswith("$"):
        return None
    tokens: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if match is None:
            return None
        name, index, single, double = match.groups()
        if index is not None:
            tokens.append(int(index))
        else:
            tokens.append(next(t for t in (name, single, double) if t is not None))
        pos = match.end()
    return tokens or None


class _StreamedCall:
    """A Vertex function call whose arguments arrive as ``partialArgs`` by JSON path."""

    __slots__ = ("args", "continuing", "index", "signature")

    def __init__(self, index: int, signature: str | None) -> None:
        self.index = index
        self.signature = signature
        self.args: dict[str, Any] = {}
        self.continuing: tuple[str | int, ...] | None = None  # path of a string in progress

    def add(self, partial_args: Any) -> None:
        for arg in partial_args if isinstance(partial_args, list) else ():
            path = _json_path(value_of(arg, "jsonPath"))
            if path is None:
                logger.warning("gemini stream: ignoring a partial argument without a JSON path")
                continue
            if value_of(arg, "stringValue") is not None:
                value: Any = str(value_of(arg, "stringValue"))
            elif value_of(arg, "numberValue") is not None:
                value = value_of(arg, "numberValue")
            elif value_of(arg, "boolValue") is not None:
                value = value_of(arg, "boolValue") is True
            elif "nullValue" in arg or "null_value" in arg:
                value = None
            else:
                continue
            key = tuple(path)
            _set_path(self.args, path, value, append=self.continuing == key)
            going_on = isinstance(value, str) and value_of(arg, "willContinue") is True
            self.continuing = key if going_on else None


def _set_path(root: dict[str, Any], path: list[str | int], value: Any, *, append: bool) -> None:
    node: Any = root
    for token, following in zip(path, [*path[1:], None], strict=True):
        if following is None:
            break
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(token, int) and isinstance(node, list):
            node.extend([None] * (token + 1 - len(node)))
            if not isinstance(node[token], dict | list):
                node[token] = empty
            node = node[token]
        elif isinstance(token, str) and isinstance(node, dict):
            node = node.setdefault(token, empty)
        else:
            return
    last = path[-1]
    if isinstance(last, int) and isinstance(node, list):
        node.extend([None] * (last + 1 - len(node)))
        previous = node[last]
        node[last] = previous + value if append and isinstance(previous, str) else value
    elif isinstance(last, str) and isinstance(node, dict):
        previous = node.get(last)
        node[last] = previous + value if append and isinstance(previous, str) else value


class GeminiStreamDecoder:
    """Gemini SSE bytes → IR events, incrementally (see :class:`StreamDecoder`).

    The first chunk gives ``MessageStart`` (``responseId``, ``modelVersion``); parts are
    sequential and numbered in order of appearance: consecutive text parts continue one text
    part, thought parts one thinking part (with a ``SignatureDelta`` for a signature); each
    function call is a part of its own (``PartStart``, one ``ToolArgumentsDelta`` with the
    whole JSON arguments, its signature, ``PartStop``). A changed ``usageMetadata`` gives a
    ``UsageUpdate``; the chunk with ``finishReason`` closes the open part and gives ``Stop``.
    An ``error`` object (also un-prefixed, multi-line JSON as Google sends it) gives a
    ``StreamError``; a stream that closes before a ``finishReason`` ends with one.
    Code Assist envelopes (``{"response": {...}}``) are unwrapped.
    """

    __slots__ = (
        "_call",
        "_done",
        "_has_calls",
        "_next",
        "_open",
        "_open_kind",
        "_scanner",
        "_started",
        "_usage",
    )

    def __init__(self) -> None:
        self._scanner = SSEScanner()
        self._started = False
        self._done = False  # Stop or StreamError emitted: nothing more comes out
        self._open: int | None = None
        self._open_kind = ""
        self._call: _StreamedCall | None = None
        self._has_calls = False
        self._next = 0
        self._usage: ir.Usage | None = None

    def feed(self, chunk: bytes) -> list[ir.Event]:
        """Add bytes as they arrive; return the events they completed."""
        events: list[ir.Event] = []
        if self._done:
            return events
        for raw, data in self._scanner.feed(chunk):
            self._event(raw, data, events, at_end=False)
            if self._done:
                break
        return events

    def close(self) -> list[ir.Event]:
        """End of stream: nothing more after a ``finishReason``; else a truncation error. An
        event without its final blank line (an un-prefixed JSON error body) still counts."""
        events: list[ir.Event] = []
        if self._done:
            return events
        pending = self._scanner.pending
        if pending.strip():
            for raw, data in split_events(pending + b"\n\n"):
                if not self._done:
                    self._event(raw, data, events, at_end=True)
        if not self._done:
            events.append(ir.StreamError(ErrorKind.UPSTREAM.value, TRUNCATED_MESSAGE))
            self._done = True
        return events

    def _event(
        self, raw: bytes, data: bytes | None, events: list[ir.Event], *, at_end: bool
    ) -> None:
        if data is None:
            # Lines without ``data:`` are a raw JSON body (google-genai reads them the same way);
            # anything else (``: ping`` comments) is skipped.
            payload = raw.strip()
            if not payload.startswith((b"{", b"[")):
                return
        else:
            payload = data.strip()
        if not payload or payload == b"[DONE]":
            return
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            if not at_end and data is not None:  # at the end, close() reports the truncation
                events.append(ir.StreamError(ErrorKind.UPSTREAM.value, "malformed stream chunk"))
                self._done = True
            return
        if isinstance(body, list):  # the JSON-array form (a stream without ``alt=sse``)
            body = body[0] if body else None
        if isinstance(body, dict):
            self._chunk(unwrap(body), events)

    def _chunk(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        if body.get("error"):
            events.append(stream_error(body["error"]))
            self._done = True
            return
        if not self._started:
            self._started = True
            events.append(
                ir.MessageStart(
                    str(value_of(body, "responseId") or ""),
                    str(value_of(body, "modelVersion") or ""),
                )
            )
        candidate = first_candidate(value_of(body, "candidates"))
        parts = value_of(value_of(candidate, "content"), "parts")
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict):
                self._part(part, events)
        meta = value_of(body, "usageMetadata")
        if has_counts(meta):
            usage = usage_from_gemini(meta)
            if usage != self._usage:
                self._usage = usage
                events.append(ir.UsageUpdate(usage))
        finish = value_of(candidate, "finishReason")
        blocked = value_of(value_of(body, "promptFeedback"), "blockReason")
        if finish is None and candidate is None and blocked:
            finish = "SAFETY"  # a prompt blocked before any candidate: the answer is the block
        if finish:
            self._close_open(events)
            events.append(ir.Stop(stop_reason(finish, self._has_calls)))
            self._done = True

    def _part(self, part: dict[str, Any], events: list[ir.Event]) -> None:
        signature = value_of(part, "thoughtSignature")
        if isinstance(signature, str):
            signature = from_gemini(signature)
        call = value_of(part, "functionCall")
        if isinstance(call, dict):
            self._function_call(call, signature if isinstance(signature, str) else None, events)
            return
        text = part.get("text")
        if isinstance(text, str):
            if part.get("thought") is True:
                if text or signature:
                    index = self._open_part("thinking", events)
                    if text:
                        events.append(ir.ThinkingDelta(index, text))
                    if isinstance(signature, str) and signature:
                        events.append(ir.SignatureDelta(index, signature))
            elif text:
                events.append(ir.TextDelta(self._open_part("text", events), text))
            return
        if part:
            kinds = ", ".join(sorted(part))
            logger.warning("gemini stream: skipping a part with no IR equivalent (%s)", kinds)

    def _open_part(self, kind: str, events: list[ir.Event]) -> int:
        """The open part of ``kind``, starting one (and closing another) if need be."""
        if self._open is not None and self._open_kind == kind:
            return self._open
        self._close_open(events)
        index = self._next
        self._next += 1
        self._open, self._open_kind = index, kind
        events.append(ir.PartStart(index, "thinking" if kind == "thinking" else "text"))
        return index

    def _function_call(
        self, call: dict[str, Any], signature: str | None, events: list[ir.Event]
    ) -> None:
        name = call.get("name")
        partial = value_of(call, "partialArgs")
        going_on = value_of(call, "willContinue") is True
        streamed = self._call
        if not name and streamed is None:
            if call:
                logger.warning("gemini stream: ignoring a function call without a name")
            return
        if streamed is not None and not name:
            # More arguments for the streamed call, or (``functionCall: {}``) its end.
            streamed.add(partial)
            streamed.signature = streamed.signature or signature
            if not going_on:
                self._close_open(events)
            return
        self._close_open(events)
        index = self._next
        self._next += 1
        self._has_calls = True
        call_id = value_of(call, "id")
        events.append(
            ir.PartStart(
                index,
                "tool_call",
                id=call_id if isinstance(call_id, str) and call_id else new_call_id(),
                name=name if isinstance(name, str) else "",
            )
        )
        if going_on:
            self._call = _StreamedCall(index, signature)
            self._call.add(partial)
            self._open, self._open_kind = index, "tool_call"
            return
        args = call.get("args")
        if partial is not None and args is None:
            whole = _StreamedCall(index, signature)
            whole.add(partial)
            args = whole.args
        events.append(ir.ToolArgumentsDelta(index, _dumps(args if isinstance(args, dict) else {})))
        if signature:
            events.append(ir.SignatureDelta(index, signature))
        events.append(ir.PartStop(index))

    def _close_open(self, events: list[ir.Event]) -> None:
        call, self._call = self._call, None
        if call is not None:
            events.append(ir.ToolArgumentsDelta(call.index, _dumps(call.args)))
            if call.signature:
                events.append(ir.SignatureDelta(call.index, call.signature))
        if self._open is not None:
            events.append(ir.PartStop(self._open))
            self._open = None
            self._open_kind = ""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# -- encoder ------------------------------------------------------------------------------------


class _Call:
    """A function call being encoded: its argument fragments are buffered until it stops."""

    __slots__ = ("fragments", "id", "name", "signature")

    def __init__(self, id: str | None, name: str | None) -> None:
        self.id = id
        self.name = name or ""
        self.fragments: list[str] = []
        self.signature = ""

    def part(self) -> dict[str, Any]:
        call: dict[str, Any] = {
            "name": self.name,
            "args": call_args("".join(self.fragments), self.name),
        }
        if self.id:
            call["id"] = self.id
        part: dict[str, Any] = {"functionCall": call}
        if self.signature:
            part["thoughtSignature"] = to_gemini(self.signature)
        return part


def call_args(arguments: str, name: str) -> dict[str, Any]:
    """A call's JSON arguments text as the object Gemini requires (``{}`` if it is not one)."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    logger.warning("gemini: arguments of function call %r are not a JSON object; sending {}", name)
    return {}


class GeminiStreamEncoder:
    """IR events → Gemini SSE chunks, answering as ``model`` (see :class:`StreamEncoder`).

    One chunk per text or thinking delta (``{"text"}``, ``{"text", "thought": true}``); a
    thinking signature is an empty thought part carrying ``thoughtSignature``; each function
    call is one chunk with the complete call when its part stops. Every chunk has
    ``modelVersion`` (``model``), one ``responseId`` and, once known, ``usageMetadata``.
    ``Stop`` sends the last chunk, with calls still open, ``finishReason`` and usage; nothing
    follows it. A ``StreamError`` sends an error chunk and ends the stream; ``finish()``
    without a ``Stop`` sends one too (a cut answer must not look complete).
    """

    __slots__ = ("_calls", "_done", "_id", "_kinds", "_model", "_thoughts", "_usage")

    def __init__(self, model: str, *, include_thoughts: bool = True) -> None:
        self._model = model
        self._thoughts = include_thoughts
        self._id = ""
        self._usage: ir.Usage | None = None
        self._kinds: dict[int, str] = {}
        self._calls: dict[int, _Call] = {}
        self._done = False

    def encode(self, events: list[ir.Event]) -> bytes:
        """The chunks for ``events`` (complete SSE events only)."""
        out: list[bytes] = []
        for event in events:
            if self._done:
                break
            if isinstance(event, ir.TextDelta):
                if event.text:
                    out.append(self._chunk([{"text": event.text}]))
            elif isinstance(event, ir.ThinkingDelta):
                if event.text and self._thoughts:
                    out.append(self._chunk([{"text": event.text, "thought": True}]))
            elif isinstance(event, ir.ToolArgumentsDelta):
                call = self._calls.get(event.index)
                if call is None:
                    call = self._calls[event.index] = _Call(None, None)
                call.fragments.append(event.fragment)
            elif isinstance(event, ir.PartStart):
                self._kinds[event.index] = event.kind
                if event.kind == "tool_call":
                    self._calls[event.index] = _Call(event.id, event.name)
            elif isinstance(event, ir.PartStop):
                stopped = self._calls.pop(event.index, None)
                if stopped is not None:
                    out.append(self._chunk([stopped.part()]))
            elif isinstance(event, ir.SignatureDelta):
                self._signature(event, out)
            elif isinstance(event, ir.UsageUpdate):
                self._usage = event.usage
            elif isinstance(event, ir.MessageStart):
                self._id = self._id or event.id
                if event.usage is not None:
                    self._usage = event.usage
            elif isinstance(event, ir.Stop):
                parts = [call.part() for call in self._calls.values()] or [{"text": ""}]
                self._calls.clear()
                out.append(self._chunk(parts, FINISH_TO_GEMINI.get(event.reason, "STOP")))
                self._done = True
            elif isinstance(event, ir.StreamError):
                out.append(error_frame(event_error(event)))
                self._done = True
        return b"".join(out)

    def finish(self) -> bytes:
        """Nothing after a ``Stop`` or an error; an error chunk for a stream that never stopped."""
        if self._done:
            return b""
        self._done = True
        return error_frame(error_object(GatewayError(ErrorKind.UPSTREAM, TRUNCATED_MESSAGE)))

    def _signature(self, event: ir.SignatureDelta, out: list[bytes]) -> None:
        if not event.signature:
            return
        call = self._calls.get(event.index)
        if call is not None:
            call.signature += event.signature
        elif self._kinds.get(event.index, "thinking") == "thinking" and self._thoughts:
            part = {"text": "", "thought": True, "thoughtSignature": to_gemini(event.signature)}
            out.append(self._chunk([part]))

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        body: dict[str, Any] = {"candidates": [candidate]}
        if self._usage is not None:
            body["usageMetadata"] = usage_to_gemini(self._usage)
        if not self._id:
            self._id = new_response_id()
        body["modelVersion"] = self._model
        body["responseId"] = self._id
        return b"data: " + orjson.dumps(body) + FRAME_END
