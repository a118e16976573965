"""A circuit breaker per provider: stop sending requests to a provider that keeps failing.

CLOSED → OPEN after ``failure_threshold`` provider-level failures in a row (5xx, timeouts,
resets, connect errors — never one account's 401, 429 or spent quota, which say nothing about
the provider). OPEN → HALF_OPEN once the cooldown has passed: exactly one request, the probe,
goes through while every other new request skips the provider. HALF_OPEN → CLOSED when the
probe gets an answer from the provider, → OPEN again when it fails, for a cooldown stretched by
the profile's exponential backoff.

The breaker is checked when a request turns to a provider, not between its accounts: a request
already failing over inside the provider goes on, and any answer the provider gives (to it or
to the probe) closes the breaker, so one account that times out while another works cannot keep
the provider shut.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from omniroute.errors import ErrorKind, GatewayError, UpstreamError
from omniroute.routing.config import ProviderProfile
from omniroute.routing.state import BreakerPhase, BreakerState, HotState

#: Failures that say the provider (not one account, not the request) is in trouble.
PROVIDER_FAILURES = frozenset({ErrorKind.UPSTREAM, ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE})


class CircuitOpen(UpstreamError):
    """The provider's breaker is open: skip it (a combo moves on; a lone target answers 503)."""

    def __init__(self, provider_id: str, seconds_left: float) -> None:
        wait = max(1, math.ceil(seconds_left))
        super().__init__(
            ErrorKind.UNAVAILABLE,
            f"provider '{provider_id}' is failing and is skipped for {wait}s more "
            "(circuit breaker open)",
            status=503,
            code="circuit_open",
            retry_after=wait,
        )
        self.provider_id = provider_id


def is_provider_failure(error: GatewayError | None) -> bool:
    """Whether an attempt's outcome counts against its provider's breaker."""
    return error is not None and error.kind in PROVIDER_FAILURES


class CircuitBreaker:
    """The breakers of all providers, over the hot state, with an injectable clock."""

    def __init__(self, state: HotState, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = state
        self.clock = clock

    def seconds_left(self, breaker: BreakerState) -> float:
        """How long an open breaker keeps its provider away (0 when not open)."""
        if breaker.phase is not BreakerPhase.OPEN:
            return 0.0
        return max(0.0, breaker.open_until - self.clock())

    def check(self, provider_id: str) -> None:
        """Raise :class:`CircuitOpen` when the provider takes no new request now.

        Called when a request turns to the provider. A request already inside it (failing
        over between its accounts) is not stopped: it may well find the account that works.
        """
        breaker = self.state.breakers().get(provider_id)
        if breaker is None or breaker.phase is BreakerPhase.CLOSED:
            return
        if breaker.phase is BreakerPhase.OPEN and self.clock() < breaker.open_until:
            raise CircuitOpen(provider_id, breaker.open_until - self.clock())
        if breaker.phase is BreakerPhase.HALF_OPEN and breaker.probing:
            raise CircuitOpen(provider_id, 1.0)

    def admit(self, provider_id: str) -> bool:
        """Note an attempt going to the provider; returns whether it is the breaker's probe
        (the first attempt once the cooldown is over, whose outcome decides the state)."""
        breaker = self.state.breakers().get(provider_id)
        if breaker is None or breaker.phase is BreakerPhase.CLOSED or breaker.probing:
            return False
        if breaker.phase is BreakerPhase.OPEN:
            if self.clock() < breaker.open_until:
                return False
            breaker.phase = BreakerPhase.HALF_OPEN
        breaker.probing = True
        return True

    def record(
        self,
        provider_id: str,
        profile: ProviderProfile,
        error: GatewayError | None,
        *,
        probe: bool,
    ) -> None:
        """Count an attempt's outcome: ``error`` is ``None`` for an answer the client got.

        Any answer from the provider (a success, or one account's refusal) closes the breaker:
        the provider is up. A failure opens it once there are ``failure_threshold`` in a row;
        a failed probe re-opens it for longer; failures while it is open change nothing.
        """
        failed = is_provider_failure(error)
        breaker = self.state.breakers().get(provider_id)
        if breaker is None:
            if not failed:
                return  # the common case: a healthy provider costs one dict lookup
            breaker = self.state.breaker(provider_id)
        if probe:
            breaker.probing = False
        if not failed:
            if breaker.phase is not BreakerPhase.CLOSED or breaker.failures:
                self._close(breaker)
            return
        if probe:
            breaker.trips += 1
            self._open(breaker, profile, error)
        elif breaker.phase is BreakerPhase.CLOSED:
            breaker.failures += 1
            breaker.last_error = error.message if error is not None else None
            if breaker.failures >= profile.failure_threshold:
                breaker.trips = 0
                self._open(breaker, profile, error)

    def succeeded(self, provider_id: str, *, probe: bool) -> None:
        """An attempt got an answer the client got: the provider is up (the breaker closes).
        The same as :meth:`record` without an error, without needing the provider's
        profile."""
        breaker = self.state.breakers().get(provider_id)
        if breaker is None:
            return  # the common case: a healthy provider costs one dict lookup
        if probe:
            breaker.probing = False
        if breaker.phase is not BreakerPhase.CLOSED or breaker.failures:
            self._close(breaker)

    def release(self, provider_id: str, *, probe: bool) -> None:
        """An admitted attempt ended without an outcome (the client left, a local limit):
        a probe's turn passes to the next request."""
        if probe:
            breaker = self.state.breakers().get(provider_id)
            if breaker is not None:
                breaker.probing = False

    def reset(self, provider_id: str) -> bool:
        """Close a provider's breaker now (a forced unlock); whether it was not closed."""
        breaker = self.state.breakers().get(provider_id)
        if breaker is None or breaker.phase is BreakerPhase.CLOSED:
            return False
        self._close(breaker)
        return True

    def _open(
        self, breaker: BreakerState, profile: ProviderProfile, error: GatewayError | None
    ) -> None:
        breaker.phase = BreakerPhase.OPEN
        breaker.open_until = self.clock() + profile.backoff(profile.cooldown_seconds, breaker.trips)
        breaker.last_error = error.message if error is not None else breaker.last_error

    @staticmethod
    def _close(breaker: BreakerState) -> None:
        breaker.phase = BreakerPhase.CLOSED
        breaker.failures = 0
        breaker.trips = 0
        breaker.open_until = 0.0
        breaker.probing = False
        breaker.last_error = None
