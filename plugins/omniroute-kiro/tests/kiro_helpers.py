"""Shared values of the kr/ tests: the fake account's token, profile and stored credentials."""

from __future__ import annotations

import orjson

ACCESS_TOKEN = "kiro-access-token-0001"
PROFILE_ARN = "arn:aws:codewhisperer:us-east-1:111122223333:profile/TESTPROFILE"


OIDC_CLIENT_ID = "kiro-test-client"
OIDC_CLIENT_SECRET = "kiro-test-client-secret"


def credentials(token: str = ACCESS_TOKEN, profile_arn: str | None = PROFILE_ARN) -> str:
    """A connection secret as the OAuth kernel stores it (``OAuthCredentials`` JSON)."""
    # The AWS OIDC client the device login registered (refreshes authenticate with it).
    extra: dict[str, str] = {"client_id": OIDC_CLIENT_ID, "client_secret": OIDC_CLIENT_SECRET}
    if profile_arn:
        extra["profile_arn"] = profile_arn
    return orjson.dumps(
        {
            "accessToken": token,
            "refreshToken": "aorAAAAAG-refresh",
            "expiresAt": 4_102_444_800.0,
            "tokenType": "Bearer",
            "extra": extra,
        }
    ).decode()
