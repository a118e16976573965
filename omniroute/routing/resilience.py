"""The pipeline's one door to hot state: order a provider's accounts, admit an attempt, record
its outcome; and what the management API shows and clears (breakers, lockouts).

Settings come from the routing index snapshot and are passed in per call, so a configuration
change applies to the next request without anything here being rebuilt.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omniroute.errors import GatewayError
from omniroute.extensions import Strategy, StrategyContext
from omniroute.providers import Connection
from omniroute.routing.breaker import CircuitBreaker
from omniroute.routing.config import ResilienceSettings, RoutingSettings
from omniroute.routing.health import AccountHealth
from omniroute.routing.limits import ConnectionLimiter, Slot
from omniroute.routing.state import BreakerPhase, HotState, MemoryHotState

#: Called after every attempt with provider id, HTTP status, outcome (``ok`` or the error
#: kind) and latency in seconds (metrics).
AttemptObserver = Callable[[str, int, str, float], None]


#: Joins a connection id and a model in the id of a model's rest (connection ids never hold it).
MODEL_REST_SEPARATOR = "/"


def model_rest_id(connection_id: str, model: str) -> str:
    """The lockout id of ``model`` resting on a connection (what unlocking it takes)."""
    return f"{connection_id}{MODEL_REST_SEPARATOR}{model}"


@dataclass(slots=True)
class Admission:
    """An attempt let through: which provider and connection, whether it is the breaker's
    probe, its slot on the connection, and when it started (``perf_counter``)."""

    provider_id: str
    connection_id: str
    probe: bool
    slot: Slot
    started: float
    model: str | None = None

    def release(self) -> None:
        """Give the connection slot back (when the answer, or the stream, is over)."""
        self.slot.release()

    def latency_ms(self) -> float:
        """Milliseconds since the attempt started."""
        return (time.perf_counter() - self.started) * 1000


class Resilience:
    """Account health, circuit breakers, connection limits and account strategies together."""

    def __init__(
        self,
        *,
        cooldown_seconds: float,
        strategies: Mapping[str, Strategy],
        default_strategy: str,
        state: HotState | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.state: HotState = state if state is not None else MemoryHotState()
        self.clock = clock
        self.rng = rng or random.Random()
        self.health = AccountHealth(cooldown_seconds, self.state, clock)
        self.breaker = CircuitBreaker(self.state, clock)
        self.limiter = ConnectionLimiter(self.state, clock)
        self.strategies = dict(strategies)
        self.default_strategy = default_strategy
        self.observers: list[AttemptObserver] = []

    # -- per request --------------------------------------------------------------------------

    def order(
        self, provider_id: str, connections: Sequence[Connection], routing: RoutingSettings
    ) -> list[Connection]:
        """The provider's connections in the order its account strategy chose; raises
        :class:`~omniroute.routing.breaker.CircuitOpen` when the provider is being skipped."""
        self.breaker.check(provider_id)
        wanted = routing.strategy_for(provider_id, self.default_strategy)
        # A stored id whose plugin is gone falls back to the default instead of failing.
        strategy = self.strategies.get(wanted) or self.strategies[self.default_strategy]
        ctx = StrategyContext(
            provider=provider_id,
            states=self.state.accounts(),
            now=self.clock(),
            rng=self.rng,
            rotation=self.state.rotation(provider_id),
            sticky_limit=routing.sticky_limit,
        )
        return strategy.order(connections, ctx)

    async def admit(
        self,
        provider_id: str,
        conn: Connection,
        settings: ResilienceSettings,
        model: str | None = None,
    ) -> Admission:
        """Let an attempt through the connection's limits (it may wait for room) and note it
        with the provider's breaker (it may be the probe).

        Raises ``ConnectionBusy`` when the connection has no room in time: the request moves
        on to the next account without resting this one.
        """
        probe = self.breaker.admit(provider_id)
        try:
            slot = await self.limiter.acquire(conn.id, settings.limits_for(provider_id, conn.id))
        except BaseException:
            self.breaker.release(provider_id, probe=probe)
            raise
        self.health.used(conn.id)
        return Admission(provider_id, conn.id, probe, slot, time.perf_counter(), model)

    def succeeded(self, admission: Admission, status: int) -> None:
        """The attempt got a usable answer (its slot stays taken until released)."""
        latency = admission.latency_ms()
        provider_id = admission.provider_id
        self.health.succeeded(admission.connection_id, latency)
        self.breaker.succeeded(provider_id, probe=admission.probe)
        self.state.latencies(provider_id).add(self.clock(), latency)
        self._observe(provider_id, status, "ok", latency)

    def failed(
        self, admission: Admission, error: GatewayError, settings: ResilienceSettings
    ) -> None:
        """The attempt failed: rest the connection if another may do better, count the failure
        against the provider's breaker if the provider is at fault, free the slot."""
        admission.release()
        provider_id = admission.provider_id
        profile = settings.profile_for(provider_id)
        if error.failover and error.model_scoped and admission.model:
            self.health.failed_model(
                admission.connection_id, admission.model, error, settings, profile
            )
        elif error.failover:
            self.health.failed(admission.connection_id, error, settings, profile)
        self.breaker.record(provider_id, profile, error, probe=admission.probe)
        self._observe(provider_id, error.status, error.kind.value, admission.latency_ms())

    def abandoned(self, admission: Admission) -> None:
        """The attempt ended without an outcome (the client left): free what it held."""
        admission.release()
        self.breaker.release(admission.provider_id, probe=admission.probe)

    def _observe(self, provider_id: str, status: int, outcome: str, latency_ms: float) -> None:
        for observer in self.observers:
            observer(provider_id, status, outcome, latency_ms / 1000)

    # -- management -------------------------------------------------------------------------

    def breakers(self) -> list[dict[str, Any]]:
        """Every provider's breaker that has left the closed state or counts failures."""
        rows = []
        for provider_id, breaker in sorted(self.state.breakers().items()):
            if breaker.phase is BreakerPhase.CLOSED and not breaker.failures:
                continue
            rows.append(
                {
                    "provider": provider_id,
                    "state": breaker.phase.value,
                    "failures": breaker.failures,
                    "trips": breaker.trips,
                    "secondsLeft": round(self.breaker.seconds_left(breaker), 1),
                    "probing": breaker.probing,
                    "lastError": breaker.last_error,
                }
            )
        return rows

    def cooling(self, connections: Mapping[str, Connection]) -> list[dict[str, Any]]:
        """Connections resting now, soonest back first, with why and for how long."""
        now = self.clock()
        resting = sorted(
            ((cid, state) for cid, state in self.state.accounts().items() if state.cooling(now)),
            key=lambda item: item[1].cooldown_until,
        )
        rows = []
        for connection_id, state in resting:
            conn = connections.get(connection_id)
            rows.append(
                {
                    "connection": connection_id,
                    "name": conn.name if conn else None,
                    "provider": conn.provider if conn else None,
                    "reason": state.cooldown_reason,
                    "failures": state.failures,
                    "secondsLeft": round(state.cooldown_until - now, 1),
                }
            )
        return rows

    def lockouts(self, connections: Mapping[str, Connection]) -> list[dict[str, Any]]:
        """Everything being skipped now: resting connections and open breakers."""
        rows: list[dict[str, Any]] = [
            {
                "id": row["connection"],
                "type": "connection",
                "provider": row["provider"],
                "name": row["name"],
                "reason": row["reason"],
                "secondsLeft": row["secondsLeft"],
            }
            for row in self.cooling(connections)
        ]
        now = self.clock()
        for connection_id, state in sorted(self.state.accounts().items()):
            conn = connections.get(connection_id)
            for model, (until, reason) in sorted(state.model_rests.items()):
                if until > now:
                    rows.append(
                        {
                            "id": model_rest_id(connection_id, model),
                            "type": "model",
                            "provider": conn.provider if conn else None,
                            "name": f"{conn.name if conn else connection_id} · {model}",
                            "reason": reason,
                            "secondsLeft": round(until - now, 1),
                        }
                    )
        for breaker in self.breakers():
            if breaker["state"] == BreakerPhase.CLOSED.value:
                continue
            rows.append(
                {
                    "id": breaker["provider"],
                    "type": "provider",
                    "provider": breaker["provider"],
                    "name": None,
                    "reason": f"circuit {breaker['state']}: {breaker['lastError'] or 'failures'}",
                    "secondsLeft": breaker["secondsLeft"],
                }
            )
        return rows

    def unlock(self, ident: str) -> bool:
        """End the rest of a connection (``<connection>/<model>``: of one model on it) or
        close a provider's breaker; whether anything was locked under that id."""
        if MODEL_REST_SEPARATOR in ident:
            connection_id, model = ident.split(MODEL_REST_SEPARATOR, 1)
            return self.health.end_model_rest(connection_id, model)
        unlocked_connection = self.health.unlock(ident)
        unlocked_provider = self.breaker.reset(ident)
        return unlocked_connection or unlocked_provider

    def reset(self) -> None:
        """Forget all hot state: every connection and provider starts fresh."""
        self.state.clear()

    def forget(self, keep: set[str]) -> None:
        """Drop the state of connections that no longer exist."""
        self.health.forget(keep)
        self.limiter.forget(keep)
