"""The API-key auth flow (default plugin): the user pastes a key, the gateway keeps it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omniroute.extensions import AuthField, AuthFlow
from omniroute.hookspecs import hookimpl


def api_key_credentials(data: Mapping[str, Any]) -> str:
    """The key from the user's input, trimmed; empty or non-string input is refused."""
    key = data.get("apiKey")
    if not isinstance(key, str) or not key.strip():
        raise ValueError("apiKey must be a non-empty string")
    if any(ch.isspace() for ch in key.strip()):
        raise ValueError("apiKey must not contain whitespace")
    return key.strip()


@hookimpl
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """Register the ``api-key`` flow used by every pay-per-token provider."""
    register(
        AuthFlow(
            id="api-key",
            kind="api-key",
            title="API key",
            fields=(AuthField("apiKey", "API key", secret=True),),
            credentials=api_key_credentials,
        )
    )
