"""Provider nodes: user-defined providers made from a template provider and a base URL."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from omniroute.accounts.connections import check_url, reject_null
from omniroute.providers import MODEL_TYPES, ModelInfo, ModelType, ProviderNode
from omniroute.store.rows import delete_by_id, get_by_id, now_iso, update_by_id

TABLE = "provider_nodes"
PREFIX_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")


class NodeModel(BaseModel):
    """One model a node serves."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    id: str = Field(min_length=1, max_length=300)
    type: ModelType = "chat"
    context_length: int | None = Field(None, gt=0)


class NodeFields(BaseModel):
    """Fields of a provider node as the management API accepts them."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    prefix: str | None = None
    type: str | None = Field(None, min_length=1, max_length=100)
    base_url: str | None = Field(None, max_length=2000)
    models: list[NodeModel | str] | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str | None) -> str | None:
        if value is not None and not PREFIX_PATTERN.match(value):
            raise ValueError("must be 1-40 lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("name", "prefix", "type", "base_url", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return reject_null(value)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if check_url(value) is None:
            raise ValueError("must be an http:// or https:// URL")
        return check_url(value)

    def model_infos(self) -> list[dict[str, Any]]:
        """The models as stored: plain ids become chat models."""
        out = []
        for item in self.models or []:
            model = NodeModel(id=item) if isinstance(item, str) else item
            out.append(model.model_dump(by_alias=True))
        return out


class NodeCreate(NodeFields):
    """A new node: name, prefix and base URL are required; ``type`` defaults to the
    OpenAI-compatible template."""

    name: str = Field(min_length=1, max_length=200)
    prefix: str
    base_url: str = Field(max_length=2000)
    type: str = "openai-compatible"


def to_api(row: dict[str, Any]) -> dict[str, Any]:
    """The management-API view of a node."""
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "type": row["type"],
        "baseUrl": row["base_url"],
        "models": orjson.loads(row["models"] or "[]"),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def list_rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every node, oldest first."""
    return list(db[TABLE].rows_where(order_by="created_at, id"))


def get_row(db: sqlite_utils.Database, node_id: str) -> dict[str, Any] | None:
    """One node, or None."""
    return get_by_id(db, TABLE, node_id)


def insert(db: sqlite_utils.Database, fields: NodeCreate) -> dict[str, Any]:
    """Store a new node; its id is also its provider id."""
    stamp = now_iso()
    row = {
        "id": f"node-{uuid.uuid4().hex[:8]}",
        "name": fields.name,
        "prefix": fields.prefix,
        "type": fields.type,
        "base_url": fields.base_url,
        "models": orjson.dumps(fields.model_infos()).decode(),
        "created_at": stamp,
        "updated_at": stamp,
    }
    db.table(TABLE).insert(row)
    return row


def update(db: sqlite_utils.Database, node_id: str, fields: NodeFields) -> dict[str, Any] | None:
    """Apply the given fields; None when the node does not exist."""
    changes: dict[str, Any] = fields.model_dump(exclude_unset=True, exclude={"models"})
    if fields.models is not None:
        changes["models"] = orjson.dumps(fields.model_infos()).decode()
    return update_by_id(db, TABLE, node_id, changes)


def delete(db: sqlite_utils.Database, node_id: str) -> bool:
    """Remove a node (its connections stay, unused, until removed or the node returns)."""
    return delete_by_id(db, TABLE, node_id)


def load(db: sqlite_utils.Database) -> list[ProviderNode]:
    """Every node as the routing index uses it."""
    nodes = []
    for row in list_rows(db):
        models = tuple(
            ModelInfo(
                m["id"],
                m.get("type") if m.get("type") in MODEL_TYPES else "chat",
                m.get("contextLength"),
            )
            for m in orjson.loads(row["models"] or "[]")
        )
        nodes.append(
            ProviderNode(
                row["id"], row["name"], row["prefix"], row["type"], row["base_url"], models
            )
        )
    return nodes
