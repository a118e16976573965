"""What in the database is a credential, and removing it from a copy.

This module is the one list of secret stores. The credential-free export (``exportAll``) runs
:func:`scrub` on its copy of the database and leaves every secret column out of its JSON files.
Three rules, so that a new secret store is covered by default and listed here when it is not:

- **by value**: any text that is Vault ciphertext (Fernet; everything we encrypt at rest:
  provider credentials, OAuth tokens, proxy passwords, ...) is removed wherever it is, in every
  column of every table and every field of every settings document;
- **by name**: any column or JSON field whose name says it holds a secret (``password``,
  ``apiKey``, ``refresh_token``, ``passwordEnc``, ...; see :func:`is_secret_name`) is cleared;
- **listed**: a column holding a secret under a name that does not say so goes in
  :data:`SECRET_COLUMNS`; a settings row that is a secret as a whole in :data:`SECRET_SETTINGS`.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from omniroute.admin.sessions import PASSWORD_KEY

#: What a scrubbed key hash starts with: no key can match it, and an import can tell.
SCRUBBED_HASH_PREFIX = "scrubbed-"
#: Every Fernet token starts so (version byte 0x80, then a timestamp's zero high bytes).
FERNET_PREFIX = "gAAAAA"


@dataclass(frozen=True)
class SecretColumn:
    """A column holding a secret, and the SQL expression that replaces its value.

    The replacement must satisfy the column's constraints (``NOT NULL``, ``UNIQUE``).
    """

    table: str
    column: str
    replacement: str = "''"


SECRET_COLUMNS: tuple[SecretColumn, ...] = (
    # Provider credentials (API keys, OAuth token sets), Fernet-encrypted, and their masks.
    SecretColumn("provider_connections", "secret"),
    SecretColumn("provider_connections", "secret_mask"),
    # Keyed hashes of client keys: useless without API_KEY_SECRET, but they are what a key is
    # checked against, so a shared archive does not carry them (unique, hence the id).
    SecretColumn("api_keys", "key_hash", f"'{SCRUBBED_HASH_PREFIX}' || id"),
)

#: Settings rows removed whole: the dashboard password's scrypt hash.
SECRET_SETTINGS: tuple[str, ...] = (PASSWORD_KEY,)

_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "token",
    "credential",
    "credentials",
    "privatekey",
    "cookie",
)
#: How a stored form of a secret is often named: ``passwordEnc``, ``token_hash``.
_STORED_FORMS = ("encrypted", "enc", "ciphertext", "cipher", "hashed", "hash")
_NON_ALNUM = re.compile(r"[^a-z0-9]")


def is_secret_name(name: str) -> bool:
    """Whether a column or JSON field name says it holds a secret (``proxy_password``,
    ``apiKey``, ``refreshToken``, ``passwordEnc``; not ``max_tokens`` or ``secret_mask``)."""
    normalized = _NON_ALNUM.sub("", name.lower())
    for form in _STORED_FORMS:
        if normalized.endswith(form) and len(normalized) > len(form):
            normalized = normalized[: -len(form)]
            break
    return normalized.endswith(_SECRET_SUFFIXES)


def scrub_value(value: Any) -> Any:
    """A copy of a JSON value with every field named like a secret, and every encrypted
    string, set to ``None``."""
    if isinstance(value, dict):
        return {
            key: None if is_secret_name(key) and item is not None else scrub_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub_value(item) for item in value]
    if isinstance(value, str) and value.startswith(FERNET_PREFIX):
        return None
    return value


def secret_columns(conn: sqlite3.Connection) -> list[SecretColumn]:
    """Every secret column present in this database: the listed ones and those named like one."""
    found: list[SecretColumn] = []
    for table, columns in _columns(conn).items():
        for listed in SECRET_COLUMNS:
            if listed.table == table and listed.column in columns:
                found.append(listed)
        for name, (_type, notnull, pk) in columns.items():
            listed_already = any(s.table == table and s.column == name for s in SECRET_COLUMNS)
            if is_secret_name(name) and not listed_already and not pk:
                found.append(SecretColumn(table, name, "''" if notnull else "NULL"))
    return found


def scrub(conn: sqlite3.Connection) -> list[str]:
    """Remove every credential from the database on ``conn`` (a copy, never the live one).

    Returns what was cleared, for the export manifest. The caller must ``VACUUM`` afterwards:
    until then the old values may survive in free pages of the file.
    """
    cleared: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for item in secret_columns(conn):
            conn.execute(
                f"UPDATE {_quote(item.table)} SET {_quote(item.column)} = {item.replacement}"
            )
            cleared.append(f"{item.table}.{item.column}")
        cleared.extend(_scrub_ciphertext(conn))
        if "settings" in _columns(conn):
            cleared.extend(_scrub_settings(conn))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return cleared


def _scrub_ciphertext(conn: sqlite3.Connection) -> list[str]:
    """Clear encrypted values in text columns the other rules did not name."""
    cleared = []
    for table, columns in _columns(conn).items():
        for name, (declared, notnull, pk) in columns.items():
            if pk or not _may_hold_text(declared):
                continue
            column = _quote(name)
            replacement = "''" if notnull else "NULL"
            # GLOB, not LIKE: it is case-sensitive, as the prefix is.
            cursor = conn.execute(
                f"UPDATE {_quote(table)} SET {column} = {replacement} "
                f"WHERE {column} GLOB '{FERNET_PREFIX}*'"
            )
            if cursor.rowcount > 0:
                cleared.append(f"{table}.{name} (encrypted values)")
    return cleared


def _scrub_settings(conn: sqlite3.Connection) -> list[str]:
    cleared = []
    for key in SECRET_SETTINGS:
        if conn.execute("DELETE FROM settings WHERE key = ?", [key]).rowcount:
            cleared.append(f"settings[{key}]")
    for key, raw in conn.execute("SELECT key, value FROM settings").fetchall():
        if raw is None:
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a plain string, not a document: it has no fields to hold a secret
        scrubbed = scrub_value(value)
        if scrubbed != value:
            conn.execute(
                "UPDATE settings SET value = ? WHERE key = ?",
                [orjson.dumps(scrubbed).decode(), key],
            )
            cleared.append(f"settings[{key}]")
    return cleared


def _columns(conn: sqlite3.Connection) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    """Table → column → (declared type, NOT NULL, part of the primary key)."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {
        table: {
            row[1]: (str(row[2] or "").upper(), bool(row[3]), bool(row[5]))
            for row in conn.execute(f"PRAGMA table_info({_quote(table)})")
        }
        for table in tables
    }


def _may_hold_text(declared: str) -> bool:
    """Whether a column's declared type gives it text (or no) affinity (SQLite's rules)."""
    numeric = ("INT", "REAL", "FLOA", "DOUB", "NUM", "DECIMAL", "BOOL", "DATE")
    return any(t in declared for t in ("CHAR", "CLOB", "TEXT")) or not any(
        t in declared for t in numeric
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
