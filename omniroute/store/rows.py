"""Row helpers shared by the configuration tables (all keyed by a text ``id``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlite_utils


def now_iso() -> str:
    """The current UTC time as ISO 8601, the format of every timestamp column."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def get_by_id(db: sqlite_utils.Database, table: str, row_id: str) -> dict[str, Any] | None:
    """One row, or None."""
    rows = list(db[table].rows_where("id = ?", [row_id]))
    return rows[0] if rows else None


def update_by_id(
    db: sqlite_utils.Database, table: str, row_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Apply ``changes`` (stamping ``updated_at``); the updated row, or None if there is none."""
    if get_by_id(db, table, row_id) is None:
        return None
    db.table(table).update(row_id, {**changes, "updated_at": now_iso()})
    return get_by_id(db, table, row_id)


def delete_by_id(db: sqlite_utils.Database, table: str, row_id: str) -> bool:
    """Remove one row; whether it existed."""
    if get_by_id(db, table, row_id) is None:
        return False
    db.table(table).delete(row_id)
    return True
