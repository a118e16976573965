"""A local aiohttp server that impersonates the ChatGPT backend's Codex endpoint.

:class:`FakeCodexUpstream` answers ``POST /backend-api/codex/responses`` the way
``https://chatgpt.com/backend-api/codex/responses`` does for a ChatGPT-subscription token
(oauth.md §2): the body is a Responses-API request, but the backend

* answers only streams: ``"stream": true`` is required (400 ``{"detail": "Stream must be set to
  true"}``), and so are ``"store": false`` (``Store must be set to false``) and an
  ``instructions`` string (``Instructions are required``);
* refuses the parameters the public API takes and it does not (``max_output_tokens``,
  ``temperature``, ``top_p``, ``context_management``, ...) with ``{"detail": "Unsupported
  parameter: <name>"}``, ``system`` input messages (Codex sends ``developer``) and a string
  ``input`` (it takes a list of items);
* wants ``Authorization: Bearer <access token>`` and the account's ``Chatgpt-Account-Id``.

Everything else, including the event stream itself, the scripted replies and the request log,
is :class:`~omniroute.testing.FakeResponsesUpstream`'s. The ``detail`` wordings are the ones
public clients report from the real backend; the 401 bodies are not known and are modelled.
``GET /backend-api/wham/usage`` answers the account's usage windows from :attr:`usage`
(see :func:`wham_usage`). :func:`usage_limit_reached` and :func:`model_at_capacity` script the
backend's two quota answers::

    fake = FakeCodexUpstream(accounts={"access-1": "acct-1"})
    fake.enqueue(usage_limit_reached(resets_in_seconds=3600))
    async with fake.serve() as base_url:  # ends in /backend-api/codex
        ...
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from omniroute.testing.fake_openai import json_object, json_response
from omniroute.testing.fake_openai_validation import ApiError
from omniroute.testing.fake_responses import FakeResponsesUpstream, ResponsesReply

__all__ = [
    "CODEX_MODELS",
    "UNSUPPORTED_PARAMETERS",
    "CodexError",
    "FakeCodexUpstream",
    "model_at_capacity",
    "usage_limit_reached",
    "wham_usage",
]

CODEX_MODELS: tuple[str, ...] = (
    "gpt-5.2-codex",
    "gpt-5.2",
    "gpt-5.1-codex-max",
    "gpt-5.1-codex-mini",
)
"""Model ids the fake accepts unless the constructor is given others."""

UNSUPPORTED_PARAMETERS: tuple[str, ...] = (
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "truncation",
    "user",
    "previous_response_id",
    "prompt_cache_retention",
    "safety_identifier",
    "stream_options",
    "context_management",
)
"""Body fields the backend refuses (``service_tier`` too, unless it is ``priority``)."""

ACCOUNT_HEADER = "Chatgpt-Account-Id"


class CodexError(ApiError):
    """An error the backend answers with ``{"detail": ...}`` rather than OpenAI's envelope."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.body = {"detail": detail}


def usage_limit_reached(
    resets_in_seconds: int = 3600, *, plan_type: str = "plus"
) -> ResponsesReply:
    """The 429 of a subscription whose usage window is spent (CPA ``parseCodexRetryAfter``)."""
    return ResponsesReply.json(
        {
            "error": {
                "type": "usage_limit_reached",
                "message": "The usage limit has been reached",
                "plan_type": plan_type,
                "resets_at": int(time.time()) + resets_in_seconds,
                "resets_in_seconds": resets_in_seconds,
            }
        },
        429,
    )


def wham_usage(
    primary: float = 10.0,
    secondary: float = 20.0,
    *,
    primary_reset_in: int = 3600,
    secondary_reset_in: int = 5 * 86_400,
    plan_type: str = "plus",
) -> dict[str, Any]:
    """A ``/wham/usage`` answer (9R ``usage.js``): ``rate_limit.primary_window`` (5 hours) and
    ``secondary_window`` (a week), each with ``used_percent``, ``limit_window_seconds``,
    ``reset_after_seconds`` and ``reset_at`` (epoch seconds)."""

    def window(used: float, reset_in: int, length: int) -> dict[str, Any]:
        return {
            "used_percent": used,
            "limit_window_seconds": length,
            "reset_after_seconds": reset_in,
            "reset_at": int(time.time()) + reset_in,
        }

    return {
        "plan_type": plan_type,
        "rate_limit": {
            "allowed": primary < 100 and secondary < 100,
            "limit_reached": primary >= 100 or secondary >= 100,
            "primary_window": window(primary, primary_reset_in, 5 * 3600),
            "secondary_window": window(secondary, secondary_reset_in, 7 * 86_400),
        },
    }


def model_at_capacity(status: int = 500) -> ResponsesReply:
    """The answer of a model that is full (CPA ``isCodexModelCapacityError``; the backend does
    not always label it 429, so the status is a parameter)."""
    message = "Selected model is at capacity. Please try a different model."
    return ResponsesReply.json({"error": {"type": "server_error", "message": message}}, status)


class FakeCodexUpstream(FakeResponsesUpstream):
    """The Codex backend served by aiohttp, for tests.

    :param accounts: access token → ChatGPT account id. A request needs a known token and that
        token's account id in ``Chatgpt-Account-Id``.
    :param models: the model ids it serves (others get the backend's 400).

    :attr:`usage` is what ``GET /backend-api/wham/usage`` answers (replace it with another
    :func:`wham_usage` in a test to fill a window); :attr:`account_usage` overrides it per
    account id.
    """

    base_path = "/backend-api/codex"
    auth_prefixes = ("/backend-api/",)

    def __init__(
        self, accounts: Mapping[str, str] | None = None, *, models: Sequence[str] = CODEX_MODELS
    ) -> None:
        super().__init__(models=models)
        self.accounts: dict[str, str] = dict(accounts or {})
        self.usage: dict[str, Any] = wham_usage()
        self.account_usage: dict[str, dict[str, Any]] = {}

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_post("/backend-api/codex/responses", self._codex_create)
        app.router.add_get("/backend-api/wham/usage", self._usage)
        app.router.add_route("*", "/{tail:.*}", _not_found)

    def _check_auth(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise CodexError(401, "Unauthorized")
        if token not in self.accounts:
            raise CodexError(401, "Could not parse your authentication token. Please sign in.")
        account = request.headers.get(ACCOUNT_HEADER)
        if not account:
            raise CodexError(401, f"Missing {ACCOUNT_HEADER} header")
        if account != self.accounts[token]:
            raise CodexError(403, "The token does not belong to this workspace")

    async def _usage(self, request: web.Request) -> web.Response:
        account = request.headers.get(ACCOUNT_HEADER, "")
        return json_response(self.account_usage.get(account, self.usage), 200)

    async def _codex_create(self, request: web.Request) -> web.StreamResponse:
        check_codex_body(await json_object(request), self.models)
        return await self._create(request)


def check_codex_body(body: Mapping[str, Any], models: Sequence[str]) -> None:
    """Raise :class:`CodexError` for what the backend refuses, in the order it checks."""
    if not isinstance(body.get("instructions"), str):
        raise CodexError(400, "Instructions are required")
    if body.get("store") is not False:
        raise CodexError(400, "Store must be set to false")
    if body.get("stream") is not True:
        raise CodexError(400, "Stream must be set to true")
    for name in UNSUPPORTED_PARAMETERS:
        if name in body:
            raise CodexError(400, f"Unsupported parameter: {name}")
    if "service_tier" in body and body["service_tier"] != "priority":
        raise CodexError(400, "Unsupported parameter: service_tier")
    if body.get("model") not in models:
        raise CodexError(
            400,
            f"The '{body.get('model')}' model is not supported when using Codex with a "
            "ChatGPT account.",
        )
    items = body.get("input")
    if not isinstance(items, list):
        raise CodexError(400, "Input must be a list")
    for item in items:
        if isinstance(item, Mapping) and item.get("role") == "system":
            raise CodexError(400, "System messages are not allowed")


async def _not_found(request: web.Request) -> web.Response:
    return json_response({"detail": "Not Found"}, 404)
