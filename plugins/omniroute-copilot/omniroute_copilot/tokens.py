"""Copilot tokens: the short-lived credential Copilot's chat API takes, exchanged for the stored
GitHub token at ``GET {api}/copilot_internal/v2/token`` (oauth.md §4).

A Copilot token lives about 30 minutes. :class:`CopilotTokens` keeps one per connection in
memory (never in the database: it is cheap to get again) and exchanges a new one before the old
one expires, one exchange in flight per connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from omniroute import ErrorKind, UpstreamError

TOKEN_PATH = "/copilot_internal/v2/token"

#: What Copilot's API requires to identify the editor integration (its chat endpoint answers
#: 400 "missing Editor-Version header for IDE auth" without them). Nothing beyond these.
EDITOR_HEADERS: Mapping[str, str] = {
    "Copilot-Integration-Id": "vscode-chat",
    "Editor-Version": "vscode/1.110.0",
    "Editor-Plugin-Version": "copilot-chat/0.38.0",
    "User-Agent": "GitHubCopilotChat/0.38.0",
    "X-GitHub-Api-Version": "2025-04-01",
}


@dataclass(frozen=True, slots=True)
class CopilotToken:
    """One Copilot token: the value, when it expires (epoch seconds) and, when GitHub names
    one, the chat API host of the account (``endpoints.api``; GitHub Enterprise and business
    plans have their own)."""

    token: str
    expires_at: float
    api_base: str | None = None

    def __repr__(self) -> str:
        return f"CopilotToken(expires_at={self.expires_at!r}, api_base={self.api_base!r})"


class CopilotTokenError(Exception):
    """The exchange was refused; ``status`` and ``body`` are GitHub's answer."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"the Copilot token exchange answered HTTP {status}")
        self.status = status
        self.body = body


async def exchange_copilot_token(
    session: aiohttp.ClientSession, github_token: str, api_url: str
) -> CopilotToken:
    """Exchange a GitHub OAuth token for a Copilot token (also what a login calls to check
    the account has Copilot). Raises :class:`CopilotTokenError` when GitHub refuses."""
    headers = {
        **EDITOR_HEADERS,
        "Authorization": f"token {github_token}",
        "Accept": "application/json",
    }
    async with session.get(api_url.rstrip("/") + TOKEN_PATH, headers=headers) as resp:
        body = await resp.read()
        status = resp.status
    if status >= 400:
        raise CopilotTokenError(status, body)
    return parse_token_answer(body)


def parse_token_answer(body: bytes) -> CopilotToken:
    """``{"token", "expires_at", "refresh_in"?, "endpoints": {"api"}}`` → a token."""
    try:
        data: Any = orjson.loads(body)
        token = data["token"]
        expires_at = float(data.get("expires_at") or time.time() + float(data["refresh_in"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UpstreamError(
            ErrorKind.UPSTREAM, "the Copilot token exchange answered without a usable token"
        ) from None
    endpoints = data.get("endpoints")
    api = endpoints.get("api") if isinstance(endpoints, dict) else None
    return CopilotToken(str(token), expires_at, str(api).rstrip("/") if api else None)


Exchange = Callable[[str], Awaitable[CopilotToken]]


@dataclass(slots=True)
class _Entry:
    owner: str  # a digest of the GitHub token the Copilot token was exchanged for
    token: CopilotToken


class CopilotTokens:
    """Copilot tokens per connection, in memory, exchanged again ``lead_seconds`` before they
    expire; concurrent callers for one connection share one exchange."""

    def __init__(self, lead_seconds: float = 120.0, clock: Callable[[], float] = time.time):
        self.lead_seconds = lead_seconds
        self._clock = clock
        self._tokens: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[CopilotToken]] = {}

    async def get(
        self, connection_id: str, github_token: str, exchange: Exchange, *, force: bool = False
    ) -> CopilotToken:
        """A Copilot token for the connection that is not about to expire. ``force`` drops the
        cached one first (the chat API refused it)."""
        owner = hashlib.sha256(github_token.encode()).hexdigest()
        entry = self._tokens.get(connection_id)
        if force and entry is not None and entry.owner == owner:
            del self._tokens[connection_id]
            entry = None
        if (
            entry is not None
            and entry.owner == owner
            and entry.token.expires_at - self._clock() > self.lead_seconds
        ):
            return entry.token
        task = self._inflight.get(connection_id)
        if task is None:
            task = asyncio.ensure_future(
                self._exchange(connection_id, owner, github_token, exchange)
            )
            # Retrieved here: a failed exchange whose callers all left is not an error.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._inflight[connection_id] = task
        return await asyncio.shield(task)

    async def _exchange(
        self, connection_id: str, owner: str, github_token: str, exchange: Exchange
    ) -> CopilotToken:
        try:
            token = await exchange(github_token)
            self._tokens[connection_id] = _Entry(owner, token)
            return token
        finally:
            self._inflight.pop(connection_id, None)

    def forget(self, connection_id: str) -> None:
        """Drop the connection's cached token."""
        self._tokens.pop(connection_id, None)
