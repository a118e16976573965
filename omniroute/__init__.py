"""OmniRoute: a self-hosted AI gateway. This module is the public API plugins may import."""

from omniroute.accounts.vault import Secret, redact
from omniroute.errors import BadRequest, ErrorKind, GatewayError, UpstreamError
from omniroute.extensions import (
    AccountState,
    Attempt,
    AuthField,
    AuthFlow,
    DashboardPanel,
    Middleware,
    Route,
    Strategy,
    StrategyContext,
    UpstreamResponse,
)
from omniroute.formats.base import Format
from omniroute.hookspecs import hookimpl
from omniroute.pricing.prices import ModelPrice
from omniroute.providers import (
    CheckResult,
    Connection,
    Endpoint,
    ModelInfo,
    Provider,
    ProviderNode,
    retry_after_seconds,
)

__all__ = [
    "AccountState",
    "Attempt",
    "AuthField",
    "AuthFlow",
    "BadRequest",
    "CheckResult",
    "Connection",
    "DashboardPanel",
    "Endpoint",
    "ErrorKind",
    "Format",
    "GatewayError",
    "Middleware",
    "ModelInfo",
    "ModelPrice",
    "Provider",
    "ProviderNode",
    "Route",
    "Secret",
    "Strategy",
    "StrategyContext",
    "UpstreamError",
    "UpstreamResponse",
    "hookimpl",
    "redact",
    "retry_after_seconds",
]
