"""Errors as values: every failure carries a kind that routing decides on, never a string match."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """What went wrong, in the terms routing and clients care about."""

    BAD_REQUEST = "bad_request"
    """The request itself is wrong; another account would reject it too."""
    AUTH = "auth"
    """The account's credentials were refused (401/403)."""
    NOT_FOUND = "not_found"
    """The model or route does not exist."""
    RATE_LIMITED = "rate_limited"
    """The account is over a short-term limit; it recovers by itself."""
    QUOTA_EXHAUSTED = "quota_exhausted"
    """The account's quota or balance is spent; it recovers only at a reset or top-up."""
    UPSTREAM = "upstream"
    """The provider failed (5xx, malformed answer, error event)."""
    TIMEOUT = "timeout"
    """The provider did not answer in time."""
    UNREACHABLE = "unreachable"
    """No connection to the provider could be made."""
    UNAVAILABLE = "unavailable"
    """Nothing is configured that could serve the request."""
    TOO_LARGE = "too_large"
    """The request body exceeds the gateway's limit."""
    BUDGET_EXCEEDED = "budget_exceeded"
    """The client key has spent its budget for the current period."""
    CONTEXT_LENGTH = "context_length"
    """The request is too long for the target model's context; a bigger model may take it."""


#: Kinds after which the next account or target is tried.
FAILOVER_KINDS = frozenset(
    {
        ErrorKind.AUTH,
        ErrorKind.RATE_LIMITED,
        ErrorKind.QUOTA_EXHAUSTED,
        ErrorKind.UPSTREAM,
        ErrorKind.TIMEOUT,
        ErrorKind.UNREACHABLE,
    }
)

#: Kinds that rule out one target (model) but not the next: every account of the target would
#: fail the same way, another model may not. A single-target request reports them as they are.
NEXT_TARGET_KINDS = frozenset(
    {ErrorKind.CONTEXT_LENGTH, ErrorKind.NOT_FOUND, ErrorKind.UNAVAILABLE}
)

_DEFAULT_STATUS = {
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.AUTH: 401,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.QUOTA_EXHAUSTED: 429,
    ErrorKind.UPSTREAM: 502,
    ErrorKind.TIMEOUT: 504,
    ErrorKind.UNREACHABLE: 502,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.BUDGET_EXCEEDED: 429,
    ErrorKind.CONTEXT_LENGTH: 400,
}


class GatewayError(Exception):
    """A failure to report to the client, rendered in the client's own error shape.

    ``code`` and ``param`` follow OpenAI's error object; formats that lack them ignore them.
    ``retry_after`` (seconds) becomes a ``Retry-After`` header.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status or _DEFAULT_STATUS.get(kind, 500)
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.type = type
        #: The provider limits the model, not the account: only that model should rest
        #: (set by a provider's ``classify_error``).
        self.model_scoped = False

    @property
    def failover(self) -> bool:
        """Whether another account or target may succeed where this one failed."""
        return self.kind in FAILOVER_KINDS

    @property
    def next_target(self) -> bool:
        """Whether the next target of a plan may succeed where this one cannot (every account
        of this one would fail alike: no need to try them)."""
        return self.kind in FAILOVER_KINDS or self.kind in NEXT_TARGET_KINDS

    def __repr__(self) -> str:
        return f"GatewayError({self.kind.value}, {self.status}, {self.message!r})"


class UpstreamError(GatewayError):
    """A failure reported by (or on the way to) a provider, classified by that provider."""

    def __init__(self, kind: ErrorKind, message: str, **kwargs: Any) -> None:
        super().__init__(kind, message, **kwargs)


class BadRequest(GatewayError):
    """The client's request is malformed; ``param`` names the offending field."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(ErrorKind.BAD_REQUEST, message, param=param, code=code)


class ConfigError(Exception):
    """The plugin set or the configuration cannot be used; raised at startup, never per request."""
