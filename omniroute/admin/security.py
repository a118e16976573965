"""Dashboard login, logout, session status and password change.

A session is a signed cookie carrying the *session generation*: the number of password changes
so far. Changing the password bumps the generation, so every session issued before it stops
working at once — in this process and, within a second, in every other one (the generation is
part of the routing index snapshot). The caller who changed it gets a fresh cookie.

With ``loginRequired`` off (security section), ``/api/*`` needs no session from the clients an
``ipRules.api`` allow list admits or, without one, from this machine only; changing the password
still needs the current one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlite_utils
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from omniroute.admin.config_ops import parse
from omniroute.admin.http import json_body, json_response
from omniroute.admin.sessions import (
    COOKIE,
    PASSWORD_KEY,
    hash_password,
    stored_password_hash,
    verify_password,
)
from omniroute.appkeys import GATEWAY, SESSIONS, SETTINGS, STORE
from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.gateway.ip_rules import IpRules
from omniroute.reload import reload_index
from omniroute.settings_model import SESSION_GENERATION_KEY
from omniroute.store.db import transaction
from omniroute.store.documents import get_document, put_document


def _generation(request: web.Request) -> int:
    return request.config_dict[GATEWAY].index.sections.session_generation


def has_session(request: web.Request) -> bool:
    """Whether the request carries a valid dashboard session."""
    return request.config_dict[SESSIONS].valid(request.cookies.get(COOKIE), _generation(request))


def admitted(request: web.Request) -> bool:
    """Whether a management request may proceed: a valid session, or login switched off for
    this client (see :func:`open_to`)."""
    index = request.config_dict[GATEWAY].index
    if not index.sections.security.login_required and open_to(request, index.ip_rules):
        return True
    return has_session(request)


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cross_site_write(request: web.Request) -> bool:
    """Whether a state-changing request came from a page of another site (CSRF).

    Browsers say where a request comes from in ``Sec-Fetch-Site`` and ``Origin``, which pages
    cannot forge; the session cookie is also ``SameSite=Lax``. Clients that are not browsers
    (curl, scripts) send neither header and are not at risk: they hold no cookie by accident.
    """
    if request.method not in UNSAFE_METHODS:
        return False
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower()


def open_to(request: web.Request, rules: IpRules) -> bool:
    """Whether a client needs no session while login is off: any client an ``ipRules.api``
    allow list admitted (the IP middleware has already refused the others), else only one on
    this machine. A request forwarded by a proxy that is not trusted is not local even from a
    loopback address: a reverse proxy on the same host would otherwise open the API to all."""
    if rules.api.allow:
        return True
    forwarded = request.headers.get("X-Forwarded-For")
    address = rules.client_address(request.remote, forwarded)
    if address is None or not address.is_loopback:
        return False
    peer = rules.client_address(request.remote, None)
    untrusted_proxy = (forwarded or "Forwarded" in request.headers) and not (
        peer is not None and any(peer in network for network in rules.trusted)
    )
    return not untrusted_proxy


def _with_session(request: web.Request, response: web.Response, generation: int) -> web.Response:
    sessions = request.config_dict[SESSIONS]
    response.set_cookie(
        COOKIE,
        sessions.issue(generation),
        max_age=sessions.lifetime,
        httponly=True,
        samesite="Lax",
        secure=request.config_dict[SETTINGS].auth_cookie_secure,
        path="/",
    )
    return response


async def login(request: web.Request) -> web.Response:
    """``POST /api/auth/login {password}``: a session cookie, or 401."""
    data = await json_body(request)
    password = data.get("password") if isinstance(data, dict) else None
    if not isinstance(password, str) or not password:
        raise BadRequest("'password' is required", param="password")
    stored = await request.config_dict[STORE].call(stored_password_hash)
    if stored is None or not verify_password(password, stored):
        raise GatewayError(ErrorKind.AUTH, "wrong password", code="invalid_password")
    response = json_response({"authenticated": True})
    return _with_session(request, response, _generation(request))


async def logout(request: web.Request) -> web.Response:
    """``POST /api/auth/logout``: clears the cookie."""
    response = json_response({"authenticated": False})
    response.del_cookie(COOKIE, path="/")
    return response


async def auth_status(request: web.Request) -> web.Response:
    """``GET /api/auth/status``: whether the caller holds a valid session, whether it may use
    the management API (``admitted``: a session, or login switched off for this client), and
    who it is (one administrator)."""
    session = has_session(request)
    login_required = request.config_dict[GATEWAY].index.sections.security.login_required
    return json_response(
        {
            "authenticated": session,
            "admitted": admitted(request),
            "user": "admin" if session else None,
            "loginRequired": login_required,
        }
    )


class PasswordChange(BaseModel):
    """``current`` must match; ``new`` is 8 to 200 characters."""

    model_config = ConfigDict(extra="forbid")

    current: str = Field(min_length=1)
    new: str = Field(min_length=8, max_length=200)


def change_password(db: sqlite_utils.Database, data: object) -> int:
    """Check the current password, store the new one and end every session; returns the new
    session generation."""
    fields = parse(PasswordChange, data)
    with transaction(db):
        stored = stored_password_hash(db)
        if stored is None or not verify_password(fields.current, stored):
            raise GatewayError(
                ErrorKind.AUTH,
                "'current': wrong password",
                status=403,
                param="current",
                code="invalid_password",
            )
        db.table("settings").upsert(
            {"key": PASSWORD_KEY, "value": hash_password(fields.new)}, pk="key"
        )
        generation = int(get_document(db, SESSION_GENERATION_KEY) or 0) + 1
        put_document(db, SESSION_GENERATION_KEY, generation)
    return generation


async def password(request: web.Request) -> web.Response:
    """``POST /api/auth/password {current, new}``: other sessions end; the caller gets a new
    cookie."""
    data = await json_body(request)
    generation = await request.config_dict[STORE].call(change_password, data)
    await reload_index(request.config_dict)
    return _with_session(request, json_response({"changed": True}), generation)


def add_routes(api: web.Application) -> None:
    """Mount the auth routes on the management API."""
    api.router.add_post("/auth/login", login)
    api.router.add_post("/auth/logout", logout)
    api.router.add_get("/auth/status", auth_status)
    api.router.add_post("/auth/password", password)
