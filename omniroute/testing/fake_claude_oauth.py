"""A fake of the Anthropic API as Claude subscription (OAuth) traffic meets it.

:class:`FakeClaudeOAuthUpstream` is :class:`~omniroute.testing.FakeAnthropicUpstream` (same
messages, streams, validation and scripting) with the checks the real API makes of OAuth calls:

* the credential is ``Authorization: Bearer <access token>``; an ``x-api-key`` call is refused;
* the Bearer call must carry ``anthropic-beta: oauth-2025-04-20``, else the real 401
  "OAuth authentication is currently not supported.";
* the token must be one the paired :class:`~omniroute.testing.FakeOAuthServer` issued and still
  valid: expired → 401 "OAuth token has expired...", revoked → 403;
* ``/v1/messages`` must have a system prompt starting with the Claude Code line.

It also answers ``GET /api/oauth/usage`` with :attr:`~FakeClaudeOAuthUpstream.usage`::

    oauth = FakeOAuthServer(client_id=CLIENT, token_format="json", paste_back=True)
    upstream = FakeClaudeOAuthUpstream(oauth)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from omniroute.testing.fake_anthropic import DEFAULT_MODELS, OAUTH_BETA, FakeAnthropicUpstream
from omniroute.testing.fake_anthropic_validation import AnthropicApiError
from omniroute.testing.fake_base import loads_or_none
from omniroute.testing.fake_oauth import FakeOAuthServer

__all__ = ["CLAUDE_CODE_SYSTEM", "NOT_CLAUDE_CODE", "FakeClaudeOAuthUpstream"]

CLAUDE_CODE_SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude."
NOT_CLAUDE_CODE = (
    "This credential is only authorized for use with Claude Code and cannot be used for other "
    "API requests."
)
"""The 400 a subscription call gets when its system prompt does not start as Claude Code's."""


class FakeClaudeOAuthUpstream(FakeAnthropicUpstream):
    """The Anthropic Messages API for subscription tokens issued by ``oauth``.

    :attr:`usage` is what ``GET /api/oauth/usage`` answers (change it in a test to fill a
    window); :attr:`seen_tokens` lists the access tokens of accepted calls, in order.
    """

    auth_prefixes = ("/v1/", "/api/oauth/")

    def __init__(self, oauth: FakeOAuthServer, *, models: Sequence[str] = DEFAULT_MODELS) -> None:
        super().__init__(api_key=None, models=models)
        self.oauth = oauth
        self.usage: dict[str, Any] = {
            "five_hour": {"utilization": 12.0, "resets_at": "2030-01-01T05:00:00+00:00"},
            "seven_day": {"utilization": 40.0, "resets_at": "2030-01-07T00:00:00+00:00"},
        }
        self.seen_tokens: list[str] = []

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_get("/api/oauth/usage", self._usage)
        super()._setup_app(app)

    def _check_auth(self, request: web.Request) -> None:
        if "x-api-key" in request.headers:
            raise AnthropicApiError(
                401, "invalid x-api-key: this endpoint takes a subscription OAuth token"
            )
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AnthropicApiError(401, "x-api-key header is required")
        betas = request.headers.get("anthropic-beta", "").replace(" ", "").split(",")
        if OAUTH_BETA not in betas:
            raise AnthropicApiError(401, "OAuth authentication is currently not supported.")
        verdict = self.oauth.check_access(token)
        if verdict == "expired":
            raise AnthropicApiError(401, "OAuth token has expired. Please obtain a new token.")
        if verdict == "revoked":
            raise AnthropicApiError(403, "OAuth token has been revoked. Please obtain a new token.")
        if verdict != "ok":
            raise AnthropicApiError(401, "Invalid bearer token")
        if "anthropic-version" not in request.headers:
            raise AnthropicApiError(400, "anthropic-version: header is required")
        self.seen_tokens.append(token)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = loads_or_none(await request.read())
        if isinstance(body, dict) and not _starts_as_claude_code(body.get("system")):
            raise AnthropicApiError(400, NOT_CLAUDE_CODE)
        return await super()._messages(request)

    async def _usage(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(self.usage), content_type="application/json")


def _starts_as_claude_code(system: Any) -> bool:
    if isinstance(system, str):
        return system.startswith(CLAUDE_CODE_SYSTEM)
    if isinstance(system, list) and system and isinstance(system[0], dict):
        return str(system[0].get("text", "")).startswith(CLAUDE_CODE_SYSTEM)
    return False
