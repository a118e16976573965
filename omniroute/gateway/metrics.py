"""``GET /metrics``: Prometheus text format (``prometheus-client``), outside ``/api``.

Like ``/health`` it needs no session, so a scraper can reach it; it names providers and
counts requests, which is acceptable on a gateway that listens on localhost by default. Put
it behind the reverse proxy's access rules when the gateway is exposed.

Each app has its own ``CollectorRegistry`` (no module-level state). Per upstream attempt the
gateway only adds to plain tallies (:class:`AttemptTally`): a dictionary increment and a
bucket index, no locks, no metric objects; they are turned into the Prometheus counter and
histogram when scraped, as are breaker states and cooling connections, read from the hot state.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter as Tally
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from omniroute.appkeys import GATEWAY, METRICS
from omniroute.routing.resilience import Resilience
from omniroute.routing.state import BreakerPhase

#: Latency buckets (seconds) for answers that range from a cached embedding to a long thought.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

BREAKER_VALUES = {BreakerPhase.CLOSED: 0, BreakerPhase.HALF_OPEN: 1, BreakerPhase.OPEN: 2}


class AttemptTally:
    """Upstream attempts by provider, status and outcome, and their latency per provider, as
    plain numbers: what :class:`AttemptCollector` turns into metrics when scraped."""

    def __init__(self) -> None:
        self.attempts: dict[tuple[str, int, str], int] = {}
        # Per provider: a count per bucket (the last one is +Inf) and the sum of seconds.
        self.buckets: dict[str, list[int]] = {}
        self.seconds: dict[str, float] = {}

    def observe(self, provider: str, status: int, outcome: str, seconds: float) -> None:
        """Count one upstream attempt (registered as a resilience observer)."""
        key = (provider, status, outcome)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        counts = self.buckets.get(provider)
        if counts is None:
            counts = self.buckets[provider] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.seconds[provider] = 0.0
        counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.seconds[provider] += seconds


class AttemptCollector(Collector):
    """The attempt counter and latency histogram, built from the tally at scrape time."""

    def __init__(self, tally: AttemptTally) -> None:
        self.tally = tally

    def collect(self) -> Iterator[Metric]:
        """``omniroute_upstream_requests_total`` and ``omniroute_upstream_latency_seconds``."""
        attempts = CounterMetricFamily(
            "omniroute_upstream_requests",
            "Upstream attempts by provider, HTTP status and outcome (ok or the error kind).",
            labels=["provider", "status", "outcome"],
        )
        for (provider, status, outcome), count in sorted(self.tally.attempts.items()):
            attempts.add_metric([provider, str(status), outcome], count)
        yield attempts
        latency = HistogramMetricFamily(
            "omniroute_upstream_latency_seconds",
            "Time until an upstream's answer was usable (the first event, for streams).",
            labels=["provider"],
        )
        bounds = [*(str(bound) for bound in LATENCY_BUCKETS), "+Inf"]
        for provider, counts in sorted(self.tally.buckets.items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric([provider], cumulative, self.tally.seconds[provider])
        yield latency


class GatewayMetrics:
    """The app's Prometheus registry: attempt tallies and what the hot state shows."""

    def __init__(self, resilience: Resilience) -> None:
        self.started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=True)
        self.tally = AttemptTally()
        self.registry.register(AttemptCollector(self.tally))
        self.registry.register(HotStateCollector(resilience, self.started))
        ProcessCollector(registry=self.registry)
        resilience.observers.append(self.tally.observe)

    def render(self) -> bytes:
        """The current metrics in the Prometheus text format."""
        return generate_latest(self.registry)


class HotStateCollector(Collector):
    """Gauges read from the hot state at scrape time."""

    def __init__(self, resilience: Resilience, started: float) -> None:
        self.resilience = resilience
        self.started = started

    def collect(self) -> Iterator[Metric]:
        """Uptime, each provider's breaker state, and resting and busy connections."""
        uptime = GaugeMetricFamily("omniroute_uptime_seconds", "Seconds since the gateway started.")
        uptime.add_metric([], time.monotonic() - self.started)
        yield uptime
        breakers = GaugeMetricFamily(
            "omniroute_circuit_breaker_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
            labels=["provider"],
        )
        for provider_id, breaker in sorted(self.resilience.state.breakers().items()):
            breakers.add_metric([provider_id], BREAKER_VALUES[breaker.phase])
        yield breakers
        now = self.resilience.clock()
        accounts = self.resilience.state.accounts()
        cooling = GaugeMetricFamily(
            "omniroute_connections_cooling", "Connections resting after a failure."
        )
        cooling.add_metric([], sum(1 for state in accounts.values() if state.cooling(now)))
        yield cooling
        in_flight = GaugeMetricFamily(
            "omniroute_connections_in_flight", "Requests in flight on all connections."
        )
        in_flight.add_metric([], sum(state.in_flight for state in accounts.values()))
        yield in_flight
        reasons = Tally(
            state.cooldown_reason or "unknown" for state in accounts.values() if state.cooling(now)
        )
        by_reason = GaugeMetricFamily(
            "omniroute_connections_cooling_by_reason",
            "Resting connections by why they rest.",
            labels=["reason"],
        )
        for reason, count in sorted(reasons.items()):
            by_reason.add_metric([reason], count)
        yield by_reason


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def start_metrics(app: web.Application) -> GatewayMetrics:
    """Create the app's metrics for its gateway (called once the gateway exists)."""
    app[METRICS] = GatewayMetrics(app[GATEWAY].resilience)
    return app[METRICS]


def add_routes(app: web.Application) -> None:
    """Mount ``/metrics``."""
    app.router.add_get("/metrics", metrics)
