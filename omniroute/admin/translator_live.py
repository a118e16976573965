"""``/api/translator/chat`` and ``/api/translator/live``: the dashboard's chat tester and live
monitor.

The chat tester sends one message through the real pipeline (routing, failover, translation,
usage recording) with the dashboard session as its authority, and shows the request and the
answer at each hop. The live monitor streams every finished request as the ledger records it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import orjson
from aiohttp import web

from omniroute.admin.http import json_body, json_response
from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.errors import BadRequest, GatewayError
from omniroute.extensions import Attempt, UpstreamResponse
from omniroute.gateway.dispatch import forward_json
from omniroute.gateway.front import SSE_HEADERS
from omniroute.gateway.injection import apply_ai_settings
from omniroute.gateway.pipeline import Accept, Gateway, RequestContext
from omniroute.gateway.validate import (
    validate_chat,
    validate_gemini,
    validate_messages,
    validate_responses,
)
from omniroute.providers import Endpoint

CHAT_FORMATS = ("openai", "anthropic", "responses", "gemini")
MAX_MESSAGE = 100_000
#: Rows a slow browser may fall behind by before the oldest are dropped.
LIVE_QUEUE = 500
PING_SECONDS = 15.0


# -- chat tester --------------------------------------------------------------------------------


def client_body(fmt: str, model: str, message: str) -> dict[str, Any]:
    """The request a client of format ``fmt`` would send for one user message."""
    if fmt == "anthropic":
        return {
            "model": model,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": message}],
        }
    if fmt == "responses":
        return {"model": model, "input": message}
    if fmt == "gemini":  # the model is in the URL
        return {"contents": [{"role": "user", "parts": [{"text": message}]}]}
    return {"model": model, "messages": [{"role": "user", "content": message}]}


def _validate(fmt: str, body: dict[str, Any]) -> None:
    if fmt == "gemini":
        validate_gemini(body)
    else:
        {"openai": validate_chat, "anthropic": validate_messages, "responses": validate_responses}[
            fmt
        ](body)


def _public_url(url: str) -> str:
    """The attempt's URL without its query (a Gemini key may travel there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class _Capturing:
    """The gateway, seen through a lens that keeps the last attempt's body and upstream answer.

    Everything but :meth:`forward` is the gateway's own, so the request is routed, failed over,
    translated and recorded exactly like one that came through a front door.
    """

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        self.sent: dict[str, Any] | None = None
        self.answer: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gw, name)

    async def forward(self, ctx: RequestContext, accept: Accept[Any]) -> Any:
        async def capture(attempt: Attempt, resp: UpstreamResponse) -> Any:
            self.sent = {
                "provider": attempt.provider.id,
                "connection": attempt.connection.name,
                "format": attempt.provider.format,
                "model": attempt.model,
                "url": _public_url(attempt.url),
                "translated": attempt.provider.format != ctx.source.id,
                "body": attempt.body,
            }
            self.answer = None
            try:
                return await accept(attempt, resp)
            finally:
                self.answer = {"status": resp.status, "body": _loads(await _read(resp))}

        return await self._gw.forward(ctx, capture)


async def _read(resp: UpstreamResponse) -> bytes:
    try:
        return await resp.read()  # aiohttp keeps the body once read
    except Exception:  # the connection failed mid-body: nothing to show
        return b""


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _chat_input(data: Any) -> tuple[str, str, str]:
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    fmt, model, message = data.get("format"), data.get("model"), data.get("message")
    if fmt not in CHAT_FORMATS:
        raise BadRequest(f"'format' must be one of: {', '.join(CHAT_FORMATS)}", param="format")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' is required: a model or combo the gateway routes", param="model")
    if not isinstance(message, str) or not message.strip():
        raise BadRequest("'message' is required", param="message")
    if len(message) > MAX_MESSAGE:
        raise BadRequest(f"'message' is longer than {MAX_MESSAGE} characters", param="message")
    if data.get("stream", False) is not False:
        raise BadRequest("the chat tester sends whole answers only: 'stream' must be false")
    return fmt, model.strip(), message


async def chat(request: web.Request) -> web.Response:
    """``POST /api/translator/chat {format, model, message}`` → the four hops and the answer.

    Routing errors (an unknown model) are API errors; anything the gateway answers, including
    an upstream's error, is returned as the hops with the client's ``status``.
    """
    fmt, model, message = _chat_input(await json_body(request))
    app = request.config_dict
    gw = app[GATEWAY]
    source = app[REGISTRY].formats[fmt]
    sent_by_client = client_body(fmt, model, message)
    _validate(fmt, sent_by_client)
    body = apply_ai_settings(gw.index.sections.ai, source, sent_by_client)
    try:
        plan = gw.plan(model)
    except GatewayError as err:
        err.param = err.param or "model"
        raise
    ctx = RequestContext(Endpoint.CHAT, body, plan.targets[0], None, source)
    ctx.client_model, ctx.plan, ctx.combo = model, plan, plan.combo
    lens = _Capturing(gw)
    try:
        response = await forward_json(cast(Gateway, lens), ctx)
        status, answer = response.status, _loads(cast(bytes, response.body))
    except GatewayError as err:
        status, answer = err.status, _loads(source.error_body(err))
    hops: list[dict[str, Any]] = [{"hop": "client-request", "format": fmt, "body": sent_by_client}]
    if lens.sent is not None:
        hops.append({"hop": "provider-request", **lens.sent})
    if lens.answer is not None:
        hops.append(
            {"hop": "provider-response", "format": ctx.resolved.provider.format, **lens.answer}
        )
    hops.append({"hop": "client-response", "format": fmt, "status": status, "body": answer})
    return json_response(
        {
            "requestId": ctx.request_id,
            "format": fmt,
            "model": model,
            "status": status,
            "provider": lens.sent["provider"] if lens.sent else None,
            "text": _answer_text(fmt, answer) if status < 400 else None,
            "latencyMs": round(ctx.elapsed_ms(), 2),
            "hops": hops,
        }
    )


def _answer_text(fmt: str, body: Any) -> str | None:
    """The assistant's text in a client-format answer (for the chat bubble)."""
    if not isinstance(body, dict):
        return None
    parts: list[str] = []
    with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
        if fmt == "openai":
            parts.append(body["choices"][0]["message"]["content"] or "")
        elif fmt == "anthropic":
            parts += [b["text"] for b in body["content"] if b.get("type") == "text"]
        elif fmt == "responses":
            for item in body["output"]:
                parts += [c["text"] for c in item.get("content") or () if "text" in c]
        elif fmt == "gemini":
            parts += [p["text"] for p in body["candidates"][0]["content"]["parts"] if "text" in p]
    return "".join(parts) or None


# -- live monitor -------------------------------------------------------------------------------


class Subscriber:
    """One browser's view of the ledger: a bounded queue that drops its oldest rows when the
    browser falls behind, so a slow reader never holds memory or the gateway back."""

    def __init__(self, limit: int = LIVE_QUEUE) -> None:
        self.rows: deque[dict[str, Any]] = deque(maxlen=limit)
        self.wake = asyncio.Event()
        self.closed = False
        self.dropped = 0

    def __call__(self, row: dict[str, Any]) -> None:
        if len(self.rows) == self.rows.maxlen:
            self.dropped += 1
        self.rows.append(row)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


SUBSCRIBERS = web.AppKey("omniroute_translator_live", set[Subscriber])


def live_event(row: dict[str, Any], connection_name: Callable[[str], str | None]) -> dict[str, Any]:
    """A ledger row as the monitor shows it: no key ids, the connection by name."""
    conn_id = row.get("connection_id")
    return {
        "time": row.get("ts"),
        "requestId": row.get("request_id"),
        "format": row.get("format"),
        "endpoint": row.get("endpoint"),
        "model": row.get("model"),
        "provider": row.get("provider"),
        "connection": connection_name(conn_id) if conn_id else None,
        "combo": row.get("combo"),
        "stream": bool(row.get("stream")),
        "status": row.get("status"),
        "errorKind": row.get("error_kind"),
        "latencyMs": row.get("latency_ms"),
        "ttftMs": row.get("ttft_ms"),
        "tokensIn": row.get("tokens_in"),
        "tokensOut": row.get("tokens_out"),
        "costUsd": row.get("cost_usd"),
    }


async def live(request: web.Request) -> web.StreamResponse:
    """``GET /api/translator/live``: one SSE ``data:`` event per finished request, a
    ``: ping`` comment every 15 s."""
    gw = request.config_dict[GATEWAY]
    subscribers = request.app[SUBSCRIBERS]
    me = Subscriber()

    def connection_name(conn_id: str) -> str | None:
        conn = gw.index.all_connections.get(conn_id)
        return conn.name if conn is not None else None

    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    gw.ledger.listeners.append(me)
    subscribers.add(me)
    try:
        await response.write(b": connected\n\n")
        while not me.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(me.wake.wait(), PING_SECONDS)
            me.wake.clear()
            if not me.rows:
                if not me.closed:
                    await response.write(b": ping\n\n")
                continue
            chunk = bytearray()
            while me.rows:
                event = live_event(me.rows.popleft(), connection_name)
                chunk += b"data: " + orjson.dumps(event) + b"\n\n"
            await response.write(bytes(chunk))
    except (ConnectionResetError, RuntimeError):
        pass  # the browser left
    finally:
        subscribers.discard(me)
        with contextlib.suppress(ValueError):
            gw.ledger.listeners.remove(me)
    return response


async def _close_subscribers(api: web.Application) -> None:
    subscribers: set[Subscriber] = api[SUBSCRIBERS]
    for subscriber in list(subscribers):
        subscriber.close()


def add_routes(api: web.Application) -> None:
    """Mount the chat tester and the live monitor on the management API."""
    api[SUBSCRIBERS] = set()
    api.on_shutdown.append(_close_subscribers)
    api.router.add_post("/translator/chat", chat)
    api.router.add_get("/translator/live", live)
