"""``/api/pricing``: the effective price table, and the user's overrides of it.

``GET`` lists every model of every provider with its effective price per 1M tokens and where it
comes from (``seed``: the provider's catalogue, ``override``: set by a user, ``seed+override``:
a catalogue price with some fields overridden, ``unknown``: no price, so requests to it cost
nothing in the ledger's eyes and budgets do not see them). ``PUT`` takes
``{provider: {model: {input?, output?, cachedInput?, cacheWrite?, reasoning?} | null}}``: an
object sets that model's override (replacing the previous one), ``null`` removes it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, RootModel

from omniroute.admin.config_ops import parse
from omniroute.admin.http import json_body, json_response
from omniroute.appkeys import GATEWAY, STORE
from omniroute.errors import BadRequest
from omniroute.pricing.prices import ModelPrice, PriceEntry, PriceTable
from omniroute.pricing.table import save_overrides
from omniroute.reload import reload_index
from omniroute.routing.index import RoutingIndex

MAX_PRICE = 1_000_000.0  # USD per 1M tokens; anything above is a typo


class PriceFields(BaseModel):
    """One model's override; every field optional, non-negative."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    input: float | None = Field(None, ge=0, le=MAX_PRICE)
    output: float | None = Field(None, ge=0, le=MAX_PRICE)
    cached_input: float | None = Field(None, ge=0, le=MAX_PRICE, alias="cachedInput")
    cache_write: float | None = Field(None, ge=0, le=MAX_PRICE, alias="cacheWrite")
    reasoning: float | None = Field(None, ge=0, le=MAX_PRICE)


class PriceUpdate(RootModel[dict[str, dict[str, PriceFields | None]]]):
    """The body of ``PUT /api/pricing``."""


def price_to_api(price: ModelPrice | None) -> dict[str, float | None] | None:
    """A price with camelCase field names."""
    if price is None:
        return None
    return {
        "input": price.input,
        "output": price.output,
        "cachedInput": price.cached_input,
        "cacheWrite": price.cache_write,
        "reasoning": price.reasoning,
    }


def _entry(table: PriceTable, entry: PriceEntry | None, provider: str, model: str) -> Any:
    effective = entry.effective if entry else None
    return {
        "provider": provider,
        "model": model,
        "billing": table.billing(provider),
        "source": entry.source if entry else "unknown",
        "price": price_to_api(effective if effective and effective.complete else None),
        "seed": price_to_api(entry.seed if entry else None),
        "override": price_to_api(entry.override if entry else None),
    }


def effective_table(index: RoutingIndex, provider: str | None = None) -> list[dict[str, Any]]:
    """Every model of every (routable) provider with its price, then override-only models."""
    table = index.prices
    entries = {(e.provider, e.model.lower()): e for e in table}
    out: list[dict[str, Any]] = []
    for pid, p in index.providers.items():
        if p.template or (provider is not None and pid != provider):
            continue
        for model in p.models:
            out.append(_entry(table, entries.pop((pid, model.id.lower()), None), pid, model.id))
    for (pid, _model), entry in entries.items():
        if provider is None or pid == provider:
            out.append(_entry(table, entry, pid, entry.model))
    return out


async def get_pricing(request: web.Request) -> web.Response:
    """``GET /api/pricing[?provider=ID]``."""
    unknown = sorted(set(request.query) - {"provider"})
    if unknown:
        raise BadRequest(f"'{unknown[0]}': unknown parameter", param=unknown[0])
    index = request.config_dict[GATEWAY].index
    provider = request.query.get("provider")
    if provider is not None:
        found = index.prefixes.get(provider.lower())
        if found is None:
            raise BadRequest(f"'provider': unknown provider '{provider}'", param="provider")
        provider = found.id
    return json_response({"prices": effective_table(index, provider)})


async def put_pricing(request: web.Request) -> web.Response:
    """``PUT /api/pricing``: set or remove overrides, all or none."""
    update: PriceUpdate = parse(PriceUpdate, await json_body(request))
    app = request.config_dict
    index = app[GATEWAY].index
    changes: dict[tuple[str, str], ModelPrice | None] = {}
    for name, models in update.root.items():
        provider = index.prefixes.get(name.lower())
        if provider is None or provider.template:
            raise BadRequest(f"'{name}': unknown provider", param=name)
        for model, fields in models.items():
            if not model.strip() or len(model) > 300:
                raise BadRequest(f"'{name}.{model}': invalid model id", param=f"{name}.{model}")
            if fields is not None and not fields.model_fields_set:
                raise BadRequest(
                    f"'{name}.{model}': give at least one price, or null to remove the override",
                    param=f"{name}.{model}",
                )
            changes[(provider.id, _model_id(index, provider.id, model))] = (
                None if fields is None else ModelPrice(**fields.model_dump())
            )
    await app[STORE].call(save_overrides, changes)
    await reload_index(app)
    return json_response({"prices": effective_table(app[GATEWAY].index)})


def _model_id(index: RoutingIndex, provider_id: str, model: str) -> str:
    """The catalogue's spelling of ``model`` when it is a known model (ids match
    case-insensitively), so an override always lands on the seed it modifies."""
    for known in index.providers[provider_id].models:
        if known.id.lower() == model.lower():
            return known.id
    for entry in index.prices:
        if entry.provider == provider_id and entry.model.lower() == model.lower():
            return entry.model
    return model


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the pricing routes on the management API's router."""
    router.add_get("/pricing", get_pricing)
    router.add_put("/pricing", put_pricing)
