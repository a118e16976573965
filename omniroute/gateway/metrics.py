"""``GET /metrics``: Prometheus text format (``prometheus-client``), outside ``/api``.

Like ``/health`` it needs no session, so a scraper can reach it; it names providers and
counts requests, which is acceptable on a gateway that listens on localhost by default. Put
it behind the reverse proxy's access rules when the gateway is exposed.

Each app has its own ``CollectorRegistry`` (no module-level state): attempt counters and the
latency histogram are updated per upstream attempt; breaker states and cooling connections
are read from the hot state when scraped, so they cost requests nothing.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from omniroute.appkeys import GATEWAY, METRICS
from omniroute.routing.resilience import Resilience
from omniroute.routing.state import BreakerPhase

#: Latency buckets (seconds) for answers that range from a cached embedding to a long thought.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

BREAKER_VALUES = {BreakerPhase.CLOSED: 0, BreakerPhase.HALF_OPEN: 1, BreakerPhase.OPEN: 2}


class GatewayMetrics:
    """The app's Prometheus registry and the instruments the gateway updates."""

    def __init__(self, resilience: Resilience) -> None:
        self.started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=True)
        self.attempts = Counter(
            "omniroute_upstream_requests",
            "Upstream attempts by provider, HTTP status and outcome (ok or the error kind).",
            ["provider", "status", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "omniroute_upstream_latency_seconds",
            "Time until an upstream's answer was usable (the first event, for streams).",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._counters: dict[tuple[str, int, str], Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self.registry.register(HotStateCollector(resilience, self.started))
        ProcessCollector(registry=self.registry)
        resilience.observers.append(self.observe)

    def observe(self, provider: str, status: int, outcome: str, seconds: float) -> None:
        """Count one upstream attempt (registered as a resilience observer)."""
        # ``labels()`` builds and locks on every call; the labelled children are cached
        # instead, since this runs once per upstream attempt.
        key = (provider, status, outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.attempts.labels(provider, str(status), outcome)
        counter.inc()
        histogram = self._histograms.get(provider)
        if histogram is None:
            histogram = self._histograms[provider] = self.latency.labels(provider)
        histogram.observe(seconds)

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
