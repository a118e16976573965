"""OmniRoute provider plugin for Kiro subscription accounts (AWS CodeWhisperer), prefix ``kr``.

Kiro's chat endpoint is CodeWhisperer's ``generateAssistantResponse``: its own request body
(the ``kiro`` wire format, :mod:`omniroute_kiro.codec`) and a binary AWS event-stream answer
(:mod:`omniroute_kiro.eventstream`), always streamed. Accounts log in through AWS SSO OIDC's
device flow (Builder ID): register a public client, start a device authorization, poll the token
endpoint; the JSON bodies are camelCase (:func:`device_flow`, oauth.md §7).

Environment overrides, read when the plugin registers (defaults in brackets):

- ``OMNIROUTE_KIRO_BASE_URL`` [``https://codewhisperer.us-east-1.amazonaws.com``]: the
  upstream; chat is ``{base}/generateAssistantResponse``.
- ``OMNIROUTE_KIRO_OIDC_URL`` [``https://oidc.us-east-1.amazonaws.com``]: AWS SSO OIDC, whose
  ``/client/register``, ``/device_authorization`` and ``/token`` can each be overridden with
  ``OMNIROUTE_KIRO_REGISTER_URL``, ``OMNIROUTE_KIRO_DEVICE_URL``, ``OMNIROUTE_KIRO_TOKEN_URL``.
- ``OMNIROUTE_KIRO_START_URL`` [``https://view.awsapps.com/start``]: the Builder ID start URL
  (an IAM Identity Center organisation uses its own).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from omniroute import (
    Attempt,
    AuthFlow,
    CheckResult,
    Connection,
    Endpoint,
    ErrorKind,
    Format,
    ModelInfo,
    Provider,
    UpstreamError,
    hookimpl,
)
from omniroute.oauth import DeviceCodeFlow, OAuthCredentials, OAuthProvider
from omniroute_kiro.codec import KiroFormat, KiroStreamDecoder, render_body

__all__ = [
    "MODELS",
    "KiroFormat",
    "KiroProvider",
    "KiroStreamDecoder",
    "device_flow",
    "render_body",
]

DEFAULT_BASE_URL = "https://codewhisperer.us-east-1.amazonaws.com"
DEFAULT_OIDC_URL = "https://oidc.us-east-1.amazonaws.com"
DEFAULT_START_URL = "https://view.awsapps.com/start"
CHAT_PATH = "/generateAssistantResponse"
USAGE_PATH = "/getUsageLimits"
OPERATION = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
EVENT_STREAM = "application/vnd.amazon.eventstream"

#: The headers Kiro's IDE sends (9R ``providers.js`` kiro): the SDK identity, not a disguise.
SDK_HEADERS = {
    "Content-Type": "application/json",
    "Accept": EVENT_STREAM,
    "X-Amz-Target": OPERATION,
    "User-Agent": "AWS-SDK-JS/3.0.0 kiro-ide/1.0.0",
    "X-Amz-User-Agent": "aws-sdk-js/3.0.0 kiro-ide/1.0.0",
    "Amz-Sdk-Request": "attempt=1; max=3",
}

#: CodeWhisperer takes these model ids as they are (``modelId``); Kiro bills requests against
#: the account's plan, so there is no per-token price.
MODELS = (
    ModelInfo("claude-sonnet-4.5", "chat", 200_000),
    ModelInfo("claude-haiku-4.5", "chat", 200_000),
    ModelInfo("claude-sonnet-4", "chat", 200_000),
)


# -- the device flow ----------------------------------------------------------------------------

SCOPES = "codewhisperer:completions codewhisperer:analysis codewhisperer:conversations"


def device_flow(env: Mapping[str, str]) -> DeviceCodeFlow:
    """AWS SSO OIDC device authorization for Kiro (Builder ID), ``OMNIROUTE_KIRO_*`` applied.

    The kernel's AWS style: register a public client (``clientName``, ``scopes``,
    ``grantTypes``), start a device authorization with the ``startUrl``, poll the token
    endpoint; all camelCase JSON. The registered client's id and secret stay in the
    credentials' ``extra`` (refreshing needs them), so there is no fixed client id.
    """
    oidc = env.get("OMNIROUTE_KIRO_OIDC_URL", DEFAULT_OIDC_URL).rstrip("/")
    return DeviceCodeFlow(
        style="aws",
        client_id="",
        client_name="kiro-oauth-client",
        scope=SCOPES,
        register_url=env.get("OMNIROUTE_KIRO_REGISTER_URL", f"{oidc}/client/register"),
        device_url=env.get("OMNIROUTE_KIRO_DEVICE_URL", f"{oidc}/device_authorization"),
        token_url=env.get("OMNIROUTE_KIRO_TOKEN_URL", f"{oidc}/token"),
        start_url=env.get("OMNIROUTE_KIRO_START_URL", DEFAULT_START_URL),
    )


# -- credentials --------------------------------------------------------------------------------


def stored_credentials(conn: Connection) -> tuple[str, str | None]:
    """The access token and profile ARN (``extra.profile_arn``) in a connection's secret, an
    :class:`OAuthCredentials` document; a bare token is accepted too (a connection made by
    hand, in static-token mode)."""
    raw = conn.api_key.reveal()
    if not raw.lstrip().startswith("{"):
        return raw.strip(), None
    try:
        creds = OAuthCredentials.from_secret(raw)
    except ValueError:
        raise UpstreamError(
            ErrorKind.AUTH, "the Kiro connection's credentials are not readable", status=401
        ) from None
    arn = creds.extra.get("profile_arn")
    return creds.access_token, arn if isinstance(arn, str) and arn else None


# -- the provider -------------------------------------------------------------------------------


class KiroProvider(OAuthProvider):
    """CodeWhisperer's ``generateAssistantResponse`` with a Kiro account's access token."""

    #: The service answers chat only as an event stream; JSON clients get it collected.
    upstream_streams = True
    #: An expired token is an AccessDeniedException (403), not a 401.
    unauthorized_statuses = (401, 403)

    #: Chat is ``/generateAssistantResponse``; the service has no other endpoint we use.
    paths = {Endpoint.CHAT: CHAT_PATH}

    def headers(self, conn: Connection) -> dict[str, str]:
        """The SDK headers, a fresh invocation id, and the stored access token as Bearer (the
        token keeper's :meth:`authorize` replaces it with a fresh one)."""
        token, _ = stored_credentials(conn)
        return {
            **SDK_HEADERS,
            "Amz-Sdk-Invocation-Id": str(uuid.uuid4()),
            "Authorization": f"Bearer {token}",
        }

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """Bearer access token, and the account's ``profileArn`` in the body when it has one."""
        attempt.headers["Authorization"] = f"Bearer {creds.access_token}"
        arn = creds.extra.get("profile_arn")
        if arn:
            attempt.body["profileArn"] = arn

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """AWS errors name their type in ``__type`` / ``x-amzn-ErrorType``; a spent monthly
        allowance is an exhausted quota, not a short rate limit."""
        err = super().classify_error(status, headers, body)
        kind = str(headers.get("x-amzn-ErrorType") or err.type or "").split(":")[0]
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            kind = kind or str(data.get("__type") or "")
            reason = str(data.get("reason") or "")
            if "QUOTA" in reason.upper() or "MONTHLY" in reason.upper():
                err.kind = ErrorKind.QUOTA_EXHAUSTED
        kind = kind.rsplit("#", 1)[-1]
        if kind == "ServiceQuotaExceededException":
            err.kind = ErrorKind.QUOTA_EXHAUSTED
        err.type = kind or err.type
        return err

    async def check(self, session: Any, conn: Connection) -> CheckResult:
        """Ask the service for the account's usage limits: cheap, and it checks the token."""
        started = time.perf_counter()
        token, arn = stored_credentials(conn)
        params = {"origin": "AI_EDITOR", "resourceType": "AGENTIC_REQUEST"}
        if arn:
            params["profileArn"] = arn
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        url = self.base_url_for(conn) + USAGE_PATH
        async with session.get(url, params=params, headers=headers) as resp:
            body = await resp.read()
        latency = (time.perf_counter() - started) * 1000
        if resp.status >= 400:
            err = self.classify_error(resp.status, resp.headers, body)
            return CheckResult(False, latency, status=resp.status, error=err.message)
        return CheckResult(True, latency, status=resp.status, models=[m.id for m in self.models])


def kiro_provider(env: Mapping[str, str]) -> KiroProvider:
    """``kr/`` with the environment's base URL."""
    return KiroProvider(
        id="kiro",
        name="Kiro (AWS CodeWhisperer)",
        prefix="kr",
        base_url=env.get("OMNIROUTE_KIRO_BASE_URL", DEFAULT_BASE_URL),
        format="kiro",
        auth_flow="kiro",
        models=MODELS,
        docs_url="https://kiro.dev",
        billing="free",
    )


# -- hooks --------------------------------------------------------------------------------------


@hookimpl
def register_formats(register: Callable[[Format], None]) -> None:
    """Register the ``kiro`` wire format (upstream side only)."""
    register(KiroFormat())


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register ``kr/``."""
    register(kiro_provider(os.environ))


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """Register ``kiro``: the AWS Builder ID device login."""
    register(device_flow(os.environ).as_auth_flow("kiro", "AWS Builder ID (device code)"))
