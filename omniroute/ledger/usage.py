"""Reading token usage out of upstream answers."""

from __future__ import annotations

from typing import Any


def openai_usage(usage: Any) -> dict[str, int]:
    """Token counts from an OpenAI-style ``usage`` object (chat, embeddings or images)."""
    if not isinstance(usage, dict):
        return {}
    prompt = usage.get("prompt_tokens", usage.get("input_tokens")) or 0
    completion = usage.get("completion_tokens", usage.get("output_tokens")) or 0
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cached = prompt_details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens") or 0
    return {
        "tokens_in": int(prompt),
        "tokens_out": int(completion),
        "tokens_cached": int(cached),
        "tokens_reasoning": int(completion_details.get("reasoning_tokens") or 0),
    }
