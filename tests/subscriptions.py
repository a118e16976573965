"""The harness of the subscription end-to-end tests: one local fake authorization server and one
fake upstream per provider, both knowing which account each token belongs to.

:class:`AccountsOAuthServer` is :class:`~omniroute.testing.FakeOAuthServer` impersonating several
accounts: :meth:`~AccountsOAuthServer.use` picks the account the next login approves as, a refresh
answers as the account of its refresh token, and :meth:`~AccountsOAuthServer.account_of` names a
token's account. Each :class:`Subscription` then says, for one provider, how to run the fakes
(the ``OMNIROUTE_<PROVIDER>_*`` variables pointing at them), how its login is driven, which
account an upstream request used and how the upstream says the quota is spent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

from omniroute.testing import FakeOpenAIUpstream
from omniroute.testing.fake_anthropic import AnthropicReply
from omniroute.testing.fake_base import FakeUpstream, RecordedRequest
from omniroute.testing.fake_claude_oauth import FakeClaudeOAuthUpstream
from omniroute.testing.fake_code_assist import USERINFO_PATH, FakeCodeAssist
from omniroute.testing.fake_codex import CodexError, FakeCodexUpstream, usage_limit_reached
from omniroute.testing.fake_gemini import GeminiApiError, GeminiReply
from omniroute.testing.fake_kiro import FakeKiroUpstream, KiroReply
from omniroute.testing.fake_oauth import FakeOAuthServer, IssuedToken, OAuthPaths
from omniroute.testing.fake_openai import ApiError, Reply

ACCOUNTS = ("alice", "bob")
#: How far away the reset of a spent quota window is, in the fakes' 429s.
RESET_SECONDS = 3600

Client = Literal["anthropic", "chat", "responses", "genai"]
Login = Literal["paste", "listen", "device"]


class AccountsOAuthServer(FakeOAuthServer):
    """A fake authorization server for several accounts at once.

    ``accounts`` maps each account name to the provider-specific fields of its token answers
    (Claude's ``account``, Codex's ``id_token``, Qwen's ``resource_url``); logins approve as the
    account chosen with :meth:`use`; refreshes answer as the refresh token's own account. With
    ``approve_devices`` the user approves each device code as soon as it is shown (before the
    first poll, so a login does not wait out the polling interval).
    """

    def __init__(
        self,
        accounts: Mapping[str, Mapping[str, Any]],
        *,
        approve_devices: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.accounts: dict[str, dict[str, Any]] = {k: dict(v) for k, v in accounts.items()}
        self.approve_devices = approve_devices
        self.owner: dict[str, str] = {}
        self.use(next(iter(self.accounts)))

    def use(self, account: str) -> None:
        """The next login approves as ``account``."""
        self.login_as = account
        self.token_extra = dict(self.accounts[account])

    def account_of(self, token: str) -> str | None:
        """The account an access (or refresh) token was issued to."""
        return self.owner.get(token)

    def access_tokens(self, account: str) -> list[str]:
        """The access tokens issued to ``account``, oldest first."""
        return [t for t in self.tokens if self.owner.get(t) == account]

    def _owned(self, issued: IssuedToken, account: str | None) -> IssuedToken:
        if account is not None:
            self.owner[issued.access_token] = account
            if issued.refresh_token is not None:
                self.owner[issued.refresh_token] = account
            self.token_extra = dict(self.accounts[account])  # the answer names this account
        return issued

    def _exchange_code(self, client_id: str, body: Mapping[str, Any]) -> IssuedToken:
        return self._owned(super()._exchange_code(client_id, body), self.login_as)

    def _device_grant(self, client_id: str, body: Mapping[str, Any]) -> IssuedToken:
        return self._owned(super()._device_grant(client_id, body), self.login_as)

    def _refresh_grant(self, client_id: str, body: Mapping[str, Any]) -> IssuedToken:
        account = self.owner.get(str(body.get("refresh_token", "")))
        return self._owned(super()._refresh_grant(client_id, body), account)

    async def _device_code(self, request: web.Request) -> web.Response:
        response = await super()._device_code(request)
        if self.approve_devices and response.status == 200 and self.user_codes:
            self.approve(self.user_codes[-1])
        return response


def free_port() -> int:
    """A TCP port nothing listens on now (for a login's local callback listener)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bearer(request: RecordedRequest) -> str:
    """The Bearer token of a recorded request."""
    return str(request.headers.get("Authorization", "")).partition(" ")[2].strip()


# -- the providers' upstreams, account-aware -------------------------------------------------------


class CodexBackend(FakeCodexUpstream):
    """The Codex backend accepting the tokens ``oauth`` issued, each with its account's id."""

    def __init__(self, oauth: AccountsOAuthServer) -> None:
        super().__init__()
        self.oauth = oauth

    def _check_auth(self, request: web.Request) -> None:
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
        verdict = self.oauth.check_access(token)
        if verdict == "expired":
            raise CodexError(401, "Provided authentication token is expired. Please sign in.")
        if verdict != "ok":
            raise CodexError(401, "Could not parse your authentication token. Please sign in.")
        account = self.oauth.account_of(token)
        assert account is not None
        if request.headers.get("Chatgpt-Account-Id") != chatgpt_account(account):
            raise CodexError(403, "The token does not belong to this workspace")


class CodeAssist(FakeCodeAssist):
    """Code Assist for the tokens ``oauth`` issued: each account has its own project (already
    onboarded) and its own Google identity, and an expired token is the real 401."""

    def __init__(self, oauth: AccountsOAuthServer) -> None:
        super().__init__({})
        self.oauth = oauth

    def _check_auth(self, request: web.Request) -> None:
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
        if not self.oauth.is_valid(token):
            raise GeminiApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )

    def _project_of(self, request: web.Request) -> str | None:
        token = request.headers["Authorization"].partition(" ")[2].strip()
        return project_of(self.oauth.account_of(token) or "")

    def identity_of(self, token: str) -> dict[str, Any]:
        account = self.oauth.account_of(token) or ""
        return {"id": f"google-{account}", "email": f"{account}@example.com"}


class CopilotAPI(FakeOpenAIUpstream):
    """GitHub's API (the Copilot token exchange, ``/user``) and Copilot's chat API on one
    server. GitHub tokens are those ``oauth`` issued; Copilot tokens live ``lifetime`` s."""

    auth_prefixes = ("/chat/", "/models")

    def __init__(self, oauth: AccountsOAuthServer, lifetime: float = 1800) -> None:
        super().__init__(api_key=None)
        self.oauth = oauth
        self.lifetime = lifetime
        self.issued: dict[str, tuple[str, float]] = {}  # Copilot token -> (GitHub token, exp)

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_get("/copilot_internal/v2/token", self._token)
        app.router.add_get("/user", self._user)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/models", self._list_models)
        super()._setup_app(app)

    def _github_token(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        ok = scheme.lower() in ("token", "bearer") and self.oauth.is_valid(token)
        return token if ok else None

    async def _token(self, request: web.Request) -> web.Response:
        github = self._github_token(request)
        if github is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        value = f"tid={secrets.token_hex(8)};exp={int(time.time() + self.lifetime)};sku=pro"
        self.issued[value] = (github, time.time() + self.lifetime)
        answer = {
            "token": value,
            "expires_at": int(time.time() + self.lifetime),
            "refresh_in": int(self.lifetime) - 300,
            "endpoints": {"api": str(request.url.origin())},
        }
        return web.json_response(answer)

    async def _user(self, request: web.Request) -> web.Response:
        github = self._github_token(request)
        if github is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({"login": self.oauth.account_of(github), "id": 1})

    def account_of(self, copilot_token: str) -> str | None:
        """The account whose GitHub token a Copilot token was exchanged for."""
        github, _ = self.issued.get(copilot_token, ("", 0.0))
        return self.oauth.account_of(github)

    def expire(self, account: str) -> None:
        """The account's Copilot tokens expire now."""
        for token, (github, _) in list(self.issued.items()):
            if self.oauth.account_of(github) == account:
                self.issued[token] = (github, time.time() - 1)

    def _check_auth(self, request: web.Request) -> None:
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
        _, expires = self.issued.get(token, ("", 0.0))
        if expires < time.time():
            raise ApiError(401, "unauthorized: token expired", code="unauthorized")
        if not request.headers.get("Editor-Version"):
            raise ApiError(400, "bad request: missing Editor-Version header for IDE auth")


class QwenShard(FakeOpenAIUpstream):
    """A Qwen API shard accepting the tokens ``oauth`` issued, with DashScope's OAuth header."""

    def __init__(self, oauth: AccountsOAuthServer) -> None:
        super().__init__(api_key=None)
        self.oauth = oauth

    def _check_auth(self, request: web.Request) -> None:
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
        if not self.oauth.is_valid(token):
            raise ApiError(401, "Invalid access token or token expired", code="invalid_api_key")
        if request.headers.get("X-DashScope-AuthType") != "qwen-oauth":
            raise ApiError(400, "X-DashScope-AuthType header is required for OAuth access")


class IFlowAPI(FakeOpenAIUpstream):
    """iFlow's model API (each account's API key, signed requests) and ``getUserInfo``."""

    def __init__(self, oauth: AccountsOAuthServer) -> None:
        super().__init__(api_key=None)
        self.oauth = oauth
        self.keys = {f"sk-iflow-{name}-{secrets.token_hex(8)}": name for name in oauth.accounts}

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_get("/api/oauth/getUserInfo", self._user_info)
        super()._setup_app(app)

    async def _user_info(self, request: web.Request) -> web.Response:
        token = request.query.get("accessToken", "")
        account = self.oauth.account_of(token) if self.oauth.is_valid(token) else None
        if account is None:
            return web.json_response({"success": False, "message": "invalid token"})
        key = next(k for k, name in self.keys.items() if name == account)
        data = {"apiKey": key, "email": f"{account}@example.com", "phone": "138****0000"}
        return web.json_response({"success": True, "data": data})

    def _check_auth(self, request: web.Request) -> None:
        key = request.headers.get("Authorization", "").partition(" ")[2].strip()
        if key not in self.keys:
            raise ApiError(401, "Invalid API key", code="invalid_api_key")
        session_id = request.headers.get("session-id", "")
        timestamp = request.headers.get("x-iflow-timestamp", "")
        message = f"iFlow-Cli:{session_id}:{timestamp}".encode()
        expected = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
        if not session_id or not hmac.compare_digest(
            request.headers.get("x-iflow-signature", ""), expected
        ):
            raise ApiError(401, "invalid signature")


# -- per-provider facts ----------------------------------------------------------------------------


def chatgpt_account(account: str) -> str:
    return f"acct-{account}"


def project_of(account: str) -> str:
    return f"project-{account}"


def id_token(account: str) -> str:
    """An unsigned JWT as OpenAI's token answers carry it (the account in its claims)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    claims = {
        "email": f"{account}@example.com",
        "https://api.openai.com/auth": {
            "chatgpt_account_id": chatgpt_account(account),
            "chatgpt_plan_type": "plus",
        },
    }
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@dataclass
class Running:
    """A provider's fakes, serving, and the environment that points the product at them."""

    oauth: AccountsOAuthServer
    upstream: FakeUpstream[Any, Any]
    env: dict[str, str]
    spec: Subscription

    def account_of(self, request: RecordedRequest) -> str | None:
        """Which account an upstream request was made with."""
        return self.spec.account_of(self, request)

    def calls(self) -> list[RecordedRequest]:
        """The upstream's generation requests (not discovery, usage or token exchanges)."""
        return [r for r in self.upstream.requests if self.spec.is_call(r.path)]


@dataclass
class Subscription:
    """How one provider is logged into, asked, expired and exhausted in these tests."""

    prefix: str
    provider: str
    model: str
    client: Client
    login: Login
    answer: str
    oauth: Callable[[], AccountsOAuthServer]
    upstream: Callable[[AccountsOAuthServer], FakeUpstream[Any, Any]]
    #: The environment, given the fakes and the authorization server's and upstream's bases.
    env: Callable[[AccountsOAuthServer, str, str], dict[str, str]]
    exhausted: Callable[[], Any]
    call_paths: tuple[str, ...]
    account_of: Callable[[Running, RecordedRequest], str | None] = field(
        default=lambda running, request: running.oauth.account_of(bearer(request))
    )
    #: The upstream never sees the OAuth token (iFlow's API key): only the clock tells it is
    #: expired, so the test also moves the stored expiry into the past.
    expiry_by_clock: bool = False
    #: The token that expires is not the OAuth one but a token exchanged for it (Copilot's).
    expire: Callable[[Running, str], None] | None = None

    def is_call(self, path: str) -> bool:
        return path.endswith(self.call_paths)

    def __str__(self) -> str:
        return self.prefix


@contextlib.asynccontextmanager
async def running(spec: Subscription) -> AsyncIterator[Running]:
    """Serve the provider's authorization server and upstream on free local ports."""
    oauth = spec.oauth()
    upstream = spec.upstream(oauth)
    async with oauth.serve() as oauth_base, upstream.serve() as upstream_url:
        upstream_base = upstream_url.removesuffix(upstream.base_path)
        env = spec.env(oauth, oauth_base, upstream_base)
        yield Running(oauth, upstream, env, spec)


def _claude_env(oauth: AccountsOAuthServer, auth: str, up: str) -> dict[str, str]:
    return {
        "OMNIROUTE_CLAUDE_AUTHORIZE_URL": oauth.authorize_url(auth),
        "OMNIROUTE_CLAUDE_TOKEN_URL": oauth.token_url(auth),
        "OMNIROUTE_CLAUDE_BASE_URL": up,
    }


def _codex_env(oauth: AccountsOAuthServer, auth: str, up: str) -> dict[str, str]:
    port = free_port()
    return {
        "OMNIROUTE_CODEX_AUTHORIZE_URL": oauth.authorize_url(auth),
        "OMNIROUTE_CODEX_TOKEN_URL": oauth.token_url(auth),
        "OMNIROUTE_CODEX_BASE_URL": up + "/backend-api/codex",
        "OMNIROUTE_CODEX_REDIRECT_URI": f"http://localhost:{port}/auth/callback",
        "OMNIROUTE_CODEX_CALLBACK_PORT": str(port),
    }


def _gemini_env(oauth: AccountsOAuthServer, auth: str, up: str) -> dict[str, str]:
    return {
        "OMNIROUTE_GEMINI_CLI_AUTHORIZE_URL": oauth.authorize_url(auth),
        "OMNIROUTE_GEMINI_CLI_TOKEN_URL": oauth.token_url(auth),
        "OMNIROUTE_GEMINI_CLI_USERINFO_URL": up + USERINFO_PATH,
        "OMNIROUTE_GEMINI_CLI_CLIENT_SECRET": "gc-test-secret",
        "OMNIROUTE_GEMINI_CLI_REDIRECT_URI": f"http://localhost:{free_port()}/oauth2callback",
        "OMNIROUTE_GEMINI_CLI_BASE_URL": up + "/v1internal",
    }


def _copilot_env(oauth: AccountsOAuthServer, auth: str, up: str) -> dict[str, str]:
    return {
        "OMNIROUTE_COPILOT_DEVICE_URL": oauth.device_url(auth),
        "OMNIROUTE_COPILOT_TOKEN_URL": oauth.token_url(auth),
        "OMNIROUTE_COPILOT_API_URL": up,
    }


def _qwen_env(oauth: AccountsOAuthServer, auth: str, up: str) -> dict[str, str]:
    for extra in oauth.accounts.values():  # the shard each account's tokens belong to
        extra["resource_url"] = up
    oauth.use(oauth.login_as)
    return {
        "OMNIROUTE_QWEN_DEVICE_URL": oauth.device_url(auth),
        "OMNIROUTE_QWEN_TOKEN_URL": oauth.token_url(auth),
    }


def _iflow_env(oauth: AccountsOAuthServer, auth: str, up: str) -> dict[str, str]:
    return {
        "OMNIROUTE_IFLOW_AUTHORIZE_URL": oauth.authorize_url(auth),
        "OMNIROUTE_IFLOW_TOKEN_URL": oauth.token_url(auth),
        "OMNIROUTE_IFLOW_CLIENT_SECRET": "iflow-test-secret",
        "OMNIROUTE_IFLOW_USERINFO_URL": up + "/api/oauth/getUserInfo",
        "OMNIROUTE_IFLOW_REDIRECT_URI": f"http://localhost:{free_port()}/oauth2callback",
        "OMNIROUTE_IFLOW_BASE_URL": up + "/v1",
    }


def _kiro_env(oauth: AccountsOAuthServer, auth: str, up: str) -> dict[str, str]:
    return {"OMNIROUTE_KIRO_OIDC_URL": auth, "OMNIROUTE_KIRO_BASE_URL": up}


def _copilot_account(running: Running, request: RecordedRequest) -> str | None:
    upstream = running.upstream
    assert isinstance(upstream, CopilotAPI)
    return upstream.account_of(bearer(request))


def _copilot_expire(running: Running, account: str) -> None:
    upstream = running.upstream
    assert isinstance(upstream, CopilotAPI)
    upstream.expire(account)


def _iflow_account(running: Running, request: RecordedRequest) -> str | None:
    upstream = running.upstream
    assert isinstance(upstream, IFlowAPI)
    return upstream.keys.get(bearer(request))


def _gemini_exhausted() -> GeminiReply:
    body = {
        "error": {
            "code": 429,
            "message": "You have exhausted your daily quota on this model.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{RESET_SECONDS}s",
                },
            ],
        }
    }
    return GeminiReply.json(body, 429)


def _claude_exhausted() -> AnthropicReply:
    reset = int(time.time()) + RESET_SECONDS
    return AnthropicReply.error(
        429,
        "This request would exceed your account's rate limit. Please try again later.",
        type="rate_limit_error",
        headers={
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(reset),
            "anthropic-ratelimit-unified-5h-status": "rejected",
            "anthropic-ratelimit-unified-5h-reset": str(reset),
        },
    )


def _openai_exhausted(message: str, code: str) -> Callable[[], Reply]:
    return lambda: Reply.error(429, message, code=code, headers={"retry-after": str(RESET_SECONDS)})


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        prefix="cc",
        provider="claude-code",
        model="cc/claude-opus-4-6",
        client="anthropic",
        login="paste",
        answer="echo: hi",
        oauth=lambda: AccountsOAuthServer(
            {
                name: {"account": {"uuid": f"uuid-{name}", "email_address": f"{name}@example.com"}}
                for name in ACCOUNTS
            },
            client_id="9d1c250a-e61b-44d9-88ed-5944d1962f5e",
            token_format="json",
            paste_back=True,
            access_prefix="sk-ant-oat01-",
            refresh_prefix="sk-ant-ort01-",
        ),
        upstream=FakeClaudeOAuthUpstream,
        env=_claude_env,
        exhausted=_claude_exhausted,
        call_paths=("/v1/messages",),
    ),
    Subscription(
        prefix="cx",
        provider="codex",
        model="cx/gpt-5.2-codex",
        client="responses",
        login="listen",
        answer="echo: hi",
        oauth=lambda: AccountsOAuthServer(
            {name: {"id_token": id_token(name)} for name in ACCOUNTS},
            client_id="app_EMoamEEZ73f0CkXaXp7hrann",
            token_format="form",
        ),
        upstream=CodexBackend,
        env=_codex_env,
        exhausted=lambda: usage_limit_reached(resets_in_seconds=RESET_SECONDS),
        call_paths=("/backend-api/codex/responses",),
    ),
    Subscription(
        prefix="gc",
        provider="gemini-cli",
        model="models/gc/gemini-2.5-flash",
        client="genai",
        login="listen",
        answer="echo: hi",
        oauth=lambda: AccountsOAuthServer(
            {name: {} for name in ACCOUNTS},
            client_id="681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
            client_secret="gc-test-secret",
            access_prefix="ya29.",
            refresh_prefix="1//",
        ),
        upstream=CodeAssist,
        env=_gemini_env,
        exhausted=_gemini_exhausted,
        call_paths=(":generateContent", ":streamGenerateContent"),
    ),
    Subscription(
        prefix="gh",
        provider="copilot",
        model="gh/gpt-4.1",
        client="chat",
        login="device",
        answer="echo: hi",
        oauth=lambda: AccountsOAuthServer(
            {name: {} for name in ACCOUNTS},
            client_id="Iv1.b507a08c87ecfe98",
            require_pkce=False,
            issue_refresh_token=False,
            expires_in=None,
            pending_status=200,
            access_prefix="gho_",
        ),
        upstream=CopilotAPI,
        env=_copilot_env,
        exhausted=_openai_exhausted(
            "You have exceeded your Copilot premium request allowance.", "quota_exceeded"
        ),
        call_paths=("/chat/completions",),
        account_of=_copilot_account,
        expire=_copilot_expire,
    ),
    Subscription(
        prefix="qw",
        provider="qwen",
        model="qw/qwen3-coder-plus",
        client="chat",
        login="device",
        answer="echo: hi",
        oauth=lambda: AccountsOAuthServer(
            {name: {} for name in ACCOUNTS},
            client_id="f0304373b74a44d2b584a3fb70ca9e56",
            device_pkce=True,
        ),
        upstream=QwenShard,
        env=_qwen_env,
        exhausted=_openai_exhausted("Free allocated quota exceeded.", "insufficient_quota"),
        call_paths=("/chat/completions",),
    ),
    Subscription(
        prefix="if",
        provider="iflow",
        model="if/kimi-k2-thinking",
        client="chat",
        login="listen",
        answer="echo: hi",
        oauth=lambda: AccountsOAuthServer(
            {name: {} for name in ACCOUNTS},
            client_id="10009311001",
            client_secret="iflow-test-secret",
            redirect_param="redirect",
            require_pkce=False,
        ),
        upstream=IFlowAPI,
        env=_iflow_env,
        exhausted=_openai_exhausted("You have reached today's request limit.", "rate_limit"),
        call_paths=("/chat/completions",),
        account_of=_iflow_account,
        expiry_by_clock=True,
    ),
    Subscription(
        prefix="kr",
        provider="kiro",
        model="kr/claude-sonnet-4.5",
        client="anthropic",
        login="device",
        answer="Hello from Kiro.",
        oauth=lambda: AccountsOAuthServer(
            {name: {} for name in ACCOUNTS},
            token_format="aws",
            paths=OAuthPaths(
                token="/token", device="/device_authorization", register="/client/register"
            ),
        ),
        upstream=lambda oauth: FakeKiroUpstream(oauth.is_valid),
        env=_kiro_env,
        exhausted=lambda: KiroReply.fail(
            429,
            "ServiceQuotaExceededException",
            "You have reached the limit of requests for this month.",
            headers={"retry-after": str(RESET_SECONDS)},
        ),
        call_paths=("/generateAssistantResponse",),
    ),
]
