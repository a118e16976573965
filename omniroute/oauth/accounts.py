"""Storing a logged-in account: a new connection, or the existing one of the same account."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from omniroute.accounts import connections
from omniroute.accounts.vault import Vault, mask
from omniroute.errors import BadRequest
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.store.db import transaction


def same_account(stored: OAuthCredentials, new: OAuthCredentials) -> bool:
    """Whether two credentials belong to one account: same account id, else same email."""
    if stored.account_id and new.account_id:
        return stored.account_id == new.account_id
    if stored.email and new.email:
        return stored.email.lower() == new.email.lower()
    return False


def find_account(
    db: sqlite_utils.Database, vault: Vault, provider: str, creds: OAuthCredentials
) -> dict[str, Any] | None:
    """The stored connection of ``provider`` holding the same account as ``creds``, if any."""
    if not (creds.account_id or creds.email):
        return None
    for row in connections.list_rows(db, provider):
        try:
            stored = OAuthCredentials.from_secret(vault.decrypt(row["secret"]).reveal())
        except ValueError:
            continue
        if same_account(stored, creds):
            return row
    return None


def save_login(
    db: sqlite_utils.Database,
    vault: Vault,
    provider: str,
    creds: OAuthCredentials,
    name: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a login: re-login of a known account updates its connection (new tokens, status
    back to ``active``); otherwise a new connection. Returns the API view and whether it is new.

    A login that does not say which account it is (Qwen's and Kiro's tokens carry no identity)
    is matched by the connection ``name`` instead: logging in again under the same name
    updates that connection.
    """
    secret = creds.to_secret()
    with transaction(db):
        row = find_account(db, vault, provider, creds)
        if row is None and name and not (creds.account_id or creds.email):
            row = next((r for r in connections.list_rows(db, provider) if r["name"] == name), None)
        if row is not None:
            connections.update_secret(db, vault, row["id"], secret, mask(creds.access_token))
            connections.set_status(db, row["id"], "active")
            if name:
                db.table(connections.TABLE).update(row["id"], {"name": name})
            updated = connections.get_row(db, row["id"])
            assert updated is not None
            return connections.to_api(updated), False
        fields = connections.ConnectionCreate(
            provider=provider, name=name or _default_name(creds, provider)
        )
        created = connections.insert(db, vault, fields, secret)
        db.table(connections.TABLE).update(created["id"], {"secret_mask": mask(creds.access_token)})
        stored = connections.get_row(db, created["id"])
        assert stored is not None
        return connections.to_api(stored), True


def _default_name(creds: OAuthCredentials, provider: str) -> str:
    name = creds.email or creds.account_id or provider
    if len(name) > 200:
        raise BadRequest("account name too long", param="name")
    return name
