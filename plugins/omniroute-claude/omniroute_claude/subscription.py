"""``cc/``: Claude Pro/Max subscriptions through Claude Code's OAuth login.

The connection's secret is an :class:`~omniroute.oauth.credentials.OAuthCredentials` document;
the OAuth kernel keeps its access token fresh and calls :meth:`ClaudeCodeProvider.authorize` on
every attempt, which turns an ordinary Messages request into what the API accepts from a
subscription token (oauth.md §1): ``Authorization: Bearer``, the OAuth beta, Claude Code's
``User-Agent`` / ``X-App`` and a system prompt starting with the Claude Code line.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from omniroute import (
    Attempt,
    CheckResult,
    Connection,
    Endpoint,
    ErrorKind,
    ModelInfo,
    UpstreamError,
)
from omniroute.oauth import (
    AuthorizationCodeFlow,
    ImportFlow,
    OAuthCredentials,
    OAuthProvider,
    QuotaWindow,
)
from omniroute_claude.claude_code import (
    ANTHROPIC_VERSION,
    BASE_BETAS,
    OAUTH_BETA,
    ClaudeOAuthSettings,
    merge_betas,
    parse_usage,
    pop_header,
    with_claude_code_system,
)

if TYPE_CHECKING:
    import aiohttp

#: Claude Code posts to ``/v1/messages?beta=true``; so do we.
PATHS = {
    Endpoint.CHAT: "/v1/messages?beta=true",
    Endpoint.COUNT_TOKENS: "/v1/messages/count_tokens?beta=true",
    Endpoint.MODELS: "/v1/models",
}

#: What a subscription offers (the product's catalogue; no list price: billing is the plan).
MODELS = [
    ModelInfo("claude-opus-4-6", "chat", 200_000),
    ModelInfo("claude-opus-4-5", "chat", 200_000),
    ModelInfo("claude-sonnet-4-5", "chat", 200_000),
    ModelInfo("claude-haiku-4-5", "chat", 200_000),
    ModelInfo("claude-opus-4-1", "chat", 200_000),
]


#: The names of the auth flows registered for ``cc/``.
LOGIN_FLOW = "claude-code"
IMPORT_FLOW = "claude-code-import"


@dataclass(kw_only=True)
class ClaudeLoginFlow(AuthorizationCodeFlow):
    """Claude's login: PKCE authorization code, ``code#state`` pasted back, JSON token
    requests; the account (``account.uuid``, ``email_address``) comes with the token answer."""

    def credentials_from(
        self, data: Mapping[str, Any], previous: OAuthCredentials | None = None
    ) -> OAuthCredentials:
        """The tokens plus the account and organization the answer names."""
        creds = super().credentials_from(data, previous)
        account = data.get("account")
        if isinstance(account, Mapping):
            creds.account_id = account.get("uuid") or creds.account_id
            creds.email = account.get("email_address") or account.get("email") or creds.email
        organization = data.get("organization")
        if isinstance(organization, Mapping) and organization.get("uuid"):
            creds.extra["organization_uuid"] = organization["uuid"]
        return creds


def login_flow(settings: ClaudeOAuthSettings) -> ClaudeLoginFlow:
    """The login of oauth.md §1 with the configured endpoints and client."""
    return ClaudeLoginFlow(
        client_id=settings.client_id,
        token_url=settings.token_url,
        authorize_url=settings.authorize_url,
        redirect_uri=settings.redirect_uri,
        scope=settings.scope,
        refresh_scope=settings.scope,
        token_format="json",
        extra_params={"code": "true"},
        state_in_token=True,
    )


def import_flow() -> ImportFlow:
    """Import of Claude Code's own ``~/.claude/.credentials.json``."""
    return ImportFlow(source="claude-code")


class ClaudeCodeProvider(OAuthProvider):
    """Anthropic's Messages API with a Claude subscription's OAuth token."""

    def __init__(self, settings: ClaudeOAuthSettings | None = None) -> None:
        self.settings = settings or ClaudeOAuthSettings.from_env()
        super().__init__(
            id="claude-code",
            name="Claude Code (subscription)",
            prefix="cc",
            base_url=self.settings.base_url,
            format="anthropic",
            auth_flow=LOGIN_FLOW,
            import_flow=IMPORT_FLOW,
            models=MODELS,
            billing="subscription",
            docs_url="https://docs.anthropic.com/en/docs/claude-code",
        )

    #: Messages, token counts and models under ``/v1``.
    paths = PATHS

    def headers(self, conn: Connection) -> dict[str, str]:
        """Everything but the credential (added by :meth:`authorize`): the API version, the
        betas a subscription call needs and Claude Code's ``User-Agent`` / ``X-App``."""
        return {
            "anthropic-version": ANTHROPIC_VERSION,
            "anthropic-beta": ",".join(BASE_BETAS),
            "Content-Type": "application/json",
            "User-Agent": f"claude-cli/{self.settings.cli_version} (external, cli)",
            "X-App": "cli",
        }

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """Bearer token, betas merged with the client's own, the Claude Code system line."""
        pop_header(attempt.headers, "x-api-key")
        pop_header(attempt.headers, "Authorization")
        attempt.headers["Authorization"] = f"Bearer {creds.access_token}"
        client_betas = pop_header(attempt.headers, "anthropic-beta")
        attempt.headers["anthropic-beta"] = merge_betas(client_betas, *BASE_BETAS)
        if attempt.endpoint in (Endpoint.CHAT, Endpoint.COUNT_TOKENS):
            with_claude_code_system(attempt.body)

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """A 429 whose unified rate-limit status is ``rejected`` is an exhausted window that
        resets at ``anthropic-ratelimit-unified-reset`` (unix seconds)."""
        err = super().classify_error(status, headers, body)
        if status == 429 and _header(headers, "anthropic-ratelimit-unified-status") == "rejected":
            err.kind = ErrorKind.QUOTA_EXHAUSTED
            reset = _header(headers, "anthropic-ratelimit-unified-reset")
            if reset and reset.replace(".", "", 1).isdigit():
                err.retry_after = max(0.0, float(reset) - time.time())
        return err

    async def quota(
        self, session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> list[QuotaWindow]:
        """The subscription's usage windows (``five_hour``, ``seven_day``, per model) from
        ``GET /api/oauth/usage``. Raises :class:`UpstreamError` when the API refuses."""
        async with session.get(self.settings.usage_url, headers=self._bearer(creds)) as resp:
            body = await resp.read()
        if resp.status >= 400:
            raise self.classify_error(resp.status, resp.headers, body)
        try:
            return parse_usage(orjson.loads(body))
        except orjson.JSONDecodeError:
            return []

    async def check(self, session: aiohttp.ClientSession, conn: Connection) -> CheckResult:
        """One cheap call with the stored token: read the usage windows."""
        started = time.perf_counter()
        try:
            await self.quota(session, OAuthCredentials.from_connection(conn))
        except UpstreamError as err:
            latency = (time.perf_counter() - started) * 1000
            return CheckResult(False, latency, status=err.status, error=err.message)
        latency = (time.perf_counter() - started) * 1000
        return CheckResult(True, latency, status=200)

    def _bearer(self, creds: OAuthCredentials) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {creds.access_token}",
            "anthropic-beta": OAUTH_BETA,
            "anthropic-version": ANTHROPIC_VERSION,
            "User-Agent": f"claude-cli/{self.settings.cli_version} (external, cli)",
        }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
