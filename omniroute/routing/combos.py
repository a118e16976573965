"""Combos: named, ordered sets of targets that a client uses as one model.

A combo is ``{name, models, strategy, config}``. Each target is stored as a JSON object:
``{"model": "openai/gpt-5", "connection": null, "weight": 1}`` (a model, optionally pinned to
one connection) or ``{"combo": "other", "weight": 1}`` (another combo). The API also takes the
string shorthand: ``"openai/gpt-5"`` (it has a ``/``) is a model, ``"other"`` a combo.

Everything is checked when a combo is saved, so the routing index never meets a broken one:
known strategy, a name no provider prefix claims, known providers and connections, existing
nested combos, no cycles and at most :data:`MAX_DEPTH` levels of nesting.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omniroute.accounts import connections, nodes
from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.plugins import Registry
from omniroute.store.rows import delete_by_id, get_by_id, now_iso

TABLE = "combos"
DEFAULT_STRATEGY = "priority"
MAX_DEPTH = 3
MAX_TARGETS = 50
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class TargetIn(BaseModel):
    """One target of a combo: a model (maybe pinned to a connection) or another combo."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str | None = Field(None, min_length=1, max_length=300)
    combo: str | None = Field(None, min_length=1, max_length=100)
    connection: str | None = Field(None, min_length=1, max_length=100)
    weight: float = Field(1.0, gt=0, le=1_000_000)

    @model_validator(mode="after")
    def _one_kind(self) -> TargetIn:
        if (self.model is None) == (self.combo is None):
            raise ValueError("a target names either a 'model' or a 'combo'")
        if self.combo is not None and self.connection is not None:
            raise ValueError("'connection' pins a model target, not a combo")
        return self

    def stored(self) -> dict[str, Any]:
        """The JSON object kept in the ``models`` column."""
        if self.combo is not None:
            return {"combo": self.combo, "weight": self.weight}
        return {"model": self.model, "connection": self.connection, "weight": self.weight}


class ComboFields(BaseModel):
    """Fields of a combo as the API takes them; left out means unchanged on update."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=100)
    models: list[TargetIn] | None = Field(None, min_length=1, max_length=MAX_TARGETS)
    strategy: str | None = Field(None, min_length=1, max_length=100)
    config: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str | None) -> str | None:
        if value is not None and not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                "must start with a letter or digit and hold only letters, digits, '.', '_' "
                "or '-' (no '/': that would read as 'prefix/model')"
            )
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [
            ({"model": item} if "/" in item else {"combo": item}) if isinstance(item, str) else item
            for item in value
        ]


class ComboCreate(ComboFields):
    """A new combo: name and models are required; the strategy defaults to ``priority``."""

    name: str = Field(min_length=1, max_length=100)
    models: list[TargetIn] = Field(min_length=1, max_length=MAX_TARGETS)


@dataclass(frozen=True, slots=True)
class StoredCombo:
    """A combo as the routing index reads it."""

    id: str
    name: str
    strategy: str
    targets: tuple[dict[str, Any], ...]
    config: Mapping[str, Any]


# -- rows ---------------------------------------------------------------------------------------


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "models": orjson.loads(row["models"]),
        "config": orjson.loads(row["config"] or "{}"),
    }


def list_rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every combo, by name, with ``models`` and ``config`` decoded."""
    return [_decode(r) for r in db[TABLE].rows_where(order_by="name COLLATE NOCASE")]


def find_row(db: sqlite_utils.Database, ident: str) -> dict[str, Any] | None:
    """A combo by id, else by name (case-insensitive)."""
    row = get_by_id(db, TABLE, ident)
    if row is None:
        rows = list(db[TABLE].rows_where("name = ? COLLATE NOCASE", [ident]))
        row = rows[0] if rows else None
    return _decode(row) if row else None


def to_api(row: dict[str, Any]) -> dict[str, Any]:
    """The management-API view of a combo."""
    return {
        "id": row["id"],
        "name": row["name"],
        "strategy": row["strategy"],
        "models": row["models"],
        "config": row["config"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def load(db: sqlite_utils.Database) -> list[StoredCombo]:
    """Every combo, for the routing index."""
    return [
        StoredCombo(r["id"], r["name"], r["strategy"], tuple(r["models"]), r["config"])
        for r in list_rows(db)
    ]


# -- validation ---------------------------------------------------------------------------------


def provider_names(db: sqlite_utils.Database, registry: Registry) -> dict[str, str]:
    """Every name a provider answers to (id, prefix, alias, node prefix), lowercased, mapped to
    the provider id."""
    names = {name: provider.id for name, provider in registry.prefixes.items()}
    for node in nodes.load(db):
        names.setdefault(node.prefix.lower(), node.id)
        names.setdefault(node.id.lower(), node.id)
    return names


class Checker:
    """Validates names and targets against the providers, connections and combos stored now."""

    def __init__(self, db: sqlite_utils.Database, registry: Registry) -> None:
        self.providers = provider_names(db, registry)
        self.combos = {r["name"].lower(): r for r in list_rows(db)}
        self.connections = {r["id"]: r["provider"] for r in connections.list_rows(db)}

    def model_target(self, model: str, param: str) -> str:
        """The provider id of a ``prefix/model`` target; 400 naming ``param`` otherwise."""
        head, _, rest = model.partition("/")
        provider = self.providers.get(head.lower())
        if provider is None or not rest:
            raise BadRequest(
                f"'{param}': '{model}' is not 'prefix/model' with a known provider prefix "
                "(see 'omniroute plugins' or GET /api/plugins)",
                param=param,
            )
        return provider

    def target(self, name: str, param: str) -> str:
        """A combo name (returned as stored) or a ``prefix/model`` target (returned as is)."""
        row = self.combos.get(name.lower())
        if row is not None:
            return str(row["name"])
        if "/" not in name:
            raise BadRequest(f"'{param}': no combo is named '{name}'", param=param)
        self.model_target(name, param)
        return name


def check_combo(
    checker: Checker, strategies: Collection[str], fields: ComboCreate, combo_id: str | None
) -> dict[str, Any]:
    """Validate a complete combo; returns the column values to store."""
    strategy = fields.strategy or DEFAULT_STRATEGY
    if strategy not in strategies:
        raise BadRequest(
            f"'strategy': unknown combo strategy '{strategy}'; known: "
            f"{', '.join(sorted(strategies))}",
            param="strategy",
        )
    name = fields.name
    if name.lower() in checker.providers:
        raise BadRequest(
            f"'name': '{name}' is a provider prefix; a combo needs a name of its own",
            param="name",
        )
    clash = checker.combos.get(name.lower())
    if clash is not None and clash["id"] != combo_id:
        raise BadRequest(f"'name': a combo named '{clash['name']}' exists", param="name")
    targets = []
    for i, target in enumerate(fields.models):
        param = f"models.{i}"
        if target.combo is not None:
            target.combo = checker.target(target.combo, param)
            if "/" in target.combo:
                raise BadRequest(f"'{param}': no combo is named '{target.combo}'", param=param)
        else:
            assert target.model is not None
            provider = checker.model_target(target.model, param)
            owner = checker.connections.get(target.connection or "")
            if target.connection is not None and owner != provider:
                raise BadRequest(
                    f"'{param}.connection': '{target.connection}' is not a connection of "
                    f"provider '{provider}'",
                    param=f"{param}.connection",
                )
        targets.append(target.stored())
    _check_graph(checker, name, combo_id, targets)
    return {"name": name, "strategy": strategy, "models": targets, "config": fields.config or {}}


def _check_graph(
    checker: Checker, name: str, combo_id: str | None, targets: list[dict[str, Any]]
) -> None:
    """Refuse a cycle (naming it) or nesting deeper than :data:`MAX_DEPTH`, with the change."""
    graph: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for row in checker.combos.values():
        if row["id"] == combo_id:
            continue
        names[row["name"].lower()] = row["name"]
        graph[row["name"].lower()] = [t["combo"].lower() for t in row["models"] if "combo" in t]
    names[name.lower()] = name
    graph[name.lower()] = [t["combo"].lower() for t in targets if "combo" in t]

    def walk(node: str, path: list[str]) -> int:
        if node in path:
            cycle = " -> ".join(names.get(n, n) for n in [*path[path.index(node) :], node])
            raise BadRequest(f"'models': combos would form a cycle: {cycle}", param="models")
        depth = 1 + max((walk(child, [*path, node]) for child in graph.get(node, ())), default=0)
        if depth > MAX_DEPTH:
            chain = " -> ".join(names.get(n, n) for n in [*path, node])
            raise BadRequest(
                f"'models': combos nest at most {MAX_DEPTH} levels deep ({chain} ...)",
                param="models",
            )
        return depth

    for node in dict.fromkeys([name.lower(), *graph]):  # the edited combo first: its cycle
        walk(node, [])


def users_of(db: sqlite_utils.Database, name: str) -> list[str]:
    """The combos that include the combo ``name``."""
    lowered = name.lower()
    return [
        r["name"]
        for r in list_rows(db)
        if any(str(t.get("combo", "")).lower() == lowered for t in r["models"])
    ]


def in_use(name: str, users: list[str], what: str) -> GatewayError:
    """A 409 saying which combos or chains still use the combo ``name``."""
    return GatewayError(
        ErrorKind.BAD_REQUEST,
        f"combo '{name}' is used by {what} {', '.join(repr(u) for u in users)}; "
        "remove it there first",
        status=409,
        code="combo_in_use",
    )


# -- writes (run inside a transaction) ----------------------------------------------------------


def insert(db: sqlite_utils.Database, values: dict[str, Any]) -> dict[str, Any]:
    """Store a validated combo; returns its decoded row."""
    stamp = now_iso()
    row = {
        "id": uuid.uuid4().hex[:12],
        "name": values["name"],
        "strategy": values["strategy"],
        "models": orjson.dumps(values["models"]).decode(),
        "config": orjson.dumps(values["config"]).decode(),
        "created_at": stamp,
        "updated_at": stamp,
    }
    db.table(TABLE).insert(row)
    return _decode(row)


def replace(db: sqlite_utils.Database, combo_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Overwrite a validated combo; returns its decoded row."""
    db.table(TABLE).update(
        combo_id,
        {
            "name": values["name"],
            "strategy": values["strategy"],
            "models": orjson.dumps(values["models"]).decode(),
            "config": orjson.dumps(values["config"]).decode(),
            "updated_at": now_iso(),
        },
    )
    row = find_row(db, combo_id)
    assert row is not None
    return row


def delete(db: sqlite_utils.Database, combo_id: str) -> bool:
    """Remove a combo by id; whether it existed."""
    return delete_by_id(db, TABLE, combo_id)
