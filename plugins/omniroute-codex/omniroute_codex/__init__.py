"""OmniRoute provider for Codex on ChatGPT subscriptions (prefix ``cx``).

A ChatGPT Plus/Pro account logs in with OpenAI's OAuth (authorization code + PKCE, redirect to
a local listener on port 1455, oauth.md §2) and calls the ChatGPT backend's Codex endpoint,
``https://chatgpt.com/backend-api/codex/responses``: the Responses API, answered only as a
stream (the gateway collects it for clients that want one JSON answer), with the account named
by ``Chatgpt-Account-Id``. Requests in any front door's format are translated to Responses.

Environment overrides, read when the plugin registers: ``OMNIROUTE_CODEX_CLIENT_ID``,
``..._AUTHORIZE_URL``, ``..._TOKEN_URL``, ``..._REDIRECT_URI``, ``..._CALLBACK_PORT``,
``..._SCOPE``, ``..._REFRESH_SCOPE``, ``..._BASE_URL`` and ``..._ORIGINATOR`` (defaults in
:class:`~omniroute_codex.codex.CodexSettings`).
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
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
    ErrorKind,
    ModelInfo,
    Provider,
    UpstreamError,
    hookimpl,
)
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.oauth.flows import AuthorizationCodeFlow, ImportFlow
from omniroute.oauth.provider import OAuthProvider
from omniroute.oauth.quota import QuotaWindow
from omniroute_codex.codex import (
    ACCOUNT_HEADER,
    CodexSettings,
    chatgpt_account,
    codex_body,
    detail_message,
    is_model_at_capacity,
    parse_wham_usage,
    usage_limit_retry_after,
    usage_url,
)

__all__ = [
    "MODELS",
    "CodexLogin",
    "CodexProvider",
    "CodexSettings",
    "login_flow",
    "register_auth_flows",
    "register_providers",
]

FLOW_ID = "codex"
IMPORT_FLOW_ID = "codex-import"

#: The catalogue of the product's user guide. Which ids a given plan may use changes often
#: (the backend answers 400 "not supported when using Codex with a ChatGPT account" for
#: others); any ``cx/<id>`` is still forwarded.
MODELS = [
    ModelInfo("gpt-5.2-codex", "chat"),
    ModelInfo("gpt-5.2", "chat"),
    ModelInfo("gpt-5.1-codex-max", "chat"),
    ModelInfo("gpt-5.1-codex-mini", "chat"),
]


class CodexProvider(OAuthProvider):
    """The ChatGPT backend's Codex Responses endpoint with a ChatGPT subscription's token."""

    upstream_streams = True

    def __init__(self, settings: CodexSettings | None = None) -> None:
        self.settings = settings or CodexSettings.from_env()
        super().__init__(
            id="codex",
            name="Codex (ChatGPT subscription)",
            prefix="cx",
            base_url=self.settings.base_url,
            format="responses",
            auth_flow=FLOW_ID,
            import_flow=IMPORT_FLOW_ID,
            models=MODELS,
            billing="subscription",
            docs_url="https://developers.openai.com/codex",
        )

    #: Only chat, at ``/responses``.
    paths = {Endpoint.CHAT: "/responses"}

    def headers(self, conn: Connection) -> dict[str, str]:
        """Everything but the credential (added by :meth:`authorize`)."""
        return {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Originator": self.settings.originator,
        }

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """Bearer token, the account header, a session id, and the body the backend accepts
        (see :func:`~omniroute_codex.codex.codex_body`)."""
        attempt.headers["Authorization"] = f"Bearer {creds.access_token}"
        account = creds.extra.get("chatgpt_account_id") or creds.account_id
        if account:
            attempt.headers[ACCOUNT_HEADER] = str(account)
        if attempt.endpoint is Endpoint.CHAT:
            attempt.body = codex_body(attempt.body)
            # The backend keys its prompt cache by session; a client's cache key is its session.
            session = attempt.body.get("prompt_cache_key")
            attempt.headers["session_id"] = str(session or uuid.uuid4())

    async def check(self, session: aiohttp.ClientSession, conn: Connection) -> CheckResult:
        """One small call with the stored token (the backend lists no models): the answer's
        status, without reading the stream."""
        started = time.perf_counter()
        attempt = Attempt(
            provider=self,
            connection=conn,
            endpoint=Endpoint.CHAT,
            url=self.url(conn, Endpoint.CHAT),
            headers=self.headers(conn),
            body={"model": self.default_model(conn), "input": "ping"},
            stream=True,
            request_id="check",
        )
        self.authorize(attempt, OAuthCredentials.from_connection(conn))
        async with session.post(
            attempt.url, data=orjson.dumps(attempt.body), headers=attempt.headers
        ) as resp:
            body = await resp.read() if resp.status >= 400 else b""
        latency = (time.perf_counter() - started) * 1000
        if resp.status >= 400:
            error = self.classify_error(resp.status, resp.headers, body).message
            return CheckResult(False, latency, status=resp.status, error=error)
        return CheckResult(True, latency, status=resp.status)

    async def quota(
        self, session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> list[QuotaWindow]:
        """The account's ``primary`` (5-hour) and ``secondary`` (weekly) usage windows from
        ``GET /backend-api/wham/usage``. Raises :class:`UpstreamError` when the backend
        refuses."""
        headers = {"Authorization": f"Bearer {creds.access_token}", "Accept": "application/json"}
        account = creds.extra.get("chatgpt_account_id") or creds.account_id
        if account:
            headers[ACCOUNT_HEADER] = str(account)
        async with session.get(usage_url(self.settings.base_url), headers=headers) as resp:
            body = await resp.read()
        if resp.status >= 400:
            raise self.classify_error(resp.status, resp.headers, body)
        try:
            return parse_wham_usage(orjson.loads(body))
        except orjson.JSONDecodeError:
            return []

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """A spent usage window (429 ``usage_limit_reached``) is an exhausted quota until its
        reset; a model "at capacity" is a short-term limit whatever its status; the backend's
        ``{"detail": ...}`` bodies give their message."""
        err = super().classify_error(status, headers, body)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        detail = detail_message(data)
        if detail is not None:
            err.message = detail
        reset = usage_limit_retry_after(data)
        if reset is not None:
            err.kind, err.retry_after = ErrorKind.QUOTA_EXHAUSTED, reset
        elif is_model_at_capacity(err.message):
            # The model is full for everyone: this account's other models still work.
            err.kind, err.status = ErrorKind.RATE_LIMITED, 429
            err.model_scoped = True
        return err


# -- login ----------------------------------------------------------------------------------------


def with_account(creds: OAuthCredentials, id_token: str) -> OAuthCredentials:
    """``creds`` naming the ChatGPT account of ``id_token`` (account id, email, plan).

    The account id is what ``Chatgpt-Account-Id`` carries and what tells two logins of the
    same account apart; the id_token itself is not kept.
    """
    account = chatgpt_account(id_token)
    creds.account_id = account.chatgpt_account_id
    creds.email = account.email or creds.email
    creds.extra["chatgpt_account_id"] = account.chatgpt_account_id
    if account.plan_type:
        creds.extra["plan_type"] = account.plan_type
    return creds


@dataclass(kw_only=True)
class CodexLogin(AuthorizationCodeFlow):
    """OpenAI's authorization code + PKCE login, whose token answers (login and refresh alike)
    carry an ``id_token`` naming the ChatGPT account."""

    def credentials_from(
        self, data: Mapping[str, Any], previous: OAuthCredentials | None = None
    ) -> OAuthCredentials:
        """The kernel's credentials plus the account read from the answer's ``id_token``."""
        creds = super().credentials_from(data, previous)
        id_token = data.get("id_token")
        if isinstance(id_token, str) and id_token:
            try:
                creds = with_account(creds, id_token)
            except ValueError:
                if previous is None:  # a login must name its account; a refresh keeps it
                    raise
        return creds


def login_flow(settings: CodexSettings) -> CodexLogin:
    """The login as data for the kernel: a form token request, the local callback on
    ``callback_port`` at the redirect URI's path, and oauth.md §2's extra parameters."""
    path = urllib.parse.urlsplit(settings.redirect_uri).path or "/auth/callback"
    return CodexLogin(
        client_id=settings.client_id,
        token_url=settings.token_url,
        scope=settings.scope,
        refresh_scope=settings.refresh_scope,
        token_format="form",
        authorize_url=settings.authorize_url,
        redirect_uri=settings.redirect_uri,
        callback_port=int(settings.callback_port),
        callback_path=path,
        extra_params=settings.authorize_params(),
    )


async def _account_of_import(
    session: aiohttp.ClientSession, creds: OAuthCredentials
) -> OAuthCredentials:
    """An imported ``~/.codex/auth.json`` names its account; older files only in the id_token."""
    id_token = creds.extra.pop("id_token", None)
    if not creds.extra.get("chatgpt_account_id") and isinstance(id_token, str):
        creds = with_account(creds, id_token)
    return creds


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """Register the Codex login (``codex``) and the import of the Codex CLI's ``auth.json``
    (``codex-import``)."""
    register(login_flow(CodexSettings.from_env()).as_auth_flow(FLOW_ID, "ChatGPT (Codex) login"))
    importer = ImportFlow(source="codex", after_token=_account_of_import)
    register(importer.as_auth_flow(IMPORT_FLOW_ID, "Codex CLI credentials (~/.codex/auth.json)"))


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register the ``codex`` provider (``cx/``)."""
    register(CodexProvider())
