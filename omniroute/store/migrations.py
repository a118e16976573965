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


def m005_key_scopes_and_models(db: sqlite_utils.Database) -> None:
    """Client key scopes, expiry and rate limit; custom models added to providers' catalogues."""
    keys = db["api_keys"]
    keys.add_column("allowed_models", str)  # type: ignore[union-attr]
    keys.add_column("expires_at", float)  # type: ignore[union-attr]
    keys.add_column("rpm_limit", int)  # type: ignore[union-attr]
    db["provider_models"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "provider": str,
            "model_id": str,
            "model_name": str,
            "type": str,
            "created_at": str,
        },
        pk="id",
        not_null={"provider", "model_id", "type"},
    )
    db.execute(
        "CREATE UNIQUE INDEX idx_provider_models_model "
        "ON provider_models (provider, model_id COLLATE NOCASE)"
    )


def m004_pricing_and_cost(db: sqlite_utils.Database) -> None:
    """Price overrides, per-key budgets, and cost, combo and cache-write columns in the ledger."""
    db["pricing"].create(  # type: ignore[union-attr]
        {
            "provider": str,
            "model": str,
            "input": float,
            "output": float,
            "cached_input": float,
            "cache_write": float,
            "reasoning": float,
            "updated_at": str,
        },
        pk=("provider", "model"),
    )
    db["budgets"].create(  # type: ignore[union-attr]
        {
            "key_id": str,
            "limit_usd": float,
            "period": str,
            "warn_at": float,
            "created_at": str,
            "updated_at": str,
        },
        pk="key_id",
        not_null={"limit_usd", "period", "warn_at"},
    )
    usage = db["usage"]
    usage.add_column("combo", str)  # type: ignore[union-attr]
    usage.add_column("cost_usd", float)  # type: ignore[union-attr]
    usage.add_column("tokens_cache_write", int)  # type: ignore[union-attr]
    db["usage"].create_index(["key_id", "ts"])  # type: ignore[union-attr]


def m006_connection_status(db: sqlite_utils.Database) -> None:
    """Connection status: ``active``, or ``needs_reauth`` when an OAuth refresh was refused."""
    db["provider_connections"].add_column(  # type: ignore[union-attr]
        "status", str, not_null_default="active"
    )


MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_combos,
    m005_key_scopes_and_models,
    m004_pricing_and_cost,
    m006_connection_status,
]
