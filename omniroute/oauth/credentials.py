"""The credentials of an OAuth connection: one JSON document stored as the connection's secret."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from omniroute.accounts.vault import Secret, redact

if TYPE_CHECKING:
    from omniroute.providers import Connection


class OAuthCredentials(BaseModel):
    """Tokens of one subscription account (camelCase in the stored JSON).

    ``expires_at`` is epoch seconds (``None``: unknown, never refreshed proactively). ``extra``
    holds provider specifics: Codex ``chatgpt_account_id``, Qwen ``resource_url``, Gemini
    ``project``, Kiro ``profile_arn``, iFlow ``api_key``, the Copilot token...
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    access_token: str = Field(min_length=1)
    refresh_token: str | None = None
    expires_at: float | None = None
    token_type: str = "Bearer"
    scope: str | None = None
    account_id: str | None = None
    email: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_token_response(
        cls, data: Mapping[str, Any], *, previous: OAuthCredentials | None = None
    ) -> OAuthCredentials:
        """Credentials from a token endpoint's answer (``expires_in`` becomes ``expires_at``).

        A refresh answer without a ``refresh_token`` keeps the previous one, and keeps the
        account, email and extras of ``previous``.
        """
        expires_in = data.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int | float | str) and str(expires_in).strip():
            try:
                expires_at = time.time() + float(expires_in)
            except ValueError:
                expires_at = None
        base = previous.model_copy(deep=True) if previous else None
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token") or (base.refresh_token if base else None),
            expires_at=expires_at,
            token_type=str(data.get("token_type") or "Bearer"),
            scope=data.get("scope") or (base.scope if base else None),
            account_id=base.account_id if base else None,
            email=base.email if base else None,
            extra=base.extra if base else {},
        )

    @classmethod
    def from_secret(cls, secret: str) -> OAuthCredentials:
        """Parse a stored secret; ``ValueError`` when it is not an OAuth credential document."""
        return cls.model_validate_json(secret)

    @classmethod
    def from_connection(cls, conn: Connection) -> OAuthCredentials:
        """The credentials stored for ``conn``."""
        return cls.from_secret(conn.api_key.reveal())

    def to_secret(self) -> str:
        """The JSON document stored (encrypted) as the connection's secret."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    def expires_in(self, now: float | None = None) -> float | None:
        """Seconds until the access token expires (negative once it has), ``None`` if unknown."""
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    def secrets(self) -> list[str]:
        """Every secret string this credential holds (see :func:`secrets_of`)."""
        return secrets_of(self)

    def __repr__(self) -> str:  # tokens must not reach logs through a repr
        return f"OAuthCredentials(account_id={self.account_id!r}, email={self.email!r})"

    __str__ = __repr__


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


_NOT_SECRET = {"project", "resource_url", "region", "profile_arn", "endpoint", "api_base"}


def secrets_of(creds: OAuthCredentials) -> list[str]:
    """The secret strings of a credential: access and refresh tokens and every token-like
    string in ``extra`` (Copilot token, iFlow API key, id_token...), for redaction."""
    found = [creds.access_token, *([creds.refresh_token] if creds.refresh_token else [])]
    for key, value in creds.extra.items():
        if key not in _NOT_SECRET:
            found += [s for s in _strings(value) if len(s) >= 12]
    return found


def redact_all(text: str, *items: OAuthCredentials | Secret | str | None) -> str:
    """:func:`omniroute.accounts.vault.redact` for every secret of every item given."""
    known: list[Secret | str | None] = []
    for item in items:
        if isinstance(item, OAuthCredentials):
            known += secrets_of(item)
        else:
            known.append(item)
            if isinstance(item, Secret):
                with contextlib.suppress(ValueError):
                    known += secrets_of(OAuthCredentials.from_secret(item.reveal()))
    return redact(text, *known)
