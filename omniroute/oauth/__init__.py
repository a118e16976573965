"""Subscription accounts: OAuth credentials, login flows, the token keeper and its middleware.

Provider plugins build on :class:`~omniroute.oauth.provider.OAuthProvider` and register the
flows of :mod:`omniroute.oauth.flows`; the kernel keeps each connection's tokens fresh.
"""

from omniroute.oauth.credentials import OAuthCredentials, secrets_of
from omniroute.oauth.flows import (
    AuthorizationCodeFlow,
    DeviceCodeFlow,
    ImportFlow,
    InvalidGrant,
    OAuthError,
    OAuthFlow,
)
from omniroute.oauth.provider import OAuthProvider
from omniroute.oauth.quota import QuotaWindow

__all__ = [
    "AuthorizationCodeFlow",
    "DeviceCodeFlow",
    "ImportFlow",
    "InvalidGrant",
    "OAuthCredentials",
    "OAuthError",
    "OAuthFlow",
    "OAuthProvider",
    "QuotaWindow",
    "secrets_of",
]
