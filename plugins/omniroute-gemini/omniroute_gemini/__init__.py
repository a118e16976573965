"""OmniRoute provider plugin for Google's Gemini API (Generative Language, API key).

``gemini/`` speaks the ``gemini`` wire format: the model and the streaming choice are part of
the URL (``/v1beta/models/{model}:streamGenerateContent?alt=sse``), and the key travels in
``x-goog-api-key``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import orjson

from omniroute import (
    AuthFlow,
    CheckResult,
    Connection,
    Endpoint,
    ErrorKind,
    Middleware,
    ModelInfo,
    ModelPrice,
    Provider,
    UpstreamError,
    hookimpl,
)
from omniroute_gemini import code_assist

API_VERSION = "v1beta"

# List prices in USD per 1M tokens from https://ai.google.dev/gemini-api/docs/pricing (paid
# tier, text, prompts up to 200k tokens) as published in late 2025; thinking tokens are billed
# as output. Cached-token prices changed often, so none is seeded: cached tokens are priced at
# the input rate until a user sets one.
MODELS = [
    ModelInfo("gemini-3-pro-preview", "chat", 1_048_576, ModelPrice(input=2.0, output=12.0)),
    ModelInfo("gemini-3-flash-preview", "chat", 1_048_576),
    ModelInfo("gemini-2.5-pro", "chat", 1_048_576, ModelPrice(input=1.25, output=10.0)),
    ModelInfo("gemini-2.5-flash", "chat", 1_048_576, ModelPrice(input=0.3, output=2.5)),
    ModelInfo("gemini-2.5-flash-lite", "chat", 1_048_576, ModelPrice(input=0.1, output=0.4)),
]


class GeminiProvider(Provider):
    """Gemini's Generative Language API with an API key (its ``RetryInfo`` retry hints are
    read by the kernel's ``Provider.classify_error``)."""

    def url(
        self,
        conn: Connection,
        endpoint: Endpoint,
        *,
        model: str | None = None,
        stream: bool = False,
    ) -> str:
        """``models/{model}:generateContent`` (or ``:streamGenerateContent?alt=sse``)."""
        base = f"{self.base_url_for(conn)}/{API_VERSION}"
        if endpoint is Endpoint.MODELS:
            return f"{base}/models"
        if endpoint is Endpoint.CHAT and model:
            action = "streamGenerateContent?alt=sse" if stream else "generateContent"
            return f"{base}/models/{model}:{action}"
        if endpoint is Endpoint.COUNT_TOKENS and model:
            return f"{base}/models/{model}:countTokens"
        raise UpstreamError(
            ErrorKind.BAD_REQUEST, f"Gemini has no {endpoint.value} endpoint here", status=400
        )

    def headers(self, conn: Connection) -> dict[str, str]:
        """The key in ``x-goog-api-key`` (never in the URL, where logs would keep it)."""
        return {"x-goog-api-key": conn.api_key.reveal(), "Content-Type": "application/json"}

    async def check(self, session: aiohttp.ClientSession, conn: Connection) -> CheckResult:
        """List the models (Gemini names them ``models/<id>``)."""
        started = time.perf_counter()
        url = self.url(conn, Endpoint.MODELS)
        async with session.get(url, headers=self.headers(conn)) as resp:
            body = await resp.read()
        latency = (time.perf_counter() - started) * 1000
        if resp.status >= 400:
            err = self.classify_error(resp.status, resp.headers, body)
            return CheckResult(False, latency, status=resp.status, error=err.message)
        try:
            names = [m["name"].removeprefix("models/") for m in orjson.loads(body)["models"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            names = []
        return CheckResult(True, latency, status=resp.status, models=names)


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register ``gemini/`` and ``gc/`` (Gemini CLI subscriptions, :mod:`.code_assist`)."""
    register(code_assist.build_provider())
    register(
        GeminiProvider(
            id="gemini",
            name="Google Gemini",
            prefix="gemini",
            aliases=("google",),
            base_url="https://generativelanguage.googleapis.com",
            format="gemini",
            models=MODELS,
            docs_url="https://ai.google.dev/gemini-api/docs/models",
        )
    )


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """The ``gc/`` logins: Google OAuth, and the import of gemini-cli's credential file."""
    login, imported = code_assist.build_flows(code_assist.GeminiCliConfig.from_env())
    register(login.as_auth_flow(code_assist.FLOW_ID, "Gemini CLI (Google account)"))
    register(imported.as_auth_flow(code_assist.IMPORT_FLOW_ID, "Gemini CLI credential file"))


@hookimpl
def register_middlewares(register: Callable[[Middleware], None]) -> None:
    """Code Assist's envelopes on ``gc/`` attempts, close to the wire."""
    register(Middleware("code-assist-envelope", code_assist.code_assist_middleware, order=900))
