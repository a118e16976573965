"""Test helpers for OmniRoute and its plugins: fake upstreams that speak the real wire formats
(OpenAI-compatible, Anthropic, Responses, Gemini, and the subscription backends: Claude OAuth,
Codex, Code Assist, CodeWhisperer), a fake OAuth authorization server; each validates what it
receives and can be scripted to fail."""

from omniroute.testing.fake_anthropic import AnthropicReply, FakeAnthropicUpstream
from omniroute.testing.fake_claude_oauth import FakeClaudeOAuthUpstream
from omniroute.testing.fake_code_assist import FakeCodeAssist
from omniroute.testing.fake_codex import FakeCodexUpstream
from omniroute.testing.fake_gemini import FakeGeminiUpstream, GeminiReply
from omniroute.testing.fake_kiro import FakeKiroUpstream
from omniroute.testing.fake_oauth import FakeOAuthServer
from omniroute.testing.fake_openai import FakeOpenAIUpstream, RecordedRequest, Reply, ReplyKind
from omniroute.testing.fake_responses import FakeResponsesUpstream, ResponsesReply

__all__ = [
    "AnthropicReply",
    "FakeAnthropicUpstream",
    "FakeClaudeOAuthUpstream",
    "FakeCodeAssist",
    "FakeCodexUpstream",
    "FakeGeminiUpstream",
    "FakeKiroUpstream",
    "FakeOAuthServer",
    "FakeOpenAIUpstream",
    "FakeResponsesUpstream",
    "GeminiReply",
    "RecordedRequest",
    "Reply",
    "ReplyKind",
    "ResponsesReply",
]
