"""Connections (accounts at providers): validation, storage with encrypted credentials, and the
masked form the management API shows."""

from __future__ import annotations

import uuid
from typing import Any

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from omniroute.accounts.vault import Vault, mask
from omniroute.providers import Connection
from omniroute.store.rows import delete_by_id, get_by_id, now_iso, update_by_id

TABLE = "provider_connections"
#: Connection statuses: usable, or refused by the provider until the account logs in again.
STATUSES = ("active", "needs_reauth")
NEEDS_REAUTH = "needs_reauth"


def check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def reject_null(value: object) -> object:
    """For optional update fields that may be omitted but never cleared."""
    if value is None:
        raise ValueError("must not be null")
    return value


class ConnectionFields(BaseModel):
    """Fields a user may set on a connection; camelCase on the wire, like the rest of /api."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = Field(None, ge=0, le=1_000_000)
    is_active: bool | None = None
    default_model: str | None = Field(None, max_length=300)
    base_url: str | None = Field(None, max_length=2000)
    api_key: str | None = Field(None, min_length=1, max_length=10_000)

    @field_validator("name", "priority", "is_active", "api_key", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the caller sent: omitting a field keeps it, null is an error.
        return reject_null(value)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        return check_url(value)


class ConnectionCreate(ConnectionFields):
    """A new connection: the provider is required; the credentials are checked by its flow."""

    provider: str = Field(min_length=1, max_length=100)


def to_api(row: dict[str, Any]) -> dict[str, Any]:
    """The management-API view of a stored connection. The credential is only ever masked."""
    return {
        "id": row["id"],
        "provider": row["provider"],
        "name": row["name"],
        "apiKey": row["secret_mask"],
        "priority": row["priority"],
        "isActive": bool(row["is_active"]),
        "defaultModel": row["default_model"],
        "baseUrl": row["base_url"],
        "status": row.get("status") or "active",
        "needsReauth": row.get("status") == NEEDS_REAUTH,
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def list_rows(db: sqlite_utils.Database, provider: str | None = None) -> list[dict[str, Any]]:
    """Stored connections in routing order: provider, then priority, then age."""
    where, args = ("provider = ?", [provider]) if provider else (None, [])
    return list(db[TABLE].rows_where(where, args, order_by="provider, priority, created_at, id"))


def get_row(db: sqlite_utils.Database, connection_id: str) -> dict[str, Any] | None:
    """One stored connection, or None."""
    return get_by_id(db, TABLE, connection_id)


def insert(
    db: sqlite_utils.Database, vault: Vault, fields: ConnectionCreate, secret: str
) -> dict[str, Any]:
    """Store a new connection with its credential encrypted. Returns the stored row."""
    stamp = now_iso()
    row = {
        "id": uuid.uuid4().hex[:12],
        "provider": fields.provider,
        "name": fields.name or fields.provider,
        "secret": vault.encrypt(secret),
        "secret_mask": mask(secret),
        "priority": fields.priority if fields.priority is not None else 0,
        "is_active": 1 if fields.is_active is None or fields.is_active else 0,
        "default_model": fields.default_model,
        "base_url": fields.base_url,
        "created_at": stamp,
        "updated_at": stamp,
    }
    db.table(TABLE).insert(row)
    return row


def update(
    db: sqlite_utils.Database,
    vault: Vault,
    connection_id: str,
    fields: ConnectionFields,
    secret: str | None,
) -> dict[str, Any] | None:
    """Apply the fields that were given. Returns the updated row, or None if it does not exist."""
    given = fields.model_dump(exclude_unset=True, exclude={"api_key"})
    changes: dict[str, Any] = {}
    for key, value in given.items():
        changes[key] = int(value) if key == "is_active" else value
    if "name" in changes and not changes["name"]:
        del changes["name"]
    if secret is not None:
        changes["secret"] = vault.encrypt(secret)
        changes["secret_mask"] = mask(secret)
    return update_by_id(db, TABLE, connection_id, changes)


def set_status(db: sqlite_utils.Database, connection_id: str, status: str) -> bool:
    """Set a connection's status (``active`` or ``needs_reauth``); whether it exists."""
    if status not in STATUSES:
        raise ValueError(f"unknown connection status {status!r}")
    return update_by_id(db, TABLE, connection_id, {"status": status}) is not None


def update_secret(
    db: sqlite_utils.Database,
    vault: Vault,
    connection_id: str,
    secret: str,
    secret_mask: str | None = None,
) -> bool:
    """Replace a connection's credential (encrypted; masked as ``secret_mask`` if given)."""
    changes = {"secret": vault.encrypt(secret), "secret_mask": secret_mask or mask(secret)}
    return update_by_id(db, TABLE, connection_id, changes) is not None


def delete(db: sqlite_utils.Database, connection_id: str) -> bool:
    """Remove a connection. Returns whether it existed."""
    return delete_by_id(db, TABLE, connection_id)


def load(db: sqlite_utils.Database, vault: Vault) -> list[Connection]:
    """Every connection with its credential decrypted, for the in-memory routing index."""
    return [
        Connection(
            id=row["id"],
            provider=row["provider"],
            name=row["name"],
            api_key=vault.decrypt(row["secret"]),
            priority=row["priority"],
            is_active=bool(row["is_active"]),
            default_model=row["default_model"],
            base_url=row["base_url"],
        )
        for row in list_rows(db)
    ]
