"""Routing and resilience settings: the pydantic models, their storage and partial updates.

Both are settings documents (``omniroute.store.documents``) under the keys ``"routing"`` and
``"resilience"``. They are read into the routing index snapshot when it is rebuilt, never per
request. On the wire (API, stored JSON) field names are camelCase like the rest of ``/api``.

Everything that throttles is off by default: a gateway that slows its users down by itself
looks broken under load (see DESIGN §8). Upstream rate-limit answers still rest an account.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from omniroute.errors import BadRequest
from omniroute.store.documents import get_document, put_document

log = logging.getLogger(__name__)

ROUTING_KEY = "routing"
RESILIENCE_KEY = "resilience"

M = TypeVar("M", bound=BaseModel)

_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ProviderProfile(BaseModel):
    """How a provider's circuit breaker trips and recovers.

    ``failure_threshold`` provider-level failures in a row (5xx, timeouts, resets, connect
    errors) open the breaker for ``cooldown_seconds``; each failed probe after that opens it
    again for ``cooldown_seconds * backoff_base ** n``, at most ``backoff_cap_seconds``. The
    same backoff stretches the rest of an account that keeps failing.
    """

    model_config = _CONFIG

    failure_threshold: int = Field(5, ge=1, le=1000)
    cooldown_seconds: float = Field(30.0, gt=0, le=86_400)
    backoff_base: float = Field(2.0, ge=1, le=10)
    backoff_cap_seconds: float = Field(600.0, gt=0, le=86_400)

    def backoff(self, base_seconds: float, repeats: int) -> float:
        """``base_seconds`` stretched for the ``repeats``-th failure in a row (0 = the first)."""
        if repeats <= 0:
            return base_seconds
        stretched = base_seconds * self.backoff_base ** min(repeats, 64)
        return min(max(base_seconds, self.backoff_cap_seconds), stretched)


class ProviderProfileOverride(BaseModel):
    """Per-provider changes to the default profile; fields left out keep the default."""

    model_config = _CONFIG

    failure_threshold: int | None = Field(None, ge=1, le=1000)
    cooldown_seconds: float | None = Field(None, gt=0, le=86_400)
    backoff_base: float | None = Field(None, ge=1, le=10)
    backoff_cap_seconds: float | None = Field(None, gt=0, le=86_400)


class ConnectionLimits(BaseModel):
    """Limits the gateway itself keeps per connection (account); ``None`` means no limit.

    A request that would break a limit waits up to ``max_wait_ms`` for room, then moves on to
    the provider's next account; when no account has room the client gets a 429.
    """

    model_config = _CONFIG

    requests_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    min_interval_ms: int | None = Field(None, ge=1, le=3_600_000)
    max_concurrent: int | None = Field(None, ge=1, le=100_000)
    max_wait_ms: int = Field(1000, ge=0, le=600_000)

    @property
    def active(self) -> bool:
        """Whether any limit is set (an inactive limiter costs a request nothing)."""
        return (
            self.requests_per_minute is not None
            or self.min_interval_ms is not None
            or self.max_concurrent is not None
        )


class ConnectionLimitsOverride(BaseModel):
    """Per-provider or per-connection changes to the default limits.

    A field left out inherits; ``null`` (sent explicitly) lifts an inherited limit.
    """

    model_config = _CONFIG

    requests_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    min_interval_ms: int | None = Field(None, ge=1, le=3_600_000)
    max_concurrent: int | None = Field(None, ge=1, le=100_000)
    max_wait_ms: int | None = Field(None, ge=0, le=600_000)


class ResilienceSettings(BaseModel):
    """Circuit breaker profiles, per-connection limits and how far upstream hints are trusted.

    ``max_hint_seconds`` caps any upstream reset hint (``Retry-After``, reset headers, "try
    again in 2h3m"): the account is re-probed after that long even if the upstream asked for
    more. ``quota_cooldown_seconds`` rests an account whose quota is spent when the upstream
    gave no reset time.
    """

    model_config = _CONFIG

    profile: ProviderProfile = Field(default_factory=ProviderProfile)
    providers: dict[str, ProviderProfileOverride] = Field(default_factory=dict)
    limits: ConnectionLimits = Field(default_factory=ConnectionLimits)
    provider_limits: dict[str, ConnectionLimitsOverride] = Field(default_factory=dict)
    connection_limits: dict[str, ConnectionLimitsOverride] = Field(default_factory=dict)
    max_hint_seconds: float = Field(3600.0, gt=0, le=7 * 86_400)
    quota_cooldown_seconds: float = Field(3600.0, gt=0, le=7 * 86_400)

    def profile_for(self, provider_id: str) -> ProviderProfile:
        """The default profile with the provider's override applied."""
        override = self.providers.get(provider_id)
        if override is None:
            return self.profile
        changes = override.model_dump(exclude_none=True)
        return self.profile.model_copy(update=changes) if changes else self.profile

    def limits_for(self, provider_id: str, connection_id: str) -> ConnectionLimits:
        """Limits for one connection: its own override, else its provider's, else the default."""
        limits = self.limits
        for override in (
            self.provider_limits.get(provider_id),
            self.connection_limits.get(connection_id),
        ):
            if override is not None:
                # Only fields the user sent count, so an explicit null lifts a limit.
                limits = limits.model_copy(update=override.model_dump(exclude_unset=True))
        return limits


class RoutingSettings(BaseModel):
    """How accounts inside one provider are chosen.

    ``account_strategy`` is the global account strategy (``None``: the ``ACCOUNT_STRATEGY``
    environment setting, ``fill-first`` by default); ``provider_strategies`` overrides it per
    provider id. ``sticky_limit`` is how many calls in a row ``round-robin`` sends to one
    account before moving on. ``quota_threshold`` is the percentage of a subscription's usage
    window at which its connection rests until the window resets.
    """

    model_config = _CONFIG

    account_strategy: str | None = Field(None, min_length=1, max_length=100)
    provider_strategies: dict[str, str] = Field(default_factory=dict)
    sticky_limit: int = Field(3, ge=1, le=10_000)
    quota_threshold: float = Field(95.0, ge=0, le=100)

    def strategy_for(self, provider_id: str, default: str) -> str:
        """The account strategy id for one provider."""
        return self.provider_strategies.get(provider_id) or self.account_strategy or default


# -- storage ------------------------------------------------------------------------------------


def _load(db: sqlite_utils.Database, key: str, model: type[M]) -> M:
    raw = get_document(db, key)
    if raw is None:
        return model()
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # Written through the same model, so this only happens across an incompatible upgrade;
        # routing keeps working on defaults rather than refusing to start.
        log.warning("stored %r settings are invalid, using defaults: %s", key, exc)
        return model()


def load_resilience(db: sqlite_utils.Database) -> ResilienceSettings:
    """The stored resilience settings (defaults when none were saved)."""
    return _load(db, RESILIENCE_KEY, ResilienceSettings)


def save_resilience(db: sqlite_utils.Database, settings: ResilienceSettings) -> None:
    """Store the resilience settings, replacing the previous ones."""
    put_document(db, RESILIENCE_KEY, dump(settings))


def load_routing(db: sqlite_utils.Database) -> RoutingSettings:
    """The stored routing settings (defaults when none were saved)."""
    return _load(db, ROUTING_KEY, RoutingSettings)


def save_routing(db: sqlite_utils.Database, settings: RoutingSettings) -> None:
    """Store the routing settings, replacing the previous ones."""
    put_document(db, ROUTING_KEY, dump(settings))


def dump(settings: BaseModel) -> dict[str, Any]:
    """The wire (camelCase) form of a settings model, as stored and as the API shows it."""
    # exclude_unset on overrides keeps "inherit" (left out) apart from "no limit" (null).
    data: dict[str, Any] = settings.model_dump(mode="json", by_alias=True)
    for name, value in settings:
        if isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
            alias = to_camel(name)
            data[alias] = {
                k: v.model_dump(mode="json", by_alias=True, exclude_unset=True)
                for k, v in value.items()
            }
    return data


# -- partial updates ----------------------------------------------------------------------------


def merge_patch(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``patch`` applied to ``current`` (both in wire form), in the manner of JSON Merge Patch.

    Objects merge key by key. ``null`` removes an object (an override, or a nested section,
    which then returns to its defaults); on a plain field it is kept, so ``null`` lifts a limit.
    """
    merged = dict(current)
    for key, value in patch.items():
        existing = merged.get(key)
        if value is None and isinstance(existing, dict):
            del merged[key]
        elif isinstance(value, dict) and isinstance(existing, dict):
            merged[key] = merge_patch(existing, value)
        else:
            merged[key] = value
    return merged


def apply_patch(current: M, patch: Any) -> M:
    """A new settings model: ``current`` with the partial update ``patch`` (wire form) applied.

    Bad input raises :class:`BadRequest` naming the field (``providers.openai.cooldownSeconds``).
    """
    if not isinstance(patch, dict):
        raise BadRequest("request body must be a JSON object")
    return validate(type(current), merge_patch(dump(current), patch))


def validate(model: type[M], data: Any) -> M:
    """``data`` (wire form) as ``model``; the first problem becomes a 400 naming its field."""
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise BadRequest(f"'{field}': {message}" if field else message, param=field) from None


def check_strategies(routing: RoutingSettings, known: Collection[str]) -> None:
    """Refuse account strategy ids no loaded plugin registers (400 naming the field)."""
    names = sorted(known)
    if routing.account_strategy is not None and routing.account_strategy not in known:
        raise BadRequest(
            f"'accountStrategy': unknown account strategy '{routing.account_strategy}'; "
            f"known: {', '.join(names)}",
            param="accountStrategy",
        )
    for provider_id, strategy_id in routing.provider_strategies.items():
        if strategy_id not in known:
            raise BadRequest(
                f"'providerStrategies.{provider_id}': unknown account strategy "
                f"'{strategy_id}'; known: {', '.join(names)}",
                param=f"providerStrategies.{provider_id}",
            )
