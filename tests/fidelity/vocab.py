"""What a fidelity cell asks for, what the upstream saw, and what the client got back.

Each is format-neutral: the client side (:mod:`tests.fidelity.clients`) turns an :class:`Ask`
into an official SDK call and the SDK's answer into an :class:`Observed`; the upstream side
(:mod:`tests.fidelity.upstreams`) turns a recorded upstream body into a :class:`Seen` and a
:class:`Script` into a reply in the upstream's own format.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
"""The parameters of every tool and the JSON schema of structured-output cells."""

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
    )
).decode()
"""A one-pixel PNG, base64-encoded."""

IMAGE_URL = "https://example.com/cat.png"

Choice = Literal["auto", "none", "required"] | str
"""``auto``, ``none``, ``required`` or ``tool:<name>``."""


@dataclass(frozen=True)
class Ask:
    """One request, said the same way to every client SDK."""

    text: str = "hello fidelity"
    system: tuple[str, ...] = ()
    image: tuple[Literal["base64", "url"], str] | None = None
    tools: tuple[str, ...] = ()
    tool_choice: Choice | None = None
    effort: str | None = None
    schema: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None


@dataclass(frozen=True)
class Seen:
    """What an upstream received, in neutral terms. ``effort`` is the reasoning effort asked
    for (a thinking budget is read back as its nearest effort)."""

    system: str = ""
    user_text: str = ""
    images: tuple[tuple[str, str], ...] = ()
    tool_names: tuple[str, ...] = ()
    tool_choice: str | None = None
    effort: str | None = None
    schema: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None


@dataclass(frozen=True)
class Tokens:
    """Usage in neutral terms: ``input`` includes ``cached``; ``output`` includes
    ``reasoning``. ``None`` is a count the format cannot express."""

    input: int
    cached: int
    output: int
    reasoning: int | None


@dataclass(frozen=True)
class Script:
    """An answer an upstream is told to give, in neutral terms."""

    text: str = ""
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    reasoning: str = ""
    finish: Literal["stop", "length", "tool"] = "stop"
    usage: Tokens = field(default_factory=lambda: Tokens(100, 40, 30, 12))


@dataclass
class Observed:
    """What the client SDK handed back, in neutral terms (``finish`` as in :class:`Script`)."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reasoning: str = ""
    finish: str = ""
    usage: Tokens | None = None
