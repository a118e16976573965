"""The routing index: an immutable in-memory snapshot of configuration, rebuilt on change.

Requests read only from the current snapshot, so the hot path never touches the database and a
rebuild swaps one reference atomically.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from omniroute.accounts.client_keys import KeyInfo
from omniroute.errors import ErrorKind, GatewayError
from omniroute.gateway.ip_rules import IpRules
from omniroute.gateway.proxies import ProxyTable
from omniroute.ledger.budgets import Budget
from omniroute.plugins import Registry
from omniroute.pricing.prices import ModelPrice, PriceTable
from omniroute.pricing.table import build_price_table
from omniroute.providers import Connection, ModelInfo, Provider, ProviderNode
from omniroute.routing.combos import StoredCombo
from omniroute.routing.config import ResilienceSettings, RoutingSettings
from omniroute.routing.model_routes import MEMO_SIZE, RouteTable, compile_table
from omniroute.routing.plan import Candidate, ModelRoute, Resolved
from omniroute.settings_model import Sections

log = logging.getLogger(__name__)


__all__ = ["Resolved", "RoutingIndex", "StoredConfig", "build_index"]


@dataclass(frozen=True)
class RoutingIndex:
    """Providers (registered and user-defined), their active connections, and client keys."""

    providers: dict[str, Provider]
    prefixes: dict[str, Provider]
    connections: dict[str, tuple[Connection, ...]]
    bare_models: dict[str, tuple[Provider, ...]]
    key_hashes: dict[str, KeyInfo]
    models_body: bytes = b'{"object":"list","data":[]}'
    all_connections: dict[str, Connection] = field(default_factory=dict)
    #: Effective token prices (catalogue seeds + user overrides) and providers' billing modes.
    prices: PriceTable = field(default_factory=PriceTable)
    #: Spending limits by client key id.
    budgets: dict[str, Budget] = field(default_factory=dict)
    #: The security, AI and advanced settings sections; the IP rules parsed from them.
    sections: Sections = field(default_factory=Sections)
    ip_rules: IpRules = field(default_factory=IpRules)
    #: Ids of providers blocked by the security section.
    blocked: frozenset[str] = frozenset()
    #: Outbound proxies by key, combo and provider (``/api/settings/proxy``).
    proxies: ProxyTable = field(default_factory=ProxyTable)
    #: Compiled combos, model aliases and fallback chains (see ``routing/model_routes.py``).
    routes: RouteTable = field(default_factory=RouteTable)
    #: Account strategies, breaker profiles and connection limits (``routing/config.py``).
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)

    def active(self, provider_id: str) -> tuple[Connection, ...]:
        """Active connections of a provider, best priority first."""
        return self.connections.get(provider_id, ())

    def route(self, model: str) -> ModelRoute:
        """Where a request's ``model`` leads: a combo name, else the most specific model alias,
        else :meth:`resolve_target`; plus the fallback chain matching the model (as written,
        as aliased, or as ``prefix/model``). Worked out once per name, then remembered."""
        memo = self.routes.memo
        found = memo.get(model)
        if found is None:
            found = self._route(model)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[model] = found
        return found

    def _route(self, model: str) -> ModelRoute:
        table = self.routes
        name = model
        combo = table.combos.get(model.lower())
        if combo is None and table.aliases:
            hit = table.aliases.match(model)
            if hit is not None:
                name = hit[1]
                combo = table.combos.get(name.lower())
        target = None if combo is not None else self.candidate(self.resolve_target(name))
        chain = None
        if table.chains:
            names = (model, name, target.target.name if target and target.target else name)
            for key in dict.fromkeys(names):
                hit_chain = table.chains.match(key)
                if hit_chain is not None:
                    chain = hit_chain[1]
                    break
        return ModelRoute.of(combo, target, chain)

    def candidate(self, resolved: Resolved, weight: float = 1.0) -> Candidate:
        """A target as combo strategies see it: the connections it reaches and its price."""
        if resolved.connection is not None:
            ids: tuple[str, ...] = tuple(
                c.id for c in self.active(resolved.provider.id) if c.id == resolved.connection
            )
        else:
            ids = tuple(c.id for c in self.active(resolved.provider.id))
        price = None
        if resolved.model is not None:
            listed = self.prices.price(resolved.provider.id, resolved.model)
            if listed is not None and listed.input is not None and listed.output is not None:
                price = listed.input + listed.output
        return Candidate(resolved.name, weight, ids, price, target=resolved)

    def resolve(self, model: str) -> Resolved:
        """The first target ``model`` leads to (a combo's first in stored order)."""
        return self.route(model).first()

    def resolve_target(self, model: str) -> Resolved:
        """Turn ``prefix/model`` or a bare model id into a provider and upstream model id.

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
    key_hashes: dict[str, KeyInfo] = field(default_factory=dict)
    price_overrides: dict[tuple[str, str], ModelPrice] = field(default_factory=dict)
    budgets: dict[str, Budget] = field(default_factory=dict)
    sections: Sections = field(default_factory=Sections)
    #: Custom models (``/api/provider-models``) by provider id, added to its catalogue.
    custom_models: dict[str, tuple[ModelInfo, ...]] = field(default_factory=dict)
    proxies: ProxyTable = field(default_factory=ProxyTable)
    combos: list[StoredCombo] = field(default_factory=list)
    #: Model aliases: pattern -> combo name or ``prefix/model``.
    aliases: dict[str, str] = field(default_factory=dict)
    #: Fallback chains: ``{"model": pattern, "fallbacks": [...]}``.
    chains: list[dict[str, Any]] = field(default_factory=list)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)


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
    blocked = frozenset(config.sections.security.blocked_providers)
    for pid in active:
        provider = providers[pid]
        if pid in blocked:  # listed nowhere; a request naming it gets a 403 (key_limits)
            continue
        for model in catalogue(provider, config.custom_models):
            owners[model.id.lower()].append(provider)
            listed.append(_model_entry(provider, model))
    index = RoutingIndex(
        providers=providers,
        prefixes=prefixes,
        connections=active,
        bare_models={mid: tuple(ps) for mid, ps in owners.items()},
        key_hashes=key_hashes,
        models_body=orjson.dumps({"object": "list", "data": listed}),
        all_connections={c.id: c for c in connections},
        prices=build_price_table(providers, config.price_overrides),
        budgets=dict(config.budgets),
        sections=config.sections,
        ip_rules=IpRules.of(config.sections.security),
        blocked=blocked,
        proxies=config.proxies,
        routing=config.routing,
        resilience=config.resilience,
    )
    return with_routes(index, registry, config, listed)


def with_routes(
    index: RoutingIndex, registry: Registry, config: StoredConfig, listed: list[dict[str, Any]]
) -> RoutingIndex:
    """``index`` with combos, aliases and fallback chains compiled, and combos listed among
    the models (``owned_by: "combo"``)."""
    if not (config.combos or config.aliases or config.chains):
        return index
    strategies = {sid: s for (kind, sid), s in registry.strategies.items() if kind == "combo"}
    table = compile_table(
        config.combos,
        config.aliases,
        config.chains,
        strategies,
        index.resolve_target,
        index.candidate,
    )
    combos = [_combo_entry(node.name, node.first_target()) for node in table.combos.values()]
    body = orjson.dumps({"object": "list", "data": [*combos, *listed]})
    return replace(index, routes=table, models_body=body)


def _combo_entry(name: str, first: Resolved | None) -> dict[str, Any]:
    kind = "chat"
    if first is not None and first.model is not None:
        wanted = first.model.lower()
        kind = next((m.type for m in first.provider.models if m.id.lower() == wanted), "chat")
    return {"id": name, "object": "model", "created": 0, "owned_by": "combo", "type": kind}


def catalogue(
    provider: Provider, custom: dict[str, tuple[ModelInfo, ...]]
) -> tuple[ModelInfo, ...]:
    """A provider's models: its built-in catalogue, then the custom models added to it."""
    extra = custom.get(provider.id)
    if not extra:
        return provider.models
    known = {m.id.lower() for m in provider.models}
    return provider.models + tuple(m for m in extra if m.id.lower() not in known)


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
