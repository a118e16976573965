"""Ways to log in to a subscription account, reusable by any provider plugin.

Each flow is a driver object holding the provider's endpoints and client id; ``as_auth_flow``
wraps it in an :class:`OAuthFlow` (an :class:`omniroute.AuthFlow`) to hand to
``register_auth_flows``. Every flow can ``refresh`` the credentials it produced. Provider
post-steps (Copilot token exchange, Gemini project discovery, iFlow API key, Codex account id)
are ``after_token(session, creds) -> creds`` callbacks.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson
from aiohttp import web
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request

from omniroute.extensions import AuthFlow
from omniroute.oauth import pkce
from omniroute.oauth.credentials import OAuthCredentials, redact_all

AfterToken = Callable[[aiohttp.ClientSession, OAuthCredentials], Awaitable[OAuthCredentials]]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_SECONDS = 5.0


class OAuthError(Exception):
    """An authorization server refused: ``code`` is the OAuth error code (``access_denied``...)."""

    def __init__(self, code: str, description: str = "", *, status: int | None = None) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.status = status


class InvalidGrant(OAuthError):
    """The refresh token (or code) is no longer valid: the account must log in again."""


def _refuse(_data: Mapping[str, Any]) -> str:
    raise ValueError(
        "this provider's accounts are connected by logging in: use 'omniroute login <provider>' "
        "or the /api/oauth endpoints"
    )


@dataclass(frozen=True, slots=True)
class OAuthFlow(AuthFlow):
    """An :class:`omniroute.AuthFlow` backed by a flow driver (``driver``)."""

    driver: Any = None


# -- the shared token-endpoint client -----------------------------------------------------------


@dataclass(kw_only=True)
class TokenClient:
    """What every flow shares: the client, the token endpoint and the post-steps.

    ``token_format`` is ``form`` (RFC 6749) or ``json`` (Claude); ``style="aws"`` uses AWS SSO
    OIDC's camelCase bodies (Kiro). ``basic_auth`` also sends the client as HTTP Basic (iFlow).
    """

    client_id: str
    token_url: str
    client_secret: str | None = None
    scope: str | None = None
    refresh_scope: str | None = None
    token_format: Literal["form", "json"] = "form"
    style: Literal["oauth", "aws"] = "oauth"
    basic_auth: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    after_token: AfterToken | None = None
    after_refresh: AfterToken | None = None

    def as_auth_flow(self, id: str, title: str) -> OAuthFlow:
        """This flow as a registrable :class:`OAuthFlow` named ``id``."""
        return OAuthFlow(
            id=id, kind=self.kind, title=title, fields=(), credentials=_refuse, driver=self
        )

    @property
    def kind(self) -> Any:
        return "oauth-pkce"

    async def token_request(
        self, session: aiohttp.ClientSession, params: dict[str, Any]
    ) -> dict[str, Any]:
        """POST ``params`` to the token endpoint; the parsed answer, or :class:`OAuthError`."""
        params = {k: v for k, v in params.items() if v is not None}
        headers = {"Accept": "application/json", **self.headers}
        if self.basic_auth and self.client_secret:
            pair = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        if self.token_format == "json" or self.style == "aws":
            headers["Content-Type"] = "application/json"
            data: bytes | str = orjson.dumps(params)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            grant = params.pop("grant_type")
            data = prepare_token_request(grant, **params)
        async with session.post(self.token_url, data=data, headers=headers) as resp:
            return _token_answer(resp.status, await resp.read())

    def credentials_from(
        self, data: Mapping[str, Any], previous: OAuthCredentials | None = None
    ) -> OAuthCredentials:
        """Credentials from a token answer in this flow's style."""
        if self.style == "aws":
            data = {
                "access_token": data.get("accessToken"),
                "refresh_token": data.get("refreshToken"),
                "expires_in": data.get("expiresIn"),
                "token_type": data.get("tokenType"),
            }
        if not data.get("access_token"):
            raise OAuthError("invalid_response", "the token endpoint answered no access token")
        return OAuthCredentials.from_token_response(data, previous=previous)

    async def refresh(
        self, session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> OAuthCredentials:
        """New credentials from the refresh token (the old refresh token is kept when the
        answer omits one). :class:`InvalidGrant` when the server refuses it."""
        if creds.refresh_token:
            if self.style == "aws":
                params: dict[str, Any] = {
                    "clientId": creds.extra.get("client_id", self.client_id),
                    "clientSecret": creds.extra.get("client_secret", self.client_secret),
                    "refreshToken": creds.refresh_token,
                    "grantType": "refresh_token",
                }
            else:
                params = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.refresh_token,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "scope": self.refresh_scope,
                }
            answer = await self.token_request(session, params)
            creds = self.credentials_from(answer, previous=creds)
        elif self.after_refresh is None:
            raise InvalidGrant("invalid_grant", "the account has no refresh token")
        if self.after_refresh is not None:
            creds = await self.after_refresh(session, creds)
        return creds

    async def finish(
        self, session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> OAuthCredentials:
        """Run the provider's post-login step, if any."""
        return await self.after_token(session, creds) if self.after_token else creds


def _token_answer(status: int, body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    if not isinstance(data, dict):
        data = {}
    error = data.get("error")
    if isinstance(error, dict):  # some servers nest it
        error = error.get("code") or error.get("type") or error.get("message")
    if status >= 400 or error:
        code = str(error or f"http_{status}")
        description = str(data.get("error_description") or data.get("message") or "")
        cls = InvalidGrant if code == "invalid_grant" else OAuthError
        raise cls(code, description[:300], status=status)
    return data


# -- authorization code + PKCE ------------------------------------------------------------------


@dataclass(slots=True)
class AuthorizationStart:
    """A started authorization-code login: the URL to open and what the exchange needs."""

    url: str
    state: str
    verifier: str | None
    redirect_uri: str


@dataclass(kw_only=True)
class AuthorizationCodeFlow(TokenClient):
    """Authorization code with PKCE (S256): the user opens ``url``, approves, and either the
    local listener on ``callback_port`` receives the code or the user pastes ``code#state``.

    ``state_in_token`` sends ``state`` with the code exchange (Claude); ``extra_params`` are
    added to the authorization URL (``code=true``, ``prompt=login``...).
    """

    authorize_url: str
    redirect_uri: str
    callback_port: int | None = None
    callback_path: str = "/callback"
    extra_params: Mapping[str, str] = field(default_factory=dict)
    use_pkce: bool = True
    state_in_token: bool = False

    def start(self) -> AuthorizationStart:
        """A new login: fresh state and verifier, and the authorization URL."""
        state = pkce.make_state()
        verifier = pkce.make_verifier() if self.use_pkce else None
        params = dict(self.extra_params)
        if verifier:
            params.update(code_challenge=pkce.challenge(verifier), code_challenge_method="S256")
        url = prepare_grant_uri(
            self.authorize_url,
            self.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=self.scope,
            state=state,
            **params,
        )
        return AuthorizationStart(str(url), state, verifier, self.redirect_uri)

    async def exchange(
        self,
        session: aiohttp.ClientSession,
        start: AuthorizationStart,
        pasted: str,
    ) -> OAuthCredentials:
        """Exchange the pasted ``code#state`` (or the callback URL, or a bare code) for
        credentials. A state that does not match the login's is refused."""
        code, state = parse_pasted(pasted)
        if state is not None and state != start.state:
            raise OAuthError("invalid_state", "the pasted code belongs to another login")
        params = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": start.redirect_uri,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "code_verifier": start.verifier,
            "state": (state or start.state) if self.state_in_token else None,
        }
        creds = self.credentials_from(await self.token_request(session, params))
        return await self.finish(session, creds)

    async def listen(self, start: AuthorizationStart, wait_seconds: float) -> str:
        """Serve ``callback_path`` on ``127.0.0.1:callback_port`` until the browser comes back;
        returns ``code#state``. ``TimeoutError`` after ``wait_seconds``."""
        if self.callback_port is None:
            raise ValueError("this flow has no callback port")
        loop = asyncio.get_running_loop()
        got: asyncio.Future[str] = loop.create_future()

        async def callback(request: web.Request) -> web.Response:
            if "error" in request.query:
                if not got.done():
                    got.set_exception(
                        OAuthError(
                            request.query["error"], request.query.get("error_description", "")
                        )
                    )
                return web.Response(text="Login refused. You can close this tab.")
            if request.query.get("state") != start.state or "code" not in request.query:
                return web.Response(status=400, text="Unknown login: state does not match.")
            if not got.done():
                got.set_result(f"{request.query['code']}#{request.query['state']}")
            return web.Response(text="Logged in to OmniRoute. You can close this tab.")

        app = web.Application()
        app.router.add_get(self.callback_path, callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.callback_port)
        await site.start()
        try:
            return await asyncio.wait_for(got, wait_seconds)
        finally:
            await runner.cleanup()


def parse_pasted(text: str) -> tuple[str, str | None]:
    """``code#state`` (the part after ``#`` overrides state), a callback URL, or a bare code."""
    text = text.strip()
    if not text:
        raise OAuthError("invalid_request", "no code given")
    if text.startswith(("http://", "https://")):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(text).query)
        if "code" not in query:
            raise OAuthError("invalid_request", "the URL has no 'code' parameter")
        return query["code"][0], query.get("state", [None])[0]
    code, sep, state = text.partition("#")
    return code, (state or None) if sep else None


# -- device code --------------------------------------------------------------------------------


@dataclass(slots=True)
class DeviceStart:
    """A started device login: what to show the user and what polling needs."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: float
    expires_at: float
    verifier: str | None = None
    client: dict[str, Any] = field(default_factory=dict)

    @property
    def expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))


@dataclass(kw_only=True)
class DeviceCodeFlow(TokenClient):
    """Device authorization (RFC 8628): show a user code, poll the token endpoint.

    ``use_pkce`` adds a code challenge (Qwen). ``style="aws"`` is AWS SSO OIDC (Kiro): a client
    registration at ``register_url`` first, camelCase bodies, and ``start_url``.
    """

    device_url: str
    use_pkce: bool = False
    register_url: str | None = None
    start_url: str | None = None
    client_name: str = "omniroute"
    default_interval: float = 5.0

    @property
    def kind(self) -> Any:
        return "device-code"

    async def start(self, session: aiohttp.ClientSession) -> DeviceStart:
        """Ask for a device and user code."""
        if self.style == "aws":
            return await self._start_aws(session)
        verifier = pkce.make_verifier() if self.use_pkce else None
        params = {"client_id": self.client_id, "scope": self.scope}
        if verifier:
            params.update(code_challenge=pkce.challenge(verifier), code_challenge_method="S256")
        body = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            **self.headers,
        }
        async with session.post(self.device_url, data=body, headers=headers) as resp:
            data = _token_answer(resp.status, await resp.read())
        return DeviceStart(
            device_code=str(data["device_code"]),
            user_code=str(data["user_code"]),
            verification_uri=str(data.get("verification_uri") or data.get("verification_url")),
            verification_uri_complete=data.get("verification_uri_complete"),
            interval=float(data.get("interval") or self.default_interval),
            expires_at=time.time() + float(data.get("expires_in") or 900),
            verifier=verifier,
        )

    async def _start_aws(self, session: aiohttp.ClientSession) -> DeviceStart:
        if not self.register_url:
            raise ValueError("an AWS device flow needs register_url")
        scopes = self.scope.split() if self.scope else []
        registration = {
            "clientName": self.client_name,
            "clientType": "public",
            "scopes": scopes,
            "grantTypes": [DEVICE_GRANT, "refresh_token"],
        }
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        async with session.post(
            self.register_url, data=orjson.dumps(registration), headers=headers
        ) as resp:
            client = _token_answer(resp.status, await resp.read())
        client_id, secret = str(client["clientId"]), str(client["clientSecret"])
        body = {"clientId": client_id, "clientSecret": secret, "startUrl": self.start_url}
        async with session.post(self.device_url, data=orjson.dumps(body), headers=headers) as resp:
            data = _token_answer(resp.status, await resp.read())
        return DeviceStart(
            device_code=str(data["deviceCode"]),
            user_code=str(data["userCode"]),
            verification_uri=str(data["verificationUri"]),
            verification_uri_complete=data.get("verificationUriComplete"),
            interval=float(data.get("interval") or self.default_interval),
            expires_at=time.time() + float(data.get("expiresIn") or 600),
            client={"client_id": client_id, "client_secret": secret},
        )

    async def poll(
        self, session: aiohttp.ClientSession, start: DeviceStart
    ) -> OAuthCredentials | None:
        """One poll: the credentials once approved, ``None`` while pending (``slow_down`` adds
        5 s to ``start.interval``). :class:`OAuthError` for ``expired_token``,
        ``access_denied`` and anything else the server refuses with."""
        if time.time() >= start.expires_at:
            raise OAuthError("expired_token", "the device code expired; start the login again")
        if self.style == "aws":
            params: dict[str, Any] = {
                "clientId": start.client["client_id"],
                "clientSecret": start.client["client_secret"],
                "deviceCode": start.device_code,
                "grantType": DEVICE_GRANT,
            }
        else:
            params = {
                "grant_type": DEVICE_GRANT,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "device_code": start.device_code,
                "code_verifier": start.verifier,
            }
        try:
            answer = await self.token_request(session, params)
        except OAuthError as err:
            if err.code == "authorization_pending":
                return None
            if err.code == "slow_down":
                start.interval += SLOW_DOWN_SECONDS
                return None
            raise
        creds = self.credentials_from(answer)
        if self.style == "aws":
            creds.extra.update(start.client)
        return await self.finish(session, creds)

    async def wait(
        self,
        session: aiohttp.ClientSession,
        start: DeviceStart,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> OAuthCredentials:
        """Poll at the server's interval until approved, refused or expired."""
        while True:
            creds = await self.poll(session, start)
            if creds is not None:
                return creds
            await sleep(start.interval)


# -- import of an existing CLI's credential file ------------------------------------------------

Importer = Callable[[Mapping[str, Any]], OAuthCredentials]


def _ms_to_seconds(value: Any) -> float | None:
    if isinstance(value, int | float) and value > 0:
        return float(value) / 1000 if value > 1e11 else float(value)
    return None


def import_claude_code(data: Mapping[str, Any]) -> OAuthCredentials:
    """``~/.claude/.credentials.json``: ``claudeAiOauth{accessToken, refreshToken, expiresAt}``."""
    block = data.get("claudeAiOauth")
    if not isinstance(block, Mapping) or not block.get("accessToken"):
        raise ValueError("'claudeAiOauth.accessToken' is missing")
    scopes = block.get("scopes")
    return OAuthCredentials(
        access_token=str(block["accessToken"]),
        refresh_token=block.get("refreshToken"),
        expires_at=_ms_to_seconds(block.get("expiresAt")),
        scope=" ".join(scopes) if isinstance(scopes, list) else None,
    )


def import_codex(data: Mapping[str, Any]) -> OAuthCredentials:
    """``~/.codex/auth.json``: ``tokens{access_token, refresh_token, id_token, account_id}``."""
    tokens = data.get("tokens")
    if not isinstance(tokens, Mapping) or not tokens.get("access_token"):
        raise ValueError("'tokens.access_token' is missing")
    extra: dict[str, Any] = {}
    if tokens.get("id_token"):
        extra["id_token"] = tokens["id_token"]
    if tokens.get("account_id"):
        extra["chatgpt_account_id"] = tokens["account_id"]
    return OAuthCredentials(
        access_token=str(tokens["access_token"]),
        refresh_token=tokens.get("refresh_token"),
        account_id=tokens.get("account_id"),
        extra=extra,
    )


def import_gemini_cli(data: Mapping[str, Any]) -> OAuthCredentials:
    """``~/.gemini/oauth_creds.json``: ``{access_token, refresh_token, expiry_date (ms)}``."""
    if not data.get("access_token"):
        raise ValueError("'access_token' is missing")
    return OAuthCredentials(
        access_token=str(data["access_token"]),
        refresh_token=data.get("refresh_token"),
        expires_at=_ms_to_seconds(data.get("expiry_date")),
        token_type=str(data.get("token_type") or "Bearer"),
        scope=data.get("scope"),
    )


IMPORTERS: dict[str, Importer] = {
    "claude-code": import_claude_code,
    "codex": import_codex,
    "gemini-cli": import_gemini_cli,
}


@dataclass(kw_only=True)
class ImportFlow:
    """Read an existing CLI's credential file (its JSON content). ``source`` is one of
    :data:`IMPORTERS` or ``parse`` is a function of the parsed JSON; ``after_token`` runs
    after the import as after a login (account id, project...)."""

    source: str | None = None
    parse: Importer | None = None
    after_token: AfterToken | None = None

    @property
    def kind(self) -> Any:
        return "import"

    def as_auth_flow(self, id: str, title: str) -> OAuthFlow:
        """This flow as a registrable :class:`OAuthFlow` named ``id``."""
        return OAuthFlow(
            id=id, kind="import", title=title, fields=(), credentials=_refuse, driver=self
        )

    def read(self, content: str) -> OAuthCredentials:
        """Credentials from the file's content; ``ValueError`` naming what is wrong."""
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise ValueError("the file is not JSON") from None
        if not isinstance(data, Mapping):
            raise ValueError("the file is not a JSON object")
        parse = self.parse or IMPORTERS.get(self.source or "")
        if parse is None:
            raise ValueError(f"unknown credential file type {self.source!r}")
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(redact_all(str(exc))) from None

    async def finish(
        self, session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> OAuthCredentials:
        """Run the provider's post-import step, if any."""
        return await self.after_token(session, creds) if self.after_token else creds
