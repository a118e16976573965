"""OmniRoute provider plugin for GitHub Copilot subscriptions (``gh/``).

The stored credential is the GitHub OAuth token a device-code login gives (oauth.md §4). Copilot's
chat API (OpenAI Chat Completions at ``https://api.githubcopilot.com``) takes another, short-lived
**Copilot token**, exchanged for the GitHub token and kept per connection in memory
(:mod:`omniroute_copilot.tokens`); this plugin's middleware puts it on each attempt, with the
editor headers Copilot requires and ``X-Initiator`` (the client's, forwarded through
``forwarded_headers``; ``user`` when it sent none).

Every URL and the client id are read from the environment when the plugin registers:
``OMNIROUTE_COPILOT_CLIENT_ID``, ``OMNIROUTE_COPILOT_DEVICE_URL``, ``OMNIROUTE_COPILOT_TOKEN_URL``
(the GitHub login endpoints), ``OMNIROUTE_COPILOT_API_URL`` (GitHub's API, where Copilot tokens
come from) and ``OMNIROUTE_COPILOT_BASE_URL`` (the chat API; when set it wins over the host a
Copilot token names).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from omniroute import (
    Attempt,
    AuthFlow,
    CheckResult,
    Connection,
    Endpoint,
    Middleware,
    ModelInfo,
    Provider,
    UpstreamResponse,
    hookimpl,
)
from omniroute.oauth import (
    DeviceCodeFlow,
    InvalidGrant,
    OAuthCredentials,
    OAuthError,
    OAuthProvider,
    QuotaWindow,
)
from omniroute.oauth.quota import epoch_of
from omniroute_copilot.tokens import (
    EDITOR_HEADERS,
    CopilotToken,
    CopilotTokenError,
    CopilotTokens,
    exchange_copilot_token,
)

#: The rest of the middleware chain (``omniroute.Middleware``'s ``call_next``).
CallNext = Callable[[Attempt], Awaitable[UpstreamResponse]]

__all__ = [
    "DEFAULTS",
    "CopilotConfig",
    "CopilotProvider",
    "CopilotToken",
    "CopilotTokens",
    "exchange_copilot_token",
]

#: oauth.md §4 (the Copilot CLI/editor client id is public: it ships inside the extension).
DEFAULTS: Mapping[str, str] = {
    "CLIENT_ID": "Iv1.b507a08c87ecfe98",
    "DEVICE_URL": "https://github.com/login/device/code",
    "TOKEN_URL": "https://github.com/login/oauth/access_token",
    "API_URL": "https://api.github.com",
    "BASE_URL": "https://api.githubcopilot.com",
}
SCOPE = "read:user"
ENV_PREFIX = "OMNIROUTE_COPILOT_"

# Copilot bills a flat subscription (premium requests aside): no list prices are seeded.
MODELS = [
    ModelInfo("gpt-5", "chat", 264_000),
    ModelInfo("gpt-4.1", "chat", 128_000),
    ModelInfo("claude-sonnet-4.5", "chat", 144_000),
    ModelInfo("gemini-2.5-pro", "chat", 128_000),
]

#: Where the middleware finds the GitHub token :meth:`CopilotProvider.authorize` left on the
#: attempt (extras never leave the process).
GITHUB_TOKEN = "copilot.github_token"
#: Models that take ``max_completion_tokens`` and refuse ``max_tokens`` on Copilot.
_COMPLETION_TOKENS_MODELS = ("gpt-5", "o1", "o3", "o4")


@dataclass(frozen=True, slots=True)
class CopilotConfig:
    """The endpoints and client id, from ``OMNIROUTE_COPILOT_*`` or oauth.md's defaults."""

    client_id: str
    device_url: str
    token_url: str
    api_url: str
    base_url: str
    base_url_from_env: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CopilotConfig:
        """Read the ``OMNIROUTE_COPILOT_*`` variables (defaults from oauth.md §4)."""
        values = {k: environ.get(ENV_PREFIX + k) or v for k, v in DEFAULTS.items()}
        return cls(
            client_id=values["CLIENT_ID"],
            device_url=values["DEVICE_URL"],
            token_url=values["TOKEN_URL"],
            api_url=values["API_URL"].rstrip("/"),
            base_url=values["BASE_URL"].rstrip("/"),
            base_url_from_env=bool(environ.get(ENV_PREFIX + "BASE_URL")),
        )


class CopilotProvider(OAuthProvider):
    """GitHub Copilot's chat API with a Copilot token exchanged for the account's GitHub token."""

    #: Whether the user or an agent started the turn: Copilot bills them differently.
    forwarded_headers = ("X-Initiator",)

    def __init__(self, config: CopilotConfig, **kwargs: Any) -> None:
        super().__init__(base_url=config.base_url, **kwargs)
        self.config = config
        self.tokens = CopilotTokens()
        self.exchange_timeout = aiohttp.ClientTimeout(total=30, connect=10)

    # -- addressing -------------------------------------------------------------------------

    def chat_base(self, conn: Connection, token: CopilotToken | None) -> str:
        """The chat API host: the connection's override, the environment's, the one the Copilot
        token names, else ``https://api.githubcopilot.com``."""
        if conn.base_url:
            return conn.base_url.rstrip("/")
        if token is not None and token.api_base and not self.config.base_url_from_env:
            return token.api_base
        return self.base_url

    def headers(self, conn: Connection) -> dict[str, str]:
        """The editor headers; the Copilot token is added per attempt by the middleware."""
        return {**EDITOR_HEADERS, "Content-Type": "application/json"}

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """Leave the GitHub token for the middleware, which exchanges it (the chat API never
        sees it)."""
        attempt.extras[GITHUB_TOKEN] = creds.access_token

    # -- one attempt ------------------------------------------------------------------------

    async def send(self, attempt: Attempt, call_next: CallNext) -> UpstreamResponse:
        """Put a Copilot token on the attempt and send it; when the chat API refuses the token
        (revoked before its time), exchange a new one and send once more."""
        github_token = attempt.extras.pop(GITHUB_TOKEN, None)
        if github_token is None:  # no token keeper ran: the stored credentials as they are
            github_token = OAuthCredentials.from_connection(attempt.connection).access_token
        conn = attempt.connection
        try:
            token = await self.tokens.get(conn.id, github_token, self._exchange)
        except CopilotTokenError as exc:
            return _refused(exc)
        self._prepare(attempt, token)
        resp = await call_next(attempt)
        if resp.status != 401:
            return resp
        resp.close()
        try:
            token = await self.tokens.get(conn.id, github_token, self._exchange, force=True)
        except CopilotTokenError as exc:
            return _refused(exc)
        self._prepare(attempt, token)
        return await call_next(attempt)

    async def _exchange(self, github_token: str) -> CopilotToken:
        # The middleware has no access to the app's client session; an exchange happens about
        # twice an hour per connection, so a short-lived session of its own costs little.
        async with aiohttp.ClientSession(timeout=self.exchange_timeout) as session:
            return await exchange_copilot_token(session, github_token, self.config.api_url)

    def _prepare(self, attempt: Attempt, token: CopilotToken) -> None:
        conn = attempt.connection
        base = self.chat_base(conn, token)
        attempt.url = self.url_at(base, attempt.endpoint)
        headers = attempt.headers
        headers["Authorization"] = f"Bearer {token.token}"
        initiator = next((v for k, v in headers.items() if k.lower() == "x-initiator"), "user")
        for name in [k for k in headers if k.lower() == "x-initiator"]:
            del headers[name]
        headers["X-Initiator"] = initiator
        headers["X-Request-Id"] = attempt.request_id
        headers["Openai-Intent"] = "conversation-panel"
        _completion_tokens(attempt)

    def url_at(self, base: str, endpoint: Endpoint) -> str:
        """The URL of ``endpoint`` under a chat API host (Copilot has no ``/v1``)."""
        return base + {Endpoint.MODELS: "/models"}.get(endpoint, "/chat/completions")

    # -- quota ------------------------------------------------------------------------------

    async def quota(
        self, session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> list[QuotaWindow]:
        """The monthly premium requests window from ``GET {api}/copilot_internal/user`` (read
        with the GitHub token). Raises :class:`UpstreamError` when GitHub refuses."""
        headers = {
            **EDITOR_HEADERS,
            "Authorization": f"token {creds.access_token}",
            "Accept": "application/json",
        }
        url = self.config.api_url + "/copilot_internal/user"
        async with session.get(url, headers=headers) as resp:
            body = await resp.read()
        if resp.status >= 400:
            raise self.classify_error(resp.status, resp.headers, body)
        try:
            return parse_copilot_user(orjson.loads(body))
        except orjson.JSONDecodeError:
            return []

    # -- checking a connection --------------------------------------------------------------

    async def check(self, session: aiohttp.ClientSession, conn: Connection) -> CheckResult:
        """Exchange a Copilot token (proves the account has Copilot) and list the models."""
        started = time.perf_counter()
        github_token = OAuthCredentials.from_connection(conn).access_token
        try:
            token = await exchange_copilot_token(session, github_token, self.config.api_url)
        except CopilotTokenError as exc:
            err = self.classify_error(exc.status, {}, exc.body)
            latency = (time.perf_counter() - started) * 1000
            return CheckResult(False, latency, status=exc.status, error=err.message)
        headers = {
            **self.headers(conn),
            "Authorization": f"Bearer {token.token}",
            "X-Request-Id": "check",
        }
        url = self.url_at(self.chat_base(conn, token), Endpoint.MODELS)
        async with session.get(url, headers=headers) as resp:
            body = await resp.read()
        latency = (time.perf_counter() - started) * 1000
        if resp.status >= 400:
            err = self.classify_error(resp.status, resp.headers, body)
            return CheckResult(False, latency, status=resp.status, error=err.message)
        try:
            ids = [m["id"] for m in orjson.loads(body).get("data", [])]
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            ids = []
        return CheckResult(True, latency, status=resp.status, models=ids)


def parse_copilot_user(body: Any) -> list[QuotaWindow]:
    """The ``premium_interactions`` window of a ``copilot_internal/user`` answer:
    ``quota_snapshots.premium_interactions.percent_remaining`` (used = 100 - remaining),
    resetting at ``quota_reset_date_utc`` or ``quota_reset_date`` (a date: midnight UTC). An
    unlimited plan has no window."""
    if not isinstance(body, Mapping):
        return []
    snapshots = body.get("quota_snapshots")
    premium = snapshots.get("premium_interactions") if isinstance(snapshots, Mapping) else None
    if not isinstance(premium, Mapping) or premium.get("unlimited") is True:
        return []
    remaining = premium.get("percent_remaining")
    if not isinstance(remaining, int | float) or isinstance(remaining, bool):
        return []
    used = min(100.0, max(0.0, 100.0 - float(remaining)))
    resets_at = epoch_of(body.get("quota_reset_date_utc")) or epoch_of(body.get("quota_reset_date"))
    return [QuotaWindow("premium_interactions", used, resets_at)]


def _refused(exc: CopilotTokenError) -> UpstreamResponse:
    """GitHub's refusal as the attempt's answer, so the gateway judges it like any other (a
    401 rests the connection and moves on; the message says to log in again)."""
    status = 401 if exc.status in (401, 404) else exc.status
    message = (
        "GitHub refused the Copilot token exchange: the GitHub token is invalid or the account "
        "has no Copilot subscription; log in again with 'omniroute login gh'"
    )
    body = orjson.dumps({"error": {"message": message, "type": "copilot_token_exchange"}})
    return UpstreamResponse(status, {"Content-Type": "application/json"}, body)


def _completion_tokens(attempt: Attempt) -> None:
    """Copilot's gpt-5 and o-series refuse ``max_tokens``; they take ``max_completion_tokens``."""
    body = attempt.body
    if "max_tokens" in body and attempt.model.startswith(_COMPLETION_TOKENS_MODELS):
        value = body.pop("max_tokens")
        body.setdefault("max_completion_tokens", value)


async def _copilot_middleware(attempt: Attempt, call_next: CallNext) -> UpstreamResponse:
    provider = attempt.provider
    if isinstance(provider, CopilotProvider):
        return await provider.send(attempt, call_next)
    return await call_next(attempt)


# -- the login --------------------------------------------------------------------------------


def build_flow(config: CopilotConfig) -> DeviceCodeFlow:
    """GitHub's device flow (no refresh token: GitHub OAuth app tokens do not expire). After
    the login, and whenever the token keeper would refresh, a Copilot token exchange proves the
    account still has Copilot; the GitHub login name becomes the account id."""

    async def after_token(
        session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> OAuthCredentials:
        await _check_subscription(session, creds, config)
        updated = creds.model_copy(deep=True)
        login = await _github_login(session, creds.access_token, config.api_url)
        updated.account_id = updated.account_id or login
        return updated

    async def after_refresh(
        session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> OAuthCredentials:
        await _check_subscription(session, creds, config)
        return creds

    return DeviceCodeFlow(
        client_id=config.client_id,
        token_url=config.token_url,
        device_url=config.device_url,
        scope=SCOPE,
        after_token=after_token,
        after_refresh=after_refresh,
    )


async def _check_subscription(
    session: aiohttp.ClientSession, creds: OAuthCredentials, config: CopilotConfig
) -> None:
    try:
        await exchange_copilot_token(session, creds.access_token, config.api_url)
    except CopilotTokenError as exc:
        if exc.status in (401, 403, 404):
            raise InvalidGrant(
                "invalid_grant", "GitHub refused the token, or the account has no Copilot"
            ) from None
        raise OAuthError("copilot_token_exchange", str(exc), status=exc.status) from None


async def _github_login(session: aiohttp.ClientSession, token: str, api_url: str) -> str | None:
    """The GitHub user name of the token, or ``None`` when GitHub does not say."""
    headers = {"Authorization": f"token {token}", "Accept": "application/json"}
    async with session.get(api_url + "/user", headers=headers) as resp:
        if resp.status >= 400:
            return None
        data: Any = orjson.loads(await resp.read())
    login = data.get("login") if isinstance(data, dict) else None
    return str(login) if login else None


def build_provider(environ: Mapping[str, str] = os.environ) -> CopilotProvider:
    """The ``gh/`` provider, configured from the environment."""
    return CopilotProvider(
        CopilotConfig.from_env(environ),
        id="copilot",
        name="GitHub Copilot",
        prefix="gh",
        aliases=("github-copilot",),
        models=MODELS,
        format="openai",
        auth_flow="copilot",
        billing="subscription",
        docs_url="https://docs.github.com/en/copilot",
    )


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register ``gh/``."""
    register(build_provider())


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """The ``copilot`` device-code login (``omniroute login gh``)."""
    register(build_flow(CopilotConfig.from_env()).as_auth_flow("copilot", "GitHub Copilot"))


@hookimpl
def register_middlewares(register: Callable[[Middleware], None]) -> None:
    """The Copilot token on ``gh/`` attempts: inside the token keeper's layer (which runs
    :meth:`CopilotProvider.authorize` with fresh credentials), close to the wire."""
    register(Middleware("copilot-token", _copilot_middleware, order=900))
