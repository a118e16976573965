"""Settings documents: one JSON value per key in the ``settings`` table.

Configuration areas that are a single structured value (routing and resilience settings, model
aliases, proxies, ...) keep it here under their own key, validated by their own pydantic model
before it is written. Reads and writes run on the DB thread like every other store access.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlite_utils


def get_document(db: sqlite_utils.Database, key: str) -> Any:
    """The JSON value stored under ``key``, or ``None`` when nothing is stored."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return None if row is None or row[0] is None else orjson.loads(row[0])


def put_document(db: sqlite_utils.Database, key: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) under ``key``, replacing what was there.

    One statement, so atomic on its own; wrap several writes in
    :func:`omniroute.store.db.transaction` to commit them together.
    """
    db.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, orjson.dumps(value).decode()],
    )


def delete_document(db: sqlite_utils.Database, key: str) -> bool:
    """Remove the value under ``key``; whether there was one."""
    cursor = db.execute("DELETE FROM settings WHERE key = ?", [key])
    return cursor.rowcount > 0
