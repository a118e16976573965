"""PKCE (RFC 7636, S256) and random state values, through authlib."""

from __future__ import annotations

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge


def make_verifier() -> str:
    """A code verifier: 64 characters of the unreserved alphabet (RFC 7636 allows 43-128)."""
    return generate_token(64)


def challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: base64url(sha256(verifier)), no padding."""
    return str(create_s256_code_challenge(verifier))


def make_state() -> str:
    """An unguessable ``state`` value binding an authorization answer to its login."""
    return generate_token(32)
