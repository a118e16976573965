"""Carrying other providers' reasoning signatures through Gemini's ``thoughtSignature``.

Gemini types ``thoughtSignature`` as bytes: clients such as google-genai decode it as standard
base64 and refuse anything else. Signatures issued by other providers need not be: OpenAI's
``encrypted_content`` is URL-safe base64 (``-`` and ``_``), an Anthropic signature may be any
text. Such a signature is wrapped — its UTF-8 bytes after a marker, base64-encoded — so a Gemini
client keeps it as opaque bytes and echoes it back unchanged, and unwrapped when it returns.
Signatures that already are standard base64 (Gemini's own) pass untouched both ways.
"""

from __future__ import annotations

import base64
import binascii
import re

_STANDARD_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_MARKER = b"omniroute-signature:"


def to_gemini(signature: str) -> str:
    """``signature`` as a valid ``thoughtSignature`` (wrapped unless it is standard base64)."""
    if _STANDARD_BASE64.fullmatch(signature):
        return signature
    return base64.b64encode(_MARKER + signature.encode()).decode()


def from_gemini(signature: str) -> str:
    """The signature a ``thoughtSignature`` carries (unwrapping one :func:`to_gemini` wrapped)."""
    # Wrapped signatures start with the marker's base64 ("b21uaXJvdXRlLXNpZ25hdHVyZT").
    if not signature.startswith("b21uaXJvdXRl"):
        return signature
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return signature
    if not raw.startswith(_MARKER):
        return signature
    return raw[len(_MARKER) :].decode(errors="replace")
