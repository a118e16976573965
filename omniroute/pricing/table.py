"""Building the effective price table: catalogue seeds merged with the user's overrides.

Seeds come from the providers' catalogues (:attr:`omniroute.providers.ModelInfo.price`);
overrides live in the ``pricing`` table, one row per provider and model, where a ``NULL`` field
keeps the seed's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import sqlite_utils

from omniroute.pricing.prices import (
    PRICE_FIELDS,
    Billing,
    ModelPrice,
    PriceEntry,
    PriceTable,
    has_any,
)
from omniroute.store.db import transaction
from omniroute.store.rows import now_iso

if TYPE_CHECKING:
    from omniroute.providers import Provider

TABLE = "pricing"
Overrides = dict[tuple[str, str], ModelPrice]


def build_price_table(providers: Mapping[str, Provider], overrides: Overrides) -> PriceTable:
    """The effective table for these providers (registered and user-defined nodes).

    Overrides for providers that no longer exist are kept in the database but left out, so
    that unloading a plugin and loading it back loses nothing.
    """
    entries: dict[tuple[str, str], PriceEntry] = {}
    for provider in providers.values():
        if provider.template:
            continue
        for model in provider.models:
            if model.price is not None:
                entries[(provider.id, model.id)] = PriceEntry(
                    provider.id, model.id, model.price, None
                )
    seeded = {(p, m.lower()): (p, m) for p, m in entries}
    for (provider_id, model_id), override in overrides.items():
        if provider_id not in providers:
            continue
        key = seeded.get((provider_id, model_id.lower()), (provider_id, model_id))
        seed = entries[key].seed if key in entries else None
        entries[key] = PriceEntry(provider_id, key[1], seed, override)
    billing: dict[str, Billing] = {pid: p.billing for pid, p in providers.items()}
    return PriceTable(entries, billing)


def load_overrides(db: sqlite_utils.Database) -> Overrides:
    """Every stored override (DB thread)."""
    cols = ", ".join(PRICE_FIELDS)
    rows = db.execute(f"SELECT provider, model, {cols} FROM {TABLE}").fetchall()
    return {
        (row[0], row[1]): ModelPrice(**dict(zip(PRICE_FIELDS, row[2:], strict=True)))
        for row in rows
    }


def save_overrides(
    db: sqlite_utils.Database, changes: Mapping[tuple[str, str], ModelPrice | None]
) -> None:
    """Set (or, for ``None`` or an empty price, remove) overrides in one transaction."""
    cols = ", ".join(PRICE_FIELDS)
    marks = ", ".join("?" * len(PRICE_FIELDS))
    updates = ", ".join(f"{f} = excluded.{f}" for f in PRICE_FIELDS)
    with transaction(db) as conn:
        for (provider_id, model_id), price in changes.items():
            if price is None or not has_any(price):
                conn.execute(
                    f"DELETE FROM {TABLE} WHERE provider = ? AND model = ?",
                    [provider_id, model_id],
                )
                continue
            conn.execute(
                f"INSERT INTO {TABLE} (provider, model, {cols}, updated_at) "
                f"VALUES (?, ?, {marks}, ?) ON CONFLICT(provider, model) DO UPDATE SET "
                f"{updates}, updated_at = excluded.updated_at",
                [provider_id, model_id, *(getattr(price, f) for f in PRICE_FIELDS), now_iso()],
            )
