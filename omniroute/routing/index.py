"""The routing index: an immutable in-memory snapshot of configuration, rebuilt on change.

Requests read only from the current snapshot, so the hot path never touches the database and a
rebuild swaps one reference atomically.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from omniroute.errors import ErrorKind, GatewayError
from omniroute.plugins import Registry
from omniroute.providers import Connection, ModelInfo, Provider, ProviderNode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a ``model`` string leads: a provider and the model id it expects (``None`` when
    the request named only the provider, so each connection's default model is used)."""

    provider: Provider
    model: str | None


@dataclass(frozen=True)
class RoutingIndex:
    """Providers (registered and user-defined), their active connections, and client keys."""

    providers: dict[str, Provider]
    prefixes: dict[str, Provider]
    connections: dict[str, tuple[Connection, ...]]
    bare_models: dict[str, tuple[Provider, ...]]
    key_hashes: dict[str, str]
    models_body: bytes = b'{"object":"list","data":[]}'
    all_connections: dict[str, Connection] = field(default_factory=dict)

    def active(self, provider_id: str) -> tuple[Connection, ...]:
        """Active connections of a provider, best priority first."""
        return self.connections.get(provider_id, ())

    def resolve(self, model: str) -> Resolved:
        """Turn a request's ``model`` into a provider and upstream model id.

        ``prefix/model`` splits at the first ``/`` (so ``openrouter/openai/gpt-5`` keeps
        ``openai/gpt-5``); a bare id, or an id whose first segment is no known prefix, resolves
        when exactly one connected provider lists it.
        """
        head, _sep, rest = model.partition("/")
        provider = self.prefixes.get(head.lower())
        if provider is not None:
            return Resolved(provider, rest or None)
        owners = self.bare_models.get(model.lower(), ())
        if len(owners) == 1:
            return Resolved(owners[0], model)
        if len(owners) > 1:
            names = ", ".join(f"{p.prefix}/{model}" for p in owners)
            raise GatewayError(
                ErrorKind.BAD_REQUEST,
                f"model '{model}' is offered by several providers; name one: {names}",
                param="model",
                code="ambiguous_model",
            )
        raise GatewayError(
            ErrorKind.NOT_FOUND,
            f"model '{model}' not found: use 'provider/model' with a known provider prefix, "
            "or a model listed by GET /v1/models",
            param="model",
            code="model_not_found",
        )


@dataclass(frozen=True)
class StoredConfig:
    """Everything the routing index is built from, read from the database in one go.

    Each configuration area adds its own field here (with a default, so an index can be built
    from a partial config in tests) and its loader in :func:`omniroute.reload.read_config`.
    """

    connections: list[Connection] = field(default_factory=list)
    nodes: list[ProviderNode] = field(default_factory=list)
    key_hashes: dict[str, str] = field(default_factory=dict)


def build_index(registry: Registry, config: StoredConfig) -> RoutingIndex:
    """Assemble a snapshot from the registry and the stored configuration."""
    connections, nodes, key_hashes = config.connections, config.nodes, config.key_hashes
    providers = dict(registry.providers)
    prefixes = dict(registry.prefixes)
    for node in nodes:
        template = registry.templates.get(node.type)
        if template is None:
            log.warning(
                "provider node %r needs provider type %r, which no loaded plugin "
                "registers; it is unavailable",
                node.prefix,
                node.type,
            )
            continue
        if node.prefix.lower() in prefixes:
            log.warning(
                "provider node %r is hidden by a registered provider with the same prefix",
                node.prefix,
            )
            continue
        provider = template.for_node(node)
        providers[provider.id] = provider
        prefixes[node.prefix.lower()] = provider
        prefixes[node.id.lower()] = provider

    by_provider: dict[str, list[Connection]] = defaultdict(list)
    for conn in connections:
        if conn.is_active and conn.provider in providers:
            by_provider[conn.provider].append(conn)
    active = {
        pid: tuple(sorted(conns, key=lambda c: c.priority)) for pid, conns in by_provider.items()
    }

    owners: dict[str, list[Provider]] = defaultdict(list)
    listed: list[dict[str, Any]] = []
    for pid in active:
        provider = providers[pid]
        for model in provider.models:
            owners[model.id.lower()].append(provider)
            listed.append(_model_entry(provider, model))
    return RoutingIndex(
        providers=providers,
        prefixes=prefixes,
        connections=active,
        bare_models={mid: tuple(ps) for mid, ps in owners.items()},
        key_hashes=key_hashes,
        models_body=orjson.dumps({"object": "list", "data": listed}),
        all_connections={c.id: c for c in connections},
    )


def _model_entry(provider: Provider, model: ModelInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": f"{provider.prefix}/{model.id}",
        "object": "model",
        "created": 0,
        "owned_by": provider.id,
        "type": model.type,
    }
    if model.context_length:
        entry["context_length"] = model.context_length
    return entry
