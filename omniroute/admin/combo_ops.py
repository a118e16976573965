"""Combo, alias and fallback-chain changes with full validation, shared by the API and the CLI.

Each function takes the database first and runs synchronously inside one transaction: the API
runs them on the DB thread, the CLI directly. Bad input raises :class:`BadRequest` naming the
field; a combo still in use is a 409 naming its users.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from omniroute.admin.config_ops import parse
from omniroute.plugins import Registry
from omniroute.routing import combos
from omniroute.routing.aliases import AliasesIn, load_aliases, save_aliases
from omniroute.routing.combos import Checker, ComboCreate, ComboFields
from omniroute.routing.fallback import (
    ChainIn,
    chains_using,
    delete_chain,
    load_chains,
    upsert_chain,
)
from omniroute.store.db import transaction


def combo_strategies(registry: Registry) -> set[str]:
    """Ids of the registered combo strategies."""
    return {sid for kind, sid in registry.strategies if kind == "combo"}


def create_combo(db: sqlite_utils.Database, registry: Registry, data: Any) -> dict[str, Any]:
    """Validate and store a new combo; returns its API view."""
    fields = parse(ComboCreate, data)
    with transaction(db):
        values = combos.check_combo(Checker(db, registry), combo_strategies(registry), fields, None)
        return combos.to_api(combos.insert(db, values))


def update_combo(
    db: sqlite_utils.Database, registry: Registry, ident: str, data: Any
) -> dict[str, Any] | None:
    """Apply changes to a combo (fields left out are kept); None when it does not exist."""
    changes = parse(ComboFields, data).model_dump(exclude_unset=True)
    with transaction(db):
        row = combos.find_row(db, ident)
        if row is None:
            return None
        merged = {k: row[k] for k in ("name", "models", "strategy", "config")}
        merged.update(changes)
        fields = parse(ComboCreate, merged)
        if fields.name.lower() != row["name"].lower():
            _refuse_if_used(db, row["name"])
        checker = Checker(db, registry)
        values = combos.check_combo(checker, combo_strategies(registry), fields, row["id"])
        return combos.to_api(combos.replace(db, row["id"], values))


def delete_combo(db: sqlite_utils.Database, ident: str) -> str | None:
    """Remove a combo nothing else uses; its id, or None when it does not exist."""
    with transaction(db):
        row = combos.find_row(db, ident)
        if row is None:
            return None
        _refuse_if_used(db, row["name"])
        combos.delete(db, row["id"])
        return str(row["id"])


def _refuse_if_used(db: sqlite_utils.Database, name: str) -> None:
    users = combos.users_of(db, name)
    if users:
        raise combos.in_use(name, users, "combo" if len(users) == 1 else "combos")
    chains = chains_using(load_chains(db), name)
    if chains:
        raise combos.in_use(name, chains, "the fallback chain of")
    aliases = [p for p, t in load_aliases(db).items() if t.lower() == name.lower()]
    if aliases:
        raise combos.in_use(name, aliases, "the model alias")


# -- aliases and fallback chains ----------------------------------------------------------------


def put_aliases(db: sqlite_utils.Database, registry: Registry, data: Any) -> dict[str, Any]:
    """Replace the alias table after checking every target is a combo or ``prefix/model``."""
    aliases = parse(AliasesIn, data).aliases
    with transaction(db):
        checker = Checker(db, registry)
        checked = {p: checker.target(t, f"aliases.{p}") for p, t in aliases.items()}
        save_aliases(db, checked)
    return {"aliases": checked}


def create_chain(
    db: sqlite_utils.Database, registry: Registry, data: Any
) -> tuple[dict[str, Any], bool]:
    """Store a fallback chain (replacing the one for the same pattern); returns it and whether
    it is new."""
    chain = parse(ChainIn, data)
    with transaction(db):
        checker = Checker(db, registry)
        chain.fallbacks = [
            checker.target(t, f"fallbacks.{i}") for i, t in enumerate(chain.fallbacks)
        ]
        return upsert_chain(db, chain)


def remove_chain(db: sqlite_utils.Database, chain_id: str) -> bool:
    """Remove a fallback chain by id; whether it existed."""
    with transaction(db):
        return delete_chain(db, chain_id)
