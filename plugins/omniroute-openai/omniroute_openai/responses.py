"""``openai-responses/``: OpenAI models reached through the Responses API (``/v1/responses``).

Codex CLI speaks only this API, and some OpenAI models answer only here; the provider lets any
client reach them, and Responses clients reach it without translation.
"""

from __future__ import annotations

from omniroute import (
    Endpoint,
    ModelInfo,
    ModelPrice,
    Provider,
)
from omniroute_openai.catalog import PRICES, PROVIDERS

# List price as published on https://openai.com/api/pricing/ in late 2025 (USD per 1M tokens).
_CODEX_PRICE = ModelPrice(input=1.25, cached_input=0.125, output=10.0)

#: Models served by the Responses API beyond the chat catalogue (the Codex family).
CODEX_MODELS = [
    ModelInfo("gpt-5.1-codex", "chat", 400_000, _CODEX_PRICE),
    ModelInfo("gpt-5-codex", "chat", 400_000, _CODEX_PRICE),
]


class OpenAIResponses(Provider):
    """OpenAI's Responses API with a Bearer key."""

    #: ``/responses`` for generation and ``/models`` for the check.
    paths = {Endpoint.CHAT: "/responses", Endpoint.MODELS: "/models"}


def responses_provider() -> OpenAIResponses:
    """The provider, with OpenAI's chat models plus the Codex models."""
    openai = next(entry for entry in PROVIDERS if entry["id"] == "openai")
    prices = PRICES["openai"]
    chat = [
        ModelInfo(mid, "chat", ctx, ModelPrice(**prices[mid]) if mid in prices else None)
        for mid, kind, ctx in openai["models"]
        if kind == "chat"
    ]
    return OpenAIResponses(
        id="openai-responses",
        name="OpenAI (Responses API)",
        prefix="openai-responses",
        aliases=("oai-responses",),
        base_url=openai["base_url"],
        format="responses",
        models=[*chat, *CODEX_MODELS],
        docs_url="https://platform.openai.com/docs/api-reference/responses",
    )
