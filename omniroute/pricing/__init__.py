"""Pricing: per-model token prices, seeded from the catalogues and overridden by users.

The effective :class:`PriceTable` is part of the routing index snapshot
(``RoutingIndex.prices``), so cost accounting and routing strategies read it without I/O.
"""

from omniroute.pricing.prices import (
    BILLINGS,
    FREE,
    PRICE_FIELDS,
    Billing,
    ModelPrice,
    PriceEntry,
    PriceTable,
)

__all__ = [
    "BILLINGS",
    "FREE",
    "PRICE_FIELDS",
    "Billing",
    "ModelPrice",
    "PriceEntry",
    "PriceTable",
]
