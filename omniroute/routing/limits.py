"""Per-connection limits the gateway keeps by itself: requests per minute, a minimum interval
between requests, and a maximum of requests in flight.

All are off until the user sets them (``ResilienceSettings.limits`` and its overrides). A
request that would break a limit waits up to ``max_wait_ms`` for room and otherwise raises
:class:`ConnectionBusy`, which moves the request on to the provider's next account without
resting this one; when no account has room the client gets a 429.

Checks and the taking of a slot happen without an ``await`` in between, so many concurrent
requests on one event loop never overshoot a limit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from omniroute.errors import ErrorKind, UpstreamError
from omniroute.routing.config import ConnectionLimits
from omniroute.routing.state import HotState

WINDOW_SECONDS = 60.0


class ConnectionBusy(UpstreamError):
    """A connection is at one of its own limits; the next account is tried."""

    def __init__(self, connection_id: str, reason: str, retry_after: float) -> None:
        super().__init__(
            ErrorKind.RATE_LIMITED,
            f"connection '{connection_id}' is at its {reason} limit",
            status=429,
            code="connection_limit",
            retry_after=max(1, math.ceil(retry_after)),
        )


class Slot:
    """A request's place on a connection; :meth:`release` it when the answer is over."""

    __slots__ = ("_connection_id", "_limiter", "_released")

    def __init__(self, limiter: ConnectionLimiter, connection_id: str) -> None:
        self._limiter = limiter
        self._connection_id = connection_id
        self._released = False

    def release(self) -> None:
        """Give the place back (idempotent)."""
        if not self._released:
            self._released = True
            self._limiter._release(self._connection_id)


class ConnectionLimiter:
    """Admission to connections under their limits; counts requests in flight on each."""

    def __init__(self, state: HotState, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = state
        self.clock = clock
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    async def acquire(self, connection_id: str, limits: ConnectionLimits) -> Slot:
        """A slot on the connection, waiting up to ``limits.max_wait_ms`` for room; raises
        :class:`ConnectionBusy` when there is none in time."""
        if not limits.active:
            self.state.account(connection_id).in_flight += 1
            return Slot(self, connection_id)
        deadline = self.clock() + limits.max_wait_ms / 1000
        while True:
            now = self.clock()
            wait, reason = self._wait_needed(connection_id, limits, now)
            if wait <= 0:
                self._take(connection_id, limits, now)
                return Slot(self, connection_id)
            remaining = deadline - now
            if remaining <= 0 or (math.isfinite(wait) and wait > remaining):
                # Room on a busy connection comes back when a request ends: say 1 s.
                raise ConnectionBusy(connection_id, reason, 1.0 if math.isinf(wait) else wait)
            # A request ending wakes the waiters early; time-based waits just sleep it out.
            woken = asyncio.get_running_loop().create_future()
            waiters = self._waiters.setdefault(connection_id, [])
            waiters.append(woken)
            try:
                await asyncio.wait_for(woken, timeout=min(wait, remaining))
            except TimeoutError:
                pass
            finally:
                if woken in waiters:
                    waiters.remove(woken)

    def _wait_needed(
        self, connection_id: str, limits: ConnectionLimits, now: float
    ) -> tuple[float, str]:
        """Seconds until the connection has room (``inf``: until a request ends), and which
        limit holds it back."""
        waits: list[tuple[float, str]] = []
        window = self.state.window(connection_id)
        if limits.requests_per_minute is not None:
            while window.starts and window.starts[0] <= now - WINDOW_SECONDS:
                window.starts.popleft()
            if len(window.starts) >= limits.requests_per_minute:
                waits.append((window.starts[0] + WINDOW_SECONDS - now, "requests-per-minute"))
        if limits.min_interval_ms is not None:
            gap = limits.min_interval_ms / 1000 - (now - window.last_start)
            if gap > 0:
                waits.append((gap, "minimum-interval"))
        if (
            limits.max_concurrent is not None
            and self.state.account(connection_id).in_flight >= limits.max_concurrent
        ):
            waits.append((math.inf, "concurrency"))
        return max(waits, default=(0.0, ""))

    def _take(self, connection_id: str, limits: ConnectionLimits, now: float) -> None:
        window = self.state.window(connection_id)
        if limits.requests_per_minute is not None:
            window.starts.append(now)
        window.last_start = now
        self.state.account(connection_id).in_flight += 1

    def _release(self, connection_id: str) -> None:
        state = self.state.account(connection_id)
        state.in_flight = max(0, state.in_flight - 1)
        # Every waiter re-checks: the one that finds room first takes it, the others wait on.
        for woken in self._waiters.pop(connection_id, ()):
            if not woken.done():
                woken.set_result(None)

    def forget(self, keep: set[str]) -> None:
        """Drop waiter bookkeeping of connections that no longer exist."""
        for connection_id in [c for c in self._waiters if c not in keep]:
            del self._waiters[connection_id]
