"""Other providers' signatures survive a trip through a Gemini client's ``thoughtSignature``."""

from __future__ import annotations

import base64

import pytest

from omniroute.formats.gemini_signatures import from_gemini, to_gemini


@pytest.mark.parametrize("signature", ["c2lnbmVk", "Zm9vYmFy", "EqQBCqEBAXLI2nw+/abc"])
def test_standard_base64_passes_untouched_both_ways(signature):
    assert to_gemini(signature) == signature
    assert from_gemini(signature) == signature


@pytest.mark.parametrize(
    "signature", ["gAAAAABo-x_y", "ErUBCkYIBxgCKkB!", "abc", "sig with spaces"]
)
def test_a_foreign_signature_is_wrapped_as_base64_and_comes_back_exactly(signature):
    wrapped = to_gemini(signature)
    assert wrapped != signature
    base64.b64decode(wrapped, validate=True)  # what google-genai requires
    assert from_gemini(wrapped) == signature


def test_a_gemini_signature_that_only_looks_like_a_wrapped_one_is_kept():
    lookalike = base64.b64encode(b"omniroute-something-else").decode()
    assert from_gemini(lookalike) == lookalike
