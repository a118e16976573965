"""Dashboard login: the password (scrypt-hashed in the settings table) and signed session
cookies (JWT, HS256, ``JWT_SECRET``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import sqlite_utils

COOKIE = "omniroute_session"
PASSWORD_KEY = "password_hash"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """A salted scrypt hash in a self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time."""
    try:
        scheme, n, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        dklen=len(expected),
        n=int(n),
        r=_SCRYPT["r"],
        p=_SCRYPT["p"],
    )
    return hmac.compare_digest(actual, expected)


def stored_password_hash(db: sqlite_utils.Database) -> str | None:
    """The stored password hash, if a password was ever set."""
    rows = list(db["settings"].rows_where("key = ?", [PASSWORD_KEY]))
    return rows[0]["value"] if rows else None


def ensure_password(db: sqlite_utils.Database, initial: str | None) -> str | None:
    """Set the first password if none exists: ``initial`` or a random one.

    Returns the generated password (to print once), or None when no password was generated.
    """
    if stored_password_hash(db) is not None:
        return None
    password = initial or secrets.token_urlsafe(12)
    db.table("settings").upsert({"key": PASSWORD_KEY, "value": hash_password(password)}, pk="key")
    return None if initial else password


class SessionSigner:
    """Issues and checks session tokens.

    The JOSE library is imported on first use: a gateway that only serves ``/v1`` never loads
    it, which keeps several megabytes out of its memory.
    """

    def __init__(self, secret: str, lifetime_seconds: float) -> None:
        self._secret = secret
        self._key: Any = None
        self.lifetime = int(lifetime_seconds)

    def _signing_key(self) -> Any:
        if self._key is None:
            from joserfc.jwk import OctKey

            self._key = OctKey.import_key(self._secret.encode())
        return self._key

    def issue(self, generation: int = 0) -> str:
        """A new session token, valid while the password stays at ``generation``."""
        from joserfc import jwt

        now = int(time.time())
        claims = {"sub": "admin", "iat": now, "exp": now + self.lifetime, "gen": generation}
        return jwt.encode({"alg": "HS256"}, claims, self._signing_key())

    def valid(self, token: str | None, generation: int = 0) -> bool:
        """Whether ``token`` is a well-signed, unexpired session issued since the password
        last changed (``generation``)."""
        if not token:
            return False
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            decoded = jwt.decode(token, self._signing_key(), algorithms=["HS256"])
        except (JoseError, ValueError):
            return False
        exp = decoded.claims.get("exp")
        issued_under = decoded.claims.get("gen", 0)
        return isinstance(exp, int) and exp > time.time() and issued_under == generation
