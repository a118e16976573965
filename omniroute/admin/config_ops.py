"""Configuration changes with full validation, shared by the management API and the CLI.

Every function takes the database first and runs synchronously: the API calls them on the DB
thread, the CLI calls them directly. Bad input raises :class:`BadRequest` naming the field.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils
from pydantic import BaseModel, ValidationError

from omniroute.accounts import connections, nodes
from omniroute.accounts.vault import Vault
from omniroute.errors import BadRequest
from omniroute.plugins import Registry
from omniroute.providers import Provider
from omniroute.routing.config import load_resilience, save_resilience
from omniroute.store.db import transaction


def parse(model: type[BaseModel], data: Any) -> Any:
    """Validate ``data`` against ``model``; the first problem becomes a 400 naming its field."""
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        raise BadRequest(f"'{field}': {message}" if field else message, param=field) from None


def find_provider(db: sqlite_utils.Database, registry: Registry, name: str) -> Provider | None:
    """A registered provider or a provider node, by id, prefix or alias."""
    provider = registry.prefixes.get(name.lower())
    if provider is not None:
        return provider
    for node in nodes.load(db):
        if name.lower() in (node.id.lower(), node.prefix.lower()):
            template = registry.templates.get(node.type)
            return template.for_node(node) if template else None
    return None


def _credentials(registry: Registry, provider: Provider, data: dict[str, Any]) -> str:
    flow = registry.auth_flows.get(provider.auth_flow)
    if flow is None or flow.kind != "api-key":
        raise BadRequest(
            f"provider '{provider.id}' is connected through its '{provider.auth_flow}' flow, "
            "not with an API key",
            param="provider",
        )
    try:
        return flow.credentials(data)
    except ValueError as exc:
        raise BadRequest(str(exc), param=flow.fields[0].name if flow.fields else None) from None


def create_connection(
    db: sqlite_utils.Database, registry: Registry, vault: Vault, data: Any
) -> dict[str, Any]:
    """Validate and store a new connection; returns its API view."""
    fields = parse(connections.ConnectionCreate, data)
    provider = find_provider(db, registry, fields.provider)
    if provider is None:
        raise BadRequest(
            f"unknown provider '{fields.provider}'; see GET /api/plugins or "
            "'omniroute plugins' for the providers installed",
            param="provider",
        )
    secret = _credentials(registry, provider, data)
    fields.provider = provider.id
    return connections.to_api(connections.insert(db, vault, fields, secret))


def update_connection(
    db: sqlite_utils.Database, registry: Registry, vault: Vault, connection_id: str, data: Any
) -> dict[str, Any] | None:
    """Validate and apply changes; None when the connection does not exist."""
    fields = parse(connections.ConnectionFields, data)
    row = connections.get_row(db, connection_id)
    if row is None:
        return None
    secret = None
    if "apiKey" in data or "api_key" in data:
        provider = find_provider(db, registry, row["provider"])
        if provider is None:
            raise BadRequest(f"provider '{row['provider']}' is not installed", param="provider")
        secret = _credentials(registry, provider, {"apiKey": fields.api_key})
    updated = connections.update(db, vault, connection_id, fields, secret)
    return connections.to_api(updated) if updated else None


def _check_node(db: sqlite_utils.Database, registry: Registry, fields: Any, node_id: str | None):
    if fields.type is not None and fields.type not in registry.templates:
        known = ", ".join(sorted(registry.templates)) or "none installed"
        raise BadRequest(
            f"unknown provider node type '{fields.type}'; known: {known}", param="type"
        )
    if fields.prefix is not None:
        if fields.prefix in registry.prefixes:
            raise BadRequest(
                f"prefix '{fields.prefix}' belongs to the built-in provider "
                f"'{registry.prefixes[fields.prefix].id}'",
                param="prefix",
            )
        for other in nodes.list_rows(db):
            if other["prefix"] == fields.prefix and other["id"] != node_id:
                raise BadRequest(
                    f"prefix '{fields.prefix}' is already used by node '{other['name']}'",
                    param="prefix",
                )


def create_node(db: sqlite_utils.Database, registry: Registry, data: Any) -> dict[str, Any]:
    """Validate and store a new provider node; returns its API view."""
    fields = parse(nodes.NodeCreate, data)
    _check_node(db, registry, fields, None)
    return nodes.to_api(nodes.insert(db, fields))


def update_node(
    db: sqlite_utils.Database, registry: Registry, node_id: str, data: Any
) -> dict[str, Any] | None:
    """Validate and apply node changes; None when the node does not exist."""
    fields = parse(nodes.NodeFields, data)
    _check_node(db, registry, fields, node_id)
    row = nodes.update(db, node_id, fields)
    return nodes.to_api(row) if row else None


def delete_connection(db: sqlite_utils.Database, connection_id: str) -> bool:
    """Remove a connection and the settings that name it (its limits override, which would
    otherwise make the next resilience change fail as naming an unknown connection), in one
    transaction. Returns whether it existed."""
    with transaction(db):
        if not connections.delete(db, connection_id):
            return False
        settings = load_resilience(db)
        if connection_id in settings.connection_limits:
            limits = {k: v for k, v in settings.connection_limits.items() if k != connection_id}
            save_resilience(db, settings.model_copy(update={"connection_limits": limits}))
    return True
