"""The intermediate representation (IR): the union of what the four wire formats can say.

A cross-format hop is ``source codec: parse → IR → target codec: render`` (and back for the
answer). Codecs are pure functions over these plain objects; nothing here does I/O. Fields that
only one format understands travel in ``extras`` (keyed by the field's name in that format), so a
codec can restore them when the IR is rendered back into the same format.

Same-format hops never build the IR: the body passes through with only the model rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# -- content parts ------------------------------------------------------------------------------


@dataclass(slots=True)
class TextPart:
    """Plain text. ``extras`` keeps e.g. Anthropic's ``cache_control`` or ``citations``."""

    text: str
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ImagePart:
    """An image given inline (``data``, base64, with ``media_type``) or by ``url``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolCallPart:
    """A call the model made. ``arguments`` is the JSON text of the arguments object, exactly as
    produced (Anthropic's ``input`` object is serialized; OpenAI's string is kept as is).
    ``signature`` carries Gemini's ``thoughtSignature``, which must be echoed back."""

    id: str
    name: str
    arguments: str = "{}"
    signature: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolResultPart:
    """The result of a tool call, given back by the client."""

    tool_call_id: str
    content: list[TextPart | ImagePart] = field(default_factory=list)
    is_error: bool = False
    name: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The result's text parts joined (for formats whose results are plain strings)."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(slots=True)
class ThinkingPart:
    """Model reasoning. ``signature`` must survive byte-exact (Anthropic verifies it);
    ``redacted`` thinking carries only opaque ``data``."""

    text: str = ""
    signature: str | None = None
    redacted: bool = False
    data: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


Part = TextPart | ImagePart | ToolCallPart | ToolResultPart | ThinkingPart


# -- requests -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    """One turn. Roles are ``user`` and ``assistant``: tool results are parts of a user turn
    (as in Anthropic and Gemini); the OpenAI codec splits them into ``tool`` messages."""

    role: Literal["user", "assistant"]
    parts: list[Part] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Tool:
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    strict: bool | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (any tool) or ``tool`` (the one named)."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(slots=True)
class Reasoning:
    """How much the model should think: an ``effort`` level and/or a token ``budget``."""

    effort: Literal["minimal", "low", "medium", "high"] | None = None
    budget_tokens: int | None = None
    enabled: bool = True


@dataclass(slots=True)
class ResponseFormat:
    """Structured output: ``json_object`` or ``json_schema`` (with ``schema``)."""

    type: Literal["text", "json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Request:
    """A model request in any format."""

    model: str
    messages: list[Message] = field(default_factory=list)
    system: list[TextPart] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    reasoning: Reasoning | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


# -- responses ----------------------------------------------------------------------------------

StopReason = Literal[
    "end_turn", "max_tokens", "tool_use", "stop_sequence", "content_filter", "refusal", "error"
]


@dataclass(slots=True)
class Usage:
    """Token counts. ``input`` excludes cached tokens (``cache_read``/``cache_write``), as
    Anthropic counts them; codecs of formats that include them in the prompt count convert."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


@dataclass(slots=True)
class Response:
    """A complete (non-streamed) model answer."""

    id: str
    model: str
    parts: list[Part] = field(default_factory=list)
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    extras: dict[str, Any] = field(default_factory=dict)


# -- stream events ------------------------------------------------------------------------------


@dataclass(slots=True)
class MessageStart:
    """The answer begins (Anthropic ``message_start``, the first OpenAI chunk, ...)."""

    id: str
    model: str
    usage: Usage | None = None


@dataclass(slots=True)
class PartStart:
    """A content part begins at ``index`` (0, 1, ... in order of first appearance).

    ``kind`` is ``text``, ``thinking``, ``redacted_thinking`` or ``tool_call``; tool calls carry
    ``id`` and ``name``; redacted thinking carries its opaque ``data`` whole.
    """

    index: int
    kind: Literal["text", "thinking", "redacted_thinking", "tool_call"]
    id: str | None = None
    name: str | None = None
    data: str | None = None


@dataclass(slots=True)
class TextDelta:
    """More text for the text part at ``index``."""

    index: int
    text: str


@dataclass(slots=True)
class ThinkingDelta:
    """More reasoning text for the thinking part at ``index``."""

    index: int
    text: str


@dataclass(slots=True)
class SignatureDelta:
    """The signature of the thinking part (Anthropic) or tool call (Gemini) at ``index``."""

    index: int
    signature: str


@dataclass(slots=True)
class ToolArgumentsDelta:
    """A fragment of the JSON arguments of the tool call at ``index``; concatenate them."""

    index: int
    fragment: str


@dataclass(slots=True)
class PartStop:
    """The part at ``index`` is complete."""

    index: int


@dataclass(slots=True)
class UsageUpdate:
    """Usage so far (cumulative: a later update replaces an earlier one)."""

    usage: Usage


@dataclass(slots=True)
class Stop:
    """The answer is complete."""

    reason: StopReason
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    """The upstream reported an error inside the stream.

    ``kind`` is an :class:`omniroute.errors.ErrorKind` value when the decoder could classify the
    error (``rate_limited``, ``upstream``, ...), else the upstream's own error type
    (``overloaded_error``); ``status`` is the HTTP status it implies, when known.
    """

    kind: str
    message: str
    status: int | None = None


Event = (
    MessageStart
    | PartStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | ToolArgumentsDelta
    | PartStop
    | UsageUpdate
    | Stop
    | StreamError
)


# -- shared conventions -------------------------------------------------------------------------

#: Thinking budget (tokens) used for each reasoning effort when a format wants a budget.
EFFORT_BUDGETS: dict[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


def effort_for_budget(budget: int) -> Literal["minimal", "low", "medium", "high"]:
    """The reasoning effort closest to a thinking budget (for formats that take an effort)."""
    if budget <= EFFORT_BUDGETS["minimal"]:
        return "minimal"
    if budget <= EFFORT_BUDGETS["low"]:
        return "low"
    if budget <= EFFORT_BUDGETS["medium"]:
        return "medium"
    return "high"


def budget_for(reasoning: Reasoning) -> int:
    """The thinking budget for a reasoning request (explicit budget first, else by effort)."""
    if reasoning.budget_tokens:
        return reasoning.budget_tokens
    return EFFORT_BUDGETS.get(reasoning.effort or "medium", EFFORT_BUDGETS["medium"])
