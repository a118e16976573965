"""Client API keys: shown once at creation, stored only as a keyed hash.

A key may be limited to some models (``allowedModels``: shell-style patterns such as
``openai/*`` or a combo's name), may expire, and may have a requests-per-minute limit. The
routing index holds each usable key as a :class:`KeyInfo`, with its patterns compiled once.
"""

from __future__ import annotations

import fnmatch
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlite_utils
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from omniroute.accounts.vault import mask
from omniroute.store.rows import get_by_id, now_iso

TABLE = "api_keys"
KEY_PREFIX = "sk-omni-"
MAX_PATTERNS = 200


def generate_key() -> str:
    """A new random client key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str, key: str) -> str:
    """The keyed hash (HMAC-SHA256 with ``API_KEY_SECRET``) under which a key is stored."""
    return hmac.digest(secret.encode(), key.encode(), "sha256").hex()


def compile_scope(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive regex matching any of the shell-style ``patterns``; ``None`` for an
    unrestricted key. Compiled when the index is built, never per request."""
    if not patterns:
        return None
    joined = "|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)
    return re.compile(joined, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A usable client key as the gateway sees it on every request.

    ``scope`` matches the model names the key may use (``None``: every model);
    ``expires_at`` is a Unix time; ``rpm`` the requests allowed in any 60 seconds.
    """

    id: str
    name: str
    allowed: tuple[str, ...] = ()
    expires_at: float | None = None
    rpm: int | None = None
    scope: re.Pattern[str] | None = None

    def allows(self, *names: str) -> bool:
        """Whether any of ``names`` (the model as asked for, as resolved) is in scope."""
        if self.scope is None:
            return True
        return any(self.scope.match(name) for name in names if name)

    def expired(self, now: float) -> bool:
        """Whether the key's expiry has passed."""
        return self.expires_at is not None and self.expires_at <= now


class KeyFields(BaseModel):
    """The settable fields of a client key (every one optional, for updates)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    name: str | None = Field(None, min_length=1, max_length=200)
    allowed_models: list[str] | None = Field(None, alias="allowedModels", max_length=MAX_PATTERNS)
    expires_at: AwareDatetime | None = Field(None, alias="expiresAt")
    rpm_limit: int | None = Field(None, alias="rpmLimit", ge=1, le=1_000_000)

    @field_validator("allowed_models")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [p.strip() for p in value]
        for pattern in cleaned:
            if not pattern or len(pattern) > 200:
                raise ValueError("each pattern must be 1-200 characters")
        return list(dict.fromkeys(cleaned))


class KeyCreate(KeyFields):
    """A new client key: ``name`` defaults to ``default``."""

    name: str | None = Field("default", min_length=1, max_length=200)


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _patterns(row: dict[str, Any]) -> list[str]:
    raw = row.get("allowed_models")
    return list(orjson.loads(raw)) if raw else []


def to_api(row: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """The management-API view of a key: never the key, only its mask."""
    expires = row.get("expires_at")
    now = datetime.now(UTC).timestamp() if now is None else now
    return {
        "id": row["id"],
        "name": row["name"],
        "key": row["key_mask"],
        "allowedModels": _patterns(row),
        "expiresAt": _iso(expires),
        "expired": expires is not None and expires <= now,
        "rpmLimit": row.get("rpm_limit"),
        "createdAt": row["created_at"],
        "lastUsedAt": row["last_used_at"],
        "revokedAt": row["revoked_at"],
        "active": row["revoked_at"] is None,
    }


def _columns(fields: KeyFields) -> dict[str, Any]:
    """Database columns for the fields given in the request (unset ones are left alone)."""
    given = fields.model_fields_set
    columns: dict[str, Any] = {}
    if "name" in given and fields.name is not None:
        columns["name"] = fields.name
    if "allowed_models" in given:
        patterns = fields.allowed_models or []
        columns["allowed_models"] = orjson.dumps(patterns).decode() if patterns else None
    if "expires_at" in given:
        columns["expires_at"] = fields.expires_at.timestamp() if fields.expires_at else None
    if "rpm_limit" in given:
        columns["rpm_limit"] = fields.rpm_limit
    return columns


def create(
    db: sqlite_utils.Database, hash_secret: str, fields: KeyCreate
) -> tuple[dict[str, Any], str]:
    """Store a new key. Returns the row and the plain key, which exists nowhere else."""
    key = generate_key()
    row = {
        "id": uuid.uuid4().hex[:12],
        "name": fields.name or "default",
        "key_hash": hash_key(hash_secret, key),
        "key_mask": mask(key),
        "created_at": now_iso(),
        "last_used_at": None,
        "revoked_at": None,
        "allowed_models": None,
        "expires_at": None,
        "rpm_limit": None,
    }
    row.update(_columns(fields))
    db.table(TABLE).insert(row)
    return row, key


def get_row(db: sqlite_utils.Database, key_id: str) -> dict[str, Any] | None:
    """One key's row, or None."""
    return get_by_id(db, TABLE, key_id)


def update(db: sqlite_utils.Database, key_id: str, fields: KeyFields) -> dict[str, Any] | None:
    """Change a key's name, scope, expiry or rate limit; None when it does not exist."""
    if get_row(db, key_id) is None:
        return None
    columns = _columns(fields)
    if columns:
        db.table(TABLE).update(key_id, columns)
    return get_row(db, key_id)


def regenerate(
    db: sqlite_utils.Database, hash_secret: str, key_id: str
) -> tuple[dict[str, Any], str] | None:
    """Give a key a new secret (same id, scope and history); the old secret stops working.

    Returns the row and the new plain key, or None when there is no such key. A revoked key
    stays revoked: regenerating is for rotation, not for bringing keys back.
    """
    row = get_row(db, key_id)
    if row is None:
        return None
    key = generate_key()
    db.table(TABLE).update(key_id, {"key_hash": hash_key(hash_secret, key), "key_mask": mask(key)})
    updated = get_row(db, key_id)
    assert updated is not None
    return updated, key


def list_rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every key, newest first."""
    return list(db[TABLE].rows_where(order_by="created_at desc, id"))


def revoke(db: sqlite_utils.Database, key_id: str) -> bool:
    """Revoke a key; the row stays so past usage keeps its owner. Returns whether it existed."""
    row = get_row(db, key_id)
    if row is None:
        return False
    if row["revoked_at"] is None:
        db.table(TABLE).update(key_id, {"revoked_at": now_iso()})
    return True


def load(db: sqlite_utils.Database) -> dict[str, KeyInfo]:
    """Hash → :class:`KeyInfo` for every key not revoked, for the in-memory authenticator.

    Expired keys stay in, so that using one is answered "expired" rather than "invalid".
    """
    keys = {}
    for row in db[TABLE].rows_where("revoked_at IS NULL"):
        allowed = tuple(_patterns(row))
        keys[row["key_hash"]] = KeyInfo(
            id=row["id"],
            name=row["name"],
            allowed=allowed,
            expires_at=row.get("expires_at"),
            rpm=row.get("rpm_limit"),
            scope=compile_scope(allowed),
        )
    return keys


def touch(db: sqlite_utils.Database, last_used: dict[str, str]) -> None:
    """Record when keys were last used (batched by the ledger writer)."""
    db.conn.executemany(
        f"UPDATE {TABLE} SET last_used_at = ? WHERE id = ?",
        [(stamp, key_id) for key_id, stamp in last_used.items()],
    )
