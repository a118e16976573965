"""A local aiohttp server that impersonates the Gemini API (Generative Language).

:class:`FakeGeminiUpstream` answers ``models/{model}:generateContent``,
``:streamGenerateContent`` (SSE with ``?alt=sse``, a JSON array without), ``:countTokens`` and
the models list, under both ``/v1beta`` and ``/v1``, with bodies shaped like the real API
(wire-formats.md §4). It validates requests the way the real API does (roles and alternation,
function call/response turns, thought signatures, unknown fields...), records every request,
and can be scripted with :class:`GeminiReply` objects to produce errors, cut connections,
in-stream errors, hangs and slow streams::

    fake = FakeGeminiUpstream(api_key="AIza-up-1")
    fake.enqueue(GeminiReply.error(429, retry_delay="7s"))
    async with fake.serve() as base_url:  # no version: the SDK adds /v1beta or /v1
        client = genai.Client(
            api_key="AIza-up-1",
            http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"),
        )
        ...
    assert fake.requests[0].json["contents"][0]["role"] == "user"

:meth:`FakeGeminiUpstream.enqueue` also takes the OpenAI fake's :class:`Reply`, translated to
the Gemini wire (an OpenAI error body becomes a Gemini error of the same status and message).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from omniroute.testing.fake_base import CLOSING, FakeUpstream, RecordedRequest
from omniroute.testing.fake_gemini_sse import (
    GeminiChunk,
    count_prompt_tokens,
    frame,
    open_stream,
    plan_gemini_answer,
    response_body,
    send_chunks,
    stream_chunks,
)
from omniroute.testing.fake_gemini_validation import (
    GeminiApiError,
    default_message,
    default_status_name,
    error_body,
    retry_info,
    snake_case,
    validate_count_tokens,
    validate_generate_content,
)
from omniroute.testing.fake_openai import Reply, ReplyKind
from omniroute.testing.fake_openai_sse import drop_connection, pause

__all__ = [
    "DEFAULT_MODELS",
    "FakeGeminiUpstream",
    "GeminiApiError",
    "GeminiReply",
    "RecordedRequest",
    "ReplyKind",
    "display_name",
    "retry_info",
]

DEFAULT_MODELS: tuple[str, ...] = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-embedding-001",
)
"""Model ids listed by ``GET /v1beta/models`` unless the constructor is given others."""

_VERSIONS = "v1beta|v1"
_SERVICE = "generativelanguage.googleapis.com"
_BAD_KEY = "API key not valid. Please pass a valid API key."
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_GENERATE_METHODS = [
    "generateContent",
    "countTokens",
    "createCachedContent",
    "batchGenerateContent",
]
_EMBED_METHODS = ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]


@dataclass(frozen=True)
class GeminiReply:
    """A scripted answer for the next ``generateContent``, ``streamGenerateContent`` or
    ``countTokens`` request.

    Build one with the class methods (:meth:`json`, :meth:`error`, :meth:`stream`, :meth:`cut`,
    :meth:`midstream_error`, :meth:`hang`, :meth:`slow_stream`) and pass it to
    :meth:`FakeGeminiUpstream.enqueue`. Scripted replies are only used for requests that pass
    auth and validation; rejected requests get the real error and leave the queue untouched.
    "The default stream" below is the chunk list the fake would send for that request without a
    script; a stream is framed as SSE for ``?alt=sse`` (and for non-stream methods), as a JSON
    array for ``streamGenerateContent`` without it.
    """

    kind: ReplyKind
    status: int = 200
    body: Any = None
    chunks: tuple[GeminiChunk, ...] = ()
    delay: float = 0.0
    after_chunks: int = 0
    reset: bool = False
    raw: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, body: Any, status: int = 200, *, headers: Mapping[str, str] | None = None
    ) -> GeminiReply:
        """Answer with exactly ``body`` and ``status`` (``bytes`` are sent verbatim, anything
        else JSON-encoded); ``headers`` may override ``Content-Type``."""
        return cls(ReplyKind.JSON, status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        status_name: str | None = None,
        *,
        details: Iterable[Mapping[str, Any]] = (),
        retry_delay: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> GeminiReply:
        """Answer with ``{"error": {code, message, status, details?}}``.

        ``status_name`` defaults by HTTP status (``RESOURCE_EXHAUSTED`` for 429, ``UNAVAILABLE``
        for 503...), ``message`` by status name (the live quota text for 429). ``retry_delay``
        (e.g. ``"7s"``) appends a ``google.rpc.RetryInfo`` detail after ``details``, as in the
        ``gemini_error_429`` capture. For ``streamGenerateContent`` without ``alt=sse`` the body
        is wrapped in a one-element array, as the real API does.
        """
        name = status_name or default_status_name(status)
        extra = [retry_info(retry_delay)] if retry_delay is not None else []
        body = error_body(status, message or default_message(name), name, [*details, *extra])
        return cls(ReplyKind.JSON, status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def stream(
        cls,
        chunks: Iterable[GeminiChunk],
        *,
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> GeminiReply:
        """Answer HTTP 200 with exactly these chunks, then end the body cleanly.

        Mappings are JSON-encoded and framed for the request's stream mode (``data: ...\\r\\n
        \\r\\n`` or array elements); ``str``/``bytes`` are written verbatim (the caller frames
        them). ``delay`` pauses before every chunk.
        """
        return cls(ReplyKind.STREAM, chunks=tuple(chunks), delay=delay, headers=dict(headers or {}))

    @classmethod
    def cut(cls, after_chunks: int = 2, *, reset: bool = False) -> GeminiReply:
        """Send the first ``after_chunks`` chunks of the default stream, then drop the
        connection without the chunked-encoding terminator (``reset=True`` aborts with a TCP
        RST instead). For a non-streaming request the headers and half the JSON body are sent.
        """
        return cls(ReplyKind.CUT, after_chunks=after_chunks, reset=reset)

    @classmethod
    def midstream_error(
        cls,
        after_chunks: int = 2,
        *,
        code: int = 500,
        message: str | None = None,
        status_name: str | None = None,
        raw: bool = False,
    ) -> GeminiReply:
        """Send ``after_chunks`` default chunks, then an error object, and end the body.

        The HTTP status stays 200. With SSE the error is ``data: {"error": ...}``; ``raw=True``
        sends it as un-prefixed multi-line JSON instead (google-genai accepts both); in a JSON
        array it is the last element. For a non-streaming request the error is the HTTP
        response (status ``code``).
        """
        name = status_name or default_status_name(code)
        body = error_body(code, message or default_message(name), name)
        return cls(
            ReplyKind.MIDSTREAM_ERROR, status=code, body=body, after_chunks=after_chunks, raw=raw
        )

    @classmethod
    def hang(cls, seconds: float) -> GeminiReply:
        """Send nothing for ``seconds`` (no status line), then answer with the default reply."""
        return cls(ReplyKind.HANG, delay=seconds)

    @classmethod
    def slow_stream(cls, gap: float) -> GeminiReply:
        """Send the default stream, pausing ``gap`` seconds before each chunk, after the
        response headers went out (a non-streaming request just gets its JSON)."""
        return cls(ReplyKind.SLOW_STREAM, delay=gap)

    @classmethod
    def from_openai(cls, reply: Reply) -> GeminiReply:
        """Translate the OpenAI fake's :class:`Reply` to the Gemini wire.

        An OpenAI error body ``{"error": {message, ...}}`` becomes a Gemini error of the same
        status and message (status name by HTTP status); stream chunks are sent as ``data:``
        events; ``cut``/``midstream_error`` keep their chunk counts (the in-stream error becomes
        ``INTERNAL``); ``hang``/``slow_stream`` keep their timings.
        """
        if reply.kind is ReplyKind.JSON:
            error = reply.body.get("error") if isinstance(reply.body, Mapping) else None
            if reply.status >= 400 and isinstance(error, Mapping) and "message" in error:
                return cls.error(reply.status, str(error["message"]), headers=reply.headers)
            return cls.json(reply.body, reply.status, headers=reply.headers)
        if reply.kind is ReplyKind.STREAM:
            return cls.stream(reply.chunks, delay=reply.delay, headers=reply.headers)
        if reply.kind is ReplyKind.MIDSTREAM_ERROR:
            message = (reply.error_event or {}).get("message")
            return cls.midstream_error(reply.after_chunks, message=message)
        if reply.kind is ReplyKind.CUT:
            return cls.cut(reply.after_chunks, reset=reply.reset)
        return cls(reply.kind, delay=reply.delay)


@dataclass(frozen=True)
class _Default:
    stream: bool
    sse: bool
    body: Callable[[], Any]
    chunks: Callable[[], list[dict[str, Any]]]


class FakeGeminiUpstream(FakeUpstream[GeminiReply, GeminiApiError]):
    """The Gemini API (Generative Language) served by aiohttp, for tests.

    :param api_key: the only key accepted, in ``x-goog-api-key`` or ``?key=``; ``None``
        accepts any non-empty key. A wrong key is the real 400 ``API_KEY_INVALID``, no key the
        403 ``PERMISSION_DENIED``, and ``Authorization: Bearer`` without a key the 401 the API
        gives an API key sent as an OAuth token (``ACCESS_TOKEN_TYPE_UNSUPPORTED``).
    :param models: model ids listed by ``GET /{v1beta,v1}/models`` (any model may be called).
    :param require_thought_signatures: reject a model ``functionCall`` of the current turn
        sent back without a thought signature this fake issued (the Gemini 3 rule).

    Use :attr:`app` with ``aiohttp_server`` or :meth:`serve` standalone. Without scripted
    replies, the model echoes the last user text (``"echo: <text>"``), calls the first
    declared function when tools are given, mentions function responses after them, and starts
    with a ``thought`` part when ``includeThoughts`` is set; see :func:`plan_gemini_answer`.
    :meth:`serve` yields a URL without a version (``http://127.0.0.1:PORT``): google-genai
    appends ``/{api_version}/models/...`` itself.
    """

    error_type = GeminiApiError
    auth_prefixes = ("/v1beta/", "/v1/")

    def __init__(
        self,
        api_key: str | None = None,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        require_thought_signatures: bool = True,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models: list[str] = list(models)
        self.require_thought_signatures = require_thought_signatures
        self._signatures: dict[bytes, str] = {}

    @property
    def issued_signatures(self) -> frozenset[str]:
        """Every ``thoughtSignature`` this fake has issued (and will accept back)."""
        return frozenset(self._signatures.values())

    def issue_thought_signature(self) -> str:
        """Issue a fresh ``thoughtSignature`` (standard base64) the fake accepts in later
        history; useful to build a valid model turn by hand. The same bytes in URL-safe base64
        (how google-genai re-encodes them) are accepted too."""
        raw = b"\x12\x08fake" + secrets.token_bytes(60)
        signature = base64.b64encode(raw).decode()
        self._signatures[raw] = signature
        return signature

    def enqueue(self, *replies: GeminiReply | Reply) -> None:
        """Queue replies; each is consumed by the next valid generate/stream/countTokens call.

        OpenAI-fake :class:`Reply` objects are translated with :meth:`GeminiReply.from_openai`.
        """
        for reply in replies:
            if isinstance(reply, Reply):
                reply = GeminiReply.from_openai(reply)
            super().enqueue(reply)

    def _setup_app(self, app: web.Application) -> None:
        app.on_response_prepare.append(_add_google_headers)
        app.router.add_post(f"/{{version:{_VERSIONS}}}/models/{{call}}", self._model_call)
        app.router.add_get(f"/{{version:{_VERSIONS}}}/models", self._list_models)
        app.router.add_get(f"/{{version:{_VERSIONS}}}/models/{{model}}", self._get_model)
        app.router.add_route("*", "/{tail:.*}", _unknown_route)

    def _error_response(self, request: web.Request, err: GeminiApiError) -> web.StreamResponse:
        body: Any = [err.body] if _is_array_stream(request) else err.body
        return _json_response(body, err.status)

    def _check_auth(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                raise GeminiApiError(
                    401,
                    default_message("UNAUTHENTICATED"),
                    details=[_error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED")],
                )
            raise GeminiApiError(403, _NO_KEY)
        if self.api_key is not None and key != self.api_key:
            localized = {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": _BAD_KEY,
            }
            raise GeminiApiError(400, _BAD_KEY, details=[_error_info("API_KEY_INVALID"), localized])

    async def _model_call(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        model, _, method = request.match_info["call"].rpartition(":")
        if method not in ("generateContent", "streamGenerateContent", "countTokens"):
            raise GeminiApiError(404, default_message("NOT_FOUND"))
        body = await _json_object(request)
        if method != "countTokens":
            signatures = self._signatures if self.require_thought_signatures else None
            validate_generate_content(body, signatures, version=version)
            answer = plan_gemini_answer(body, model, self.issue_thought_signature)
            default = _Default(
                stream=method == "streamGenerateContent",
                sse=not _is_array_stream(request),
                body=lambda: response_body(answer),
                chunks=lambda: stream_chunks(answer),
            )
        else:
            counted = validate_count_tokens(body, version=version)
            tokens = count_prompt_tokens(counted)
            default = _Default(
                stream=False,
                sse=True,
                body=lambda: {
                    "totalTokens": tokens,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
                },
                chunks=lambda: stream_chunks(
                    plan_gemini_answer(counted, model, self.issue_thought_signature)
                ),
            )
        return await _play(request, self._next_reply(), default)

    async def _list_models(self, request: web.Request) -> web.Response:
        size_text = request.query.get("pageSize", "50")
        if not size_text.lstrip("-").isdigit():
            raise _invalid_query("pageSize", "TYPE_INT32", size_text)
        size = int(size_text)
        size = min(size if size > 0 else 50, 1000)
        token = request.query.get("pageToken", "")
        try:
            offset = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)) or b"0")
        except ValueError:
            raise GeminiApiError(400, "Invalid page token.") from None
        page = self.models[offset : offset + size]
        body: dict[str, Any] = {"models": [_model_object(model) for model in page]}
        if offset + size < len(self.models):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return _json_response(body)

    async def _get_model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if model not in self.models:
            version = request.match_info["version"]
            raise GeminiApiError(
                404, f"Model is not found: models/{model} for api version {version}"
            )
        return _json_response(_model_object(model))


def display_name(model: str) -> str:
    """``gemini-2.5-flash`` → ``Gemini 2.5 Flash``; ``gemini-3-pro-preview`` → ``Gemini 3 Pro
    Preview``."""
    return " ".join(word.capitalize() if word.isalpha() else word for word in model.split("-"))


def _model_object(model: str) -> dict[str, Any]:
    embedding = "embedding" in model
    described: dict[str, Any] = {
        "name": f"models/{model}",
        "version": "001",
        "displayName": display_name(model),
        "description": f"{display_name(model)} (served by the OmniRoute fake Gemini upstream)",
        "inputTokenLimit": 2048 if embedding else 1048576,
        "outputTokenLimit": 1 if embedding else 65536,
        "supportedGenerationMethods": list(_EMBED_METHODS if embedding else _GENERATE_METHODS),
    }
    if not embedding:
        described.update(
            {"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True}
        )
    return described


def _invalid_query(name: str, kind: str, value: str) -> GeminiApiError:
    return GeminiApiError(400, f"Invalid value at '{snake_case(name)}' ({kind}), \"{value}\"")


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": _SERVICE},
    }


def _is_array_stream(request: web.Request) -> bool:
    alt = request.query.get("alt", request.query.get("$alt"))
    return request.path.endswith(":streamGenerateContent") and alt != "sse"


async def _play(
    request: web.Request, reply: GeminiReply | None, default: _Default
) -> web.StreamResponse:
    closing = request.app[CLOSING]
    if reply is None:
        return await _answer_default(request, default)
    if reply.kind is ReplyKind.JSON:
        body = reply.body
        if reply.status >= 400 and default.stream and not default.sse and isinstance(body, dict):
            body = [body]
        return _json_response(body, reply.status, reply.headers)
    if reply.kind is ReplyKind.STREAM:
        return await send_chunks(
            request,
            reply.chunks,
            sse=default.sse,
            delay=reply.delay,
            closing=closing,
            headers=reply.headers,
        )
    if reply.kind is ReplyKind.SLOW_STREAM:
        if not default.stream:
            return _json_response(default.body())
        chunks = default.chunks()
        return await send_chunks(
            request, chunks, sse=default.sse, delay=reply.delay, closing=closing
        )
    if reply.kind is ReplyKind.MIDSTREAM_ERROR:
        if not default.stream:
            return _json_response(reply.body, reply.status)
        chunks = default.chunks()[: reply.after_chunks]
        return await send_chunks(
            request, chunks, sse=default.sse, error=reply.body, raw_error=reply.raw
        )
    if reply.kind is ReplyKind.CUT:
        return await _cut(request, reply, default)
    await pause(closing, reply.delay)
    return await _answer_default(request, default)


async def _answer_default(request: web.Request, default: _Default) -> web.StreamResponse:
    if default.stream:
        return await send_chunks(request, default.chunks(), sse=default.sse)
    return _json_response(default.body())


async def _cut(request: web.Request, reply: GeminiReply, default: _Default) -> web.StreamResponse:
    if default.stream:
        response = await open_stream(request, sse=default.sse)
        for index, chunk in enumerate(default.chunks()[: reply.after_chunks]):
            await response.write(frame(chunk, index, sse=default.sse))
    else:
        payload = orjson.dumps(default.body())
        response = web.StreamResponse(headers={"Content-Type": "application/json; charset=UTF-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
    await drop_connection(request, reset=reply.reset)
    return response


async def _add_google_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Vary", "Origin, X-Origin, Referer")
    response.headers.setdefault("Server-Timing", "gfet4t7; dur=1")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


async def _unknown_route(request: web.Request) -> web.Response:
    raise GeminiApiError(404, default_message("NOT_FOUND"))


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GeminiApiError(400, "Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(body, dict):
        raise GeminiApiError(
            400, 'Invalid JSON payload received. Unknown name "": Root element must be a message.'
        )
    return body


def _json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    merged = CIMultiDict({"Content-Type": "application/json; charset=UTF-8"})
    merged.update(headers or {})
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=payload, status=status, headers=merged)
