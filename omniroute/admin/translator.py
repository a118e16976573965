"""``/api/translator/*``: detect a body's format and translate it, for the dashboard playground.

Pure use of the registered codecs: nothing is sent upstream.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from omniroute.admin.http import json_body
from omniroute.appkeys import REGISTRY
from omniroute.errors import BadRequest
from omniroute.formats.base import Format

_ANTHROPIC_BLOCKS = {"tool_use", "tool_result", "thinking", "redacted_thinking", "image"}


def _content_types(messages: list[Any]) -> set[str]:
    kinds = set()
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            kinds |= {str(b.get("type")) for b in content if isinstance(b, dict)}
    return kinds


def detect_request(body: dict[str, Any]) -> str:
    """The wire format a request body is written in, judged by the fields only it uses."""
    if "contents" in body:
        return "gemini"
    if "input" in body and "messages" not in body:
        return "responses"
    messages = body.get("messages")
    if isinstance(messages, list):
        roles = {m.get("role") for m in messages if isinstance(m, dict)}
        anthropic_fields = {"system", "stop_sequences", "top_k", "thinking"} & body.keys()
        if roles & {"system", "developer", "tool"} or "tool_calls" in str(messages):
            return "openai"
        if anthropic_fields or _content_types(messages) & _ANTHROPIC_BLOCKS:
            return "anthropic"
        return "openai"
    raise BadRequest("cannot tell the format: no 'messages', 'input' or 'contents'", param="body")


def detect_response(body: dict[str, Any]) -> str:
    """The wire format a response body is written in."""
    if body.get("object") == "chat.completion":
        return "openai"
    if body.get("object") == "response":
        return "responses"
    if body.get("type") == "message":
        return "anthropic"
    if "candidates" in body:
        return "gemini"
    raise BadRequest("cannot tell the format of this response body", param="body")


def _format(request: web.Request, name: Any, param: str) -> Format:
    formats = request.config_dict[REGISTRY].formats
    fmt = formats.get(name) if isinstance(name, str) else None
    if fmt is None or not fmt.translates:
        usable = ", ".join(sorted(f for f, v in formats.items() if v.translates))
        raise BadRequest(f"'{param}' must be one of: {usable}", param=param)
    return fmt


async def detect(request: web.Request) -> web.Response:
    """``POST /api/translator/detect {body, kind?}`` → ``{format}``."""
    data = await json_body(request)
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(body, dict):
        raise BadRequest("'body' must be a JSON object", param="body")
    kind = data.get("kind", "request")
    found = detect_response(body) if kind == "response" else detect_request(body)
    return web.json_response({"format": found, "kind": kind})


async def translate(request: web.Request) -> web.Response:
    """``POST /api/translator/translate {from, to, body, kind?}`` → ``{body}``.

    ``kind`` is ``request`` (default) or ``response``.
    """
    data = await json_body(request)
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    body = data.get("body")
    if not isinstance(body, dict):
        raise BadRequest("'body' must be a JSON object", param="body")
    source = _format(request, data.get("from"), "from")
    target = _format(request, data.get("to"), "to")
    kind = data.get("kind", "request")
    try:
        if kind == "request":
            out = target.render_request(source.parse_request(body))
        elif kind == "response":
            out = target.render_response(source.parse_response(body))
        else:
            raise BadRequest("'kind' must be 'request' or 'response'", param="kind")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRequest(f"'body' is not a valid {source.id} {kind}: {exc}", param="body") from exc
    return web.json_response({"from": source.id, "to": target.id, "kind": kind, "body": out})
