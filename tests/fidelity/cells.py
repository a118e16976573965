"""The cells of the translation matrix: every client format against every upstream format, in
JSON and streaming mode, each upstream played by the fake that speaks its format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omniroute.testing import (
    FakeAnthropicUpstream,
    FakeGeminiUpstream,
    FakeOpenAIUpstream,
    FakeResponsesUpstream,
)

FORMATS = ("openai", "anthropic", "responses", "gemini")


@dataclass(frozen=True)
class Target:
    """An upstream format: its fake, the provider that speaks it, and a model."""

    fake: Callable[..., Any]
    provider: str
    path: str
    model: str


TARGETS = {
    "openai": Target(FakeOpenAIUpstream, "openai", "/v1", "gpt-5"),
    "anthropic": Target(FakeAnthropicUpstream, "anthropic", "", "claude-sonnet-4-5"),
    "responses": Target(FakeResponsesUpstream, "openai-responses", "/v1", "gpt-5"),
    "gemini": Target(FakeGeminiUpstream, "gemini", "", "gemini-2.5-flash"),
}

Cell = tuple[str, str, bool]
CELLS: list[Cell] = [(s, t, stream) for s in FORMATS for t in FORMATS for stream in (False, True)]


def cell_id(cell: Cell) -> str:
    """``source->target-json`` or ``source->target-stream``."""
    source, target, stream = cell
    return f"{source}->{target}-{'stream' if stream else 'json'}"
