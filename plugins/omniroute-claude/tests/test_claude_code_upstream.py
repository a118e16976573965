"""Claude subscription traffic: the fake upstream refuses what the real API refuses, and the
pure helpers shape requests so that it accepts them."""

from __future__ import annotations

import anthropic
import pytest
from anthropic import AsyncAnthropic
from omniroute_claude.claude_code import (
    CLAUDE_CODE_SYSTEM,
    ENV_VARS,
    ClaudeOAuthSettings,
    merge_betas,
    parse_usage,
    pop_header,
    starts_with_claude_code,
    with_claude_code_system,
)

from omniroute.testing import FakeOAuthServer
from omniroute.testing.fake_claude_oauth import NOT_CLAUDE_CODE, FakeClaudeOAuthUpstream

pytestmark = pytest.mark.timeout(15)

OAUTH_HEADERS = {"anthropic-beta": "oauth-2025-04-20"}
HELLO = [{"role": "user", "content": "hi"}]


def fakes() -> tuple[FakeOAuthServer, FakeClaudeOAuthUpstream]:
    oauth = FakeOAuthServer(client_id="cid", token_format="json", paste_back=True)
    return oauth, FakeClaudeOAuthUpstream(oauth)


def client(base: str, token: str, **kwargs: object) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=base, auth_token=token, max_retries=0, timeout=5, **kwargs)  # type: ignore[arg-type]


# -- the fake upstream -------------------------------------------------------------------------


async def test_a_conforming_subscription_call_is_answered():
    oauth, upstream = fakes()
    token = oauth.issue().access_token
    async with upstream.serve() as base:
        reply = await client(base, token, default_headers=OAUTH_HEADERS).messages.create(
            model="claude-opus-4-6", max_tokens=50, system=CLAUDE_CODE_SYSTEM, messages=HELLO
        )
    assert reply.content[0].text == "echo: hi"  # type: ignore[union-attr]
    assert upstream.seen_tokens == [token]


async def test_a_bearer_call_without_the_oauth_beta_is_the_real_401():
    oauth, upstream = fakes()
    async with upstream.serve() as base:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client(base, oauth.issue().access_token).messages.create(
                model="claude-opus-4-6", max_tokens=50, system=CLAUDE_CODE_SYSTEM, messages=HELLO
            )
    assert "OAuth authentication is currently not supported." in str(caught.value)


async def test_an_api_key_call_is_refused():
    _, upstream = fakes()
    async with upstream.serve() as base:
        sdk = AsyncAnthropic(
            base_url=base, api_key="sk-ant-api03-x", max_retries=0, timeout=5,
            default_headers={**OAUTH_HEADERS, "x-api-key": "sk-ant-api03-x"},
        )  # fmt: skip
        with pytest.raises(anthropic.AuthenticationError):
            await sdk.messages.create(
                model="claude-opus-4-6", max_tokens=50, system=CLAUDE_CODE_SYSTEM, messages=HELLO
            )


async def test_a_call_without_the_claude_code_system_line_is_refused():
    oauth, upstream = fakes()
    async with upstream.serve() as base:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client(
                base, oauth.issue().access_token, default_headers=OAUTH_HEADERS
            ).messages.create(
                model="claude-opus-4-6", max_tokens=50, system="You are helpful.", messages=HELLO
            )
    assert NOT_CLAUDE_CODE in str(caught.value)


async def test_expired_revoked_and_unknown_tokens_are_refused():
    oauth, upstream = fakes()
    expired, revoked = oauth.issue().access_token, oauth.issue().access_token
    oauth.expire(expired)
    oauth.revoke(revoked)
    async with upstream.serve() as base:

        async def call(token: str) -> None:
            await client(base, token, default_headers=OAUTH_HEADERS).messages.create(
                model="claude-opus-4-6", max_tokens=50, system=CLAUDE_CODE_SYSTEM, messages=HELLO
            )

        with pytest.raises(anthropic.AuthenticationError, match="OAuth token has expired"):
            await call(expired)
        with pytest.raises(anthropic.PermissionDeniedError, match="revoked"):
            await call(revoked)
        with pytest.raises(anthropic.AuthenticationError):
            await call("sk-ant-oat01-never-issued")
    assert upstream.seen_tokens == []


async def test_usage_windows_are_served_to_a_valid_token_only():
    import aiohttp

    oauth, upstream = fakes()
    token = oauth.issue().access_token
    headers = {**OAUTH_HEADERS, "anthropic-version": "2023-06-01"}
    async with upstream.serve() as base, aiohttp.ClientSession() as http:
        async with http.get(
            base + "/api/oauth/usage", headers={**headers, "Authorization": f"Bearer {token}"}
        ) as resp:
            body = await resp.json()
        async with http.get(base + "/api/oauth/usage", headers=headers) as refused:
            assert refused.status == 401
    assert body["five_hour"]["utilization"] == 12.0


# -- request shaping ---------------------------------------------------------------------------


def test_the_claude_code_line_is_prepended_and_the_clients_system_kept():
    body = {"system": "Be brief."}
    with_claude_code_system(body)
    assert body["system"] == [
        {"type": "text", "text": CLAUDE_CODE_SYSTEM},
        {"type": "text", "text": "Be brief."},
    ]
    blocks = [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}}]
    body = {"system": blocks}
    with_claude_code_system(body)
    assert body["system"][1] == blocks[0] and starts_with_claude_code(body["system"])


def test_adding_the_claude_code_line_is_idempotent_and_works_without_a_system():
    body: dict[str, object] = {}
    with_claude_code_system(body)
    with_claude_code_system(body)
    assert body["system"] == [{"type": "text", "text": CLAUDE_CODE_SYSTEM}]
    already = {"system": CLAUDE_CODE_SYSTEM + " Extra."}
    with_claude_code_system(already)
    assert already["system"] == [{"type": "text", "text": CLAUDE_CODE_SYSTEM + " Extra."}]


def test_betas_merge_in_order_without_duplicates():
    assert merge_betas(
        "context-1m-2025-08-07, oauth-2025-04-20", "claude-code-20250219", "oauth-2025-04-20"
    ) == ("context-1m-2025-08-07,oauth-2025-04-20,claude-code-20250219")
    assert merge_betas(None, "a") == "a"


def test_pop_header_removes_every_spelling():
    headers = {"Anthropic-Beta": "a", "anthropic-beta": "b", "X": "y"}
    assert pop_header(headers, "ANTHROPIC-BETA") in ("a", "b") and headers == {"X": "y"}


def test_usage_windows_parse_utilization_and_reset_times():
    windows = parse_usage(
        {
            "five_hour": {"utilization": 96.5, "resets_at": "2030-01-01T00:00:00Z"},
            "seven_day": {"utilization": 10, "resets_at": None},
            "seven_day_opus": {"utilization": 50.0, "resets_at": "2030-01-02T00:00:00+00:00"},
            "extra_usage": {"is_enabled": False},
        }
    )
    by_name = {w.name: w for w in windows}
    assert set(by_name) == {"five_hour", "seven_day", "seven_day_opus"}
    assert by_name["five_hour"].used_percent == 96.5
    assert by_name["five_hour"].resets_at == 1893456000.0
    assert by_name["seven_day"].resets_at is None


def test_endpoints_and_client_come_from_the_environment_with_documented_defaults():
    settings = ClaudeOAuthSettings.from_env(
        {
            "OMNIROUTE_CLAUDE_TOKEN_URL": "http://127.0.0.1:1/token",
            "OMNIROUTE_CLAUDE_CLIENT_ID": "x",
        }
    )
    assert (settings.token_url, settings.client_id) == ("http://127.0.0.1:1/token", "x")
    assert settings.authorize_url == "https://claude.ai/oauth/authorize"
    assert ENV_VARS["OMNIROUTE_CLAUDE_CLIENT_ID"] == "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    assert settings.usage_url == "https://api.anthropic.com/api/oauth/usage"


def test_every_environment_override_is_documented():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[3] / "docs" / "providers.md").read_text()
    assert [name for name in ENV_VARS if f"`{name}`" not in page] == []
