"""OmniRoute provider plugin: OpenAI and the OpenAI-compatible API-key vendors.

Also registers ``openai-compatible``, the template users pick for a custom provider node: any
OpenAI-compatible base URL (vLLM, Ollama, LM Studio, a corporate proxy) under its own prefix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from omniroute import CheckResult, Connection, Endpoint, ModelInfo, ModelPrice, Provider, hookimpl
from omniroute_openai.catalog import PRICES, PROVIDERS
from omniroute_openai.responses import responses_provider

#: Providers without a ``GET /models`` endpoint: a connection is checked with a 1-token chat.
CHECK_WITH_CHAT = frozenset({"perplexity"})


class OpenAICompatible(Provider):
    """A provider that speaks OpenAI's API under its own base URL with a Bearer key."""

    def __init__(self, *, check_with_chat: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.check_with_chat = check_with_chat

    async def check(self, session: aiohttp.ClientSession, conn: Connection) -> CheckResult:
        """List the models, or send a one-token chat where there is no models endpoint."""
        if not self.check_with_chat:
            return await super().check(session, conn)
        model = self.default_model(conn)
        body = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
        started = time.perf_counter()
        async with session.post(
            self.url(conn, Endpoint.CHAT), data=orjson.dumps(body), headers=self.headers(conn)
        ) as resp:
            raw = await resp.read()
        latency = (time.perf_counter() - started) * 1000
        if resp.status >= 400:
            err = self.classify_error(resp.status, resp.headers, raw)
            return CheckResult(False, latency, status=resp.status, error=err.message)
        return CheckResult(True, latency, status=resp.status, models=[model] if model else [])


def catalogue_models(provider_id: str, models: list[tuple[Any, Any, Any]]) -> list[ModelInfo]:
    """A catalogue entry's models, each with its list price when the catalogue has one."""
    prices = PRICES.get(provider_id, {})
    return [
        ModelInfo(mid, mtype, ctx, ModelPrice(**prices[mid]) if mid in prices else None)
        for mid, mtype, ctx in models
    ]


def catalogue_providers() -> list[OpenAICompatible]:
    """One provider object per catalogue entry."""
    return [
        OpenAICompatible(
            id=entry["id"],
            name=entry["name"],
            prefix=entry["prefix"],
            aliases=entry["aliases"],
            base_url=entry["base_url"],
            docs_url=entry["docs_url"],
            stream_usage=entry["stream_usage"],
            models=catalogue_models(entry["id"], entry["models"]),
            check_with_chat=entry["id"] in CHECK_WITH_CHAT,
        )
        for entry in PROVIDERS
    ]


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register the catalogue providers, ``openai-responses`` and the ``openai-compatible``
    node template."""
    for provider in catalogue_providers():
        register(provider)
    register(responses_provider())
    register(
        OpenAICompatible(
            id="openai-compatible",
            name="OpenAI-compatible endpoint",
            base_url="http://localhost:8000/v1",
            template=True,
        )
    )
