"""Hot state: what routing knows right now about connections and providers (DESIGN §5).

Cooldowns, use counts, recent errors, latency samples, in-flight counts, request windows,
rotation positions and circuit breaker states live behind the small :class:`HotState`
protocol. :class:`MemoryHotState` keeps them in this process. The records are plain
dataclasses and every transition on them is a short synchronous function (``health``,
``breaker``, ``limits``), so an implementation shared between replicas (Redis) can load and
store a record around each transition without the routing code changing.

Nothing here touches the database: it is read and written on every request.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from omniroute.extensions import AccountState, Rotation

#: Latency samples kept per provider, and for how long, for the percentiles in monitoring.
LATENCY_SAMPLES = 1024
LATENCY_WINDOW_SECONDS = 300.0


class BreakerPhase(StrEnum):
    """The three states of a provider's circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class BreakerState:
    """One provider's circuit breaker.

    ``failures`` counts provider-level failures in a row; ``trips`` counts openings in a row
    (a failed probe re-opens with a longer cooldown); ``open_until`` is when an open breaker
    lets its probe through; ``probing`` is set while that one probe request is out.
    """

    phase: BreakerPhase = BreakerPhase.CLOSED
    failures: int = 0
    trips: int = 0
    open_until: float = 0.0
    probing: bool = False
    last_error: str | None = None


@dataclass(slots=True)
class RequestWindow:
    """A connection's recent request start times (sliding window for requests per minute)."""

    starts: deque[float] = field(default_factory=deque)
    last_start: float = -math.inf


@dataclass(slots=True)
class LatencySamples:
    """A provider's recent answer latencies: bounded in count and in age."""

    samples: deque[tuple[float, float]] = field(
        default_factory=lambda: deque(maxlen=LATENCY_SAMPLES)
    )

    def add(self, now: float, latency_ms: float) -> None:
        """Record one latency measured at ``now``."""
        self.samples.append((now, latency_ms))

    def percentiles(self, now: float, window: float = LATENCY_WINDOW_SECONDS) -> dict[str, float]:
        """p50, p95 and p99 (nearest rank) of the samples younger than ``window`` seconds."""
        values = sorted(ms for at, ms in self.samples if now - at <= window)
        if not values:
            return {}
        last = len(values) - 1
        return {
            name: round(values[min(last, int(q * len(values)))], 2)
            for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
        } | {"samples": len(values)}


class HotState(Protocol):
    """Per-connection and per-provider routing state. Implementations: memory (default)."""

    def account(self, connection_id: str) -> AccountState:
        """The record of one connection, created on first use."""
        ...

    def accounts(self) -> Mapping[str, AccountState]:
        """Every connection's record, by connection id."""
        ...

    def breaker(self, provider_id: str) -> BreakerState:
        """The circuit breaker of one provider, created closed on first use."""
        ...

    def breakers(self) -> Mapping[str, BreakerState]:
        """Every provider's breaker, by provider id."""
        ...

    def window(self, connection_id: str) -> RequestWindow:
        """The request window of one connection (for its rate limits)."""
        ...

    def rotation(self, key: str) -> Rotation:
        """The rotation record of a rotating strategy, by provider id."""
        ...

    def latencies(self, provider_id: str) -> LatencySamples:
        """The latency samples of one provider."""
        ...

    def latency_providers(self) -> Mapping[str, LatencySamples]:
        """Every provider's latency samples, by provider id."""
        ...

    def forget(self, connection_ids: set[str]) -> None:
        """Drop the records of connections not in ``connection_ids`` (they were deleted)."""
        ...

    def clear(self) -> None:
        """Drop everything: every connection and provider starts fresh."""
        ...


class MemoryHotState:
    """:class:`HotState` in this process's memory (one gateway process, the default)."""

    def __init__(self) -> None:
        self._accounts: dict[str, AccountState] = {}
        self._breakers: dict[str, BreakerState] = {}
        self._windows: dict[str, RequestWindow] = {}
        self._rotations: dict[str, Rotation] = {}
        self._latencies: dict[str, LatencySamples] = {}

    def account(self, connection_id: str) -> AccountState:
        """The record of one connection, created on first use."""
        state = self._accounts.get(connection_id)
        if state is None:
            state = self._accounts[connection_id] = AccountState()
        return state

    def accounts(self) -> Mapping[str, AccountState]:
        """Every connection's record, by connection id."""
        return self._accounts

    def breaker(self, provider_id: str) -> BreakerState:
        """The circuit breaker of one provider, created closed on first use."""
        state = self._breakers.get(provider_id)
        if state is None:
            state = self._breakers[provider_id] = BreakerState()
        return state

    def breakers(self) -> Mapping[str, BreakerState]:
        """Every provider's breaker, by provider id."""
        return self._breakers

    def window(self, connection_id: str) -> RequestWindow:
        """The request window of one connection (for its rate limits)."""
        window = self._windows.get(connection_id)
        if window is None:
            window = self._windows[connection_id] = RequestWindow()
        return window

    def rotation(self, key: str) -> Rotation:
        """The rotation record of a rotating strategy, by provider id."""
        rotation = self._rotations.get(key)
        if rotation is None:
            rotation = self._rotations[key] = Rotation()
        return rotation

    def latencies(self, provider_id: str) -> LatencySamples:
        """The latency samples of one provider."""
        samples = self._latencies.get(provider_id)
        if samples is None:
            samples = self._latencies[provider_id] = LatencySamples()
        return samples

    def latency_providers(self) -> Mapping[str, LatencySamples]:
        """Every provider's latency samples, by provider id."""
        return self._latencies

    def forget(self, connection_ids: set[str]) -> None:
        """Drop the records of connections not in ``connection_ids`` (they were deleted)."""
        for records in (self._accounts, self._windows):
            for connection_id in [c for c in records if c not in connection_ids]:
                # A request still in flight on a deleted connection keeps its own reference.
                del records[connection_id]

    def clear(self) -> None:
        """Drop everything except in-flight counts: requests under way still finish."""
        for connection_id, state in list(self._accounts.items()):
            if state.in_flight:
                self._accounts[connection_id] = AccountState(in_flight=state.in_flight)
            else:
                del self._accounts[connection_id]
        self._breakers.clear()
        self._windows.clear()
        self._rotations.clear()
        self._latencies.clear()
