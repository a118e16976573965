"""``/api/oauth/{provider}/...``: log in subscription accounts from the dashboard.

``authorize`` + ``exchange`` for authorization-code flows (the user pastes ``code#state``),
``device-code`` + ``poll`` for device flows, ``import`` for an existing CLI's credential file.
Each login that completes stores the account: a new connection, or the existing connection of
the same account (re-login). Tokens never appear in answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from omniroute.admin.http import json_body, json_response
from omniroute.appkeys import GATEWAY, HTTP_SESSION, REGISTRY, SECRETS, STORE
from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.oauth.accounts import save_login
from omniroute.oauth.credentials import OAuthCredentials, redact_all
from omniroute.oauth.flows import (
    AuthorizationCodeFlow,
    AuthorizationStart,
    DeviceCodeFlow,
    DeviceStart,
    ImportFlow,
    OAuthError,
)
from omniroute.oauth.middleware import OAuthRuntime
from omniroute.oauth.pending import PendingLogin
from omniroute.oauth.plugin import runtime_of
from omniroute.oauth.provider import OAuthProvider
from omniroute.reload import reload_index


def _runtime(app: Mapping[Any, Any]) -> OAuthRuntime:
    runtime = runtime_of(app[REGISTRY])
    if runtime is None:
        raise GatewayError(
            ErrorKind.UNAVAILABLE,
            "the OAuth plugin (omniroute.oauth.plugin) is disabled",
            code="oauth_disabled",
        )
    runtime.bind(app)
    return runtime


def _provider(app: Mapping[Any, Any], name: str) -> OAuthProvider:
    provider = app[REGISTRY].prefixes.get(name.lower())
    if provider is None:
        raise GatewayError(
            ErrorKind.NOT_FOUND, f"unknown provider '{name}'", code="not_found", param="provider"
        )
    if not isinstance(provider, OAuthProvider):
        raise BadRequest(
            f"provider '{provider.id}' is connected with an API key (POST /api/providers), "
            "not by logging in",
            param="provider",
        )
    return provider


def _driver(app: Mapping[Any, Any], provider: OAuthProvider, flow_id: str | None) -> Any:
    flow = app[REGISTRY].auth_flows.get(flow_id or "")
    return getattr(flow, "driver", None)


def _wrong_flow(provider: OAuthProvider, wanted: str) -> BadRequest:
    return BadRequest(
        f"provider '{provider.id}' logs in through its '{provider.auth_flow}' flow, which is "
        f"not {wanted}",
        param="provider",
    )


def _text_field(data: Any, field: str, *, required: bool = True) -> str | None:
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    value = data.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{field}' must be a non-empty string", param=field)
    return value.strip()


def _oauth_failure(err: OAuthError, param: str | None) -> GatewayError:
    return GatewayError(
        ErrorKind.BAD_REQUEST,
        redact_all(f"the authorization server refused: {err}"),
        code=err.code,
        param=param,
    )


def _unreachable(exc: BaseException) -> GatewayError:
    return GatewayError(
        ErrorKind.UNREACHABLE,
        f"the authorization server is unreachable ({type(exc).__name__})",
        code="oauth_unreachable",
    )


async def _store_login(
    request: web.Request, provider: OAuthProvider, creds: OAuthCredentials, name: str | None
) -> web.Response:
    app = request.config_dict
    view, created = await app[STORE].call(save_login, app[SECRETS].vault, provider.id, creds, name)
    runtime = _runtime(app)
    if runtime.keeper is not None:
        runtime.keeper.forget(view["id"])
    app[GATEWAY].health.unlock(view["id"])
    await reload_index(app)
    return json_response(view, 201 if created else 200)


async def authorize(request: web.Request) -> web.Response:
    """``GET /api/oauth/{provider}/authorize`` → ``{session, url}``."""
    app = request.config_dict
    provider = _provider(app, request.match_info["provider"])
    driver = _driver(app, provider, provider.auth_flow)
    if not isinstance(driver, AuthorizationCodeFlow):
        raise _wrong_flow(provider, "an authorization-code flow")
    start = driver.start()
    session = _runtime(app).pending.add(PendingLogin(provider.id, provider.auth_flow, start))
    return json_response({"session": session, "url": start.url})


async def exchange(request: web.Request) -> web.Response:
    """``POST /api/oauth/{provider}/exchange {session, code, name?}`` → the connection."""
    app = request.config_dict
    provider = _provider(app, request.match_info["provider"])
    data = await json_body(request)
    session_id = _text_field(data, "session")
    code = _text_field(data, "code")
    name = _text_field(data, "name", required=False)
    runtime = _runtime(app)
    pending = runtime.pending.get(session_id or "", provider.id)
    if pending is None or not isinstance(pending.start, AuthorizationStart):
        raise BadRequest("unknown or expired login session; start again", param="session")
    driver = _driver(app, provider, pending.flow)
    if not isinstance(driver, AuthorizationCodeFlow):
        raise _wrong_flow(provider, "an authorization-code flow")
    try:
        creds = await driver.exchange(app[HTTP_SESSION], pending.start, code or "")
    except OAuthError as err:
        raise _oauth_failure(err, "code") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _unreachable(exc) from None
    runtime.pending.pop(session_id or "")
    return await _store_login(request, provider, creds, name)


async def device_code(request: web.Request) -> web.Response:
    """``POST /api/oauth/{provider}/device-code`` → the user code to show and a session."""
    app = request.config_dict
    provider = _provider(app, request.match_info["provider"])
    driver = _driver(app, provider, provider.auth_flow)
    if not isinstance(driver, DeviceCodeFlow):
        raise _wrong_flow(provider, "a device-code flow")
    data = await json_body(request)
    name = _text_field(data, "name", required=False) if data else None
    try:
        start = await driver.start(app[HTTP_SESSION])
    except OAuthError as err:
        raise _oauth_failure(err, None) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _unreachable(exc) from None
    pending = PendingLogin(provider.id, provider.auth_flow, start, name=name)
    pending.expires_at = start.expires_at
    session = _runtime(app).pending.add(pending)
    body: dict[str, Any] = {
        "session": session,
        "userCode": start.user_code,
        "verificationUri": start.verification_uri,
        "interval": start.interval,
        "expiresIn": start.expires_in,
    }
    if start.verification_uri_complete:
        body["verificationUriComplete"] = start.verification_uri_complete
    return json_response(body)


async def poll(request: web.Request) -> web.Response:
    """``POST /api/oauth/{provider}/poll {session}`` → ``{status: "pending"}`` or the connection."""
    app = request.config_dict
    provider = _provider(app, request.match_info["provider"])
    data = await json_body(request)
    session_id = _text_field(data, "session") or ""
    runtime = _runtime(app)
    pending = runtime.pending.get(session_id, provider.id)
    if pending is None or not isinstance(pending.start, DeviceStart):
        raise BadRequest("unknown or expired login session; start again", param="session")
    driver = _driver(app, provider, pending.flow)
    if not isinstance(driver, DeviceCodeFlow):
        raise _wrong_flow(provider, "a device-code flow")
    try:
        creds = await driver.poll(app[HTTP_SESSION], pending.start)
    except OAuthError as err:
        runtime.pending.pop(session_id)
        raise _oauth_failure(err, "session") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _unreachable(exc) from None
    if creds is None:
        return json_response({"status": "pending", "interval": pending.start.interval})
    runtime.pending.pop(session_id)
    return await _store_login(request, provider, creds, pending.name)


async def import_credentials(request: web.Request) -> web.Response:
    """``POST /api/oauth/{provider}/import {content, name?}`` → the connection."""
    app = request.config_dict
    provider = _provider(app, request.match_info["provider"])
    driver = _driver(app, provider, provider.import_flow)
    if not isinstance(driver, ImportFlow):
        raise BadRequest(
            f"provider '{provider.id}' has no credential-file import", param="provider"
        )
    data = await json_body(request)
    content = _text_field(data, "content")
    name = _text_field(data, "name", required=False)
    try:
        creds = driver.read(content or "")
        creds = await driver.finish(app[HTTP_SESSION], creds)
    except ValueError as exc:
        raise BadRequest(f"'content': {exc}", param="content") from None
    except OAuthError as err:
        raise _oauth_failure(err, "content") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _unreachable(exc) from None
    return await _store_login(request, provider, creds, name)


def add_routes(api: web.Application) -> None:
    """Mount the OAuth login routes on the management API."""
    r = api.router
    r.add_get("/oauth/{provider}/authorize", authorize)
    r.add_post("/oauth/{provider}/exchange", exchange)
    r.add_post("/oauth/{provider}/device-code", device_code)
    r.add_post("/oauth/{provider}/poll", poll)
    r.add_post("/oauth/{provider}/import", import_credentials)
