"""The pure parts of ``cx/``: the account in the login's id_token, the body the Codex backend
accepts, and the environment overrides."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from omniroute_codex.codex import (
    AUTH_CLAIM,
    ENV_VARS,
    CodexSettings,
    chatgpt_account,
    codex_body,
    jwt_claims,
    usage_limit_retry_after,
)

from omniroute import BadRequest


def make_id_token(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT carrying ``claims`` (the signature is never checked)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_the_account_id_comes_from_the_id_tokens_auth_claim():
    token = make_id_token(
        {
            "email": "dev@example.com",
            AUTH_CLAIM: {
                "chatgpt_account_id": "acct-123",
                "chatgpt_plan_type": "plus",
                "chatgpt_user_id": "user-9",
            },
        }
    )
    account = chatgpt_account(token)
    assert account.chatgpt_account_id == "acct-123"
    assert (account.email, account.plan_type, account.user_id) == (
        "dev@example.com",
        "plus",
        "user-9",
    )


def test_an_id_token_without_a_chatgpt_account_is_refused():
    with pytest.raises(ValueError, match="chatgpt_account_id"):
        chatgpt_account(make_id_token({"email": "dev@example.com"}))


@pytest.mark.parametrize("token", ["not-a-jwt", "a.!!!.c", "a." + "WzFd" + ".c"])
def test_a_malformed_id_token_is_refused(token):
    with pytest.raises(ValueError):
        jwt_claims(token)


def test_the_body_is_always_a_stream_never_stored_with_instructions_and_encrypted_reasoning():
    body = codex_body({"model": "gpt-5.2", "input": [], "stream": False, "store": True})
    assert body["stream"] is True and body["store"] is False
    assert body["instructions"] == ""
    assert body["include"] == ["reasoning.encrypted_content"]


def test_the_clients_instructions_and_includes_are_kept():
    body = codex_body(
        {"instructions": "be brief", "include": ["message.output_text.logprobs"], "input": []}
    )
    assert body["instructions"] == "be brief"
    assert body["include"] == ["message.output_text.logprobs", "reasoning.encrypted_content"]


def test_a_string_input_is_wrapped_and_system_messages_become_developer_messages():
    assert codex_body({"input": "hi"})["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]
    system = {"type": "message", "role": "system", "content": "rules"}
    assert codex_body({"input": [system]})["input"] == [{**system, "role": "developer"}]


def test_the_parameters_the_backend_refuses_are_removed():
    refused = {
        "max_output_tokens": 5,
        "max_completion_tokens": 5,
        "temperature": 0.2,
        "top_p": 0.9,
        "truncation": "auto",
        "user": "u",
        "prompt_cache_retention": "24h",
        "safety_identifier": "s",
        "stream_options": {},
        "context_management": [],
        "service_tier": "auto",
        "previous_response_id": None,
    }
    body = codex_body({"model": "gpt-5.2", "input": [], **refused})
    assert not set(refused) & set(body)


def test_a_priority_service_tier_is_kept():
    assert codex_body({"input": [], "service_tier": "priority"})["service_tier"] == "priority"


def test_a_continued_conversation_is_refused_since_the_backend_stores_none():
    with pytest.raises(BadRequest) as caught:
        codex_body({"input": [], "previous_response_id": "resp_1"})
    assert caught.value.param == "previous_response_id"


def test_the_clients_body_is_not_changed():
    original = {"input": "hi", "temperature": 1}
    codex_body(original)
    assert original == {"input": "hi", "temperature": 1}


def test_a_usage_limit_resets_after_its_seconds_or_at_its_time():
    limit = {"error": {"type": "usage_limit_reached", "resets_in_seconds": 90}}
    assert usage_limit_retry_after(limit) == 90
    at = {"error": {"type": "usage_limit_reached", "resets_at": 1_000_060}}
    assert usage_limit_retry_after(at, now=1_000_000) == 60
    assert usage_limit_retry_after({"error": {"type": "rate_limit_error"}}) is None


def test_every_endpoint_and_the_client_id_can_be_overridden_from_the_environment():
    settings = CodexSettings.from_env(
        {
            "OMNIROUTE_CODEX_BASE_URL": "http://127.0.0.1:9/backend-api/codex",
            "OMNIROUTE_CODEX_TOKEN_URL": "http://127.0.0.1:9/oauth/token",
            "OMNIROUTE_CODEX_CLIENT_ID": "app_test",
        }
    )
    assert settings.base_url == "http://127.0.0.1:9/backend-api/codex"
    assert settings.token_url == "http://127.0.0.1:9/oauth/token"
    assert settings.client_id == "app_test"
    assert settings.authorize_url == "https://auth.openai.com/oauth/authorize"
    assert ENV_VARS["OMNIROUTE_CODEX_REDIRECT_URI"] == "http://localhost:1455/auth/callback"
    assert CodexSettings().authorize_params()["prompt"] == "login"


def test_the_providers_page_documents_every_override_with_its_default():
    page = (Path(__file__).resolve().parents[3] / "docs" / "providers.md").read_text()
    for name, default in ENV_VARS.items():
        assert f"| `{name}` | `{default}`" in page, name
