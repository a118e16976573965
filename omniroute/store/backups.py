"""Database snapshots, the backups directory, and importing a database file safely.

Snapshots use SQLite's online backup API, so they are consistent even while the ledger is
writing. An import never touches the live database until the file has passed every check: it
is validated and prepared (migrated, credentials checked) as a private copy, and only then
copied *into* the live database with the same backup API. That copy is one SQLite write
transaction, so other connections (a running gateway when the CLI imports, other replicas) see
either the old database or the new one, and notice the change through ``PRAGMA data_version``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from omniroute.accounts.vault import Vault
from omniroute.admin.sessions import PASSWORD_KEY
from omniroute.errors import ConfigError
from omniroute.settings_model import SESSION_GENERATION_KEY
from omniroute.store.archive import is_archive, unpack_database
from omniroute.store.db import migrate
from omniroute.store.migrations import MIGRATIONS
from omniroute.store.scrub import SCRUBBED_HASH_PREFIX

REQUIRED_TABLES = ("provider_connections", "provider_nodes", "combos", "api_keys")
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_IMPORT_BYTES = 100 * 1024 * 1024
TEMP_PREFIX = ".tmp-"
#: Settings rows that belong to this install rather than to its configuration, so an import
#: keeps ours: the dashboard login (the operator who imports is not locked out) and the session
#: generation (it must never go back, or sessions ended by a password change would return).
LOCAL_SETTINGS = (PASSWORD_KEY, SESSION_GENERATION_KEY)

_NAME = re.compile(r"^omniroute-(\d{8}-\d{6})-([a-z]+(?:-[a-z]+)*)(?:-(\d+))?\.sqlite$")


# -- the backups directory ----------------------------------------------------------------------


@dataclass(frozen=True)
class BackupFile:
    """One database backup in the backups directory."""

    name: str
    path: Path
    created: float
    reason: str
    size: int

    def to_api(self) -> dict[str, Any]:
        """The management-API view (no filesystem path)."""
        return {
            "name": self.name,
            "createdAt": datetime.fromtimestamp(self.created, UTC).isoformat(timespec="seconds"),
            "reason": self.reason,
            "size": self.size,
        }


def stamp(now: float) -> str:
    """The UTC time as it appears in file names: ``20261124-015715``."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")


def backup_path(directory: Path, reason: str, now: float) -> Path:
    """A fresh file name for a backup made at ``now`` (a counter keeps same-second ones apart)."""
    base = f"omniroute-{stamp(now)}-{reason}"
    path, n = directory / f"{base}.sqlite", 1
    while path.exists():
        n += 1
        path = directory / f"{base}-{n}.sqlite"
    return path


def parse_name(name: str) -> tuple[float, str, int] | None:
    """Creation time, reason and same-second counter of a backup file name, or None for any
    other file."""
    match = _NAME.match(name)
    if match is None:
        return None
    created = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    return created.timestamp(), match.group(2), int(match.group(3) or 1)


def list_backups(directory: Path) -> list[BackupFile]:
    """The backups in ``directory``, newest first. Files not named like a backup are ignored
    (and so never deleted by retention)."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            parsed = parse_name(entry.name)
            if parsed is None or not entry.is_file():
                continue
            created, reason, counter = parsed
            backup = BackupFile(entry.name, Path(entry.path), created, reason, entry.stat().st_size)
            found.append((created, counter, backup))
    return [b for *_, b in sorted(found, key=lambda f: f[:2], reverse=True)]


def find_backup(directory: Path, name: str) -> BackupFile | None:
    """The backup called ``name``, or None (a name that is not a backup's is never a path)."""
    return next((b for b in list_backups(directory) if b.name == name), None)


def temp_file(directory: Path, prefix: str, suffix: str = ".sqlite") -> Path:
    """A new private (0600) temporary file in ``directory``, hidden from :func:`list_backups`."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=f"{TEMP_PREFIX}{prefix}-", suffix=suffix)
    os.close(fd)
    return Path(name)


def remove_stale_temp_files(directory: Path, now: float, max_age: float = 86400) -> list[str]:
    """Delete temporary files an interrupted operation left behind (a cancelled download, a
    crash), once they are ``max_age`` old: younger ones may belong to a running command."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if entry.name.startswith(TEMP_PREFIX) and now - entry.stat().st_mtime > max_age:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


# -- snapshots ----------------------------------------------------------------------------------


def snapshot(conn: sqlite3.Connection, dest: Path) -> Path:
    """Copy the database on ``conn`` to ``dest`` with the online backup API.

    The copy is consistent (one read transaction) even while other connections write, is a
    single self-contained file (rollback journal, no ``-wal``), is created 0600, and appears
    under its name only when complete.
    """
    partial = temp_file(dest.parent, "partial")
    try:
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


def snapshot_file(database: Path, dest: Path) -> Path:
    """:func:`snapshot` of the database file at ``database``, through a connection of its own.

    The gateway uses this rather than its DB thread, which stays free for the ledger's writes
    while a large database is copied: in WAL mode the copy reads one consistent state of the
    database while those writes go on.
    """
    conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True)  # never create
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        return snapshot(conn, dest)
    finally:
        conn.close()


# -- checking a file before import --------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One import check that failed: which, and why."""

    check: str
    message: str

    def to_api(self) -> dict[str, str]:
        """The management-API view."""
        return {"check": self.check, "message": self.message}


class ImportRejected(Exception):
    """The file cannot be imported; the live database was not touched."""

    def __init__(self, failures: list[Failure]) -> None:
        super().__init__("; ".join(f"{f.check}: {f.message}" for f in failures))
        self.failures = failures


def check_file(path: Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> list[Failure]:
    """Every reason the file at ``path`` cannot be imported (empty when it can).

    Checks that can run all run, so the answer lists every problem at once: size, SQLite
    header, ``PRAGMA integrity_check``, the required tables, and migrations newer than ours.
    """
    size = path.stat().st_size
    if size > max_bytes:
        return [Failure("size", f"the file is larger than the {max_bytes}-byte limit")]
    with path.open("rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return [Failure("sqlite", "the file is not a SQLite database")]
    try:
        # immutable: read the file as it is, without locks, journals or -wal/-shm beside it.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        return [Failure("sqlite", f"the file cannot be opened as a database: {exc}")]
    try:
        return _check_contents(conn)
    finally:
        conn.close()


def _check_contents(conn: sqlite3.Connection) -> list[Failure]:
    failures = []
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        return [Failure("integrity", f"the database is corrupt: {exc}")]
    if problems != ["ok"]:
        failures.append(Failure("integrity", "integrity_check: " + "; ".join(problems[:5])))
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        return [*failures, Failure("tables", f"the schema cannot be read: {exc}")]
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        failures.append(
            Failure("tables", f"not an OmniRoute database: missing tables {', '.join(missing)}")
        )
    if "_migrations" not in tables:
        failures.append(Failure("migrations", "no _migrations table: not an OmniRoute database"))
    else:
        known = {m.__name__ for m in MIGRATIONS}
        try:
            applied = [row[0] for row in conn.execute("SELECT name FROM _migrations")]
        except sqlite3.DatabaseError as exc:
            return [*failures, Failure("migrations", f"_migrations cannot be read: {exc}")]
        newer = sorted(set(applied) - known)
        if newer:
            failures.append(
                Failure(
                    "migrations",
                    f"made by a newer OmniRoute (unknown migrations {', '.join(newer)}): "
                    "upgrade this install first",
                )
            )
    return failures


# -- preparing and applying an import -----------------------------------------------------------


def prepare_import(
    path: Path,
    *,
    vault: Vault,
    local_settings: dict[str, str | None],
    page_size: int,
    max_bytes: int = MAX_IMPORT_BYTES,
) -> list[dict[str, Any]]:
    """Check the private copy at ``path`` and make it ready to become the live database.

    An ``exportAll`` archive is accepted too: its database (without credentials) is used.
    Runs our migrations on an older schema; keeps this install's :data:`LOCAL_SETTINGS` (as
    read by :func:`read_local_settings`); matches the live page size (the backup API cannot
    copy into a WAL database with another); and deactivates connections whose credential was
    encrypted with another ``STORAGE_ENCRYPTION_KEY`` (their credential is cleared, so the
    gateway can load them; the original file still holds it). Returns those connections, and
    client keys whose hash an ``exportAll`` removed, as warnings. Raises
    :class:`ImportRejected` when a check fails; ``path`` is modified in place.
    """
    if is_archive(path):
        problem = unpack_database(path, max_bytes=max_bytes)
        if problem is not None:
            raise ImportRejected([Failure("archive", problem)])
    failures = check_file(path, max_bytes=max_bytes)
    if failures:
        raise ImportRejected(failures)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        db = sqlite_utils.Database(conn)
        try:
            migrate(db)
        except Exception as exc:
            failure = Failure("migrations", f"migrating the file failed: {exc}")
            raise ImportRejected([failure]) from None
        try:
            warnings = _deactivate_unreadable(db, vault) + _scrubbed_keys(db)
            for key, value in local_settings.items():
                conn.execute("DELETE FROM settings WHERE key = ?", [key])
                if value is not None:
                    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [key, value])
            if conn.execute("PRAGMA page_size").fetchone()[0] != page_size:
                conn.execute(f"PRAGMA page_size = {int(page_size)}")
                conn.execute("VACUUM")
        except sqlite3.Error as exc:  # tables of ours with columns that are not
            failure = Failure("tables", f"the tables are not OmniRoute's: {exc}")
            raise ImportRejected([failure]) from None
    finally:
        conn.close()
    return warnings


def read_local_settings(db: sqlite_utils.Database) -> dict[str, str | None]:
    """This install's :data:`LOCAL_SETTINGS` rows as stored (None where there is none)."""
    read = "SELECT value FROM settings WHERE key = ?"
    return {
        key: row[0] if (row := db.execute(read, [key]).fetchone()) else None
        for key in LOCAL_SETTINGS
    }


def _deactivate_unreadable(db: sqlite_utils.Database, vault: Vault) -> list[dict[str, Any]]:
    warnings = []
    rows = db.execute("SELECT id, provider, name, secret FROM provider_connections").fetchall()
    for ident, provider, name, secret in rows:
        try:
            vault.decrypt(secret or "")
            continue
        except ConfigError:
            pass
        db.execute(
            "UPDATE provider_connections SET secret = ?, secret_mask = '', is_active = 0 "
            "WHERE id = ?",
            [vault.encrypt(""), ident],
        )
        warnings.append(
            {
                "connectionId": ident,
                "provider": provider,
                "name": name,
                "message": "its credential was encrypted with another STORAGE_ENCRYPTION_KEY "
                "(or removed by exportAll): the connection was kept but deactivated; set its "
                "apiKey, or import again with the exporting install's key",
            }
        )
    return warnings


def _scrubbed_keys(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT id, name FROM api_keys WHERE key_hash LIKE ? AND revoked_at IS NULL",
        [SCRUBBED_HASH_PREFIX + "%"],
    ).fetchall()
    return [
        {
            "keyId": ident,
            "name": name,
            "message": "the key comes from a credential-free export (exportAll) and cannot be "
            "used: create a new key for its clients",
        }
        for ident, name in rows
    ]


def restore_into(db: sqlite_utils.Database, prepared: Path, *, backup_to: Path | None) -> None:
    """Make the prepared file the content of the live database, on the connection that owns it.

    First snapshots the current database to ``backup_to``. The copy into the live database is
    one write transaction: on any error it rolls back and the old content stays.
    """
    if backup_to is not None:
        snapshot(db.conn, backup_to)
    source = sqlite3.connect(prepared)
    try:
        source.backup(db.conn)
    finally:
        source.close()
    with contextlib.suppress(sqlite3.Error):  # shrink the WAL the copy filled; best effort
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def page_size(db: sqlite_utils.Database) -> int:
    """The live database's page size."""
    return int(db.execute("PRAGMA page_size").fetchone()[0])


def copy_to_temp(source: Path, directory: Path, prefix: str) -> Path:
    """A private copy of ``source`` to prepare for import (the original stays as it was)."""
    copy = temp_file(directory, prefix)
    shutil.copyfile(source, copy)
    return copy
