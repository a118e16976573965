"""Global fallback chains: where a model goes when its own targets are exhausted.

A chain is ``{id, model, fallbacks}``: ``model`` is a pattern (see :mod:`omniroute.routing.aliases`
for wildcards and which pattern wins), ``fallbacks`` an ordered list of combo names and
``prefix/model`` targets. They are kept as one settings document (key ``fallback-chains``),
one chain per pattern, compiled into the routing index when it is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, field_validator

from omniroute.routing.aliases import WILDCARDS, check_pattern
from omniroute.store.documents import get_document, put_document
from omniroute.store.rows import now_iso

CHAINS_KEY = "fallback-chains"
MAX_FALLBACKS = 20


class ChainIn(BaseModel):
    """A fallback chain as ``POST /api/fallback/chains`` takes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1, max_length=300)
    fallbacks: list[str] = Field(min_length=1, max_length=MAX_FALLBACKS)

    @field_validator("model")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return check_pattern(value)

    @field_validator("fallbacks")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        for target in cleaned:
            if not target or WILDCARDS & set(target):
                raise ValueError("each fallback must be a combo name or 'prefix/model'")
        if len({t.lower() for t in cleaned}) != len(cleaned):
            raise ValueError("a fallback is listed twice")
        return cleaned


def load_chains(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every stored chain, oldest first."""
    raw = get_document(db, CHAINS_KEY)
    return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []


def upsert_chain(db: sqlite_utils.Database, chain: ChainIn) -> tuple[dict[str, Any], bool]:
    """Store ``chain``, replacing the chain of the same pattern (compared case-insensitively).

    Returns the stored chain and whether it is new. Run inside a transaction.
    """
    chains = load_chains(db)
    stored = {"model": chain.model, "fallbacks": chain.fallbacks}
    for i, existing in enumerate(chains):
        if str(existing.get("model", "")).lower() == chain.model.lower():
            chains[i] = {**existing, **stored, "updatedAt": now_iso()}
            put_document(db, CHAINS_KEY, chains)
            return chains[i], False
    created = {"id": uuid.uuid4().hex[:12], **stored, "createdAt": now_iso()}
    created["updatedAt"] = created["createdAt"]
    put_document(db, CHAINS_KEY, [*chains, created])
    return created, True


def delete_chain(db: sqlite_utils.Database, chain_id: str) -> bool:
    """Remove a chain by id; whether it existed."""
    chains = load_chains(db)
    kept = [c for c in chains if c.get("id") != chain_id]
    if len(kept) == len(chains):
        return False
    put_document(db, CHAINS_KEY, kept)
    return True


def chains_using(chains: Sequence[dict[str, Any]], name: str) -> list[str]:
    """The patterns of the chains that fall back to the combo ``name``."""
    lowered = name.lower()
    return [
        str(c["model"])
        for c in chains
        if any(str(f).lower() == lowered for f in c.get("fallbacks", ()))
    ]
