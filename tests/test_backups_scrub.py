"""The secret-store rules behind ``exportAll``: listed columns, secret names, encrypted values."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from omniroute.accounts.vault import Vault
from omniroute.store.db import open_database
from omniroute.store.scrub import is_secret_name, scrub, scrub_value

VAULT = Vault(Vault.generate_key())


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "proxy_password",
        "apiKey",
        "api_key",
        "refreshToken",
        "access_token",
        "clientSecret",
        "passwordEnc",
        "token_hash",
        "private_key",
        "sessionCookie",
    ],
)
def test_names_that_say_secret(name: str):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["max_tokens", "tokens_in", "secret_mask", "key_mask", "key_hash", "username", "enc", "host"],
)
def test_names_that_do_not(name: str):
    assert not is_secret_name(name)


def test_scrub_value_clears_secret_fields_and_ciphertext_at_any_depth():
    token = VAULT.encrypt("s3cret")
    value = {
        "global": {"host": "h", "password": "p", "username": "u"},
        "list": [{"apiKey": "k", "note": token}, "plain", token],
        "password": None,
    }
    assert scrub_value(value) == {
        "global": {"host": "h", "password": None, "username": "u"},
        "list": [{"apiKey": None, "note": None}, "plain", None],
        "password": None,
    }


def test_scrub_clears_every_kind_of_secret_store(tmp_path: Path):
    path = tmp_path / "copy.sqlite"
    open_database(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    token = VAULT.encrypt("upstream-key")
    conn.execute(
        "INSERT INTO provider_connections (id, provider, name, secret, secret_mask, priority,"
        " is_active) VALUES ('c1', 'openai', 'main', ?, 'sk-u…0001', 0, 1)",
        [token],
    )
    conn.execute("INSERT INTO api_keys (id, name, key_hash) VALUES ('k1', 'team', 'abc123')")
    conn.execute("INSERT INTO settings (key, value) VALUES ('password_hash', 'scrypt$1$2$3')")
    conn.execute(
        "INSERT INTO settings (key, value) VALUES ('proxy', ?)",
        [orjson.dumps({"global": {"host": "h", "password": "pw"}}).decode()],
    )
    # A store added later, under names no rule lists: found by its encrypted value...
    conn.execute("CREATE TABLE oauth_accounts (id TEXT PRIMARY KEY, blob TEXT NOT NULL, note TEXT)")
    conn.execute("INSERT INTO oauth_accounts VALUES ('o1', ?, 'GAAAAA is not a token')", [token])
    # ...or by a name that says what it is.
    conn.execute("CREATE TABLE webhooks (id TEXT PRIMARY KEY, signing_secret TEXT)")
    conn.execute("INSERT INTO webhooks VALUES ('w1', 'whsec_123')")

    cleared = scrub(conn)

    assert conn.execute("SELECT secret, secret_mask FROM provider_connections").fetchall() == [
        ("", "")
    ]
    assert conn.execute("SELECT key_hash FROM api_keys").fetchall() == [("scrubbed-k1",)]
    settings = dict(conn.execute("SELECT key, value FROM settings").fetchall())
    assert "password_hash" not in settings
    assert orjson.loads(settings["proxy"]) == {"global": {"host": "h", "password": None}}
    assert conn.execute("SELECT blob, note FROM oauth_accounts").fetchall() == [
        ("", "GAAAAA is not a token")
    ]
    assert conn.execute("SELECT signing_secret FROM webhooks").fetchall() == [(None,)]
    assert "oauth_accounts.blob (encrypted values)" in cleared
    assert "webhooks.signing_secret" in cleared and "settings[password_hash]" in cleared
