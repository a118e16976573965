"""Opening the database, applying migrations, and running work on the one DB thread."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from omniroute.store.migrations import MIGRATIONS, Migration

T = TypeVar("T")


def open_database(path: Path, migrations: list[Migration] = MIGRATIONS) -> sqlite_utils.Database:
    """Open (creating with mode 0600) and migrate the database at ``path``.

    The connection may be used from one thread at a time; :class:`Store` makes that true.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    db = sqlite_utils.Database(conn)
    db.enable_wal()
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(db, migrations)
    return db


def migrate(db: sqlite_utils.Database, migrations: list[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction. Returns their names."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for migration in migrations:
        if migration.__name__ in done:
            continue
        with transaction(db):
            migration(db)
            db.conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (migration.__name__, time.time()),
            )
        applied.append(migration.__name__)
    return applied


class Store:
    """The database, reached from the event loop through a single worker thread.

    One thread means SQLite never sees two writers from this process, and the event loop never
    blocks on disk.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="omniroute-db")
        self.db: sqlite_utils.Database = self._executor.submit(open_database, path).result()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` on the DB thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self.db, *args)

    def close(self) -> None:
        """Finish queued work and close the database."""
        self._executor.submit(self.db.close).result()
        self._executor.shutdown(wait=True)


def transaction(db: sqlite_utils.Database) -> Any:
    """A write transaction: everything inside commits together or not at all."""
    return _Transaction(db.conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
