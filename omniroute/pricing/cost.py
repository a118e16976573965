"""The cost of one request, from the token columns of its ledger row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omniroute.pricing.prices import PriceTable

#: Rounded to a millionth of a cent: far below any price, and stable in sums and exports.
DIGITS = 8


def request_cost(
    prices: PriceTable, provider_id: str, model: str | None, row: Mapping[str, Any]
) -> float | None:
    """USD for the tokens a ledger row records, or ``None`` when the row has no token counts or
    the model has no known price. ``tokens_in`` counts cached and cache-write tokens too; they
    are priced at their own rates, as is the reasoning share of ``tokens_out``."""
    tokens_in = row.get("tokens_in")
    if tokens_in is None or model is None:
        return None
    price = prices.price(provider_id, model)
    if price is None:
        return None
    cached = row.get("tokens_cached") or 0
    cache_write = row.get("tokens_cache_write") or 0
    cost = price.cost(
        input=max(tokens_in - cached - cache_write, 0),
        output=row.get("tokens_out") or 0,
        cached=cached,
        cache_write=cache_write,
        reasoning=row.get("tokens_reasoning") or 0,
    )
    return None if cost is None else round(cost, DIGITS)


def cost_header(cost: float) -> str:
    """The ``X-OmniRoute-Cost`` value: USD with enough digits for a single cheap request."""
    return f"{cost:.8f}".rstrip("0").rstrip(".") if cost else "0"
