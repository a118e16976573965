"""OmniRoute provider plugin for the Example AI API (OpenAI-compatible, prefix ``ex``).

Example AI speaks OpenAI's Chat Completions and Embeddings API, authenticates with a Bearer key,
wants every request to name the calling client in ``X-Example-Client``, and answers HTTP 402
when an account's prepaid balance is spent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from omniroute import Connection, ErrorKind, ModelInfo, Provider, UpstreamError, hookimpl

CLIENT_HEADER = "X-Example-Client"


class ExampleProvider(Provider):
    """Example AI: OpenAI's wire format plus a client header and its own quota status."""

    def headers(self, conn: Connection) -> dict[str, str]:
        """Bearer key (the default) plus the header Example AI requires."""
        return {**super().headers(conn), CLIENT_HEADER: "omniroute"}

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """402 means this account's balance is spent: let the gateway try the next account."""
        err = super().classify_error(status, headers, body)
        if status == 402:
            err.kind = ErrorKind.QUOTA_EXHAUSTED
        return err


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register the ``example`` provider."""
    register(
        ExampleProvider(
            id="example",
            name="Example AI",
            prefix="ex",
            base_url="https://api.example.com/v1",
            docs_url="https://docs.example.com/models",
            models=[
                ModelInfo("example-chat-1", "chat", context_length=131072),
                ModelInfo("example-embed-1", "embedding", context_length=8192),
            ],
        )
    )
