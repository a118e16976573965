"""OmniRoute provider plugin for Qwen Code accounts (``qw/``).

A Qwen login is a device-code flow with PKCE (oauth.md §5); its token answer names the
account's API shard in ``resource_url``, and the token is valid only there (other shards answer
401/403). The upstream speaks OpenAI Chat Completions at ``https://<resource_url>/v1`` (scheme
added, ``/v1`` appended when missing; ``https://portal.qwen.ai/v1`` when the login named none),
with DashScope's OAuth headers.

Endpoints and client id are read from the environment when the plugin registers:
``OMNIROUTE_QWEN_CLIENT_ID``, ``OMNIROUTE_QWEN_DEVICE_URL``, ``OMNIROUTE_QWEN_TOKEN_URL`` and
``OMNIROUTE_QWEN_BASE_URL`` (the default API base).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omniroute import (
    Attempt,
    AuthFlow,
    Connection,
    Endpoint,
    ErrorKind,
    ModelInfo,
    Provider,
    UpstreamError,
    hookimpl,
)
from omniroute.oauth import DeviceCodeFlow, OAuthCredentials, OAuthProvider

__all__ = [
    "DEFAULTS",
    "QwenConfig",
    "QwenDeviceFlow",
    "QwenProvider",
    "build_flow",
    "qwen_base_url",
]

ENV_PREFIX = "OMNIROUTE_QWEN_"
#: oauth.md §5 (the Qwen Code client id is public: it ships inside the CLI).
DEFAULTS: Mapping[str, str] = {
    "CLIENT_ID": "f0304373b74a44d2b584a3fb70ca9e56",
    "DEVICE_URL": "https://chat.qwen.ai/api/v1/oauth2/device/code",
    "TOKEN_URL": "https://chat.qwen.ai/api/v1/oauth2/token",
    "BASE_URL": "https://portal.qwen.ai/v1",
}

MODELS = [
    ModelInfo("qwen3-coder-plus", "chat", 1_000_000),
    ModelInfo("qwen3-coder-flash", "chat", 1_000_000),
]

#: DashScope's headers for OAuth (Qwen Code) traffic; the user agent names this gateway.
USER_AGENT = "QwenCode/0.10.0 (OmniRoute)"
DASHSCOPE_HEADERS: Mapping[str, str] = {
    "X-DashScope-AuthType": "qwen-oauth",
    "X-DashScope-CacheControl": "enable",
    "X-DashScope-UserAgent": USER_AGENT,
    "User-Agent": USER_AGENT,
}


@dataclass(frozen=True, slots=True)
class QwenConfig:
    """Endpoints and client id, from ``OMNIROUTE_QWEN_*`` or oauth.md's defaults."""

    client_id: str
    device_url: str
    token_url: str
    base_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> QwenConfig:
        """Read the ``OMNIROUTE_QWEN_*`` variables."""
        values = {k: environ.get(ENV_PREFIX + k) or v for k, v in DEFAULTS.items()}
        return cls(
            client_id=values["CLIENT_ID"],
            device_url=values["DEVICE_URL"],
            token_url=values["TOKEN_URL"],
            base_url=values["BASE_URL"].rstrip("/"),
        )


def qwen_base_url(resource_url: str | None, default: str) -> str:
    """The API base for a login's ``resource_url``: ``https://`` added when it has no scheme,
    ``/v1`` appended when missing; ``default`` when there is none."""
    url = (resource_url or "").strip().rstrip("/")
    if not url:
        return default.rstrip("/")
    if "://" not in url:
        url = "https://" + url
    return url if url.endswith("/v1") else url + "/v1"


class QwenProvider(OAuthProvider):
    """Qwen's OpenAI-compatible API at the account's own shard."""

    def __init__(self, config: QwenConfig, **kwargs: Any) -> None:
        super().__init__(base_url=config.base_url, **kwargs)
        self.config = config

    def base_for(self, conn: Connection, creds: OAuthCredentials | None) -> str:
        """The connection's override, else the shard its login named, else the default."""
        if conn.base_url:
            return conn.base_url.rstrip("/")
        resource = creds.extra.get("resource_url") if creds is not None else None
        return qwen_base_url(str(resource) if resource else None, self.base_url)

    def url(
        self,
        conn: Connection,
        endpoint: Endpoint,
        *,
        model: str | None = None,
        stream: bool = False,
    ) -> str:
        """OpenAI paths under the account's shard."""
        if endpoint not in (Endpoint.CHAT, Endpoint.MODELS):
            raise UpstreamError(
                ErrorKind.BAD_REQUEST, f"Qwen has no {endpoint.value} endpoint here", status=400
            )
        path = "/models" if endpoint is Endpoint.MODELS else "/chat/completions"
        return self.base_for(conn, _stored(conn)) + path

    def headers(self, conn: Connection) -> dict[str, str]:
        """DashScope's headers; the token is added per attempt by :meth:`authorize`."""
        return {**DASHSCOPE_HEADERS, "Content-Type": "application/json"}

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """The fresh access token, and the shard it belongs to (a refresh may move it)."""
        attempt.headers["Authorization"] = f"Bearer {creds.access_token}"
        path = "/models" if attempt.endpoint is Endpoint.MODELS else "/chat/completions"
        attempt.url = self.base_for(attempt.connection, creds) + path


def _stored(conn: Connection) -> OAuthCredentials | None:
    """The connection's stored credentials, or ``None`` when the secret is not a credentials
    document (never an error here: the upstream's 401 says it better)."""
    try:
        return OAuthCredentials.from_connection(conn)
    except ValueError:
        return None


# -- the login --------------------------------------------------------------------------------


class QwenDeviceFlow(DeviceCodeFlow):
    """The kernel's device flow, keeping the ``resource_url`` of each token answer (login and
    refresh) in ``extra``: the shard the token belongs to."""

    def credentials_from(
        self, data: Mapping[str, Any], previous: OAuthCredentials | None = None
    ) -> OAuthCredentials:
        """Credentials with the answer's ``resource_url``."""
        creds = super().credentials_from(data, previous)
        if data.get("resource_url"):
            creds.extra["resource_url"] = str(data["resource_url"])
        return creds


def build_flow(config: QwenConfig) -> QwenDeviceFlow:
    """Qwen's device flow as data: form bodies, PKCE S256 on the device request and polls."""
    return QwenDeviceFlow(
        client_id=config.client_id,
        token_url=config.token_url,
        device_url=config.device_url,
        scope="openid profile email model.completion",
        use_pkce=True,
    )


def build_provider(environ: Mapping[str, str] = os.environ) -> QwenProvider:
    """The ``qw/`` provider, configured from the environment."""
    return QwenProvider(
        QwenConfig.from_env(environ),
        id="qwen",
        name="Qwen Code",
        prefix="qw",
        models=MODELS,
        format="openai",
        auth_flow="qwen",
        billing="free",
        docs_url="https://github.com/QwenLM/qwen-code",
    )


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register ``qw/``."""
    register(build_provider())


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """The ``qwen`` device-code login (``omniroute login qw``)."""
    register(build_flow(QwenConfig.from_env()).as_auth_flow("qwen", "Qwen Code"))
