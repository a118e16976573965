"""Keeping the in-memory routing index in step with the database.

The API rebuilds the index after each change it makes. Changes made by another process (the
CLI, another replica) are noticed through SQLite's ``PRAGMA data_version``, which changes only
when another connection commits: polling it costs one tiny query per interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import sqlite_utils
from aiohttp import web

from omniroute.accounts import client_keys, connections, nodes, provider_models
from omniroute.accounts.vault import Vault
from omniroute.appkeys import GATEWAY, REGISTRY, SECRETS, SETTINGS, STORE
from omniroute.gateway import proxy_config
from omniroute.ledger import budgets
from omniroute.plugins import Registry
from omniroute.pricing.table import load_overrides
from omniroute.routing import combos
from omniroute.routing.aliases import load_aliases
from omniroute.routing.config import load_resilience, load_routing
from omniroute.routing.fallback import load_chains
from omniroute.routing.index import RoutingIndex, StoredConfig, build_index
from omniroute.settings_model import load_sections

log = logging.getLogger(__name__)


def read_config(db: sqlite_utils.Database, vault: Vault) -> StoredConfig:
    """Everything the routing index is built from, read in one go on the DB thread."""
    return StoredConfig(
        connections=connections.load(db, vault),
        nodes=nodes.load(db),
        key_hashes=client_keys.load(db),
        price_overrides=load_overrides(db),
        budgets=budgets.load(db),
        sections=load_sections(db),
        custom_models=provider_models.load(db),
        proxies=proxy_config.load_table(db, vault),
        combos=combos.load(db),
        aliases=load_aliases(db),
        chains=load_chains(db),
        routing=load_routing(db),
        resilience=load_resilience(db),
    )


def index_from_db(db: sqlite_utils.Database, registry: Registry, vault: Vault) -> RoutingIndex:
    """Build a routing index straight from the database (startup and CLI)."""
    return build_index(registry, read_config(db, vault))


async def reload_index(app: Mapping[Any, Any]) -> None:
    """Rebuild the routing index from the database and swap it in."""
    config = await app[STORE].call(read_config, app[SECRETS].vault)
    gateway = app[GATEWAY]
    gateway.index = build_index(app[REGISTRY], config)
    gateway.resilience.forget(set(gateway.index.all_connections))
    gateway.key_limiter.forget({key.id for key in gateway.index.key_hashes.values()})


def _data_version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA data_version").fetchone()[0])


async def watch_config(app: web.Application) -> None:
    """Poll for changes committed by other processes and reload when there are any."""
    store = app[STORE]
    interval = app[SETTINGS].config_poll_seconds
    seen = await store.call(_data_version)
    while True:
        await asyncio.sleep(interval)
        try:
            version = await store.call(_data_version)
            if version != seen:
                seen = version
                await reload_index(app)
                log.info("configuration changed outside this process; routing index reloaded")
        except Exception:
            log.exception("reloading the configuration failed; keeping the previous index")
