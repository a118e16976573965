"""Custom models: model ids a user adds to a provider's catalogue (``/api/provider-models``).

They are listed by ``/v1/models`` and resolve like built-in ones, bare ids included: catalogues
go stale, and a new model should not wait for a plugin release to be reachable by its bare id.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field

from omniroute.providers import ModelInfo, ModelType
from omniroute.store.rows import delete_by_id, now_iso

TABLE = "provider_models"


class ProviderModelCreate(BaseModel):
    """A custom model: the provider (id, prefix or alias), the id it answers to, a display
    name and its type."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    provider: str = Field(min_length=1, max_length=100)
    model_id: str = Field(alias="modelId", min_length=1, max_length=300, pattern=r"^\S+$")
    model_name: str | None = Field(None, alias="modelName", max_length=300)
    type: ModelType = "chat"


def to_api(row: dict[str, Any]) -> dict[str, Any]:
    """The management-API view of a custom model."""
    return {
        "id": row["id"],
        "provider": row["provider"],
        "modelId": row["model_id"],
        "modelName": row["model_name"] or row["model_id"],
        "type": row["type"],
        "createdAt": row["created_at"],
    }


def list_rows(db: sqlite_utils.Database, provider: str | None = None) -> list[dict[str, Any]]:
    """Custom models, by provider then id (only ``provider``'s when given)."""
    where, args = ("provider = ?", [provider]) if provider else (None, None)
    return list(db[TABLE].rows_where(where, args, order_by="provider, model_id"))


def find(db: sqlite_utils.Database, provider: str, model_id: str) -> dict[str, Any] | None:
    """The custom model ``model_id`` of ``provider`` (ids compare case-insensitively)."""
    rows = list(
        db[TABLE].rows_where("provider = ? AND model_id = ? COLLATE NOCASE", [provider, model_id])
    )
    return rows[0] if rows else None


def insert(
    db: sqlite_utils.Database, provider_id: str, fields: ProviderModelCreate
) -> dict[str, Any]:
    """Store a custom model of the provider ``provider_id`` (already resolved to an id)."""
    row = {
        "id": uuid.uuid4().hex[:12],
        "provider": provider_id,
        "model_id": fields.model_id,
        "model_name": fields.model_name,
        "type": fields.type,
        "created_at": now_iso(),
    }
    db.table(TABLE).insert(row)
    return row


def delete(db: sqlite_utils.Database, row_id: str) -> bool:
    """Remove a custom model by its id; whether it existed."""
    return delete_by_id(db, TABLE, row_id)


def load(db: sqlite_utils.Database) -> dict[str, tuple[ModelInfo, ...]]:
    """Provider id → its custom models, for the routing index."""
    by_provider: dict[str, list[ModelInfo]] = defaultdict(list)
    for row in db[TABLE].rows_where(order_by="created_at, id"):
        by_provider[row["provider"]].append(ModelInfo(id=row["model_id"], type=row["type"]))
    return {pid: tuple(models) for pid, models in by_provider.items()}
