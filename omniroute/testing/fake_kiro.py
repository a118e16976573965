"""A local aiohttp server that impersonates CodeWhisperer's ``generateAssistantResponse``.

:class:`FakeKiroUpstream` checks what the real service checks (oauth.md §7): the Bearer access
token, the ``X-Amz-Target`` operation header, a body without top-level fields the service does
not know (a ``system`` field is refused), ``chatTriggerType: "MANUAL"``, a history that strictly
alternates user / assistant turns and ends before the current (user) message, tools declared
only on the current message, tool results answering the previous assistant turn's tool uses, a
known ``modelId``, and — when the fake is given one — the account's ``profileArn``. It answers
with a real binary AWS event stream (:func:`event_frame`, :func:`encode_frame`; both CRCs
correct): text, then a tool call when the request offers tools and gives no results yet::

    fake = FakeKiroUpstream(access_token="kiro-access-1")
    async with fake.serve() as base_url:
        ...  # POST {base_url}/generateAssistantResponse
    assert "system" not in fake.last_request.json

Replies can be scripted with :class:`KiroReply` (events, an HTTP error, an exception message
after some events, a stream cut inside a message).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from omniroute.testing.fake_base import FakeUpstream

__all__ = [
    "KIRO_MODELS",
    "OPERATION",
    "FakeKiroUpstream",
    "KiroApiError",
    "KiroReply",
    "encode_frame",
    "event_frame",
    "exception_frame",
]

OPERATION = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
"""The ``X-Amz-Target`` every ``generateAssistantResponse`` call must carry."""

KIRO_MODELS: tuple[str, ...] = ("claude-sonnet-4.5", "claude-haiku-4.5", "claude-sonnet-4")
"""The ``modelId`` values the fake accepts."""

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_TOP_LEVEL = frozenset({"conversationState", "profileArn", "inferenceConfig"})
_INFERENCE = frozenset({"maxTokens", "temperature", "topP"})


# -- the event-stream encoding ------------------------------------------------------------------


def encode_frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message with string (type 7) headers and both CRC32s."""
    head = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        head += bytes([len(raw_name)]) + raw_name + b"\x07"
        head += struct.pack(">H", len(raw_value)) + raw_value
    prelude = struct.pack(">II", 12 + len(head) + len(payload) + 4, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``event`` message of ``event_type`` with a JSON payload."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, orjson.dumps(dict(payload)))


def exception_frame(exception_type: str, message: str) -> bytes:
    """An ``exception`` message (how the service reports a failure inside the stream)."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, orjson.dumps({"message": message}))


def text_events(text: str, pieces: int = 2) -> list[tuple[str, dict[str, Any]]]:
    """``assistantResponseEvent`` messages that add up to ``text``."""
    size = max(1, -(-len(text) // pieces))
    return [
        ("assistantResponseEvent", {"content": text[i : i + size]})
        for i in range(0, len(text), size)
    ]


def tool_events(
    tool_id: str, name: str, arguments: Mapping[str, Any], pieces: int = 3
) -> list[tuple[str, dict[str, Any]]]:
    """``toolUseEvent`` messages of one call: the input as string fragments, then ``stop``."""
    raw = orjson.dumps(dict(arguments)).decode()
    size = max(1, -(-len(raw) // pieces))
    events: list[tuple[str, dict[str, Any]]] = [
        ("toolUseEvent", {"toolUseId": tool_id, "name": name})
    ]
    events += [
        ("toolUseEvent", {"toolUseId": tool_id, "name": name, "input": raw[i : i + size]})
        for i in range(0, len(raw), size)
    ]
    events.append(("toolUseEvent", {"toolUseId": tool_id, "name": name, "stop": True}))
    return events


def closing_events(input_tokens: int, output_tokens: int) -> list[tuple[str, dict[str, Any]]]:
    """What ends an answer: metering, token metrics, context usage, the stop."""
    return [
        ("meteringEvent", {"unit": "credit", "unitPlural": "credits", "usage": 0.02}),
        ("metricsEvent", {"inputTokens": input_tokens, "outputTokens": output_tokens}),
        ("contextUsageEvent", {"contextUsagePercentage": 1.5}),
        ("messageStopEvent", {}),
    ]


# -- scripted replies ---------------------------------------------------------------------------


class KiroApiError(Exception):
    """An error answer: ``{"__type", "message"}`` with ``x-amzn-ErrorType``."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type, message


@dataclass(frozen=True)
class KiroReply:
    """A scripted answer for the next valid request.

    ``events`` are ``(event type, payload)`` pairs sent as event messages; ``exception`` (type,
    message) is sent after them; ``cut`` sends half of one more message and drops the
    connection; ``error`` answers with HTTP status and JSON instead of a stream.
    """

    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    exception: tuple[str, str] | None = None
    cut: bool = False
    error: KiroApiError | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def stream(
        cls,
        events: Iterable[tuple[str, dict[str, Any]]],
        *,
        exception: tuple[str, str] | None = None,
        cut: bool = False,
    ) -> KiroReply:
        """Send these events (and then an exception, or a cut)."""
        return cls(tuple(events), exception=exception, cut=cut)

    @classmethod
    def fail(
        cls, status: int, type: str, message: str, *, headers: Mapping[str, str] | None = None
    ) -> KiroReply:
        """Answer with an HTTP error (``429 ThrottlingException``, ...)."""
        return cls(error=KiroApiError(status, type, message), headers=dict(headers or {}))


# -- the fake -----------------------------------------------------------------------------------


class FakeKiroUpstream(FakeUpstream[KiroReply, KiroApiError]):
    """CodeWhisperer's streaming chat endpoint on a local socket (see the module docstring)."""

    error_type = KiroApiError
    auth_prefixes = ("/generateAssistantResponse", "/getUsageLimits")

    def __init__(
        self,
        access_token: str | Callable[[str], bool],
        *,
        profile_arn: str | None = None,
        models: Sequence[str] = KIRO_MODELS,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.profile_arn = profile_arn
        self.models = tuple(models)

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_post("/generateAssistantResponse", self._generate)
        app.router.add_get("/getUsageLimits", self._usage_limits)

    def _check_auth(self, request: web.Request) -> None:
        """The token must be the fake's own, or one ``access_token(token)`` accepts (an OAuth
        fake's ``is_valid``: issued there, neither expired nor revoked)."""
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        known = self.access_token
        if not token or not (known(token) if callable(known) else token == known):
            raise KiroApiError(
                403, "AccessDeniedException", "The bearer token included in the request is invalid."
            )
        generating = request.path == "/generateAssistantResponse"
        if generating and request.headers.get("X-Amz-Target") != OPERATION:
            raise KiroApiError(
                400, "UnknownOperationException", "X-Amz-Target must name the operation"
            )

    def _error_response(self, request: web.Request, err: KiroApiError) -> web.StreamResponse:
        return web.json_response(
            {"__type": err.type, "message": err.message},
            status=err.status,
            headers={"x-amzn-ErrorType": err.type, "x-amzn-RequestId": str(uuid.uuid4())},
        )

    async def _usage_limits(self, request: web.Request) -> web.StreamResponse:
        # Only the Bearer check is faithful; the answer's shape is a placeholder (oauth.md
        # names the endpoint, not its body).
        return web.json_response({"usageBreakdownList": []})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = self.requests[-1].json
        validate(body, self.models, self.profile_arn)
        reply = self._next_reply() or default_reply(body)
        if reply.error is not None:
            response = self._error_response(request, reply.error)
            response.headers.update(reply.headers)
            return response
        response = web.StreamResponse(
            headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}
        )
        await response.prepare(request)
        for event_type, payload in reply.events:
            await response.write(event_frame(event_type, payload))
        if reply.exception is not None:
            await response.write(exception_frame(*reply.exception))
        if reply.cut:
            frame = event_frame("assistantResponseEvent", {"content": "and then"})
            await response.write(frame[: len(frame) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response


def default_reply(body: dict[str, Any]) -> KiroReply:
    """Text, and a call of the first tool when tools are offered and no result is given yet."""
    user = body["conversationState"]["currentMessage"]["userInputMessage"]
    context = user.get("userInputMessageContext") or {}
    tools = context.get("tools") or []
    events = text_events("Hello from Kiro.")
    if tools and not context.get("toolResults"):
        spec = tools[0]["toolSpecification"]
        arguments = _arguments_for(spec["inputSchema"]["json"])
        events += tool_events(f"tooluse_{uuid.uuid4().hex[:22]}", spec["name"], arguments)
    return KiroReply.stream([*events, *closing_events(len(user["content"]) // 4 + 1, 7)])


def _arguments_for(schema: Any) -> dict[str, Any]:
    props = (schema.get("properties") or {}) if isinstance(schema, dict) else {}
    values = {"string": "Paris", "number": 1, "integer": 1, "boolean": True}
    return {name: values.get(spec.get("type"), "x") for name, spec in props.items()}


# -- validation ---------------------------------------------------------------------------------


def _invalid(message: str) -> KiroApiError:
    return KiroApiError(400, "ValidationException", message)


def validate(body: Any, models: Sequence[str], profile_arn: str | None) -> None:
    """Raise the service's ``ValidationException`` for a body it would refuse."""
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object")
    unknown = sorted(set(body) - _TOP_LEVEL)
    if unknown:
        raise _invalid(f"unknown top-level field(s): {', '.join(unknown)}")
    if profile_arn is not None and body.get("profileArn") != profile_arn:
        raise KiroApiError(403, "AccessDeniedException", "profileArn is missing or not yours")
    config = body.get("inferenceConfig", {})
    if not isinstance(config, dict) or set(config) - _INFERENCE:
        raise _invalid("inferenceConfig takes only maxTokens, temperature and topP")
    state = body.get("conversationState")
    if not isinstance(state, dict):
        raise _invalid("conversationState is required")
    if state.get("chatTriggerType") != "MANUAL":
        raise _invalid("conversationState.chatTriggerType must be MANUAL")
    if not isinstance(state.get("conversationId"), str):
        raise _invalid("conversationState.conversationId is required")
    history = state.get("history", [])
    if not isinstance(history, list):
        raise _invalid("conversationState.history must be a list")
    previous_uses: set[str] = set()
    for i, entry in enumerate(history):
        expected = "userInputMessage" if i % 2 == 0 else "assistantResponseMessage"
        if not isinstance(entry, dict) or list(entry) != [expected]:
            raise _invalid(f"history[{i}] must be exactly one {expected} (turns must alternate)")
        if expected == "userInputMessage":
            _check_user(entry[expected], f"history[{i}]", models, previous_uses, current=False)
        else:
            previous_uses = _check_assistant(entry[expected], f"history[{i}]")
    if history and len(history) % 2:
        raise _invalid("history must end with an assistantResponseMessage")
    current = (state.get("currentMessage") or {}).get("userInputMessage")
    if not isinstance(current, dict):
        raise _invalid("currentMessage.userInputMessage is required")
    _check_user(current, "currentMessage", models, previous_uses, current=True)


def _check_user(
    message: Any, where: str, models: Sequence[str], uses: set[str], *, current: bool
) -> None:
    if not isinstance(message, dict):
        raise _invalid(f"{where}.userInputMessage must be an object")
    content = message.get("content")
    if not isinstance(content, str) or not content:
        raise _invalid(f"{where}.userInputMessage.content must be a non-empty string")
    if message.get("modelId") not in models:
        raise _invalid(f"{where}: unknown modelId {message.get('modelId')!r}")
    if message.get("origin") != "AI_EDITOR":
        raise _invalid(f"{where}: origin must be AI_EDITOR")
    context = message.get("userInputMessageContext") or {}
    if "tools" in context and not current:
        raise _invalid(f"{where}: tools may be declared only on the current message")
    for tool in context.get("tools") or []:
        spec = tool.get("toolSpecification") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not spec.get("name") or not spec.get("description"):
            raise _invalid(f"{where}: each tool needs toolSpecification.name and description")
        if not isinstance((spec.get("inputSchema") or {}).get("json"), dict):
            raise _invalid(f"{where}: toolSpecification.inputSchema.json must be an object")
    for result in context.get("toolResults") or []:
        if result.get("toolUseId") not in uses:
            raise _invalid(f"{where}: toolResult {result.get('toolUseId')!r} answers no toolUse")
        if result.get("status") not in ("success", "error") or not isinstance(
            result.get("content"), list
        ):
            raise _invalid(f"{where}: a toolResult needs status and a content list")


def _check_assistant(message: Any, where: str) -> set[str]:
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise _invalid(f"{where}.assistantResponseMessage.content must be a string")
    uses = message.get("toolUses") or []
    for use in uses:
        if not (use.get("toolUseId") and use.get("name") and isinstance(use.get("input"), dict)):
            raise _invalid(f"{where}: a toolUse needs toolUseId, name and an input object")
    return {use["toolUseId"] for use in uses}
