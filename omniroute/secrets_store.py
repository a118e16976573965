"""The process's own secrets: session signing, client-key hashing, credential encryption.

Each comes from the environment when set; otherwise it is generated once and kept in
``DATA_DIR`` with mode 0600, so a fresh install is secure with zero setup.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from omniroute.accounts.vault import Vault, load_or_create_secret
from omniroute.settings import Settings


@dataclass(frozen=True)
class Secrets:
    """Keys the gateway signs, hashes and encrypts with. Never printed, never exported."""

    jwt_secret: str
    api_key_secret: str
    vault: Vault

    def __repr__(self) -> str:
        return "Secrets(****)"


def load_secrets(settings: Settings) -> Secrets:
    """Secrets from the environment, or generated and kept in ``DATA_DIR`` (0600)."""
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    jwt_secret = settings.jwt_secret or load_or_create_secret(
        data / "jwt.secret", lambda: secrets.token_urlsafe(48)
    )
    api_key_secret = settings.api_key_secret or load_or_create_secret(
        data / "api_key.secret", lambda: secrets.token_urlsafe(48)
    )
    encryption_key = settings.storage_encryption_key or load_or_create_secret(
        data / "encryption.key", Vault.generate_key
    )
    return Secrets(jwt_secret, api_key_secret, Vault(encryption_key))
