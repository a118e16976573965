"""A local aiohttp server that impersonates Google's Code Assist API (what Gemini CLI calls).

:class:`FakeCodeAssist` serves ``/v1internal:generateContent``,
``/v1internal:streamGenerateContent`` (SSE with ``?alt=sse``), ``:loadCodeAssist``,
``:onboardUser`` and the long-running operations it returns (wire-formats.md §4.6). It checks
what the real service checks: a known ``Authorization: Bearer`` OAuth access token, a request
**wrapped** as ``{model, project, user_prompt_id, request: {...}}`` (a bare ``generateContent``
body is the real 400 for unknown fields), a ``project`` that belongs to the account, and the
inner request as the Gemini API would (the Gemini fake's validation). Answers are wrapped as
``{"response": {...}, "traceId": ...}``, in JSON and in every SSE event::

    fake = FakeCodeAssist(tokens={"ya29.tok": "proj-1"})
    async with fake.serve() as base:       # http://127.0.0.1:PORT/v1internal
        ...
    assert fake.requests[-1].json["project"] == "proj-1"

Project discovery: an account with a project answers ``loadCodeAssist`` with its
``currentTier`` and ``cloudaicompanionProject``; one without (``tokens={"ya29.new": None}``)
has no ``currentTier`` until ``onboardUser``, which provisions ``onboarded_project`` through an
operation that is ``done`` after ``onboard_polls`` polls.

Identity: ``GET /oauth2/v2/userinfo`` (:data:`USERINFO_PATH`; Google serves it on
``www.googleapis.com``) answers a valid token with its Google account's ``{id, email,
verified_email, name}``. Each token is its own account unless ``identities`` names its account
or it was first accepted after :meth:`FakeCodeAssist.use` (then it belongs to that account, as
the tokens of two logins to one Google account do).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from omniroute.testing.fake_base import FakeUpstream
from omniroute.testing.fake_gemini import GeminiApiError, GeminiReply
from omniroute.testing.fake_gemini_sse import (
    plan_gemini_answer,
    response_body,
    send_chunks,
    stream_chunks,
)
from omniroute.testing.fake_gemini_validation import default_message, validate_generate_content

__all__ = ["USERINFO_PATH", "FakeCodeAssist"]

#: Where the fake answers Google's userinfo (``https://www.googleapis.com/oauth2/v2/userinfo``).
USERINFO_PATH = "/oauth2/v2/userinfo"

_WRAPPER_FIELDS = frozenset(
    {"model", "project", "user_prompt_id", "request", "enabled_credit_types", "session_id"}
)
_FREE_TIER = {
    "id": "free-tier",
    "name": "Gemini Code Assist for individuals",
    "isDefault": True,
    "userDefinedCloudaicompanionProject": False,
}


class FakeCodeAssist(FakeUpstream[GeminiReply, GeminiApiError]):
    """Code Assist (``cloudcode-pa.googleapis.com/v1internal``) served by aiohttp, for tests.

    :param tokens: accepted access tokens, each with its account's project (``None``: an
        account not onboarded yet).
    :param accept: also accept tokens this says are valid (a fake authorization server's
        ``is_valid``), as accounts not onboarded yet.
    :param onboarded_project: the project ``onboardUser`` provisions.
    :param onboard_polls: how many operation polls answer ``done: false`` first.
    :param identities: the Google account (userinfo answer) of some tokens; any other token is
        an account of its own (see :meth:`identity_of`).

    Scripted :class:`GeminiReply` objects (JSON and stream kinds) replace the default answer of
    the next valid generate call; their bodies and chunks are wrapped like real answers.
    """

    error_type = GeminiApiError
    base_path = "/v1internal"
    auth_prefixes = ("/v1internal", "/oauth2/")

    def __init__(
        self,
        tokens: Mapping[str, str | None],
        *,
        accept: Callable[[str], bool] | None = None,
        onboarded_project: str = "fake-free-project-1",
        onboard_polls: int = 1,
        identities: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.projects: dict[str, str | None] = dict(tokens)
        self.identities: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (identities or {}).items()
        }
        self.signing_in: dict[str, Any] | None = None
        self.accept = accept
        self.onboarded_project = onboarded_project
        self.onboard_polls = onboard_polls
        self._operations: dict[str, tuple[str, int]] = {}

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_post("/v1internal:{method}", self._method)
        app.router.add_get("/v1internal/operations/{name}", self._operation)
        app.router.add_get(USERINFO_PATH, self._userinfo)
        app.router.add_route("*", "/{tail:.*}", _unknown_route)

    def _error_response(self, request: web.Request, err: GeminiApiError) -> web.StreamResponse:
        return web.json_response(err.body, status=err.status)

    def _check_auth(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        known = token in self.projects
        if scheme.lower() == "bearer" and not known and self.accept and self.accept(token):
            self.projects[token] = None
            if self.signing_in is not None:
                self.identities.setdefault(token, dict(self.signing_in))
        if scheme.lower() != "bearer" or token not in self.projects:
            raise GeminiApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )

    def _project_of(self, request: web.Request) -> str | None:
        token = request.headers["Authorization"].partition(" ")[2].strip()
        return self.projects[token]

    # -- identity -------------------------------------------------------------------------------

    def use(self, account_id: str, email: str) -> None:
        """Tokens first accepted from now on (through ``accept``) belong to this account."""
        self.signing_in = {"id": account_id, "email": email}

    def identity_of(self, token: str) -> dict[str, Any]:
        """The userinfo of ``token``'s account: named in ``identities``, else one of its own."""
        known = self.identities.get(token)
        if known is None:
            digest = hashlib.sha256(token.encode()).hexdigest()
            number = str(int(digest[:15], 16)).rjust(21, "1")
            known = {"id": number, "email": f"user-{digest[:8]}@example.com"}
        email = str(known["email"])
        return {
            "verified_email": True,
            "name": email.partition("@")[0],
            **known,
        }

    async def _userinfo(self, request: web.Request) -> web.Response:
        token = request.headers["Authorization"].partition(" ")[2].strip()
        return web.json_response(self.identity_of(token))

    # -- generate -------------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await _json_object(request)
        if method == "loadCodeAssist":
            return self._load(request)
        if method == "onboardUser":
            return self._onboard(request, body)
        if method not in ("generateContent", "streamGenerateContent"):
            raise GeminiApiError(404, default_message("NOT_FOUND"))
        inner = self._unwrap(request, body)
        validate_generate_content(inner, None)
        answer = plan_gemini_answer(inner, str(body["model"]), lambda: _signature())
        trace = secrets.token_hex(8)
        reply = self._next_reply()
        if method == "generateContent":
            if reply is not None and reply.body is not None:
                if reply.status >= 400:
                    return web.json_response(reply.body, status=reply.status)
                return web.json_response({"response": reply.body, "traceId": trace})
            return web.json_response({"response": response_body(answer), "traceId": trace})
        if request.query.get("alt") != "sse":
            raise GeminiApiError(400, "this fake serves Code Assist streams as SSE only")
        if reply is not None and reply.status >= 400 and reply.body is not None:
            return web.json_response(reply.body, status=reply.status)
        chunks = list(reply.chunks) if reply is not None and reply.chunks else stream_chunks(answer)
        wrapped = [{"response": c, "traceId": trace} if isinstance(c, dict) else c for c in chunks]
        return await send_chunks(request, wrapped, sse=True)

    def _unwrap(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(body) - _WRAPPER_FIELDS)
        if unknown:
            raise GeminiApiError(
                400,
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.',
            )
        inner = body.get("request")
        if not isinstance(inner, dict):
            raise GeminiApiError(400, "Request contains an invalid argument: request is required.")
        if not body.get("model"):
            raise GeminiApiError(400, "Request contains an invalid argument: model is required.")
        project = body.get("project")
        if not project:
            raise GeminiApiError(400, "Request contains an invalid argument: project is required.")
        if project != self._project_of(request):
            raise GeminiApiError(
                403, f"Permission denied on resource project {project}.", "PERMISSION_DENIED"
            )
        return inner

    # -- project discovery ----------------------------------------------------------------------

    def _load(self, request: web.Request) -> web.Response:
        project = self._project_of(request)
        if project is None:
            return web.json_response({"allowedTiers": [_FREE_TIER]})
        return web.json_response(
            {
                "currentTier": {**_FREE_TIER, "hasOnboardedPreviously": True},
                "allowedTiers": [_FREE_TIER],
                "cloudaicompanionProject": project,
            }
        )

    def _onboard(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        if body.get("tierId") != "free-tier":
            raise GeminiApiError(400, f"unknown tier {body.get('tierId')!r}")
        token = request.headers["Authorization"].partition(" ")[2].strip()
        name = f"operations/onboard-{secrets.token_hex(4)}"
        self._operations[name] = (token, self.onboard_polls)
        return web.json_response(self._operation_state(name))

    async def _operation(self, request: web.Request) -> web.Response:
        name = f"operations/{request.match_info['name']}"
        if name not in self._operations:
            raise GeminiApiError(404, default_message("NOT_FOUND"))
        return web.json_response(self._operation_state(name))

    def _operation_state(self, name: str) -> dict[str, Any]:
        token, pending = self._operations[name]
        if pending > 0:
            self._operations[name] = (token, pending - 1)
            return {"name": name, "done": False}
        self.projects[token] = self.onboarded_project
        project = {"id": self.onboarded_project, "name": self.onboarded_project}
        return {"name": name, "done": True, "response": {"cloudaicompanionProject": project}}


def _signature() -> str:
    return "c2lnbmF0dXJl" + secrets.token_hex(4)


async def _unknown_route(request: web.Request) -> web.Response:
    raise GeminiApiError(404, default_message("NOT_FOUND"))


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise GeminiApiError(400, "Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(body, dict):
        raise GeminiApiError(400, "Invalid JSON payload received. Root element must be a message.")
    return body
