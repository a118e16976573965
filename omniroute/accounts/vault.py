"""Secrets at rest and in memory: Fernet encryption, masked values, 0600 key files."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from omniroute.errors import ConfigError


class Secret:
    """A credential held in memory. Its repr and str are masked so it cannot leak into logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain value, for the one place that sends it upstream."""
        return self._value

    @property
    def masked(self) -> str:
        """A recognisable but useless form: the first 4 and last 4 characters at most."""
        return mask(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    __str__ = __repr__


def mask(value: str) -> str:
    """Mask a secret for display: ``sk-a…wxyz``; short values become ``****``."""
    if len(value) < 12:
        return "****"
    return f"{value[:4]}…{value[-4:]}"


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read, creating it with 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def load_or_create_secret(path: Path, factory: Callable[[], str]) -> str:
    """Read a generated secret from ``path``, creating it (0600) with ``factory()`` on first use."""
    if path.exists():
        return path.read_text().strip()
    value = factory()
    write_private_file(path, value.encode())
    return value


class Vault:
    """Encrypts credentials for storage. The key comes from env or a 0600 file in ``DATA_DIR``."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @classmethod
    def generate_key(cls) -> str:
        """A fresh random key in Fernet's encoding."""
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str) -> str:
        """Encrypt a secret for a database column."""
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> Secret:
        """Decrypt a stored secret; a wrong key is a configuration error, never a silent empty."""
        try:
            return Secret(self._fernet.decrypt(token.encode()).decode())
        except InvalidToken as exc:
            raise ConfigError(
                "stored credential cannot be decrypted: the encryption key "
                "(STORAGE_ENCRYPTION_KEY or DATA_DIR/encryption.key) has changed"
            ) from exc


_KEYLIKE = re.compile(
    r"\b(?:sk|pk|rk|gsk|xai|nvapi|key|api)[-_][A-Za-z0-9_\-]{12,}|\bAIza[0-9A-Za-z_\-]{20,}"
)


def redact(text: str, *known: Secret | str | None) -> str:
    """Remove credentials from text that may reach a client, a log or an export.

    Known secrets are replaced wherever they occur; anything shaped like a provider key is masked
    too, because upstreams sometimes echo the key they were given in their error messages.
    """
    for item in known:
        value = item.reveal() if isinstance(item, Secret) else item
        if value and len(value) >= 6:
            text = text.replace(value, mask(value))
    return _KEYLIKE.sub(lambda m: mask(m.group(0)), text)
