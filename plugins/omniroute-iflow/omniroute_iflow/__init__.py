"""OmniRoute provider plugin for iFlow accounts (``if/``).

An iFlow login is an authorization-code flow (oauth.md §6) whose access token is only good for
fetching the account's **API key** (``getUserInfo``); the key, kept in the credentials'
``extra["api_key"]``, is what the model API (OpenAI Chat Completions at
``https://apis.iflow.cn/v1``) takes. Each request is signed: ``session-id``,
``x-iflow-timestamp`` (epoch milliseconds) and ``x-iflow-signature``, the hex HMAC-SHA256 of
``iFlow-Cli:<session-id>:<timestamp>`` keyed with the API key.

Endpoints and client credentials are read from the environment when the plugin registers:
``OMNIROUTE_IFLOW_CLIENT_ID``, ``OMNIROUTE_IFLOW_CLIENT_SECRET`` (no default: the public value
embedded in the iFlow CLI is not copied here), ``OMNIROUTE_IFLOW_AUTHORIZE_URL``,
``OMNIROUTE_IFLOW_TOKEN_URL``, ``OMNIROUTE_IFLOW_USERINFO_URL`` and ``OMNIROUTE_IFLOW_BASE_URL``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from omniroute import (
    Attempt,
    AuthFlow,
    Connection,
    ErrorKind,
    ModelInfo,
    Provider,
    UpstreamError,
    hookimpl,
)
from omniroute.oauth import AuthorizationCodeFlow, OAuthCredentials, OAuthError, OAuthProvider

__all__ = [
    "DEFAULTS",
    "IFlowConfig",
    "IFlowProvider",
    "fetch_api_key",
    "sign",
    "signed_headers",
]

ENV_PREFIX = "OMNIROUTE_IFLOW_"
#: oauth.md §6. The client secret has no default (read it from the environment).
DEFAULTS: Mapping[str, str] = {
    "CLIENT_ID": "10009311001",
    "CLIENT_SECRET": "",
    "AUTHORIZE_URL": "https://iflow.cn/oauth",
    "TOKEN_URL": "https://iflow.cn/oauth/token",
    "USERINFO_URL": "https://iflow.cn/api/oauth/getUserInfo",
    "REDIRECT_URI": "http://localhost:11451/oauth2callback",
    "BASE_URL": "https://apis.iflow.cn/v1",
}
USER_AGENT = "iFlow-Cli"

MODELS = [
    ModelInfo("kimi-k2-thinking", "chat", 262_144),
    ModelInfo("qwen3-coder-plus", "chat", 1_000_000),
    ModelInfo("deepseek-v3.2", "chat", 128_000),
]


@dataclass(frozen=True, slots=True)
class IFlowConfig:
    """Endpoints and client credentials, from ``OMNIROUTE_IFLOW_*`` or oauth.md's defaults.

    The authorization URL takes ``redirect`` (not ``redirect_uri``) and ``loginMethod=phone``;
    the token request is a form with HTTP Basic client authentication.
    """

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    userinfo_url: str
    redirect_uri: str
    base_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> IFlowConfig:
        """Read the ``OMNIROUTE_IFLOW_*`` variables."""
        values = {k: environ.get(ENV_PREFIX + k) or v for k, v in DEFAULTS.items()}
        return cls(
            client_id=values["CLIENT_ID"],
            client_secret=values["CLIENT_SECRET"],
            authorize_url=values["AUTHORIZE_URL"],
            token_url=values["TOKEN_URL"],
            userinfo_url=values["USERINFO_URL"],
            redirect_uri=values["REDIRECT_URI"],
            base_url=values["BASE_URL"].rstrip("/"),
        )


def sign(api_key: str, session_id: str, timestamp: str) -> str:
    """iFlow's request signature: hex HMAC-SHA256 of ``iFlow-Cli:<session>:<timestamp>``."""
    message = f"{USER_AGENT}:{session_id}:{timestamp}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(api_key: str, *, session_id: str | None = None) -> dict[str, str]:
    """The API key and a fresh signature (a new session id unless one is given)."""
    session_id = session_id or f"session-{uuid.uuid4()}"
    timestamp = str(int(time.time() * 1000))
    return {
        "Authorization": f"Bearer {api_key}",
        "session-id": session_id,
        "x-iflow-timestamp": timestamp,
        "x-iflow-signature": sign(api_key, session_id, timestamp),
    }


async def fetch_api_key(
    session: aiohttp.ClientSession, creds: OAuthCredentials, userinfo_url: str
) -> OAuthCredentials:
    """The login's post-step: ``getUserInfo`` gives the API key the model API takes (kept in
    ``extra["api_key"]``) and the account's email or phone."""
    params = {"accessToken": creds.access_token}
    async with session.get(
        userinfo_url, params=params, headers={"Accept": "application/json"}
    ) as resp:
        body = await resp.read()
        status = resp.status
    try:
        data: Any = orjson.loads(body)
        info = data["data"] if data.get("success") else None
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        info = None
    api_key = info.get("apiKey") if isinstance(info, dict) else None
    if status >= 400 or not isinstance(info, dict) or not api_key:
        raise ValueError(f"iFlow's getUserInfo gave no API key (HTTP {status})")
    updated = creds.model_copy(deep=True)
    updated.extra["api_key"] = str(api_key)
    updated.email = info.get("email") or info.get("phone") or updated.email
    updated.account_id = updated.account_id or updated.email
    return updated


class IFlowProvider(OAuthProvider):
    """iFlow's OpenAI-compatible model API with the account's API key and signed headers."""

    def __init__(self, config: IFlowConfig, **kwargs: Any) -> None:
        super().__init__(base_url=config.base_url, **kwargs)
        self.config = config

    def headers(self, conn: Connection) -> dict[str, str]:
        """iFlow's user agent; the key and signature are added per attempt by
        :meth:`authorize`."""
        return {"User-Agent": USER_AGENT, "Content-Type": "application/json"}

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """Sign the attempt with the account's API key (not the OAuth access token)."""
        api_key = creds.extra.get("api_key")
        if not api_key:
            raise UpstreamError(
                ErrorKind.AUTH,
                "this iFlow connection has no API key; log in again with 'omniroute login if'",
                status=401,
            )
        attempt.headers.update(signed_headers(str(api_key)))


# -- the login --------------------------------------------------------------------------------


def build_flow(config: IFlowConfig) -> AuthorizationCodeFlow:
    """iFlow's authorization code flow (phone login, no PKCE; the redirect travels as
    ``redirect``; HTTP Basic client authentication), then ``getUserInfo`` for the API key. A
    local listener takes the callback on the redirect URI's port; pasting the callback URL
    works on a headless server."""

    async def after_token(
        session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> OAuthCredentials:
        try:
            return await fetch_api_key(session, creds, config.userinfo_url)
        except ValueError as exc:
            raise OAuthError("no_api_key", str(exc)) from None

    redirect = urlsplit(config.redirect_uri)
    local = redirect.hostname in ("localhost", "127.0.0.1")
    return AuthorizationCodeFlow(
        client_id=config.client_id,
        client_secret=config.client_secret or None,
        token_url=config.token_url,
        authorize_url=config.authorize_url,
        redirect_uri=config.redirect_uri,
        callback_port=redirect.port if local else None,
        callback_path=redirect.path or "/",
        extra_params={"loginMethod": "phone", "type": "phone", "redirect": config.redirect_uri},
        use_pkce=False,
        basic_auth=True,
        after_token=after_token,
    )


def build_provider(environ: Mapping[str, str] = os.environ) -> IFlowProvider:
    """The ``if/`` provider, configured from the environment."""
    return IFlowProvider(
        IFlowConfig.from_env(environ),
        id="iflow",
        name="iFlow",
        prefix="if",
        models=MODELS,
        format="openai",
        auth_flow="iflow",
        billing="free",
        docs_url="https://platform.iflow.cn/docs",
    )


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register ``if/``."""
    register(build_provider())


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """The ``iflow`` login (``omniroute login if``)."""
    register(build_flow(IFlowConfig.from_env()).as_auth_flow("iflow", "iFlow"))
