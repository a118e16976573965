"""``exportAll``: a ``.tar.gz`` of the configuration without a single credential.

The archive holds a copy of the database with every secret store scrubbed (see
:mod:`omniroute.store.scrub`) and vacuumed (so no old value survives in a free page), the same
configuration as readable JSON, and a manifest. It is meant to be shared, inspected or kept
off-site; a full-fidelity backup is the plain ``.sqlite`` export, whose credentials stay
encrypted with this install's key.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import shutil
import sqlite3
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from omniroute.store.scrub import scrub, secret_columns

FORMAT = "omniroute-export"
FORMAT_VERSION = 1
DATABASE_MEMBER = "omniroute.sqlite"
CHUNK = 1024 * 1024

#: JSON member → table it is read from. Key metadata leaves out the key hashes (a secret
#: column in :mod:`omniroute.store.scrub`), connections leave out their credentials.
JSON_TABLES = {
    "connections.json": "provider_connections",
    "provider-nodes.json": "provider_nodes",
    "combos.json": "combos",
    "keys.json": "api_keys",
}


def write_archive(database_copy: Path, dest: Path, *, now: float) -> dict[str, Any]:
    """Scrub ``database_copy`` (a snapshot, modified in place) and write the archive to ``dest``.

    Returns the manifest.
    """
    conn = sqlite3.connect(database_copy, isolation_level=None)
    try:
        cleared = scrub(conn)
        conn.execute("VACUUM")  # drop the pages that held the old values
        members = _json_members(conn)
        migrations = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    finally:
        conn.close()
    with database_copy.open("rb") as f:  # streamed: the database may be large
        database_digest = hashlib.file_digest(f, "sha256").hexdigest()
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    manifest = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "createdAt": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "omnirouteVersion": importlib.metadata.version("omniroute"),
        "migrations": migrations,
        "credentials": "removed",
        "cleared": cleared,
        "files": {DATABASE_MEMBER: database_digest, **digests},
    }
    with tarfile.open(dest, "w:gz") as tar:
        _add(tar, "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2), now)
        with database_copy.open("rb") as f:
            tar.addfile(_info(DATABASE_MEMBER, database_copy.stat().st_size, now), f)
        for name, data in members.items():
            _add(tar, name, data, now)
    return manifest


def _json_members(conn: sqlite3.Connection) -> dict[str, bytes]:
    hidden = {(c.table, c.column) for c in secret_columns(conn)}
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    members = {}
    for member, table in JSON_TABLES.items():
        if table not in tables:
            continue
        cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
        names = [d[0] for d in cursor.description]
        rows = [
            {
                name: _maybe_json(value)
                for name, value in zip(names, row, strict=True)
                if (table, name) not in hidden
            }
            for row in cursor
        ]
        members[member] = orjson.dumps(rows, option=orjson.OPT_INDENT_2)
    if "settings" in tables:
        settings = {
            key: _json_or_text(value)
            for key, value in conn.execute("SELECT key, value FROM settings ORDER BY key")
        }
        members["settings.json"] = orjson.dumps(settings, option=orjson.OPT_INDENT_2)
    return members


def _maybe_json(value: Any) -> Any:
    """Decode a column that holds a JSON object or array; leave everything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        return _json_or_text(value)
    return value


def _json_or_text(value: Any) -> Any:
    """A settings value: a JSON document, or (like the password row) a plain string."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _add(tar: tarfile.TarFile, name: str, data: bytes, now: float) -> None:
    tar.addfile(_info(name, len(data), now), io.BytesIO(data))


def _info(name: str, size: int, now: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(now)
    info.mode = 0o600
    return info


GZIP_MAGIC = b"\x1f\x8b"


def is_archive(path: Path) -> bool:
    """Whether the file is gzip-compressed (an ``exportAll`` archive, if anything of ours)."""
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def unpack_database(path: Path, *, max_bytes: int) -> str | None:
    """Replace the archive at ``path`` with the database inside it.

    Only that one member is read (no path from the archive is ever used), streamed, and no
    more than ``max_bytes`` of it. Returns what is wrong with the archive, or None when it
    worked.
    """
    unpacked = path.with_name(path.name + ".unpacked")
    try:
        with tarfile.open(path, "r:gz") as tar:
            try:
                member = tar.getmember(DATABASE_MEMBER)
            except KeyError:
                return f"the archive has no {DATABASE_MEMBER}: not an OmniRoute export"
            if not member.isfile():
                return f"{DATABASE_MEMBER} in the archive is not a file"
            if member.size > max_bytes:
                return f"the database in the archive is larger than the {max_bytes}-byte limit"
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            with unpacked.open("wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        os.replace(unpacked, path)
    except (tarfile.TarError, OSError, EOFError) as exc:
        return f"the file is not a readable .tar.gz archive: {exc}"
    finally:
        unpacked.unlink(missing_ok=True)
    return None
