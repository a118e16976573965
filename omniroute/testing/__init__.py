"""Test helpers for OmniRoute and its plugins: a fake OpenAI-compatible upstream."""

from omniroute.testing.fake_openai import FakeOpenAIUpstream, RecordedRequest, Reply, ReplyKind

__all__ = ["FakeOpenAIUpstream", "RecordedRequest", "Reply", "ReplyKind"]
