"""A local aiohttp server that impersonates an OpenAI-compatible provider.

:class:`FakeOpenAIUpstream` answers ``/v1/chat/completions``, ``/v1/models``,
``/v1/embeddings`` and ``/v1/images/generations`` with bodies and SSE streams shaped like the
real API, validates requests the way the real API does, records every request, and can be
scripted with :class:`Reply` objects to produce errors, cut connections, mid-stream failures,
hangs and slow streams::

    fake = FakeOpenAIUpstream(api_key="sk-up-1")
    fake.enqueue(Reply.error(429, "Rate limit reached", code="rate_limit_exceeded"))
    async with fake.serve() as base_url:
        client = AsyncOpenAI(base_url=base_url, api_key="sk-up-1", max_retries=0)
        ...
    assert fake.requests[0].json["model"] == "gpt-4o"
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from omniroute.testing.fake_base import CLOSING, FakeUpstream, RecordedRequest, loads_or_none
from omniroute.testing.fake_openai_sse import (
    MIDSTREAM_ERROR,
    completion_body,
    drop_connection,
    encode_sse,
    open_sse,
    pause,
    plan_chat_answer,
    random_id,
    send_sse,
    stream_chunks,
)
from omniroute.testing.fake_openai_validation import (
    BAD_JSON_MESSAGE,
    ApiError,
    EmbeddingsParams,
    ImagesParams,
    default_error_type,
    error_body,
    validate_chat,
    validate_embeddings,
    validate_images,
)

__all__ = [
    "DEFAULT_MODELS",
    "PNG_BYTES",
    "ApiError",
    "FakeOpenAIUpstream",
    "RecordedRequest",
    "Reply",
    "ReplyKind",
    "embedding_vector",
]

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "text-embedding-3-small",
    "dall-e-3",
)
"""Model ids listed by ``GET /v1/models`` unless the constructor is given others."""

KEY_HINT = "You can find your API key at https://platform.openai.com/account/api-keys."
_NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). " + KEY_HINT
)


def _tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x10\xa3\x7f")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG_BYTES: bytes = _tiny_png()
"""The 1x1 PNG every fake image is made of."""


class ReplyKind(StrEnum):
    """What a scripted :class:`Reply` does."""

    JSON = "json"
    STREAM = "stream"
    CUT = "cut"
    MIDSTREAM_ERROR = "midstream_error"
    HANG = "hang"
    SLOW_STREAM = "slow_stream"


@dataclass(frozen=True)
class Reply:
    """A scripted answer for the next chat, embeddings or images request.

    Build one with the class methods (:meth:`json`, :meth:`error`, :meth:`stream`,
    :meth:`cut`, :meth:`midstream_error`, :meth:`hang`, :meth:`slow_stream`) and pass it to
    :meth:`FakeOpenAIUpstream.enqueue`. Scripted replies are only used for requests that pass
    auth and validation; rejected requests get the real error and leave the queue untouched.
    "The default stream" below is the stream the fake would send for that request without a
    script (for a non-chat request, an echo chat stream).
    """

    kind: ReplyKind
    status: int = 200
    body: Any = None
    chunks: tuple[Mapping[str, Any] | str, ...] = ()
    done: bool = True
    delay: float = 0.0
    after_chunks: int = 0
    reset: bool = False
    error_event: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, body: Any, status: int = 200, *, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """Answer with exactly ``body`` and ``status`` (``bytes`` are sent verbatim, anything
        else JSON-encoded); ``headers`` may override ``Content-Type``."""
        return cls(ReplyKind.JSON, status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Answer with an OpenAI error body ``{"error": {message, type, param, code}}``.

        ``type`` defaults to ``server_error`` for 5xx, ``rate_limit_error`` for 429 and
        ``invalid_request_error`` otherwise. ``headers`` (e.g. ``{"retry-after": "7"}``) are
        added to the response.
        """
        body = error_body(message, type=type or default_error_type(status), param=param, code=code)
        return cls(ReplyKind.JSON, status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def stream(
        cls,
        chunks: Iterable[Mapping[str, Any] | str],
        *,
        done: bool = True,
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Answer HTTP 200 with these SSE ``data:`` events (mappings as JSON, strings verbatim).

        ``done`` appends ``data: [DONE]``; ``delay`` pauses before every event.
        """
        return cls(
            ReplyKind.STREAM,
            chunks=tuple(chunks),
            done=done,
            delay=delay,
            headers=dict(headers or {}),
        )

    @classmethod
    def cut(cls, after_chunks: int = 2, *, reset: bool = False) -> Reply:
        """Send the first ``after_chunks`` chunks of the default stream, then drop the connection.

        The connection is closed without the chunked-encoding terminator, so clients see an
        incomplete body. ``reset=True`` aborts the socket (RST) instead of closing it. For a
        non-streaming request the headers and half of the JSON body are sent.
        """
        return cls(ReplyKind.CUT, after_chunks=after_chunks, reset=reset)

    @classmethod
    def midstream_error(
        cls,
        after_chunks: int = 2,
        *,
        message: str = MIDSTREAM_ERROR["message"],
        type: str = "server_error",
    ) -> Reply:
        """Send ``after_chunks`` default chunks, then ``data: {"error": ...}`` and no ``[DONE]``.

        The stream itself ends cleanly (HTTP 200, complete chunked body), as in the real
        ``openai_chat_stream_midstream_error`` capture.
        """
        return cls(
            ReplyKind.MIDSTREAM_ERROR,
            after_chunks=after_chunks,
            error_event={"message": message, "type": type},
        )

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Send nothing for ``seconds`` (no status line), then answer with the default reply."""
        return cls(ReplyKind.HANG, delay=seconds)

    @classmethod
    def slow_stream(cls, gap: float) -> Reply:
        """Send the default stream (ending in ``[DONE]``), pausing ``gap`` seconds before each
        event, after the response headers went out."""
        return cls(ReplyKind.SLOW_STREAM, delay=gap)


@dataclass(frozen=True)
class _Default:
    stream: bool
    body: Callable[[], Any]
    chunks: Callable[[], list[dict[str, Any]]]


class FakeOpenAIUpstream(FakeUpstream[Reply, ApiError]):
    """An OpenAI-compatible provider served by aiohttp, for tests.

    :param api_key: the only key accepted in ``Authorization: Bearer``; ``None`` accepts any
        Bearer token (a missing header is still a 401).
    :param models: model ids listed by ``GET /v1/models``.
    :param embedding_dimensions: vector length when a request has no ``dimensions``.

    Use :attr:`app` with ``aiohttp_server`` or :meth:`serve` standalone. Without scripted
    replies, chat echoes the last user message (``"echo: <text>"``), calls the first tool when
    ``tools`` are given, and mentions a tool result when the last message is a ``tool`` message.
    """

    error_type = ApiError
    base_path = "/v1"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        embedding_dimensions: int = 8,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models: list[str] = list(models)
        self.embedding_dimensions = embedding_dimensions

    def _setup_app(self, app: web.Application) -> None:
        app.on_response_prepare.append(add_openai_headers)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)
        app.router.add_get("/images/{name}.png", _serve_png)
        app.router.add_route("*", "/{tail:.*}", unknown_route)

    def _error_response(self, request: web.Request, err: ApiError) -> web.StreamResponse:
        return json_response(err.body, err.status)

    def _check_auth(self, request: web.Request) -> None:
        check_bearer(request, self.api_key)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        validate_chat(body)
        answer = plan_chat_answer(body)
        options = body.get("stream_options") or {}
        include_usage = options.get("include_usage") is True
        default = _Default(
            stream=body.get("stream") is True,
            body=lambda: completion_body(answer),
            chunks=lambda: stream_chunks(answer, include_usage=include_usage),
        )
        return await _play(request, self._next_reply(), default)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        params = validate_embeddings(body, self.embedding_dimensions)
        default = _Default(
            stream=False,
            body=lambda: _embeddings_body(params),
            chunks=lambda: _fallback_chunks(body),
        )
        return await _play(request, self._next_reply(), default)

    async def _images(self, request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        params = validate_images(body)
        origin = str(request.url.origin())
        default = _Default(
            stream=False,
            body=lambda: _images_body(params, origin),
            chunks=lambda: _fallback_chunks(body),
        )
        return await _play(request, self._next_reply(), default)

    async def _list_models(self, request: web.Request) -> web.Response:
        return json_response({"object": "list", "data": [_model_object(m) for m in self.models]})

    async def _get_model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if model not in self.models:
            raise ApiError(
                404,
                f"The model '{model}' does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return json_response(_model_object(model))


def embedding_vector(item: str | Sequence[int], dimensions: int) -> list[float]:
    """The fake's deterministic unit-length embedding of ``item`` (values exact in float32)."""
    seed = orjson.dumps(item)
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        raw.extend(
            int.from_bytes(digest[i : i + 4], "little") / 2**31 - 1.0 for i in range(0, 32, 4)
        )
        counter += 1
    raw = raw[:dimensions]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return array("f", (x / norm for x in raw)).tolist()


def _embeddings_body(params: EmbeddingsParams) -> dict[str, Any]:
    data = []
    for index, item in enumerate(params.items):
        vector = embedding_vector(item, params.dimensions)
        encoded: list[float] | str = vector
        if params.encoding_format == "base64":
            encoded = base64.b64encode(array("f", vector).tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(max(1, len(i.split())) if isinstance(i, str) else len(i) for i in params.items)
    return {
        "object": "list",
        "data": data,
        "model": params.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _images_body(params: ImagesParams, origin: str) -> dict[str, Any]:
    png = base64.b64encode(PNG_BYTES).decode()
    data = []
    for index in range(params.n):
        image: dict[str, Any] = (
            {"url": f"{origin}/images/fake-{index}.png"}
            if params.response_format == "url"
            else {"b64_json": png}
        )
        image["revised_prompt"] = params.prompt
        data.append(image)
    return {"created": int(time.time()), "data": data}


def _model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 1715367049, "owned_by": "system"}


def _fallback_chunks(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return stream_chunks(plan_chat_answer({"model": body.get("model")}), include_usage=False)


async def _play(request: web.Request, reply: Reply | None, default: _Default) -> web.StreamResponse:
    closing = request.app[CLOSING]
    if reply is None:
        return await _answer_default(request, default)
    if reply.kind is ReplyKind.JSON:
        return json_response(reply.body, reply.status, reply.headers)
    if reply.kind is ReplyKind.STREAM:
        return await send_sse(
            request,
            reply.chunks,
            done=reply.done,
            delay=reply.delay,
            closing=closing,
            headers=reply.headers,
        )
    if reply.kind is ReplyKind.SLOW_STREAM:
        chunks = default.chunks()
        return await send_sse(request, chunks, done=True, delay=reply.delay, closing=closing)
    if reply.kind is ReplyKind.MIDSTREAM_ERROR:
        events = [*default.chunks()[: reply.after_chunks], {"error": dict(reply.error_event or {})}]
        return await send_sse(request, events, done=False)
    if reply.kind is ReplyKind.CUT:
        return await _cut(request, reply, default)
    await pause(closing, reply.delay)
    return await _answer_default(request, default)


async def _answer_default(request: web.Request, default: _Default) -> web.StreamResponse:
    if default.stream:
        return await send_sse(request, default.chunks(), done=True)
    return json_response(default.body())


async def _cut(request: web.Request, reply: Reply, default: _Default) -> web.StreamResponse:
    if default.stream:
        response = await open_sse(request)
        for chunk in default.chunks()[: reply.after_chunks]:
            await response.write(encode_sse(chunk))
    else:
        payload = orjson.dumps(default.body())
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
    await drop_connection(request, reset=reply.reset)
    return response


def check_bearer(request: web.Request, api_key: str | None) -> None:
    """OpenAI's key check and its two 401 answers (missing key, wrong key); shared with the
    Responses fake, which is the same API family."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise ApiError(401, _NO_KEY_MESSAGE)
    key = key.strip()
    if not key or (api_key is not None and key != api_key):
        raise ApiError(
            401,
            f"Incorrect API key provided: {_mask_key(key)}. {KEY_HINT}",
            code="invalid_api_key",
        )


async def add_openai_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The response headers OpenAI sends (request id, API version, processing time)."""
    response.headers.setdefault("x-request-id", random_id("req_", 32))
    response.headers.setdefault("openai-version", "2020-10-01")
    response.headers.setdefault("openai-processing-ms", "1")


async def _serve_png(request: web.Request) -> web.Response:
    return web.Response(body=PNG_BYTES, content_type="image/png")


async def unknown_route(request: web.Request) -> web.Response:
    """OpenAI's 404 for a path it does not serve."""
    raise ApiError(404, f"Invalid URL ({request.method} {request.path})")


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or OpenAI's 400 for anything else."""
    body = loads_or_none(await request.read())
    if not isinstance(body, dict):
        raise ApiError(400, BAD_JSON_MESSAGE)
    return body


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    merged = CIMultiDict({"Content-Type": "application/json"})
    merged.update(headers or {})
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=payload, status=status, headers=merged)


def _mask_key(key: str) -> str:
    if not key:
        return "''"
    if len(key) <= 8:
        return key
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"
