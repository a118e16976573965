"""A tiny local OAuth authorization server and a Bearer-checking OpenAI upstream for the OAuth
kernel's tests, plus a test subscription provider registered through a test plugin."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from typing import Any

import orjson
from aiohttp import web

from omniroute import ModelInfo, hookimpl
from omniroute.oauth import AuthorizationCodeFlow, DeviceCodeFlow, ImportFlow, OAuthProvider

CLIENT_ID = "test-client"
REDIRECT = "http://127.0.0.1:9/callback"


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


class AuthServer:
    """Authorize (auto-approves as ``account``), token (code + PKCE, refresh with rotation,
    device code), device authorization and userinfo. Tokens are opaque random strings."""

    def __init__(self) -> None:
        self.account = "alice"
        self.expires_in = 3600
        self.refresh_delay = 0.0
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, str] = {}  # valid refresh token -> account
        self.access: dict[str, str] = {}  # valid access token -> account
        self.devices: dict[str, dict[str, Any]] = {}
        self.refresh_calls = 0
        self.token_bodies: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_get("/authorize", self.authorize)
        self.app.router.add_post("/token", self.token)
        self.app.router.add_post("/device", self.device)
        self.app.router.add_get("/userinfo", self.userinfo)

    def issue(self, account: str) -> dict[str, Any]:
        access, refresh = "at-" + secrets.token_hex(12), "rt-" + secrets.token_hex(12)
        self.access[access] = account
        self.refresh_tokens[refresh] = account
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }

    def revoke_access(self, account: str) -> None:
        self.access = {t: a for t, a in self.access.items() if a != account}

    def revoke_refresh(self, account: str) -> None:
        self.refresh_tokens = {t: a for t, a in self.refresh_tokens.items() if a != account}

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        assert q["code_challenge_method"] == "S256"
        code = secrets.token_hex(8)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
            "account": self.account,
        }
        raise web.HTTPFound(f"{q['redirect_uri']}?code={code}&state={q['state']}")

    @staticmethod
    def error(code: str, status: int = 400) -> web.Response:
        return web.json_response({"error": code, "error_description": code}, status=status)

    async def token(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        self.token_bodies.append(body)
        grant = body.get("grant_type")
        if body.get("client_id") != CLIENT_ID:
            return self.error("invalid_client", 401)
        if grant == "authorization_code":
            entry = self.codes.pop(body.get("code", ""), None)
            if entry is None or body.get("redirect_uri") != entry["redirect_uri"]:
                return self.error("invalid_grant")
            if s256(body.get("code_verifier", "")) != entry["challenge"]:
                return self.error("invalid_grant")
            return web.json_response(self.issue(entry["account"]))
        if grant == "refresh_token":
            self.refresh_calls += 1
            await asyncio.sleep(self.refresh_delay)
            account = self.refresh_tokens.pop(body.get("refresh_token", ""), None)
            if account is None:
                return self.error("invalid_grant")
            return web.json_response(self.issue(account))  # rotates the refresh token
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            device = self.devices.get(body.get("device_code", ""))
            if device is None:
                return self.error("invalid_grant")
            if device["denied"]:
                return self.error("access_denied")
            device["polls"] += 1
            if device["polls"] == 1 and device["slow"]:
                return self.error("slow_down")
            if device["polls"] < device["approve_after"]:
                return self.error("authorization_pending")
            del self.devices[body["device_code"]]
            return web.json_response(self.issue(device["account"]))
        return self.error("unsupported_grant_type")

    async def device(self, request: web.Request) -> web.Response:
        body = dict(await request.post())
        assert body["client_id"] == CLIENT_ID
        code = secrets.token_hex(8)
        self.devices[code] = {
            "account": self.account,
            "polls": 0,
            "approve_after": 2,
            "slow": False,
            "denied": False,
        }
        return web.json_response(
            {
                "device_code": code,
                "user_code": "ABCD-EFGH",
                "verification_uri": "http://127.0.0.1:9/activate",
                "expires_in": 600,
                "interval": 0.01,
            }
        )

    async def userinfo(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")[7:]
        account = self.access.get(token)
        if account is None:
            return self.error("invalid_token", 401)
        return web.json_response({"sub": f"id-{account}", "email": f"{account}@example.com"})


class Upstream:
    """An OpenAI-format chat upstream accepting only the access tokens the server issued.

    ``seen`` records each accepted token with what ``stored()`` returned at that moment.
    """

    def __init__(self, auth: AuthServer) -> None:
        self.auth = auth
        self.seen: list[tuple[str, Any]] = []
        self.rejected: list[str] = []
        self.stored: Any = lambda: None
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_get("/v1/models", self.models)

    async def models(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "")[7:] not in self.auth.access:
            return web.json_response({"error": {"message": "invalid token"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": "sub-model"}]})

    async def chat(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")[7:]
        if token not in self.auth.access:
            self.rejected.append(token)
            return web.json_response(
                {"error": {"message": f"invalid token {token}", "type": "authentication_error"}},
                status=401,
            )
        self.seen.append((token, self.stored()))
        body = await request.json()
        return web.Response(
            body=orjson.dumps(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": f"hi {self.auth.access[token]}",
                            },
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
                }
            ),
            content_type="application/json",
        )


class SubscriptionPlugin:
    """Registers a test subscription provider ``tst`` (authorization code), ``tdv`` (device
    code) and an import flow, all against ``auth_url``; chat goes to ``upstream_url``."""

    def __init__(self, auth_url: str, upstream_url: str) -> None:
        self.auth_url, self.upstream_url = auth_url, upstream_url

    async def whoami(self, session: Any, creds: Any) -> Any:
        async with session.get(
            self.auth_url + "/userinfo", headers={"Authorization": f"Bearer {creds.access_token}"}
        ) as resp:
            info = await resp.json()
        creds.account_id, creds.email = info["sub"], info["email"]
        return creds

    @hookimpl
    def register_providers(self, register: Any) -> None:
        models = (ModelInfo("sub-model"),)
        common = {"base_url": self.upstream_url, "models": models, "format": "openai"}
        register(
            OAuthProvider(
                id="tst", name="Test sub", auth_flow="tst-login", import_flow="tst-import", **common
            )
        )
        register(OAuthProvider(id="tdv", name="Test device", auth_flow="tdv-login", **common))

    @hookimpl
    def register_auth_flows(self, register: Any) -> None:
        register(
            AuthorizationCodeFlow(
                client_id=CLIENT_ID,
                authorize_url=self.auth_url + "/authorize",
                token_url=self.auth_url + "/token",
                redirect_uri=REDIRECT,
                scope="inference",
                token_format="json",
                after_token=self.whoami,
            ).as_auth_flow("tst-login", "Test login")
        )
        register(
            DeviceCodeFlow(
                client_id=CLIENT_ID,
                device_url=self.auth_url + "/device",
                token_url=self.auth_url + "/token",
                scope="inference",
                after_token=self.whoami,
            ).as_auth_flow("tdv-login", "Test device login")
        )
        register(
            ImportFlow(source="claude-code", after_token=self.whoami).as_auth_flow(
                "tst-import", "Import"
            )
        )
