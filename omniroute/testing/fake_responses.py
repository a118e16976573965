"""A local aiohttp server that impersonates the OpenAI Responses API.

:class:`FakeResponsesUpstream` answers ``POST /v1/responses`` (JSON, or the real SSE event
sequence when ``"stream": true``), ``GET /v1/responses/{id}`` and ``GET /v1/models`` with
bodies shaped like the real API (wire-formats.md §2), validates requests the way the real API
does (flat function tools, call/output pairing, ``max_output_tokens``...), records every
request, and can be scripted with :class:`ResponsesReply` objects to produce errors, cut
connections, the in-stream ``insufficient_quota`` failure, hangs and slow streams::

    fake = FakeResponsesUpstream(api_key="sk-up-1")
    fake.enqueue(ResponsesReply.error(429, headers={"retry-after": "7"}))
    async with fake.serve() as base_url:  # ends in /v1, like the OpenAI fake
        client = AsyncOpenAI(base_url=base_url, api_key="sk-up-1", max_retries=0)
        ...
    assert fake.requests[0].json["model"] == "gpt-5"

:meth:`FakeResponsesUpstream.enqueue` also takes the OpenAI fake's :class:`Reply` (same error
envelope; stream chunks become events named by their ``type``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from omniroute.testing.fake_anthropic_sse import SseEvent, encode_event, send_events
from omniroute.testing.fake_base import CLOSING, FakeUpstream, RecordedRequest
from omniroute.testing.fake_openai import (
    KEY_HINT,
    Reply,
    ReplyKind,
    add_openai_headers,
    check_bearer,
    json_object,
    json_response,
    unknown_route,
)
from omniroute.testing.fake_openai_sse import drop_connection, open_sse, pause
from omniroute.testing.fake_openai_validation import (
    ApiError,
    default_error_type,
    error_body,
)
from omniroute.testing.fake_responses_sse import (
    INSUFFICIENT_QUOTA,
    ResponsesAnswer,
    failure_events,
    plan_responses_answer,
    response_object,
    stream_events,
)
from omniroute.testing.fake_responses_validation import validate_responses_request

__all__ = [
    "DEFAULT_MODELS",
    "INSUFFICIENT_QUOTA",
    "ApiError",
    "FakeResponsesUpstream",
    "RecordedRequest",
    "ReplyKind",
    "ResponsesReply",
]

DEFAULT_MODELS: tuple[str, ...] = ("gpt-5", "gpt-5-mini", "gpt-5-codex", "gpt-4.1", "gpt-4o-mini")
"""Model ids listed by ``GET /v1/models`` unless the constructor is given others."""

_DEFAULT_MESSAGES: Mapping[int, tuple[str, str | None]] = {
    400: ("Invalid request.", None),
    401: (f"Incorrect API key provided. {KEY_HINT}", "invalid_api_key"),
    403: ("You are not allowed to sample from this model", None),
    404: ("The model does not exist or you do not have access to it.", "model_not_found"),
    429: ("Rate limit exceeded. Please try again in 20 seconds.", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", None),
    503: ("The engine is currently overloaded, please try again later.", None),
}


@dataclass(frozen=True)
class ResponsesReply:
    """A scripted answer for the next ``POST /v1/responses`` request.

    Build one with the class methods (:meth:`json`, :meth:`error`, :meth:`stream`, :meth:`cut`,
    :meth:`midstream_error`, :meth:`hang`, :meth:`slow_stream`) and pass it to
    :meth:`FakeResponsesUpstream.enqueue`. Scripted replies are only used for requests that pass
    auth and validation; rejected requests get the real error and leave the queue untouched.
    "The default stream" below is the event list the fake would send for that request without a
    script (``response.created`` is event 0).
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
    ) -> ResponsesReply:
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
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResponsesReply:
        """Answer with the OpenAI error body ``{"error": {message, type, param, code}}``.

        ``type`` defaults to ``server_error`` for 5xx, ``rate_limit_error`` for 429 and
        ``invalid_request_error`` otherwise; ``message`` and ``code`` to realistic values for
        the status (429: ``"Rate limit exceeded. Please try again in 20 seconds."``,
        ``rate_limit_exceeded``). ``headers`` (e.g. ``{"retry-after": "7"}``) are added.
        """
        default_message, default_code = _DEFAULT_MESSAGES.get(status, ("Error", None))
        body = error_body(
            message or default_message,
            type=type or default_error_type(status),
            param=param,
            code=code if code is not None or message is not None else default_code,
        )
        return cls(ReplyKind.JSON, status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def stream(
        cls,
        events: Iterable[SseEvent],
        *,
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> ResponsesReply:
        """Answer HTTP 200 with exactly these SSE events, then end the body cleanly.

        A mapping is sent as ``event: <its "type">`` + ``data: <json>``; a ``(name, data)``
        pair sets the event name explicitly; ``str``/``bytes`` are written verbatim. Nothing is
        added (no ``sequence_number``s, no terminal event). ``delay`` pauses before every event.
        """
        return cls(ReplyKind.STREAM, events=tuple(events), delay=delay, headers=dict(headers or {}))

    @classmethod
    def cut(cls, after_events: int = 4, *, reset: bool = False) -> ResponsesReply:
        """Send the first ``after_events`` events of the default stream, then drop the
        connection without the chunked-encoding terminator (``reset=True`` aborts with a TCP
        RST instead). For a non-streaming request the headers and half the JSON body are sent.
        """
        return cls(ReplyKind.CUT, after_events=after_events, reset=reset)

    @classmethod
    def midstream_error(
        cls,
        after_events: int = 2,
        *,
        type: str = INSUFFICIENT_QUOTA["type"],
        code: str | None = INSUFFICIENT_QUOTA["code"],
        message: str = INSUFFICIENT_QUOTA["message"],
    ) -> ResponsesReply:
        """Send ``after_events`` default events, then ``event: error`` (with the nested
        ``error`` object) and ``event: response.failed``, in an HTTP 200 stream.

        The defaults reproduce the real ``responses_stream_error_insufficient_quota`` capture
        (created, in_progress, error, failed). For a non-streaming request the error is the
        HTTP response instead (429 for quota and rate-limit types, 500 otherwise).
        """
        error = {"type": type, "code": code, "message": message, "param": None}
        return cls(ReplyKind.MIDSTREAM_ERROR, after_events=after_events, error_event=error)

    @classmethod
    def hang(cls, seconds: float) -> ResponsesReply:
        """Send nothing for ``seconds`` (no status line), then answer with the default reply."""
        return cls(ReplyKind.HANG, delay=seconds)

    @classmethod
    def slow_stream(cls, gap: float) -> ResponsesReply:
        """Send the default stream, pausing ``gap`` seconds before each event, after the
        response headers went out (a non-streaming request just gets its JSON)."""
        return cls(ReplyKind.SLOW_STREAM, delay=gap)

    @classmethod
    def from_openai(cls, reply: Reply) -> ResponsesReply:
        """Translate the OpenAI fake's :class:`Reply`: JSON bodies (errors included) are sent
        as they are, stream chunks as events named by their ``type``, ``cut`` and
        ``midstream_error`` keep their chunk counts as event counts (the error keeps its
        ``message`` and ``type``), ``hang``/``slow_stream`` keep their timings."""
        if reply.kind is ReplyKind.JSON:
            return cls.json(reply.body, reply.status, headers=reply.headers)
        if reply.kind is ReplyKind.STREAM:
            return cls.stream(reply.chunks, delay=reply.delay, headers=reply.headers)
        if reply.kind is ReplyKind.MIDSTREAM_ERROR:
            given = dict(reply.error_event or {})
            return cls.midstream_error(
                reply.after_chunks,
                type=str(given.get("type", "server_error")),
                code=None,
                message=str(given.get("message", "")),
            )
        if reply.kind is ReplyKind.CUT:
            return cls.cut(reply.after_chunks, reset=reply.reset)
        return cls(reply.kind, delay=reply.delay)


@dataclass(frozen=True)
class _Default:
    stream: bool
    answer: ResponsesAnswer
    obfuscate: bool
    remember: Callable[[], None]

    def body(self) -> dict[str, Any]:
        return response_object(self.answer)

    def events(self) -> list[dict[str, Any]]:
        return stream_events(self.answer, obfuscate=self.obfuscate)


class FakeResponsesUpstream(FakeUpstream[ResponsesReply, ApiError]):
    """The OpenAI Responses API served by aiohttp, for tests.

    :param api_key: the only key accepted in ``Authorization: Bearer``; ``None`` accepts any
        Bearer token (a missing header is still a 401).
    :param models: model ids listed by ``GET /v1/models``.

    Use :attr:`app` with ``aiohttp_server`` or :meth:`serve` standalone. Without scripted
    replies, a response echoes the last user text (``"echo: <text>"``), calls the first function
    tool when ``tools`` are given, mentions the output after a ``function_call_output``, and
    starts with a ``reasoning`` item when ``reasoning`` is set; see
    :func:`plan_responses_answer`. Responses are stored (unless ``"store": false``) for
    ``previous_response_id`` and ``GET /v1/responses/{id}``.
    """

    error_type = ApiError
    base_path = "/v1"

    def __init__(
        self, api_key: str | None = None, *, models: Sequence[str] = DEFAULT_MODELS
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models: list[str] = list(models)
        self._conversations: dict[str, list[dict[str, Any]]] = {}
        self._responses: dict[str, dict[str, Any]] = {}

    @property
    def stored_responses(self) -> Mapping[str, Mapping[str, Any]]:
        """The stored ``response`` objects by id (default answers with ``store`` not false)."""
        return dict(self._responses)

    def enqueue(self, *replies: ResponsesReply | Reply) -> None:
        """Queue replies; each is consumed by the next valid ``POST /v1/responses``.

        OpenAI-fake :class:`Reply` objects are translated with
        :meth:`ResponsesReply.from_openai`.
        """
        for reply in replies:
            if isinstance(reply, Reply):
                reply = ResponsesReply.from_openai(reply)
            super().enqueue(reply)

    def _setup_app(self, app: web.Application) -> None:
        app.on_response_prepare.append(add_openai_headers)
        app.router.add_post("/v1/responses", self._create)
        app.router.add_get("/v1/responses/{response_id}", self._retrieve)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_route("*", "/{tail:.*}", unknown_route)

    def _error_response(self, request: web.Request, err: ApiError) -> web.StreamResponse:
        return json_response(err.body, err.status)

    def _check_auth(self, request: web.Request) -> None:
        check_bearer(request, self.api_key)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        conversation = validate_responses_request(body, self._conversations)
        answer = plan_responses_answer(body, conversation)
        options = body.get("stream_options") or {}

        def remember() -> None:
            if body.get("store") is not False:
                self._conversations[answer.id] = [*conversation, *map(dict, answer.output)]
                self._responses[answer.id] = response_object(answer)

        default = _Default(
            stream=body.get("stream") is True,
            answer=answer,
            obfuscate=options.get("include_obfuscation") is not False,
            remember=remember,
        )
        return await _play(request, self._next_reply(), default)

    async def _retrieve(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        if response_id not in self._responses:
            raise ApiError(404, f"Response with id '{response_id}' not found.")
        return json_response(self._responses[response_id])

    async def _list_models(self, request: web.Request) -> web.Response:
        data = [
            {"id": model, "object": "model", "created": 1754425777, "owned_by": "system"}
            for model in self.models
        ]
        return json_response({"object": "list", "data": data})


async def _play(
    request: web.Request, reply: ResponsesReply | None, default: _Default
) -> web.StreamResponse:
    closing = request.app[CLOSING]
    if reply is None:
        return await _answer_default(request, default)
    if reply.kind is ReplyKind.JSON:
        return json_response(reply.body, reply.status, reply.headers)
    if reply.kind is ReplyKind.STREAM:
        return await send_events(
            request, reply.events, delay=reply.delay, closing=closing, headers=reply.headers
        )
    if reply.kind is ReplyKind.SLOW_STREAM:
        default.remember()
        if not default.stream:
            return json_response(default.body())
        return await send_events(request, default.events(), delay=reply.delay, closing=closing)
    if reply.kind is ReplyKind.MIDSTREAM_ERROR:
        return await _midstream_error(request, reply, default)
    if reply.kind is ReplyKind.CUT:
        return await _cut(request, reply, default)
    await pause(closing, reply.delay)
    return await _answer_default(request, default)


async def _answer_default(request: web.Request, default: _Default) -> web.StreamResponse:
    default.remember()
    if default.stream:
        return await send_events(request, default.events())
    return json_response(default.body())


async def _midstream_error(
    request: web.Request, reply: ResponsesReply, default: _Default
) -> web.StreamResponse:
    error = dict(reply.error_event or INSUFFICIENT_QUOTA)
    if not default.stream:
        kind = str(error.get("type"))
        status = 429 if "quota" in kind or "rate_limit" in kind else 500
        body = error_body(str(error.get("message")), type=kind, code=error.get("code"))
        return json_response(body, status)
    events = failure_events(default.answer, reply.after_events, error, obfuscate=default.obfuscate)
    return await send_events(request, events)


async def _cut(
    request: web.Request, reply: ResponsesReply, default: _Default
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
