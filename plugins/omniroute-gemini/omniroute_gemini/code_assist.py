"""``gc/``: Gemini CLI subscriptions (Google OAuth) through Google's Code Assist API.

Code Assist (``https://cloudcode-pa.googleapis.com/v1internal``, wire-formats.md §4.6) speaks
Gemini's ``generateContent`` inside an envelope: requests go to ``:generateContent`` or
``:streamGenerateContent?alt=sse`` as ``{model, project, user_prompt_id, request: <body>}`` and
answers come back as ``{"response": <body>, "traceId"}`` (each SSE event too). The provider
speaks the ``gemini`` format; :meth:`GeminiCliProvider.authorize` wraps the body with the
account's project (``extra["project"]``, found at login by :func:`discover_project`) and this
module's middleware unwraps the answers, so Gemini clients get plain Gemini bodies and streams.

Endpoints and client credentials are read from the environment when the plugin registers:
``OMNIROUTE_GEMINI_CLI_CLIENT_ID``, ``OMNIROUTE_GEMINI_CLI_CLIENT_SECRET`` (no default: the
installed-app secret embedded in gemini-cli is not copied here),
``OMNIROUTE_GEMINI_CLI_AUTHORIZE_URL``, ``OMNIROUTE_GEMINI_CLI_TOKEN_URL``,
``OMNIROUTE_GEMINI_CLI_USERINFO_URL``, ``OMNIROUTE_GEMINI_CLI_REDIRECT_URI`` and
``OMNIROUTE_GEMINI_CLI_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from omniroute import (
    Attempt,
    Connection,
    Endpoint,
    ErrorKind,
    ModelInfo,
    UpstreamError,
    UpstreamResponse,
)
from omniroute.oauth import (
    AuthorizationCodeFlow,
    ImportFlow,
    OAuthCredentials,
    OAuthError,
    OAuthProvider,
)

#: The rest of the middleware chain (``omniroute.Middleware``'s ``call_next``).
CallNext = Callable[[Attempt], Awaitable[UpstreamResponse]]

ENV_PREFIX = "OMNIROUTE_GEMINI_CLI_"
#: oauth.md §3. The client secret has no default (read it from the environment).
DEFAULTS: Mapping[str, str] = {
    "CLIENT_ID": "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    "CLIENT_SECRET": "",
    "AUTHORIZE_URL": "https://accounts.google.com/o/oauth2/v2/auth",
    "TOKEN_URL": "https://oauth2.googleapis.com/token",
    "USERINFO_URL": "https://www.googleapis.com/oauth2/v2/userinfo",
    "REDIRECT_URI": "http://localhost:8085/oauth2callback",
    "BASE_URL": "https://cloudcode-pa.googleapis.com/v1internal",
}
SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)

MODELS = [
    ModelInfo("gemini-3-flash-preview", "chat", 1_048_576),
    ModelInfo("gemini-2.5-pro", "chat", 1_048_576),
    ModelInfo("gemini-2.5-flash", "chat", 1_048_576),
]

#: Set on an attempt once :meth:`GeminiCliProvider.authorize` ran (by the token keeper).
AUTHORIZED = "gemini_cli.authorized"
_METADATA = {
    "ideType": "IDE_UNSPECIFIED",
    "platform": "PLATFORM_UNSPECIFIED",
    "pluginType": "GEMINI",
}


@dataclass(frozen=True, slots=True)
class GeminiCliConfig:
    """Endpoints and client credentials, from ``OMNIROUTE_GEMINI_CLI_*`` or oauth.md's defaults."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    userinfo_url: str
    redirect_uri: str
    base_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> GeminiCliConfig:
        """Read the ``OMNIROUTE_GEMINI_CLI_*`` variables."""
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


class GeminiCliProvider(OAuthProvider):
    """Code Assist with a Google OAuth access token and the account's Cloud project."""

    def __init__(self, config: GeminiCliConfig, **kwargs: Any) -> None:
        super().__init__(base_url=config.base_url, **kwargs)
        self.config = config

    def url(
        self,
        conn: Connection,
        endpoint: Endpoint,
        *,
        model: str | None = None,
        stream: bool = False,
    ) -> str:
        """``{base}:generateContent`` or ``{base}:streamGenerateContent?alt=sse``."""
        if endpoint is not Endpoint.CHAT:
            raise UpstreamError(
                ErrorKind.BAD_REQUEST,
                f"Code Assist has no {endpoint.value} endpoint here",
                status=400,
            )
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.base_url_for(conn)}:{method}"

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """The Bearer token, and the body wrapped in the envelope with the account's project."""
        project = creds.extra.get("project")
        if not project:
            raise UpstreamError(
                ErrorKind.AUTH,
                "this Gemini CLI connection has no Cloud project; log in again with "
                "'omniroute login gc'",
                status=401,
            )
        attempt.headers["Authorization"] = f"Bearer {creds.access_token}"
        attempt.body = wrap(attempt.body, attempt.model, str(project))
        attempt.extras[AUTHORIZED] = True

    async def send(self, attempt: Attempt, call_next: CallNext) -> UpstreamResponse:
        """Send the wrapped request (authorized from the stored credentials when no token
        keeper did it) and unwrap the answer."""
        if not attempt.extras.pop(AUTHORIZED, False):
            self.authorize(attempt, OAuthCredentials.from_connection(attempt.connection))
        return Unwrapped(await call_next(attempt))


def wrap(body: dict[str, Any], model: str, project: str) -> dict[str, Any]:
    """A ``generateContent`` body in Code Assist's envelope (an envelope already there only
    gets the project)."""
    if isinstance(body.get("request"), dict) and "contents" not in body:
        return {**body, "project": project}
    inner = {k: v for k, v in body.items() if k != "model"}
    return {
        "model": model,
        "project": project,
        "user_prompt_id": uuid.uuid4().hex,
        "request": inner,
    }


def unwrap_json(body: bytes) -> bytes:
    """The ``response`` of an envelope; anything else (an error) unchanged."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if isinstance(data, dict) and isinstance(data.get("response"), dict) and "error" not in data:
        return orjson.dumps(data["response"])
    return body


_EVENT_END = re.compile(rb"\r?\n\r?\n")


class SSEUnwrapper:
    """Code Assist SSE → Gemini SSE, incrementally: each complete event whose data is an
    envelope is re-emitted as its ``response``; other events pass unchanged."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> bytes:
        """Bytes in, the complete events they finish out (possibly none)."""
        self._buffer += chunk
        out: list[bytes] = []
        while match := _EVENT_END.search(self._buffer):
            event, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            out.append(_unwrap_event(event) + match.group())
        return b"".join(out)

    def close(self) -> bytes:
        """What is left at the end of the stream (an unterminated event), unwrapped if it can be."""
        rest, self._buffer = self._buffer, b""
        return _unwrap_event(rest) if rest.strip() else rest


def _unwrap_event(event: bytes) -> bytes:
    lines = event.splitlines()
    data = [line[5:].lstrip() for line in lines if line.startswith(b"data:")]
    if not data or len(data) != len(lines):
        return event
    unwrapped = unwrap_json(b"\n".join(data))
    return b"data: " + unwrapped


class Unwrapped(UpstreamResponse):
    """An upstream answer with Code Assist's envelopes removed (JSON and SSE)."""

    def __init__(self, inner: UpstreamResponse) -> None:
        super().__init__(inner.status, inner.headers)
        self._inner = inner

    async def read(self) -> bytes:
        """The whole body, unwrapped."""
        return unwrap_json(await self._inner.read())

    async def chunks(self) -> AsyncIterator[bytes]:
        """The stream as it arrives, each event unwrapped."""
        unwrapper = SSEUnwrapper()
        async for chunk in self._inner.chunks():
            out = unwrapper.feed(chunk)
            if out:
                yield out
        tail = unwrapper.close()
        if tail:
            yield tail

    def arrived(self) -> bool:
        """Whether the inner answer is all here."""
        return self._inner.arrived()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the inner answer is closed."""
        self._inner.on_close(callback)

    def close(self) -> None:
        """Close the inner answer."""
        self._inner.close()


# -- project discovery (the login's post-step) -------------------------------------------------


async def discover_project(
    session: aiohttp.ClientSession,
    creds: OAuthCredentials,
    base_url: str,
    *,
    project: str | None = None,
    poll_seconds: float = 5.0,
    max_polls: int = 24,
) -> OAuthCredentials:
    """The account's Code Assist project (gemini-cli's ``setup.ts``), stored in
    ``extra["project"]``: ``loadCodeAssist`` names it for an onboarded account; otherwise
    ``onboardUser`` on the default tier (free tier: Google provisions a project) and its
    operation is polled until done. ``project`` is a project of the user's own (paid and
    Workspace tiers; ``GOOGLE_CLOUD_PROJECT`` in gemini-cli). ``ValueError`` when none is found.
    """
    base_url = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {creds.access_token}", "Content-Type": "application/json"}

    async def call(method: str, body: dict[str, Any]) -> dict[str, Any]:
        async with session.post(
            f"{base_url}:{method}", data=orjson.dumps(body), headers=headers
        ) as resp:
            return _answer(method, resp.status, await resp.read())

    metadata = {**_METADATA, **({"duetProject": project} if project else {})}
    load = await call("loadCodeAssist", {"cloudaicompanionProject": project, "metadata": metadata})
    found = _project_id(load.get("cloudaicompanionProject"))
    if load.get("currentTier") and (found or project):
        return _with_project(creds, found or str(project))
    tiers = load.get("allowedTiers") or []
    tier = next((t for t in tiers if isinstance(t, dict) and t.get("isDefault")), None)
    tier_id = str((tier or {}).get("id") or "free-tier")
    body: dict[str, Any] = {"tierId": tier_id, "metadata": metadata}
    if tier_id != "free-tier":
        body["cloudaicompanionProject"] = project
    operation = await call("onboardUser", body)
    for _ in range(max_polls):
        if operation.get("done"):
            response = operation.get("response") or {}
            found = _project_id(response.get("cloudaicompanionProject")) or project
            if not found:
                break
            return _with_project(creds, found)
        await asyncio.sleep(poll_seconds)
        async with session.get(f"{base_url}/{operation['name']}", headers=headers) as resp:
            operation = _answer("operation", resp.status, await resp.read())
    raise ValueError("Code Assist gave this account no project; set one with the login")


def _answer(method: str, status: int, body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if status >= 400 or not isinstance(data, dict):
        raise ValueError(f"Code Assist's {method} answered HTTP {status}")
    return data


def _project_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def _with_project(creds: OAuthCredentials, project: str) -> OAuthCredentials:
    updated = creds.model_copy(deep=True)
    updated.extra["project"] = project
    return updated


# -- the account's identity (the login's other post-step) -------------------------------------


async def fetch_identity(
    session: aiohttp.ClientSession, creds: OAuthCredentials, userinfo_url: str
) -> OAuthCredentials:
    """The Google account behind the token (gemini-cli's ``oauth2/v2/userinfo``): its ``id``
    becomes ``account_id`` and its ``email`` the ``email``, so a re-login of the same account
    updates its connection instead of adding another. ``ValueError`` when Google names none."""
    headers = {"Authorization": f"Bearer {creds.access_token}", "Accept": "application/json"}
    async with session.get(userinfo_url, headers=headers) as resp:
        status = resp.status
        body = await resp.read()
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    account_id = data.get("id") if isinstance(data, dict) else None
    if status >= 400 or not account_id:
        raise ValueError(f"Google's userinfo did not name the account (HTTP {status})")
    updated = creds.model_copy(deep=True)
    updated.account_id = str(account_id)
    updated.email = str(data["email"]) if data.get("email") else updated.email
    return updated


# -- the login --------------------------------------------------------------------------------

FLOW_ID = "gemini-cli"
IMPORT_FLOW_ID = "gemini-cli-import"


def build_flows(config: GeminiCliConfig) -> tuple[AuthorizationCodeFlow, ImportFlow]:
    """Google's installed-app login (PKCE, offline access, a local listener on the redirect
    URI's port, the callback URL pasted on a headless server) and the import of gemini-cli's
    ``~/.gemini/oauth_creds.json``; both end with :func:`fetch_identity` (the account's id
    and email) and :func:`discover_project`."""

    async def after_token(
        session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> OAuthCredentials:
        try:
            creds = await fetch_identity(session, creds, config.userinfo_url)
        except ValueError as exc:
            raise OAuthError("no_identity", str(exc)) from None
        try:
            return await discover_project(session, creds, config.base_url)
        except ValueError as exc:
            raise OAuthError("no_project", str(exc)) from None

    redirect = urlsplit(config.redirect_uri)
    local = redirect.hostname in ("localhost", "127.0.0.1")
    login = AuthorizationCodeFlow(
        client_id=config.client_id,
        client_secret=config.client_secret or None,
        token_url=config.token_url,
        authorize_url=config.authorize_url,
        redirect_uri=config.redirect_uri,
        callback_port=redirect.port if local else None,
        callback_path=redirect.path or "/",
        scope=" ".join(SCOPES),
        extra_params={"access_type": "offline", "prompt": "consent"},
        after_token=after_token,
    )
    return login, ImportFlow(source="gemini-cli", after_token=after_token)


def build_provider(environ: Mapping[str, str] = os.environ) -> GeminiCliProvider:
    """The ``gc/`` provider, configured from the environment."""
    return GeminiCliProvider(
        GeminiCliConfig.from_env(environ),
        id="gemini-cli",
        name="Gemini CLI (Code Assist)",
        prefix="gc",
        models=MODELS,
        format="gemini",
        auth_flow=FLOW_ID,
        import_flow=IMPORT_FLOW_ID,
        billing="free",
        docs_url="https://github.com/google-gemini/gemini-cli",
    )


async def code_assist_middleware(attempt: Attempt, call_next: CallNext) -> UpstreamResponse:
    """Envelopes on ``gc/`` attempts; other attempts pass straight through."""
    provider = attempt.provider
    if isinstance(provider, GeminiCliProvider):
        return await provider.send(attempt, call_next)
    return await call_next(attempt)
