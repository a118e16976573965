"""A local aiohttp server that impersonates the Anthropic Messages API.

:class:`FakeAnthropicUpstream` answers ``/v1/messages`` (also with ``?beta=true``),
``/v1/messages/count_tokens`` and ``/v1/models`` with bodies and SSE streams shaped like the
real API, validates requests the way the real API does (tool_use/tool_result pairing, thinking
signatures, extra inputs...), records every request, and can be scripted with
:class:`AnthropicReply` objects to produce errors, cut connections, mid-stream ``event: error``,
hangs and slow streams::

    fake = FakeAnthropicUpstream(api_key="sk-ant-up-1")
    fake.enqueue(AnthropicReply.error(529))
    async with fake.serve() as base_url:  # no /v1: the anthropic SDK adds it
        client = AsyncAnthropic(base_url=base_url, api_key="sk-ant-up-1", max_retries=0)
        ...
    assert fake.requests[0].json["model"] == "claude-sonnet-4-6"

:meth:`FakeAnthropicUpstream.enqueue` also takes the OpenAI fake's :class:`Reply`, translated
to the Anthropic wire (an OpenAI error body becomes an Anthropic error of the same status, type
and message), so one test script can drive either fake.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from omniroute.testing.fake_anthropic_sse import (
    MIDSTREAM_ERROR,
    SseEvent,
    count_input_tokens,
    encode_event,
    message_body,
    plan_message_answer,
    send_events,
    stream_events,
)
from omniroute.testing.fake_anthropic_validation import (
    ERROR_TYPES,
    AnthropicApiError,
    default_error_message,
    default_error_type,
    error_body,
    new_request_id,
    validate_count_tokens,
    validate_messages_request,
)
from omniroute.testing.fake_base import CLOSING, FakeUpstream, RecordedRequest, loads_or_none
from omniroute.testing.fake_openai import Reply, ReplyKind
from omniroute.testing.fake_openai_sse import drop_connection, open_sse, pause

__all__ = [
    "DEFAULT_MODELS",
    "AnthropicApiError",
    "AnthropicReply",
    "FakeAnthropicUpstream",
    "RecordedRequest",
    "ReplyKind",
]

DEFAULT_MODELS: tuple[str, ...] = (
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-opus-4-5-20251101",
    "claude-haiku-4-5-20251001",
)
"""Model ids listed by ``GET /v1/models`` (newest first, as the API lists them)."""

OAUTH_BETA = "oauth-2025-04-20"
"""The ``anthropic-beta`` value an OAuth (``sk-ant-oat...``) Bearer token must come with."""

_BAD_JSON = "There was an error parsing the body of your request: expected a JSON object."
_DATE_SUFFIX = re.compile(r"-(\d{4})(\d{2})(\d{2})$")


@dataclass(frozen=True)
class AnthropicReply:
    """A scripted answer for the next ``/v1/messages`` or ``count_tokens`` request.

    Build one with the class methods (:meth:`json`, :meth:`error`, :meth:`stream`, :meth:`cut`,
    :meth:`midstream_error`, :meth:`hang`, :meth:`slow_stream`) and pass it to
    :meth:`FakeAnthropicUpstream.enqueue`. Scripted replies are only used for requests that pass
    auth and validation; rejected requests get the real error and leave the queue untouched.
    "The default stream" below is the event stream the fake would send for that request without
    a script (for ``count_tokens``, an echo message stream); counts of events include ``ping``.
    """

    kind: ReplyKind
    status: int = 200
    body: Any = None
    events: tuple[SseEvent, ...] = ()
    delay: float = 0.0
    after_events: int = 0
    reset: bool = False
    error_event: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, body: Any, status: int = 200, *, headers: Mapping[str, str] | None = None
    ) -> AnthropicReply:
        """Answer with exactly ``body`` and ``status`` (``bytes`` are sent verbatim, anything
        else JSON-encoded); ``headers`` may override ``Content-Type``."""
        return cls(ReplyKind.JSON, status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AnthropicReply:
        """Answer with ``{"type": "error", "error": {type, message}, "request_id"}``.

        ``type`` defaults by status (``rate_limit_error`` for 429, ``overloaded_error`` for 529,
        ``api_error`` for other 5xx, ...), ``message`` by type (``"Overloaded"`` for
        ``overloaded_error``). ``headers`` (e.g. ``{"retry-after": "7"}``) are added to the
        response, whose ``request-id`` header matches the body's ``request_id``.
        """
        error_type = type or default_error_type(status)
        request_id = new_request_id()
        body = error_body(error_type, message or default_error_message(error_type), request_id)
        merged = {"request-id": request_id, **(headers or {})}
        return cls(ReplyKind.JSON, status=status, body=body, headers=merged)

    @classmethod
    def stream(
        cls,
        events: Iterable[SseEvent],
        *,
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> AnthropicReply:
        """Answer HTTP 200 with exactly these SSE events, then end the body cleanly.

        A mapping is sent as ``event: <its "type">`` + ``data: <json>``; a ``(name, data)``
        pair sets the event name explicitly; ``str``/``bytes`` are written verbatim (the caller
        frames them, e.g. to test a missing ``event:`` line or CRLF endings). Nothing is
        appended: include ``message_stop`` yourself. ``delay`` pauses before every event.
        """
        return cls(ReplyKind.STREAM, events=tuple(events), delay=delay, headers=dict(headers or {}))

    @classmethod
    def cut(cls, after_events: int = 2, *, reset: bool = False) -> AnthropicReply:
        """Send the first ``after_events`` events of the default stream, then drop the
        connection without the chunked-encoding terminator (``reset=True`` aborts with a TCP
        RST instead). For a non-streaming request the headers and half the JSON body are sent.
        """
        return cls(ReplyKind.CUT, after_events=after_events, reset=reset)

    @classmethod
    def midstream_error(
        cls,
        after_events: int = 3,
        *,
        type: str = MIDSTREAM_ERROR["type"],
        message: str = MIDSTREAM_ERROR["message"],
    ) -> AnthropicReply:
        """Send ``after_events`` default events, then ``event: error`` and no ``message_stop``.

        The HTTP status stays 200 and the body ends cleanly, as in the real
        ``anthropic_stream_error_event`` capture (which is ``after_events=3``: message_start,
        content_block_start, ping). For a non-streaming request the error is sent as the HTTP
        response instead (529 for ``overloaded_error``).
        """
        return cls(
            ReplyKind.MIDSTREAM_ERROR,
            after_events=after_events,
            error_event={"type": type, "message": message},
        )

    @classmethod
    def hang(cls, seconds: float) -> AnthropicReply:
        """Send nothing for ``seconds`` (no status line), then answer with the default reply."""
        return cls(ReplyKind.HANG, delay=seconds)

    @classmethod
    def slow_stream(cls, gap: float) -> AnthropicReply:
        """Send the default stream, pausing ``gap`` seconds before each event, after the
        response headers went out (a non-streaming request just gets its JSON)."""
        return cls(ReplyKind.SLOW_STREAM, delay=gap)

    @classmethod
    def from_openai(cls, reply: Reply) -> AnthropicReply:
        """Translate the OpenAI fake's :class:`Reply` to the Anthropic wire.

        An OpenAI error body ``{"error": {message, type, ...}}`` becomes an Anthropic error of
        the same status and message (OpenAI-only types such as ``server_error`` become the
        status's Anthropic type, ``api_error`` inside a stream); stream chunks are sent as
        events named by their ``type``; ``cut``/``midstream_error`` keep their chunk counts as
        event counts; ``hang``/``slow_stream`` keep their timings.
        """
        if reply.kind is ReplyKind.JSON:
            error = reply.body.get("error") if isinstance(reply.body, Mapping) else None
            if reply.status >= 400 and isinstance(error, Mapping) and "message" in error:
                known = error.get("type") in ERROR_TYPES.values()
                return cls.error(
                    reply.status,
                    str(error["message"]),
                    type=str(error["type"]) if known else None,
                    headers=reply.headers,
                )
            return cls.json(reply.body, reply.status, headers=reply.headers)
        if reply.kind is ReplyKind.STREAM:
            return cls.stream(reply.chunks, delay=reply.delay, headers=reply.headers)
        if reply.kind is ReplyKind.MIDSTREAM_ERROR:
            given = dict(reply.error_event or {})
            error_type = given.get("type")
            if error_type not in ERROR_TYPES.values():
                error_type = "api_error"
            return cls.midstream_error(
                reply.after_chunks,
                type=str(error_type),
                message=str(given.get("message", MIDSTREAM_ERROR["message"])),
            )
        if reply.kind is ReplyKind.CUT:
            return cls.cut(reply.after_chunks, reset=reply.reset)
        return cls(reply.kind, delay=reply.delay)


@dataclass(frozen=True)
class _Default:
    stream: bool
    body: Callable[[], Any]
    events: Callable[[], list[dict[str, Any]]]


class FakeAnthropicUpstream(FakeUpstream[AnthropicReply, AnthropicApiError]):
    """The Anthropic Messages API served by aiohttp, for tests.

    :param api_key: the only key accepted, in ``x-api-key`` or ``Authorization: Bearer``
        (``x-api-key`` wins when both are sent); ``None`` accepts any non-empty key. A missing
        or wrong key is a 401 ``authentication_error``; an ``sk-ant-oat...`` Bearer token
        without ``anthropic-beta: oauth-2025-04-20`` is the real OAuth 401.
    :param models: model ids listed by ``GET /v1/models``.

    Every ``/v1`` request also needs an ``anthropic-version`` header (any value). Use
    :attr:`app` with ``aiohttp_server`` or :meth:`serve` standalone. Without scripted replies,
    messages echo the last user text (``"echo: <text>"``), call the first tool when ``tools``
    are given, mention tool results after ``tool_result`` blocks, and start with a signed
    thinking block when thinking is enabled; see :func:`plan_message_answer`. :meth:`serve`
    yields a URL without ``/v1`` (``http://127.0.0.1:PORT``): the anthropic SDK appends it.
    """

    error_type = AnthropicApiError

    def __init__(
        self, api_key: str | None = None, *, models: Sequence[str] = DEFAULT_MODELS
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models: list[str] = list(models)
        self._signatures: dict[str, str] = {}

    @property
    def issued_signatures(self) -> frozenset[str]:
        """Every thinking signature this fake has issued (and will accept back)."""
        return frozenset(self._signatures)

    def sign_thinking(self, thinking: str) -> str:
        """Issue a fresh signature for ``thinking``; the fake accepts the pair in later history.

        Useful to build a valid assistant history by hand. A signature is bound to its text:
        the same signature with other thinking text is rejected like a forged one.
        """
        signature = base64.b64encode(b"\x12\x08fake" + secrets.token_bytes(60)).decode()
        self._signatures[signature] = thinking
        return signature

    def enqueue(self, *replies: AnthropicReply | Reply) -> None:
        """Queue replies; each is consumed by the next valid messages/count_tokens request.

        OpenAI-fake :class:`Reply` objects are translated with :meth:`AnthropicReply.from_openai`.
        """
        for reply in replies:
            if isinstance(reply, Reply):
                reply = AnthropicReply.from_openai(reply)
            super().enqueue(reply)

    def _setup_app(self, app: web.Application) -> None:
        app.on_response_prepare.append(_add_anthropic_headers)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)
        app.router.add_route("*", "/{tail:.*}", _unknown_route)

    def _error_response(self, request: web.Request, err: AnthropicApiError) -> web.StreamResponse:
        return _json_response(err.body, err.status, {"request-id": err.request_id})

    def _check_auth(self, request: web.Request) -> None:
        key = request.headers.get("x-api-key")
        if key is None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else ""
            betas = request.headers.get("anthropic-beta", "")
            if key.startswith("sk-ant-oat") and OAUTH_BETA not in betas.replace(" ", "").split(","):
                raise AnthropicApiError(401, "OAuth authentication is currently not supported.")
        key = key.strip()
        if not key or (self.api_key is not None and key != self.api_key):
            raise AnthropicApiError(401, "invalid x-api-key")
        # Checked after the key, as the real API does.
        if "anthropic-version" not in request.headers:
            raise AnthropicApiError(400, "anthropic-version: header is required")

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        validate_messages_request(body, self._signatures)
        answer = plan_message_answer(body, self.sign_thinking)
        default = _Default(
            stream=body.get("stream") is True,
            body=lambda: message_body(answer),
            events=lambda: stream_events(answer),
        )
        return await _play(request, self._next_reply(), default)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        validate_count_tokens(body, self._signatures)
        default = _Default(
            stream=False,
            body=lambda: {"input_tokens": count_input_tokens(body)},
            events=lambda: stream_events(plan_message_answer(body, self.sign_thinking)),
        )
        return await _play(request, self._next_reply(), default)

    async def _list_models(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise AnthropicApiError(400, "limit: Input should be between 1 and 1000")
        ids = self.models
        after = request.query.get("after_id", "")
        before = request.query.get("before_id", "")
        if before in ids:
            window = ids[: ids.index(before)]
            page = window[-limit:]
        else:
            window = ids[ids.index(after) + 1 :] if after in ids else ids
            page = window[:limit]
        has_more = len(window) > limit
        data = [_model_object(model) for model in page]
        return _json_response(
            {
                "data": data,
                "has_more": has_more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def _get_model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if model not in self.models:
            raise AnthropicApiError(404, f"model: {model}")
        return _json_response(_model_object(model))


def display_name(model: str) -> str:
    """``claude-sonnet-4-5-20250929`` → ``Claude Sonnet 4.5``; ``claude-3-5-haiku`` → ``Claude
    Haiku 3.5``."""
    parts = _DATE_SUFFIX.sub("", model).split("-")
    words = [p.capitalize() for p in parts if not p.isdigit()]
    version = ".".join(p for p in parts if p.isdigit())
    return " ".join([*words, version] if version else words)


def _model_object(model: str) -> dict[str, Any]:
    match = _DATE_SUFFIX.search(model)
    date = "-".join(match.groups()) if match else "2025-01-01"
    return {
        "type": "model",
        "id": model,
        "display_name": display_name(model),
        "created_at": f"{date}T00:00:00Z",
    }


async def _play(
    request: web.Request, reply: AnthropicReply | None, default: _Default
) -> web.StreamResponse:
    closing = request.app[CLOSING]
    if reply is None:
        return await _answer_default(request, default)
    if reply.kind is ReplyKind.JSON:
        return _json_response(reply.body, reply.status, reply.headers)
    if reply.kind is ReplyKind.STREAM:
        return await send_events(
            request, reply.events, delay=reply.delay, closing=closing, headers=reply.headers
        )
    if reply.kind is ReplyKind.SLOW_STREAM:
        if not default.stream:
            return _json_response(default.body())
        return await send_events(request, default.events(), delay=reply.delay, closing=closing)
    if reply.kind is ReplyKind.MIDSTREAM_ERROR:
        return await _midstream_error(request, reply, default)
    if reply.kind is ReplyKind.CUT:
        return await _cut(request, reply, default)
    await pause(closing, reply.delay)
    return await _answer_default(request, default)


async def _answer_default(request: web.Request, default: _Default) -> web.StreamResponse:
    if default.stream:
        return await send_events(request, default.events())
    return _json_response(default.body())


async def _midstream_error(
    request: web.Request, reply: AnthropicReply, default: _Default
) -> web.StreamResponse:
    error = dict(reply.error_event or MIDSTREAM_ERROR)
    if not default.stream:
        status = next((s for s, t in ERROR_TYPES.items() if t == error["type"]), 500)
        return _json_response(error_body(error["type"], error["message"]), status)
    events = [*default.events()[: reply.after_events], {"type": "error", "error": error}]
    return await send_events(request, events)


async def _cut(
    request: web.Request, reply: AnthropicReply, default: _Default
) -> web.StreamResponse:
    if default.stream:
        response = await open_sse(request)
        for event in default.events()[: reply.after_events]:
            await response.write(encode_event(event))
    else:
        payload = orjson.dumps(default.body())
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
    await drop_connection(request, reset=reply.reset)
    return response


async def _add_anthropic_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("request-id", new_request_id())
    response.headers.setdefault("anthropic-organization-id", "00000000-0000-4000-8000-fa4e0a7c0de0")


async def _unknown_route(request: web.Request) -> web.Response:
    raise AnthropicApiError(404, "Not Found")


async def _json_object(request: web.Request) -> dict[str, Any]:
    body = loads_or_none(await request.read())
    if not isinstance(body, dict):
        raise AnthropicApiError(400, _BAD_JSON)
    return body


def _json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    merged = CIMultiDict({"Content-Type": "application/json"})
    merged.update(headers or {})
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=payload, status=status, headers=merged)
