"""OmniRoute provider plugin for Anthropic's Messages API.

``anthropic/`` is the pay-per-token API-key provider. It speaks the ``anthropic`` wire format,
so Claude Code reaches it without translation, and clients of the other formats reach it through
the gateway's codecs. ``cc/`` (:mod:`omniroute_claude.subscription`) reaches the same API with a
Claude Pro/Max subscription's OAuth login.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from omniroute import (
    AuthFlow,
    Connection,
    Endpoint,
    ErrorKind,
    ModelInfo,
    ModelPrice,
    Provider,
    UpstreamError,
    hookimpl,
)
from omniroute_claude import subscription
from omniroute_claude.claude_code import ClaudeOAuthSettings
from omniroute_claude.subscription import ClaudeCodeProvider

ANTHROPIC_VERSION = "2023-06-01"

#: Paths under the API's base URL (``https://api.anthropic.com``; the version is in the path).
PATHS = {
    Endpoint.CHAT: "/v1/messages",
    Endpoint.MODELS: "/v1/models",
    Endpoint.COUNT_TOKENS: "/v1/messages/count_tokens",
}

# List prices in USD per 1M tokens from https://www.anthropic.com/pricing as published in late
# 2025: cache writes at the 5-minute TTL rate, prompts up to 200k tokens; thinking tokens are
# billed as output. Models without a price we are sure of have none (cost shown as unknown).
MODELS = [
    ModelInfo("claude-opus-4-6", "chat", 200_000),
    ModelInfo(
        "claude-opus-4-5",
        "chat",
        200_000,
        ModelPrice(input=5.0, output=25.0, cached_input=0.5, cache_write=6.25),
    ),
    ModelInfo(
        "claude-sonnet-4-5",
        "chat",
        200_000,
        ModelPrice(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75),
    ),
    ModelInfo(
        "claude-haiku-4-5",
        "chat",
        200_000,
        ModelPrice(input=1.0, output=5.0, cached_input=0.1, cache_write=1.25),
    ),
    ModelInfo(
        "claude-opus-4-1",
        "chat",
        200_000,
        ModelPrice(input=15.0, output=75.0, cached_input=1.5, cache_write=18.75),
    ),
]


class AnthropicProvider(Provider):
    """Anthropic's Messages API with an API key (``x-api-key``)."""

    #: Messages and models live under ``/v1``; other endpoints do not exist here.
    paths = PATHS

    def headers(self, conn: Connection) -> dict[str, str]:
        """``x-api-key`` and the API version the request bodies are written for."""
        return {
            "x-api-key": conn.api_key.reveal(),
            "anthropic-version": ANTHROPIC_VERSION,
            "Content-Type": "application/json",
        }

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """Anthropic reports an empty balance as a 400; that is an exhausted quota."""
        err = super().classify_error(status, headers, body)
        if status == 400 and "credit balance" in err.message.lower():
            err.kind = ErrorKind.QUOTA_EXHAUSTED
        return err


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register ``anthropic/`` and ``cc/``."""
    register(ClaudeCodeProvider(ClaudeOAuthSettings.from_env()))
    register(
        AnthropicProvider(
            id="anthropic",
            name="Anthropic",
            prefix="anthropic",
            aliases=("claude",),
            base_url="https://api.anthropic.com",
            format="anthropic",
            models=MODELS,
            docs_url="https://docs.anthropic.com/en/docs/about-claude/models",
        )
    )


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """Register the Claude login (paste-back of ``code#state``) and the credential import."""
    settings = ClaudeOAuthSettings.from_env()
    register(
        subscription.login_flow(settings).as_auth_flow(
            subscription.LOGIN_FLOW, "Claude Pro/Max login"
        )
    )
    register(
        subscription.import_flow().as_auth_flow(
            subscription.IMPORT_FLOW, "Claude Code credentials file"
        )
    )
