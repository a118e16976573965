"""Catalogue of the OpenAI-compatible API-key providers shipped by ``omniroute-openai``.

This module is pure data: ``PROVIDERS`` lists one dict per provider, in display order.
Each entry gives the provider id, the model prefix users type (``"<prefix>/<model>"``),
any alias prefixes, a display name, the OpenAI-compatible base URL (the client appends
``/chat/completions``, ``/models``, ``/embeddings`` or ``/images/generations``), a link
to the provider's model documentation, whether streaming chat accepts
``stream_options.include_usage`` (False only where the provider is known to reject it),
and a list of ``(model_id, type, context_tokens)`` tuples.

Model ids are written exactly as each provider's API expects them (including any
``org/`` or ``accounts/.../models/`` path).  ``type`` is ``"chat"``, ``"embedding"``
or ``"image"``; ``context_tokens`` is the documented context window, or ``None`` when
it is not known (always ``None`` for image models).

Catalogues go stale: providers add, rename and retire models all the time.  The list
below is only what the gateway advertises (``/v1/models``, pickers, context hints).
Any model id under a known prefix is still forwarded to the provider unchanged, so a
model missing from this file keeps working, and a retired one fails at the provider.
"""

from __future__ import annotations

from typing import Any

PROVIDERS: list[dict[str, Any]] = [
    {
        "id": "openai",
        "prefix": "openai",
        "aliases": ["oai"],
        "name": "OpenAI",
        "base_url": "https://api.openai.com/v1",
        "docs_url": "https://platform.openai.com/docs/models",
        "stream_usage": True,
        "models": [
            ("gpt-5.5", "chat", 1050000),
            ("gpt-5.4", "chat", 1050000),
            ("gpt-5.4-mini", "chat", 400000),
            ("gpt-5", "chat", 400000),
            ("gpt-5-mini", "chat", 400000),
            ("gpt-5-nano", "chat", 400000),
            ("gpt-4.1", "chat", 1047576),
            ("text-embedding-3-small", "embedding", 8191),
            ("text-embedding-3-large", "embedding", 8191),
            ("gpt-image-1.5", "image", None),
            ("gpt-image-1", "image", None),
            ("dall-e-3", "image", None),
        ],
    },
    {
        "id": "deepseek",
        "prefix": "ds",
        "aliases": ["deepseek"],
        "name": "DeepSeek",
        "base_url": "https://api.deepseek.com",
        "docs_url": "https://api-docs.deepseek.com/quick_start/pricing",
        "stream_usage": True,
        "models": [
            ("deepseek-v4-pro", "chat", 1048576),
            ("deepseek-v4-flash", "chat", 1048576),
            # Legacy aliases (mapped to V4-Flash non-thinking / thinking mode during
            # the V4 transition); kept because users still type them.
            ("deepseek-chat", "chat", None),
            ("deepseek-reasoner", "chat", None),
        ],
    },
    {
        "id": "groq",
        "prefix": "groq",
        "aliases": [],
        "name": "Groq",
        "base_url": "https://api.groq.com/openai/v1",
        "docs_url": "https://console.groq.com/docs/models",
        "stream_usage": True,
        "models": [
            ("openai/gpt-oss-120b", "chat", 131072),
            ("openai/gpt-oss-20b", "chat", 131072),
            ("llama-3.3-70b-versatile", "chat", 131072),
            ("llama-3.1-8b-instant", "chat", 131072),
            ("meta-llama/llama-4-scout-17b-16e-instruct", "chat", 131072),
            ("moonshotai/kimi-k2-instruct-0905", "chat", 262144),
            ("qwen/qwen3-32b", "chat", 131072),
            ("groq/compound", "chat", 131072),
            ("groq/compound-mini", "chat", 131072),
        ],
    },
    {
        "id": "xai",
        "prefix": "xai",
        "aliases": ["grok"],
        "name": "xAI",
        "base_url": "https://api.x.ai/v1",
        "docs_url": "https://docs.x.ai/docs/models",
        "stream_usage": True,
        "models": [
            ("grok-4.6", "chat", 500000),
            ("grok-4.5", "chat", 500000),
            ("grok-4.3", "chat", 1000000),
            ("grok-4.20-reasoning", "chat", 2000000),
            ("grok-4.20-non-reasoning", "chat", 2000000),
            ("grok-4-1-fast-reasoning", "chat", 2000000),
            ("grok-4-1-fast-non-reasoning", "chat", 2000000),
            ("grok-code-fast-1", "chat", 256000),
            ("grok-4", "chat", 256000),
            ("grok-imagine-image", "image", None),
        ],
    },
    {
        "id": "mistral",
        "prefix": "mistral",
        "aliases": ["mistralai"],
        "name": "Mistral AI",
        "base_url": "https://api.mistral.ai/v1",
        "docs_url": "https://docs.mistral.ai/getting-started/models/models_overview/",
        # Mistral rejects stream_options with 422 "Extra inputs are not permitted".
        "stream_usage": False,
        "models": [
            ("mistral-large-latest", "chat", 262144),
            ("mistral-medium-latest", "chat", 262144),
            ("mistral-small-latest", "chat", 131072),
            ("codestral-latest", "chat", 256000),
            ("mistral-embed", "embedding", 8192),
            ("codestral-embed", "embedding", 8192),
        ],
    },
    {
        "id": "perplexity",
        "prefix": "pplx",
        "aliases": ["perplexity"],
        "name": "Perplexity",
        "base_url": "https://api.perplexity.ai",
        "docs_url": "https://docs.perplexity.ai/getting-started/models",
        "stream_usage": True,
        "models": [
            ("sonar", "chat", 128000),
            ("sonar-pro", "chat", 200000),
            ("sonar-reasoning-pro", "chat", 128000),
            ("sonar-deep-research", "chat", 128000),
        ],
    },
    {
        "id": "together",
        "prefix": "together",
        "aliases": ["togetherai", "together-ai"],
        "name": "Together AI",
        "base_url": "https://api.together.xyz/v1",
        "docs_url": "https://docs.together.ai/docs/serverless/models",
        "stream_usage": True,
        "models": [
            ("moonshotai/Kimi-K2.5", "chat", 262144),
            ("deepseek-ai/DeepSeek-V4-Pro", "chat", None),
            ("zai-org/GLM-5.1", "chat", 202752),
            ("MiniMaxAI/MiniMax-M2.5", "chat", 204800),
            ("Qwen/Qwen3-235B-A22B-Instruct-2507-tput", "chat", 262144),
            ("openai/gpt-oss-120b", "chat", 131072),
            ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "chat", 131072),
            ("BAAI/bge-base-en-v1.5", "embedding", 512),
            ("black-forest-labs/FLUX.1-schnell", "image", None),
        ],
    },
    {
        "id": "fireworks",
        "prefix": "fireworks",
        "aliases": ["fireworks-ai", "fireworksai"],
        "name": "Fireworks AI",
        "base_url": "https://api.fireworks.ai/inference/v1",
        "docs_url": "https://fireworks.ai/models",
        "stream_usage": True,
        "models": [
            ("accounts/fireworks/models/kimi-k2p6", "chat", 262144),
            ("accounts/fireworks/models/kimi-k2p5", "chat", 262144),
            ("accounts/fireworks/models/deepseek-v4-pro", "chat", None),
            ("accounts/fireworks/models/deepseek-v3p2", "chat", 163840),
            ("accounts/fireworks/models/glm-5p1", "chat", None),
            ("accounts/fireworks/models/qwen3-235b-a22b-instruct-2507", "chat", 262144),
            ("accounts/fireworks/models/gpt-oss-120b", "chat", 131072),
            ("accounts/fireworks/models/gpt-oss-20b", "chat", 131072),
            ("accounts/fireworks/models/llama-v3p3-70b-instruct", "chat", 131072),
            ("nomic-ai/nomic-embed-text-v1.5", "embedding", 8192),
        ],
    },
    {
        "id": "cerebras",
        "prefix": "cerebras",
        "aliases": [],
        "name": "Cerebras",
        "base_url": "https://api.cerebras.ai/v1",
        "docs_url": "https://inference-docs.cerebras.ai/models/overview",
        "stream_usage": True,
        "models": [
            # Paid-tier context; the free tier is limited to about 65k tokens.
            ("gpt-oss-120b", "chat", 131072),
            ("qwen-3.8-27b", "chat", None),
            ("gemma-4-31b", "chat", None),
        ],
    },
    {
        "id": "cohere",
        "prefix": "cohere",
        "aliases": [],
        "name": "Cohere",
        "base_url": "https://api.cohere.ai/compatibility/v1",
        "docs_url": "https://docs.cohere.com/docs/compatibility-api",
        # The Compatibility API rejects the stream_options request field.
        "stream_usage": False,
        "models": [
            ("command-a-03-2025", "chat", 256000),
            ("command-a-reasoning-08-2025", "chat", 256000),
            ("command-a-vision-07-2025", "chat", 128000),
            ("command-r-plus-08-2024", "chat", 128000),
            ("command-r7b-12-2024", "chat", 128000),
            ("embed-v4.0", "embedding", 128000),
            ("embed-english-v3.0", "embedding", 512),
            ("embed-multilingual-v3.0", "embedding", 512),
        ],
    },
    {
        "id": "nvidia",
        "prefix": "nvidia",
        "aliases": ["nim", "nvidia-nim"],
        "name": "NVIDIA NIM",
        "base_url": "https://integrate.api.nvidia.com/v1",
        "docs_url": "https://build.nvidia.com/models",
        "stream_usage": True,
        "models": [
            ("meta/llama-3.3-70b-instruct", "chat", 131072),
            ("meta/llama-4-scout-17b-16e-instruct", "chat", None),
            ("nvidia/llama-3.3-nemotron-super-49b-v1.5", "chat", 131072),
            ("nvidia/nvidia-nemotron-nano-9b-v2", "chat", 131072),
            ("openai/gpt-oss-120b", "chat", 131072),
            ("qwen/qwen3-next-80b-a3b-instruct", "chat", 262144),
            ("z-ai/glm4.7", "chat", None),
            ("deepseek-ai/deepseek-v3.1", "chat", None),
            ("nvidia/nv-embedqa-e5-v5", "embedding", 512),
            ("nvidia/llama-3.2-nv-embedqa-1b-v2", "embedding", 8192),
            ("baai/bge-m3", "embedding", 8192),
        ],
    },
    {
        "id": "openrouter",
        "prefix": "openrouter",
        "aliases": [],
        "name": "OpenRouter",
        "base_url": "https://openrouter.ai/api/v1",
        "docs_url": "https://openrouter.ai/models",
        "stream_usage": True,
        "models": [
            ("openai/gpt-5.5", "chat", None),
            ("openai/gpt-5", "chat", 400000),
            ("anthropic/claude-sonnet-5.5", "chat", 1000000),
            ("anthropic/claude-sonnet-4.5", "chat", 1000000),
            ("anthropic/claude-opus-4.5", "chat", 200000),
            ("google/gemini-3.1-pro-preview", "chat", 1048576),
            ("google/gemini-2.5-pro", "chat", 1048576),
            ("x-ai/grok-4", "chat", 256000),
            ("deepseek/deepseek-v4-flash", "chat", 1048576),
            ("openai/gpt-oss-120b", "chat", 131072),
            ("baai/bge-large-en-v1.5", "embedding", 512),
        ],
    },
    {
        "id": "kimi",
        "prefix": "kimi",
        "aliases": ["moonshot", "moonshotai"],
        "name": "Kimi (Moonshot AI)",
        "base_url": "https://api.moonshot.ai/v1",
        "docs_url": "https://platform.moonshot.ai/docs",
        "stream_usage": True,
        "models": [
            ("kimi-k3", "chat", None),
            ("kimi-k2.6", "chat", 262144),
            ("kimi-k2.7-code", "chat", 262144),
            ("kimi-k2.7-code-highspeed", "chat", 262144),
            ("kimi-k2.5", "chat", 262144),
            ("moonshot-v1-128k", "chat", 131072),
            ("moonshot-v1-32k", "chat", 32768),
            ("moonshot-v1-8k", "chat", 8192),
            ("moonshot-v1-128k-vision-preview", "chat", 131072),
        ],
    },
    {
        "id": "glm",
        "prefix": "glm",
        "aliases": ["zai", "z-ai", "zhipu", "zhipuai"],
        "name": "Z.ai GLM",
        "base_url": "https://api.z.ai/api/paas/v4",
        "docs_url": "https://docs.z.ai/",
        "stream_usage": True,
        "models": [
            ("glm-5.2", "chat", 1048576),
            ("glm-5.1", "chat", None),
            ("glm-5", "chat", None),
            ("glm-4.7", "chat", 204800),
            ("glm-4.6", "chat", 204800),
            ("glm-4.5-air", "chat", 131072),
            ("glm-4.6v", "chat", 131072),
            ("glm-image", "image", None),
            ("cogview-4-250304", "image", None),
        ],
    },
    {
        "id": "minimax",
        "prefix": "minimax",
        "aliases": [],
        "name": "MiniMax",
        "base_url": "https://api.minimax.io/v1",
        "docs_url": "https://platform.minimax.io/docs/api-reference/text-openai-api",
        "stream_usage": True,
        "models": [
            # M3 advertises 1M context but MiniMax has capped it lower for now.
            ("MiniMax-M3", "chat", None),
            ("MiniMax-M2.7", "chat", 204800),
            ("MiniMax-M2.7-highspeed", "chat", 204800),
            ("MiniMax-M2.5", "chat", 204800),
            ("MiniMax-M2.5-highspeed", "chat", 204800),
            ("MiniMax-M2", "chat", 204800),
        ],
    },
]

# -- list prices --------------------------------------------------------------------------------
# Seed prices for the pricing table, in US dollars per 1M tokens, by provider id and model id:
# ``input`` (uncached prompt), ``output``, and where the vendor lists them ``cached_input``,
# ``cache_write`` and ``reasoning`` (absent: cached and cache-write tokens cost the input price,
# reasoning tokens the output price, which is how these vendors bill them). Standard tier,
# public list prices from each vendor's pricing page as published in late 2025. A model whose
# price we are not sure of has no entry: its cost shows as unknown until a user sets one
# (PUT /api/pricing), rather than being wrong.
PRICES: dict[str, dict[str, dict[str, float]]] = {
    "openai": {  # https://openai.com/api/pricing/
        "gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10.0},
        "gpt-5-mini": {"input": 0.25, "cached_input": 0.025, "output": 2.0},
        "gpt-5-nano": {"input": 0.05, "cached_input": 0.005, "output": 0.4},
        "gpt-4.1": {"input": 2.0, "cached_input": 0.5, "output": 8.0},
        "text-embedding-3-small": {"input": 0.02, "output": 0.0},
        "text-embedding-3-large": {"input": 0.13, "output": 0.0},
    },
    "groq": {  # https://groq.com/pricing
        "llama-3.3-70b-versatile": {"input": 0.59, "output": 0.79},
        "llama-3.1-8b-instant": {"input": 0.05, "output": 0.08},
    },
    "xai": {  # https://docs.x.ai/docs/models
        "grok-4": {"input": 3.0, "cached_input": 0.75, "output": 15.0},
        "grok-code-fast-1": {"input": 0.2, "cached_input": 0.02, "output": 1.5},
    },
    "cohere": {  # https://cohere.com/pricing
        "command-a-03-2025": {"input": 2.5, "output": 10.0},
        "command-r-plus-08-2024": {"input": 2.5, "output": 10.0},
        "command-r7b-12-2024": {"input": 0.0375, "output": 0.15},
    },
}
