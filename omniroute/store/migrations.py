"""Append-only schema migrations. Never edit or reorder one that has shipped: add a new one."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


def m001_initial(db: sqlite_utils.Database) -> None:
    """Connections, provider nodes, client keys, settings and the usage ledger."""
    db["provider_connections"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "provider": str,
            "name": str,
            "secret": str,
            "secret_mask": str,
            "priority": int,
            "is_active": int,
            "default_model": str,
            "base_url": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"provider", "name", "secret", "priority", "is_active"},
    )
    db["provider_connections"].create_index(["provider", "priority"])  # type: ignore[union-attr]
    db["provider_nodes"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "name": str,
            "prefix": str,
            "type": str,
            "base_url": str,
            "models": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "prefix", "type", "base_url"},
    )
    db["provider_nodes"].create_index(["prefix"], unique=True)  # type: ignore[union-attr]
    db["api_keys"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "name": str,
            "key_hash": str,
            "key_mask": str,
            "created_at": str,
            "last_used_at": str,
            "revoked_at": str,
        },
        pk="id",
        not_null={"name", "key_hash"},
    )
    db["api_keys"].create_index(["key_hash"], unique=True)  # type: ignore[union-attr]
    db["settings"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]
    db["usage"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "ts": float,
            "request_id": str,
            "endpoint": str,
            "provider": str,
            "model": str,
            "connection_id": str,
            "key_id": str,
            "stream": int,
            "status": int,
            "error_kind": str,
            "tokens_in": int,
            "tokens_out": int,
            "tokens_cached": int,
            "tokens_reasoning": int,
            "latency_ms": float,
            "ttft_ms": float,
        },
        pk="id",
    )
    db["usage"].create_index(["ts"])  # type: ignore[union-attr]


def m002_combos(db: sqlite_utils.Database) -> None:
    """Combos: named fallback chains of targets (``models`` and ``config`` are JSON)."""
    db["combos"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "name": str,
            "strategy": str,
            "models": str,
            "config": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "strategy", "models"},
    )
    db.execute("CREATE UNIQUE INDEX idx_combos_name ON combos (name COLLATE NOCASE)")


MIGRATIONS: list[Migration] = [m001_initial, m002_combos]
