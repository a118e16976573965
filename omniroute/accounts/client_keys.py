"""Client API keys: shown once at creation, stored only as a keyed hash."""

from __future__ import annotations

import hmac
import secrets
import uuid
from typing import Any

import sqlite_utils

from omniroute.accounts.vault import mask
from omniroute.store.rows import now_iso

TABLE = "api_keys"
KEY_PREFIX = "sk-omni-"


def generate_key() -> str:
    """A new random client key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(secret: str, key: str) -> str:
    """The keyed hash (HMAC-SHA256 with ``API_KEY_SECRET``) under which a key is stored."""
    return hmac.digest(secret.encode(), key.encode(), "sha256").hex()


def to_api(row: dict[str, Any]) -> dict[str, Any]:
    """The management-API view of a key: never the key, only its mask."""
    return {
        "id": row["id"],
        "name": row["name"],
        "key": row["key_mask"],
        "createdAt": row["created_at"],
        "lastUsedAt": row["last_used_at"],
        "revokedAt": row["revoked_at"],
        "active": row["revoked_at"] is None,
    }


def create(db: sqlite_utils.Database, hash_secret: str, name: str) -> tuple[dict[str, Any], str]:
    """Store a new key. Returns the row and the plain key, which exists nowhere else."""
    key = generate_key()
    row = {
        "id": uuid.uuid4().hex[:12],
        "name": name,
        "key_hash": hash_key(hash_secret, key),
        "key_mask": mask(key),
        "created_at": now_iso(),
        "last_used_at": None,
        "revoked_at": None,
    }
    db.table(TABLE).insert(row)
    return row, key


def list_rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every key, newest first."""
    return list(db[TABLE].rows_where(order_by="created_at desc, id"))


def revoke(db: sqlite_utils.Database, key_id: str) -> bool:
    """Revoke a key; the row stays so past usage keeps its owner. Returns whether it existed."""
    rows = list(db[TABLE].rows_where("id = ?", [key_id]))
    if not rows:
        return False
    if rows[0]["revoked_at"] is None:
        db.table(TABLE).update(key_id, {"revoked_at": now_iso()})
    return True


def active_hashes(db: sqlite_utils.Database) -> dict[str, str]:
    """Hash → key id for every usable key, for the in-memory authenticator."""
    return {row["key_hash"]: row["id"] for row in db[TABLE].rows_where("revoked_at IS NULL")}


def touch(db: sqlite_utils.Database, last_used: dict[str, str]) -> None:
    """Record when keys were last used (batched by the ledger writer)."""
    db.conn.executemany(
        f"UPDATE {TABLE} SET last_used_at = ? WHERE id = ?",
        [(stamp, key_id) for key_id, stamp in last_used.items()],
    )
