"""What a Codex (ChatGPT subscription) call needs, as plain data and pure functions.

The facts come from the public proxies recorded in ``shared/reference/oauth.md`` §2: the ChatGPT
backend's ``/backend-api/codex/responses`` takes a Responses-API body but only as a stream, with
``store: false`` and an ``instructions`` string, refuses several public-API parameters, and
identifies the account by the ``Chatgpt-Account-Id`` header, whose value is in the login's
``id_token``. Kept apart from the provider class so they can be tested without the OAuth kernel.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from omniroute import BadRequest
from omniroute.oauth import QuotaWindow

#: The id_token claim that holds the ChatGPT account (``chatgpt_account_id``, plan, user...).
AUTH_CLAIM = "https://api.openai.com/auth"
ACCOUNT_HEADER = "Chatgpt-Account-Id"
#: What the backend needs in ``include`` to hand reasoning back across stateless turns.
ENCRYPTED_REASONING = "reasoning.encrypted_content"

#: Body fields the backend refuses ("Unsupported parameter: ...") or cannot honour; removed.
#: ``previous_response_id`` is not among them: it is refused (see :func:`codex_body`).
UNSUPPORTED_PARAMETERS: tuple[str, ...] = (
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "truncation",
    "user",
    "prompt_cache_retention",
    "safety_identifier",
    "stream_options",
    "context_management",
)


@dataclass(frozen=True, slots=True)
class CodexSettings:
    """Endpoints and client of the Codex login and backend, from the environment.

    Every value is read from ``OMNIROUTE_CODEX_<THING>`` when the plugin registers, with the
    public defaults of oauth.md §2 (the client id is the one embedded in the Codex CLI).
    ``callback_port`` is the fixed port of the login's local listener (the redirect URI's).
    """

    client_id: str = "app_EMoamEEZ73f0CkXaXp7hrann"
    authorize_url: str = "https://auth.openai.com/oauth/authorize"
    token_url: str = "https://auth.openai.com/oauth/token"
    redirect_uri: str = "http://localhost:1455/auth/callback"
    callback_port: str = "1455"
    scope: str = "openid profile email offline_access"
    refresh_scope: str = "openid profile email"
    base_url: str = "https://chatgpt.com/backend-api/codex"
    originator: str = "codex_cli_rs"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CodexSettings:
        """The settings with ``OMNIROUTE_CODEX_*`` overrides applied."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            **{
                name: env.get(f"OMNIROUTE_CODEX_{name.upper()}") or getattr(defaults, name)
                for name in cls.__dataclass_fields__
            }
        )

    def authorize_params(self) -> dict[str, str]:
        """The parameters the authorization URL carries besides the OAuth ones (oauth.md §2:
        ``prompt=login`` keeps several accounts' refresh tokens valid)."""
        return {
            "prompt": "login",
            "id_token_add_organizations": "true",
            "codex_cli_simplified_flow": "true",
            "originator": self.originator,
        }


ENV_VARS = {
    f"OMNIROUTE_CODEX_{name.upper()}": getattr(CodexSettings(), name)
    for name in CodexSettings.__dataclass_fields__
}
"""Each environment variable and its default (documented in ``docs/providers.md``)."""


# -- the login's id_token -------------------------------------------------------------------------


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without verifying its signature.

    Only for a token just received from the token endpoint over TLS, to learn which account it
    belongs to; nothing is trusted on its strength. Raises ``ValueError`` when ``token`` is not
    a JWT with a JSON object as payload.
    """
    pieces = token.split(".")
    if len(pieces) != 3:
        raise ValueError("the id_token is not a JWT (header.payload.signature)")
    payload = pieces[1] + "=" * (-len(pieces[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the id_token's payload is not base64url JSON: {exc}") from None
    if not isinstance(claims, dict):
        raise ValueError("the id_token's payload is not a JSON object")
    return claims


@dataclass(frozen=True, slots=True)
class ChatGPTAccount:
    """Who a Codex login belongs to, from its id_token."""

    chatgpt_account_id: str
    email: str | None = None
    plan_type: str | None = None
    user_id: str | None = None


def chatgpt_account(id_token: str) -> ChatGPTAccount:
    """The ChatGPT account of a login: the ``https://api.openai.com/auth`` claim's
    ``chatgpt_account_id`` (with plan and user) and the token's ``email``.

    Raises ``ValueError`` when the token carries no account id: without it the backend cannot
    be called.
    """
    claims = jwt_claims(id_token)
    auth = claims.get(AUTH_CLAIM)
    auth = auth if isinstance(auth, dict) else {}
    account_id = auth.get("chatgpt_account_id")
    if not isinstance(account_id, str) or not account_id:
        raise ValueError(f"the id_token has no '{AUTH_CLAIM}' claim with a chatgpt_account_id")
    email = claims.get("email")
    return ChatGPTAccount(
        chatgpt_account_id=account_id,
        email=email if isinstance(email, str) else None,
        plan_type=_str_or_none(auth.get("chatgpt_plan_type")),
        user_id=_str_or_none(auth.get("chatgpt_user_id") or auth.get("user_id")),
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# -- the request body -----------------------------------------------------------------------------


def codex_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Responses request made acceptable to the Codex backend (a new dict).

    Always a stream, never stored, ``instructions`` present (``""`` when absent), encrypted
    reasoning included (the only way reasoning survives stateless turns), ``system`` input
    messages sent as ``developer``, a string ``input`` wrapped in a user message, and the
    parameters the backend refuses removed (``service_tier`` kept only as ``priority``).
    ``previous_response_id`` is refused: the backend stores nothing to continue from, and
    dropping it would answer without the turns it stands for.
    """
    if body.get("previous_response_id") is not None:
        raise BadRequest(
            "'previous_response_id' refers to a stored conversation, and the Codex backend "
            "stores none; send the whole conversation in 'input' instead",
            param="previous_response_id",
            code="stored_state_unavailable",
        )
    out = {k: v for k, v in body.items() if k not in UNSUPPORTED_PARAMETERS}
    out.pop("previous_response_id", None)
    if out.get("service_tier") != "priority":
        out.pop("service_tier", None)
    out["stream"] = True
    out["store"] = False
    if not isinstance(out.get("instructions"), str):
        out["instructions"] = ""
    include = out.get("include")
    include = [i for i in include if isinstance(i, str)] if isinstance(include, list) else []
    if ENCRYPTED_REASONING not in include:
        include.append(ENCRYPTED_REASONING)
    out["include"] = include
    out["input"] = _codex_input(out.get("input"))
    return out


def _codex_input(items: object) -> list[Any]:
    if isinstance(items, str):
        return [_user_message(items)]
    if not isinstance(items, list):
        return []
    return [_developer(item) for item in items]


def _user_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _developer(item: Any) -> Any:
    if isinstance(item, dict) and item.get("role") == "system":
        return {**item, "role": "developer"}
    return item


# -- errors ---------------------------------------------------------------------------------------


def usage_limit_retry_after(data: Any, now: float | None = None) -> float | None:
    """Seconds until a spent usage window resets, from a ``usage_limit_reached`` error body
    (``resets_in_seconds``, else ``resets_at`` as epoch seconds); ``None`` for other bodies."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or error.get("type") != "usage_limit_reached":
        return None
    seconds = error.get("resets_in_seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
        return float(seconds)
    resets_at = error.get("resets_at")
    if isinstance(resets_at, int | float) and not isinstance(resets_at, bool):
        left = float(resets_at) - (time.time() if now is None else now)
        return left if left > 0 else None
    return None


def is_model_at_capacity(text: str) -> bool:
    """Whether an error says the model is full ("Selected model is at capacity. Please try a
    different model."): a short-term limit, whatever status the backend put on it."""
    return "model is at capacity" in text.lower()


def detail_message(data: Any) -> str | None:
    """The message of the backend's own ``{"detail": "..."}`` error bodies."""
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return str(data["detail"])
    return None


# -- usage windows --------------------------------------------------------------------------------

#: ``rate_limit`` keys of a ``/wham/usage`` answer and the window names they become.
USAGE_WINDOWS = (("primary_window", "primary"), ("secondary_window", "secondary"))


def usage_url(base_url: str) -> str:
    """Where the account's usage windows are read: ``/backend-api/wham/usage``, next to the
    Codex endpoint's ``/backend-api/codex``."""
    base = base_url.rstrip("/")
    base = base.removesuffix("/codex")
    return base + "/wham/usage"


def parse_wham_usage(body: Any, now: float | None = None) -> list[QuotaWindow]:
    """The ``primary`` (5-hour) and ``secondary`` (weekly) windows of a ``/wham/usage`` answer:
    ``rate_limit.<x>_window`` with ``used_percent`` and ``reset_at`` (epoch seconds), else
    ``reset_after_seconds``. Missing or malformed windows are left out."""
    rate = body.get("rate_limit") if isinstance(body, Mapping) else None
    if not isinstance(rate, Mapping):
        return []
    clock = time.time() if now is None else now
    windows = []
    for key, name in USAGE_WINDOWS:
        window = rate.get(key)
        if not isinstance(window, Mapping):
            continue
        used = window.get("used_percent")
        if not isinstance(used, int | float) or isinstance(used, bool):
            continue
        reset = window.get("reset_at")
        after = window.get("reset_after_seconds")
        if isinstance(reset, int | float) and not isinstance(reset, bool):
            resets_at: float | None = float(reset)
        elif isinstance(after, int | float) and not isinstance(after, bool):
            resets_at = clock + float(after)
        else:
            resets_at = None
        windows.append(QuotaWindow(name, float(used), resets_at))
    return windows
