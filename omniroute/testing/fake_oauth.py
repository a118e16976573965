"""A local aiohttp OAuth 2.0 authorization server for tests of subscription logins.

:class:`FakeOAuthServer` checks what the real authorization servers check and is configured per
provider quirk: the token request's encoding (Claude's JSON, the form of Codex, Google, Qwen and
GitHub, AWS SSO OIDC's camelCase JSON), PKCE (the S256 hash of the verifier must equal the
challenge sent to the authorization endpoint), the client id (and secret when configured),
``redirect_uri`` equality and single-use codes; refresh grants with rotation (a used refresh token
becomes ``invalid_grant``); the device code grant with ``authorization_pending`` until
:meth:`~FakeOAuthServer.approve` and ``slow_down`` when polled too fast; and AWS OIDC client
registration::

    oauth = FakeOAuthServer(client_id="cid", token_format="json", paste_back=True)
    async with oauth.serve() as base:
        url = oauth.authorize_url(base)        # where the flow sends the user
        ...                                    # the flow builds its URL; the "user" opens it:
        code_state = await oauth.approve_authorization(flow_url)   # "code#state" (paste-back)
    assert oauth.token_requests == 1 and oauth.is_valid(access_token)

Nothing here is a mock of our own client code: flows under test talk to it over a real socket.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import orjson
from aiohttp import web

__all__ = [
    "DEVICE_GRANT",
    "FakeOAuthServer",
    "IssuedToken",
    "OAuthPaths",
    "TokenFormat",
    "pkce_challenge",
]

TokenFormat = Literal["json", "form", "aws"]
"""How the token (and device) endpoints want their bodies: ``json`` (Claude), ``form`` (Codex,
Google, Qwen, GitHub, iFlow) or ``aws`` (AWS SSO OIDC: camelCase JSON in and out)."""

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class OAuthPaths:
    """Where each endpoint lives under the server's base URL."""

    authorize: str = "/oauth/authorize"
    token: str = "/oauth/token"
    device: str = "/oauth/device/code"
    register: str = "/client/register"
    revoke: str = "/oauth/revoke"


@dataclass
class IssuedToken:
    """One access token (and the refresh token issued with it) the server handed out."""

    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str | None
    expires_at: float | None
    revoked: bool = False


@dataclass
class _Code:
    client_id: str
    redirect_uri: str | None
    challenge: str | None
    scope: str | None
    state: str | None


@dataclass
class _Device:
    client_id: str
    device_code: str
    user_code: str
    expires_at: float
    challenge: str | None
    scope: str | None
    interval: float
    approved: bool = False
    denied: bool = False
    used: bool = False
    last_poll: float | None = None


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: ``base64url_nopad(sha256(verifier))``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeOAuthServer:
    """An OAuth 2.0 authorization server served by aiohttp, for tests.

    :param client_id: the only client id accepted (AWS: clients registered through
        ``/client/register`` are accepted too).
    :param client_secret: when set, required in the body or as HTTP Basic auth.
    :param token_format: the encoding the token and device endpoints demand (see
        :data:`TokenFormat`); a request in another encoding is a 400 ``invalid_request``.
    :param paste_back: the authorization endpoint shows ``code#state`` on a page instead of
        redirecting to ``redirect_uri`` (Claude's manual flow).
    :param redirect_param: the query parameter carrying the redirect URI (iFlow: ``redirect``).
    :param redirect_uris: the redirect URIs allowed at authorization (``None``: any).
    :param require_pkce: refuse an authorization request without an S256 challenge.
    :param expires_in: lifetime of access tokens in seconds (``None``: no ``expires_in``).
    :param issue_refresh_token: whether token answers carry a refresh token (GitHub: no).
    :param rotate_refresh: a refresh grant issues a new refresh token and invalidates the old
        one; without rotation the answer omits ``refresh_token`` and the old one stays valid.
    :param device_interval: the polling interval the device endpoint announces, in seconds;
        a poll sooner than that after the previous one is answered ``slow_down`` (and the
        interval grows by 5 s, as RFC 8628 says).
    :param device_pkce: the device code request carries a challenge and the poll its verifier
        (Qwen).
    :param pending_status: HTTP status of ``authorization_pending`` / ``slow_down`` (GitHub
        answers them with 200).
    :param token_extra: fields merged into every token answer (Claude's ``account`` and
        ``organization``, Qwen's ``resource_url``, Codex's ``id_token``); may be changed
        between logins to impersonate another account.
    :param clock: the time source, in epoch seconds.
    """

    def __init__(
        self,
        *,
        client_id: str = "test-client-id",
        client_secret: str | None = None,
        token_format: TokenFormat = "form",
        paste_back: bool = False,
        redirect_param: str = "redirect_uri",
        redirect_uris: Sequence[str] | None = None,
        require_pkce: bool = True,
        expires_in: int | None = 3600,
        issue_refresh_token: bool = True,
        rotate_refresh: bool = True,
        device_interval: float = 0,
        device_pkce: bool = False,
        pending_status: int = 400,
        token_extra: Mapping[str, Any] | None = None,
        access_prefix: str = "fake-at-",
        refresh_prefix: str = "fake-rt-",
        paths: OAuthPaths | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_format: TokenFormat = token_format
        self.paste_back = paste_back
        self.redirect_param = redirect_param
        self.redirect_uris = None if redirect_uris is None else tuple(redirect_uris)
        self.require_pkce = require_pkce
        self.expires_in = expires_in
        self.issue_refresh_token = issue_refresh_token
        self.rotate_refresh = rotate_refresh
        self.device_interval = device_interval
        self.device_pkce = device_pkce
        self.pending_status = pending_status
        self.token_extra: dict[str, Any] = dict(token_extra or {})
        self.access_prefix = access_prefix
        self.refresh_prefix = refresh_prefix
        self.paths = paths or OAuthPaths()
        self.clock = clock
        #: Every ``POST`` to the token endpoint, whatever the grant and outcome.
        self.token_requests = 0
        #: Token requests with ``grant_type=refresh_token``.
        self.refresh_requests = 0
        #: Token requests with the device code grant (polls).
        self.device_polls = 0
        #: Requests to the authorization endpoint.
        self.authorize_requests = 0
        #: The parsed bodies of the token requests, in order (for asserting the encoding).
        self.token_bodies: list[dict[str, Any]] = []
        self.tokens: dict[str, IssuedToken] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, IssuedToken] = {}
        self._devices: dict[str, _Device] = {}
        self._clients: dict[str, str] = {}
        self._app: web.Application | None = None

    # -- serving ----------------------------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The aiohttp application (for ``aiohttp_server``); built on first access."""
        if self._app is None:
            self._app = self.make_app()
        return self._app

    def make_app(self) -> web.Application:
        """A fresh application sharing this server's state."""
        app = web.Application()
        app.router.add_get(self.paths.authorize, self._authorize)
        app.router.add_post(self.paths.token, self._token)
        app.router.add_post(self.paths.device, self._device_code)
        app.router.add_post(self.paths.register, self._register)
        app.router.add_post(self.paths.revoke, self._revoke)
        return app

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run on ``host`` (a free port by default) and yield the base URL ``http://host:port``."""
        runner = web.AppRunner(self.make_app(), shutdown_timeout=1)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            yield f"http://{host}:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()

    def authorize_url(self, base: str) -> str:
        """The authorization endpoint under ``base``."""
        return base.rstrip("/") + self.paths.authorize

    def token_url(self, base: str) -> str:
        """The token endpoint under ``base``."""
        return base.rstrip("/") + self.paths.token

    def device_url(self, base: str) -> str:
        """The device authorization endpoint under ``base``."""
        return base.rstrip("/") + self.paths.device

    def register_url(self, base: str) -> str:
        """The (AWS OIDC) client registration endpoint under ``base``."""
        return base.rstrip("/") + self.paths.register

    # -- what tests do as the user or the operator -----------------------------------------

    async def approve_authorization(self, url: str, *, wait: float = 5.0) -> str:
        """Open an authorization URL as the user's browser would and approve it.

        Returns what the user then has: ``code#state`` from the page in paste-back mode, else
        the redirect URL (``redirect_uri?code=...&state=...``), which is not followed. Raises
        ``AssertionError`` with the server's answer when it refused the request.
        """
        client_timeout = aiohttp.ClientTimeout(total=wait)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.get(url, allow_redirects=False) as resp,
        ):
            text = await resp.text()
            if resp.status == 302:
                return resp.headers["Location"]
            if resp.status == 200 and self.paste_back:
                return resp.headers["X-Code-State"]
            raise AssertionError(f"authorization refused ({resp.status}): {text}")

    def approve(self, user_code: str) -> None:
        """The user enters ``user_code`` and approves: the next poll gets tokens."""
        self._device_by_user_code(user_code).approved = True

    def deny(self, user_code: str) -> None:
        """The user refuses: the next poll gets ``access_denied``."""
        self._device_by_user_code(user_code).denied = True

    @property
    def user_codes(self) -> list[str]:
        """The user codes handed out so far, oldest first."""
        return [d.user_code for d in self._devices.values()]

    def revoke(self, token: str) -> None:
        """Revoke a refresh or access token: a refresh grant with it (or a call with it) is
        then refused with ``invalid_grant`` (or judged invalid by :meth:`check_access`)."""
        issued = self._refresh.pop(token, None)
        if issued is not None:
            issued.refresh_token = None
        if token in self.tokens:
            self.tokens[token].revoked = True
        if issued is None and token not in self.tokens:
            raise KeyError(f"token {token[:12]}... was never issued by this server")

    def expire(self, access_token: str | None = None) -> None:
        """Make one access token (or all of them) expired now."""
        targets = [self.tokens[access_token]] if access_token else list(self.tokens.values())
        for issued in targets:
            issued.expires_at = self.clock() - 1

    def check_access(self, access_token: str) -> Literal["ok", "expired", "revoked", "unknown"]:
        """What a resource server would think of ``access_token``."""
        issued = self.tokens.get(access_token)
        if issued is None:
            return "unknown"
        if issued.revoked:
            return "revoked"
        if issued.expires_at is not None and issued.expires_at <= self.clock():
            return "expired"
        return "ok"

    def is_valid(self, access_token: str) -> bool:
        """Whether ``access_token`` was issued here and is neither expired nor revoked."""
        return self.check_access(access_token) == "ok"

    def issue(self, *, client_id: str | None = None, scope: str | None = None) -> IssuedToken:
        """Issue a token pair directly, as if a login had happened (static-token tests)."""
        return self._issue(client_id or self.client_id, scope)

    @property
    def live_refresh_tokens(self) -> list[str]:
        """Refresh tokens that a refresh grant would accept now."""
        return list(self._refresh)

    # -- endpoints --------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        self.authorize_requests += 1
        query = request.query
        try:
            if query.get("client_id") != self.client_id:
                raise _OAuthError("invalid_client", "unknown client_id", 400)
            if query.get("response_type", "code") != "code":
                raise _OAuthError("unsupported_response_type", "response_type must be code")
            redirect_uri = query.get(self.redirect_param)
            if self.redirect_uris is not None and redirect_uri not in self.redirect_uris:
                raise _OAuthError("invalid_request", f"{self.redirect_param} is not registered")
            if not self.paste_back and not redirect_uri:
                raise _OAuthError("invalid_request", f"{self.redirect_param} is required")
            challenge = query.get("code_challenge")
            if challenge is not None and query.get("code_challenge_method") != "S256":
                raise _OAuthError("invalid_request", "code_challenge_method must be S256")
            if challenge is None and self.require_pkce:
                raise _OAuthError("invalid_request", "code_challenge is required")
        except _OAuthError as err:
            return _error(err)
        code = "code-" + secrets.token_urlsafe(24)
        state = query.get("state")
        self._codes[code] = _Code(
            self.client_id, redirect_uri, challenge, query.get("scope"), state
        )
        if self.paste_back:
            shown = f"{code}#{state}" if state is not None else code
            page = f"<html><body><p>Paste this code into the app:</p><code>{shown}</code></body>"
            return web.Response(
                text=page, content_type="text/html", headers={"X-Code-State": shown}
            )
        assert redirect_uri is not None
        params = {"code": code, **({"state": state} if state is not None else {})}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        raise web.HTTPFound(redirect_uri + separator + urlencode(params))

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        try:
            body = await self._read_body(request)
            self.token_bodies.append(body)
            grant = body.get("grant_type")
            if grant == "refresh_token":
                self.refresh_requests += 1
            elif grant == DEVICE_GRANT:
                self.device_polls += 1
            client_id = self._authenticate_client(request, body)
            if grant == "authorization_code":
                issued = self._exchange_code(client_id, body)
            elif grant == "refresh_token":
                issued = self._refresh_grant(client_id, body)
            elif grant == DEVICE_GRANT:
                issued = self._device_grant(client_id, body)
            else:
                raise _OAuthError("unsupported_grant_type", f"grant_type {grant!r} is unsupported")
        except _OAuthError as err:
            return _error(err, camel=self.token_format == "aws")
        rotated = grant != "refresh_token" or self.rotate_refresh
        return self._token_response(issued, include_refresh=rotated)

    async def _device_code(self, request: web.Request) -> web.Response:
        try:
            body = await self._read_body(request)
            client_id = self._authenticate_client(request, body)
            challenge = body.get("code_challenge")
            if self.device_pkce and (not challenge or body.get("code_challenge_method") != "S256"):
                raise _OAuthError("invalid_request", "code_challenge (S256) is required")
        except _OAuthError as err:
            return _error(err, camel=self.token_format == "aws")
        device = _Device(
            client_id=client_id,
            device_code="dc-" + secrets.token_urlsafe(24),
            user_code=f"{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**4):04d}",
            expires_at=self.clock() + 900,
            challenge=challenge,
            scope=body.get("scope"),
            interval=self.device_interval,
        )
        self._devices[device.device_code] = device
        base = f"{request.scheme}://{request.host}/device"
        answer = {
            "device_code": device.device_code,
            "user_code": device.user_code,
            "verification_uri": base,
            "verification_uri_complete": f"{base}?user_code={device.user_code}",
            "expires_in": 900,
            "interval": int(self.device_interval),
        }
        return _json(_camel(answer) if self.token_format == "aws" else answer)

    async def _register(self, request: web.Request) -> web.Response:
        body = await _load_json(request)
        if not isinstance(body, dict) or not body.get("clientName"):
            return _error(_OAuthError("invalid_request", "clientName is required"), camel=True)
        client_id = "aws-client-" + secrets.token_urlsafe(12)
        secret = "aws-secret-" + secrets.token_urlsafe(24)
        self._clients[client_id] = secret
        now = int(self.clock())
        return _json(
            {
                "clientId": client_id,
                "clientSecret": secret,
                "clientIdIssuedAt": now,
                "clientSecretExpiresAt": now + 90 * 86400,
            }
        )

    async def _revoke(self, request: web.Request) -> web.Response:
        body = await self._read_body(request)
        with contextlib.suppress(KeyError):
            self.revoke(str(body.get("token", "")))
        return web.Response(status=200)

    # -- grants -----------------------------------------------------------------------------

    def _exchange_code(self, client_id: str, body: Mapping[str, Any]) -> IssuedToken:
        code = self._codes.pop(str(body.get("code", "")), None)  # single use
        if code is None:
            raise _OAuthError("invalid_grant", "authorization code is invalid or already used")
        if code.client_id != client_id:
            raise _OAuthError("invalid_grant", "authorization code was issued to another client")
        if body.get("redirect_uri") != code.redirect_uri and code.redirect_uri is not None:
            raise _OAuthError("invalid_grant", "redirect_uri does not match the authorization")
        _verify_pkce(code.challenge, body.get("code_verifier"))
        return self._issue(client_id, code.scope)

    def _refresh_grant(self, client_id: str, body: Mapping[str, Any]) -> IssuedToken:
        token = str(body.get("refresh_token", ""))
        previous = self._refresh.get(token)
        if previous is None:
            raise _OAuthError("invalid_grant", "refresh token is invalid, expired or revoked")
        if previous.client_id != client_id:
            raise _OAuthError("invalid_grant", "refresh token was issued to another client")
        if not self.rotate_refresh:
            return self._issue(client_id, previous.scope, refresh_token=token)
        del self._refresh[token]
        return self._issue(client_id, previous.scope)

    def _device_grant(self, client_id: str, body: Mapping[str, Any]) -> IssuedToken:
        device = self._devices.get(str(body.get("device_code", "")))
        if device is None or device.used or device.client_id != client_id:
            raise _OAuthError("invalid_grant", "device code is invalid")
        now = self.clock()
        if device.expires_at <= now:
            raise _OAuthError("expired_token", "the device code has expired")
        if device.denied:
            raise _OAuthError("access_denied", "the user denied the request")
        too_soon = device.last_poll is not None and now - device.last_poll < device.interval
        device.last_poll = now
        if too_soon:
            device.interval += 5
            raise _OAuthError("slow_down", "polling too fast", self.pending_status)
        if not device.approved:
            raise _OAuthError(
                "authorization_pending", "the user has not approved yet", self.pending_status
            )
        if self.device_pkce:
            _verify_pkce(device.challenge, body.get("code_verifier"))
        device.used = True
        return self._issue(client_id, device.scope)

    def _issue(
        self, client_id: str, scope: str | None, *, refresh_token: str | None = None
    ) -> IssuedToken:
        if refresh_token is None and self.issue_refresh_token:
            refresh_token = self.refresh_prefix + secrets.token_urlsafe(32)
        expires_at = None if self.expires_in is None else self.clock() + self.expires_in
        issued = IssuedToken(
            access_token=self.access_prefix + secrets.token_urlsafe(32),
            refresh_token=refresh_token,
            client_id=client_id,
            scope=scope,
            expires_at=expires_at,
        )
        self.tokens[issued.access_token] = issued
        if refresh_token is not None:
            self._refresh[refresh_token] = issued
        return issued

    def _token_response(self, issued: IssuedToken, *, include_refresh: bool) -> web.Response:
        answer: dict[str, Any] = {"access_token": issued.access_token, "token_type": "Bearer"}
        if include_refresh and issued.refresh_token is not None:
            answer["refresh_token"] = issued.refresh_token
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        if issued.scope:
            answer["scope"] = issued.scope
        answer.update(self.token_extra)
        return _json(_camel(answer) if self.token_format == "aws" else answer)

    # -- request parsing and client authentication ------------------------------------------

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        content_type = request.content_type
        if self.token_format == "form":
            if content_type != "application/x-www-form-urlencoded":
                raise _OAuthError("invalid_request", "expected application/x-www-form-urlencoded")
            form = parse_qs((await request.read()).decode(), keep_blank_values=True)
            return {key: values[-1] for key, values in form.items()}
        if content_type != "application/json":
            raise _OAuthError("invalid_request", "expected an application/json body")
        body = await _load_json(request)
        if not isinstance(body, dict):
            raise _OAuthError("invalid_request", "the body must be a JSON object")
        return _snake(body) if self.token_format == "aws" else body

    def _authenticate_client(self, request: web.Request, body: Mapping[str, Any]) -> str:
        client_id = body.get("client_id")
        secret = body.get("client_secret")
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic" and credentials:
            try:
                basic_id, _, basic_secret = base64.b64decode(credentials).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise _OAuthError("invalid_client", "malformed Basic credentials", 401) from None
            client_id, secret = client_id or basic_id, secret or basic_secret
        if client_id in self._clients:
            if secret != self._clients[client_id]:
                raise _OAuthError("invalid_client", "client secret is wrong", 401)
            return str(client_id)
        if client_id != self.client_id:
            raise _OAuthError("invalid_client", "unknown client_id", 401)
        if self.client_secret is not None and secret != self.client_secret:
            raise _OAuthError("invalid_client", "client secret is missing or wrong", 401)
        return client_id

    def _device_by_user_code(self, user_code: str) -> _Device:
        for device in self._devices.values():
            if device.user_code == user_code:
                return device
        raise KeyError(f"no device authorization with user code {user_code!r}")


def _verify_pkce(challenge: str | None, verifier: Any) -> None:
    if challenge is None:
        return
    if not isinstance(verifier, str) or not verifier:
        raise _OAuthError("invalid_grant", "code_verifier is required")
    if not secrets.compare_digest(pkce_challenge(verifier), challenge):
        raise _OAuthError("invalid_grant", "code_verifier does not match the code_challenge")


async def _load_json(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _OAuthError("invalid_request", "the body is not valid JSON") from None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(err: _OAuthError, *, camel: bool = False) -> web.Response:
    key = "errorDescription" if camel else "error_description"
    return _json({"error": err.error, key: err.description}, err.status)


_CAMEL = {
    "access_token": "accessToken",
    "refresh_token": "refreshToken",
    "token_type": "tokenType",
    "expires_in": "expiresIn",
    "device_code": "deviceCode",
    "user_code": "userCode",
    "verification_uri": "verificationUri",
    "verification_uri_complete": "verificationUriComplete",
    "client_id": "clientId",
    "client_secret": "clientSecret",
    "grant_type": "grantType",
    "code_verifier": "codeVerifier",
    "redirect_uri": "redirectUri",
}
_SNAKE = {camel: snake for snake, camel in _CAMEL.items()}


def _camel(body: Mapping[str, Any]) -> dict[str, Any]:
    return {_CAMEL.get(key, key): value for key, value in body.items()}


def _snake(body: Mapping[str, Any]) -> dict[str, Any]:
    return {_SNAKE.get(key, key): value for key, value in body.items()}
