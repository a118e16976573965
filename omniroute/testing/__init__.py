"""Test helpers for OmniRoute and its plugins: fake upstreams that speak the real wire formats
(OpenAI-compatible and Anthropic), validate what they receive and can be scripted to fail."""

from omniroute.testing.fake_anthropic import AnthropicReply, FakeAnthropicUpstream
from omniroute.testing.fake_gemini import FakeGeminiUpstream, GeminiReply
from omniroute.testing.fake_openai import FakeOpenAIUpstream, RecordedRequest, Reply, ReplyKind
from omniroute.testing.fake_responses import FakeResponsesUpstream, ResponsesReply

__all__ = [
    "AnthropicReply",
    "FakeAnthropicUpstream",
    "FakeGeminiUpstream",
    "FakeOpenAIUpstream",
    "FakeResponsesUpstream",
    "GeminiReply",
    "RecordedRequest",
    "Reply",
    "ReplyKind",
    "ResponsesReply",
]
