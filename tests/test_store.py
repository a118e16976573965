"""The embedded store: append-only migrations recorded in ``_migrations``, applied once each and
atomically; WAL journaling; a database file only its owner can read."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest
import sqlite_utils

from omniroute.store.db import Store, migrate, open_database
from omniroute.store.migrations import MIGRATIONS


def recorded(db: sqlite_utils.Database) -> list[tuple[str, float]]:
    return [
        tuple(row) for row in db.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid")
    ]


def m900_notes(db: sqlite_utils.Database) -> None:
    """A migration a later release might append."""
    db["notes"].create({"id": int, "text": str}, pk="id")  # type: ignore[union-attr]
    db["notes"].insert({"id": 1, "text": "seeded by m900"})  # type: ignore[union-attr]


def m901_broken(db: sqlite_utils.Database) -> None:
    """Creates a table, writes to another, then fails half-way."""
    db["half_done"].create({"id": int}, pk="id")  # type: ignore[union-attr]
    db["half_done"].insert({"id": 1})  # type: ignore[union-attr]
    db["settings"].insert({"key": "written-by-m901", "value": "x"})  # type: ignore[union-attr]
    raise RuntimeError("m901 failed")


def test_a_new_database_records_every_shipped_migration(tmp_path: Path):
    db = open_database(tmp_path / "storage.sqlite")
    assert [name for name, _ in recorded(db)] == [m.__name__ for m in MIGRATIONS]
    assert {"provider_connections", "provider_nodes", "api_keys", "settings", "usage"} <= set(
        db.table_names()
    )


def test_reopening_applies_nothing_new(tmp_path: Path):
    path = tmp_path / "storage.sqlite"
    first = recorded(open_database(path))
    db = open_database(path)
    assert recorded(db) == first  # same names, same applied_at: nothing ran again
    assert migrate(db) == []


def test_an_appended_migration_applies_once(tmp_path: Path):
    path = tmp_path / "storage.sqlite"
    open_database(path).close()
    upgraded = [*MIGRATIONS, m900_notes]

    db = open_database(path, migrations=upgraded)
    assert [name for name, _ in recorded(db)][-1] == "m900_notes"
    assert list(db["notes"].rows) == [{"id": 1, "text": "seeded by m900"}]
    db.close()

    db = open_database(path, migrations=upgraded)  # would fail on CREATE TABLE if run twice
    assert [name for name, _ in recorded(db)].count("m900_notes") == 1
    assert db["notes"].count == 1
    assert migrate(db, upgraded) == []


def test_migrate_returns_the_names_it_applied(tmp_path: Path):
    db = open_database(tmp_path / "storage.sqlite")
    assert migrate(db, [*MIGRATIONS, m900_notes]) == ["m900_notes"]


def test_a_failing_migration_rolls_back_and_is_not_recorded(tmp_path: Path):
    path = tmp_path / "storage.sqlite"
    open_database(path).close()

    with pytest.raises(RuntimeError, match="m901 failed"):
        open_database(path, migrations=[*MIGRATIONS, m900_notes, m901_broken])

    db = sqlite_utils.Database(path)
    names = [name for name, _ in recorded(db)]
    assert "m901_broken" not in names
    assert "half_done" not in db.table_names()
    assert db["settings"].count_where("key = ?", ["written-by-m901"]) == 0
    # Migrations before the failing one stay applied: each runs in its own transaction.
    assert names[-1] == "m900_notes"
    assert db["notes"].count == 1


def test_a_failed_migration_runs_again_on_the_next_start(tmp_path: Path):
    path = tmp_path / "storage.sqlite"
    with pytest.raises(RuntimeError):
        open_database(path, migrations=[*MIGRATIONS, m901_broken])

    def m901_fixed(db: sqlite_utils.Database) -> None:
        db["half_done"].create({"id": int}, pk="id")  # type: ignore[union-attr]

    m901_fixed.__name__ = "m901_broken"  # the next release fixes it under the same name
    db = open_database(path, migrations=[*MIGRATIONS, m901_fixed])
    assert [name for name, _ in recorded(db)][-1] == "m901_broken"
    assert "half_done" in db.table_names()


def test_the_database_uses_wal(tmp_path: Path):
    path = tmp_path / "storage.sqlite"
    open_database(path).close()
    conn = sqlite3.connect(path)  # WAL is a property of the file: a fresh connection sees it
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_the_database_file_is_readable_by_its_owner_only(tmp_path: Path):
    path = tmp_path / "nested" / "storage.sqlite"
    open_database(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_database_file_keeps_its_content_and_gains_the_schema(tmp_path: Path):
    path = tmp_path / "storage.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE user_notes (x)")
    conn.commit()
    conn.close()
    db = open_database(path)
    assert {"user_notes", "provider_connections"} <= set(db.table_names())


async def test_store_runs_work_on_its_own_thread(tmp_path: Path):
    store = Store(tmp_path / "storage.sqlite")
    try:
        here = threading.get_ident()

        def work(db: sqlite_utils.Database, key: str) -> tuple[int, list[str]]:
            db["settings"].insert({"key": key, "value": "v"})  # type: ignore[union-attr]
            return threading.get_ident(), [r["key"] for r in db["settings"].rows]

        thread, keys = await store.call(work, "from-a-test")
        assert thread != here
        assert "from-a-test" in keys
    finally:
        store.close()
