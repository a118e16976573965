"""Model prices and the table of effective prices the gateway charges requests against.

Prices are US dollars per one million tokens, one field per kind of token a provider bills
differently. A field left ``None`` is not listed by the provider; :meth:`ModelPrice.cost` then
falls back to the nearest listed price (cached and cache-write tokens to the input price,
reasoning tokens to the output price), which never under-counts a request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Literal

Billing = Literal["metered", "subscription", "free"]
#: How a provider charges: ``metered`` per token at list price, ``subscription`` a flat fee
#: (tokens cost nothing extra), ``free`` nothing at all. Only metered providers cost money.
BILLINGS: tuple[Billing, ...] = ("metered", "subscription", "free")

PRICE_FIELDS: tuple[str, ...] = ("input", "output", "cached_input", "cache_write", "reasoning")
PER_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """US dollars per 1M tokens of each kind; ``None`` means the provider lists no price."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None

    def merged(self, override: ModelPrice) -> ModelPrice:
        """This price with every field ``override`` sets replaced."""
        values = {f: getattr(override, f) for f in PRICE_FIELDS if getattr(override, f) is not None}
        return ModelPrice(**{f: values.get(f, getattr(self, f)) for f in PRICE_FIELDS})

    def as_dict(self) -> dict[str, float | None]:
        """The fields by their snake_case names."""
        return {f: getattr(self, f) for f in PRICE_FIELDS}

    @property
    def complete(self) -> bool:
        """Whether a request can be priced: input and output are both known."""
        return self.input is not None and self.output is not None

    def cost(
        self,
        *,
        input: int = 0,
        output: int = 0,
        cached: int = 0,
        cache_write: int = 0,
        reasoning: int = 0,
    ) -> float | None:
        """The cost in USD of a request's tokens, or ``None`` when input or output is unpriced.

        ``input`` excludes cached and cache-write tokens; ``output`` includes ``reasoning``
        (the IR's conventions), so reasoning tokens are taken out of the output and priced on
        their own.
        """
        if self.input is None or self.output is None:
            return None
        cached_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        reasoning_price = self.output if self.reasoning is None else self.reasoning
        reasoning = min(reasoning, output)
        total = (
            input * self.input
            + cached * cached_price
            + cache_write * write_price
            + (output - reasoning) * self.output
            + reasoning * reasoning_price
        )
        return total / PER_TOKENS


#: What a subscription or free provider's tokens cost.
FREE = ModelPrice(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One row of the effective table: the seed (from the provider's catalogue), the user's
    override (from the database) and the price that results."""

    provider: str
    model: str
    seed: ModelPrice | None
    override: ModelPrice | None

    @property
    def effective(self) -> ModelPrice:
        """The seed with the override's fields on top."""
        base = self.seed or ModelPrice()
        return base.merged(self.override) if self.override else base

    @property
    def source(self) -> Literal["seed", "override", "seed+override"]:
        """Where the effective price comes from."""
        if self.override is None:
            return "seed"
        return "override" if self.seed is None else "seed+override"


class PriceTable:
    """Effective prices by provider and model, and each provider's billing mode.

    Immutable once built (it lives in the routing index snapshot), so the hot path reads it
    without locks. Model ids match case-insensitively, like model resolution does.
    """

    def __init__(
        self,
        entries: Mapping[tuple[str, str], PriceEntry] | None = None,
        billing: Mapping[str, Billing] | None = None,
    ) -> None:
        self._entries = {(p, m.lower()): e for (p, m), e in (entries or {}).items()}
        self._prices = {k: e.effective for k, e in self._entries.items()}
        self._billing = dict(billing or {})

    def __iter__(self) -> Iterator[PriceEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def billing(self, provider_id: str) -> Billing:
        """How ``provider_id`` charges (``metered`` when unknown)."""
        return self._billing.get(provider_id, "metered")

    def listed(self, provider_id: str, model_id: str) -> ModelPrice | None:
        """The effective list price of a model, whatever the provider's billing mode."""
        return self._prices.get((provider_id, model_id.lower()))

    def price(self, provider_id: str, model_id: str) -> ModelPrice | None:
        """What a request to this model costs per 1M tokens: all zero at subscription and free
        providers, the effective list price at metered ones, ``None`` when it is unknown."""
        if self.billing(provider_id) != "metered":
            return FREE
        return self._prices.get((provider_id, model_id.lower()))


def parse_fields(values: Mapping[str, float | None]) -> ModelPrice:
    """A price from a mapping of (already validated) field values."""
    return ModelPrice(**{f: values.get(f) for f in PRICE_FIELDS if f in values})


def has_any(price: ModelPrice) -> bool:
    """Whether any field of ``price`` is set."""
    return any(getattr(price, f.name) is not None for f in fields(price))
