"""Account health: how long a connection rests after a failure, and what strategies read.

Records live in the hot state (:mod:`omniroute.routing.state`); this module holds the
transitions: a use, a success, a failure (with the rest it earns) and a forced unlock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from omniroute.errors import ErrorKind, GatewayError
from omniroute.extensions import AccountState
from omniroute.routing.config import ProviderProfile, ResilienceSettings
from omniroute.routing.state import HotState, MemoryHotState

#: Provider-side trouble rests an account only briefly: the next account likely shares it,
#: and the circuit breaker is what keeps a failing provider away.
TRANSIENT_REST_SECONDS = 5.0
TRANSIENT_KINDS = frozenset({ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE, ErrorKind.UPSTREAM})

# Weights of the newest outcome in the moving averages strategies compare accounts by.
_ERROR_WEIGHT = 0.3
_LATENCY_WEIGHT = 0.2


class AccountHealth:
    """Per-connection state that strategies read and attempts update."""

    def __init__(
        self,
        default_cooldown: float,
        state: HotState | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_cooldown = default_cooldown
        self.state: HotState = state if state is not None else MemoryHotState()
        self.clock = clock

    @property
    def states(self) -> Mapping[str, AccountState]:
        """Every connection's record, by connection id."""
        return self.state.accounts()

    def used(self, connection_id: str) -> None:
        """Note that a request is going to this connection."""
        state = self.state.account(connection_id)
        state.last_used = self.clock()
        state.uses += 1

    def succeeded(self, connection_id: str, latency_ms: float | None = None) -> None:
        """A request through this connection worked: it is healthy again."""
        state = self.state.account(connection_id)
        state.recent_errors *= 1 - _ERROR_WEIGHT
        if latency_ms is not None:
            state.latency_ms = (
                latency_ms
                if not state.latency_ms
                else state.latency_ms + _LATENCY_WEIGHT * (latency_ms - state.latency_ms)
            )
        if state.failures or state.cooldown_until:
            state.failures = 0
            state.cooldown_until = 0.0
            state.cooldown_reason = None
            state.last_error = None

    def failed(
        self,
        connection_id: str,
        error: GatewayError,
        settings: ResilienceSettings | None = None,
        profile: ProviderProfile | None = None,
    ) -> float:
        """A request failed in a way another account may not: rest this one. Returns the rest.

        The upstream's own retry hint wins, up to ``settings.max_hint_seconds`` (then the
        account is simply tried again). Without a hint a spent quota rests
        ``quota_cooldown_seconds``; provider trouble (timeouts, resets, 5xx) rests briefly;
        anything else rests the configured cooldown. Failures in a row stretch hint-less rests
        by the provider profile's exponential backoff.
        """
        state = self.state.account(connection_id)
        rest = self._rest_for(state.failures, error, settings, profile)
        state.failures += 1
        state.recent_errors += _ERROR_WEIGHT * (1 - state.recent_errors)
        state.last_error = error.kind.value
        state.cooldown_until = self.clock() + rest
        state.cooldown_reason = error.kind.value
        return rest

    def failed_model(
        self,
        connection_id: str,
        model: str,
        error: GatewayError,
        settings: ResilienceSettings | None = None,
        profile: ProviderProfile | None = None,
    ) -> float:
        """Like :meth:`failed` for a failure the provider says concerns ``model`` alone: that
        model rests on this connection, the connection stays in use for the others."""
        rest = self._rest_for(0, error, settings, profile)
        self.rest_model(connection_id, model, self.clock() + rest, error.kind.value)
        return rest

    def _rest_for(
        self,
        repeats: int,
        error: GatewayError,
        settings: ResilienceSettings | None,
        profile: ProviderProfile | None,
    ) -> float:
        settings = settings or ResilienceSettings()
        profile = profile or settings.profile
        if error.retry_after is not None:
            rest = min(error.retry_after, settings.max_hint_seconds)
        elif error.kind is ErrorKind.QUOTA_EXHAUSTED:
            rest = settings.quota_cooldown_seconds
        elif error.kind in TRANSIENT_KINDS:
            rest = profile.backoff(min(self.default_cooldown, TRANSIENT_REST_SECONDS), repeats)
        else:
            rest = profile.backoff(self.default_cooldown, repeats)
        return rest

    # -- rests of one model ------------------------------------------------------------------

    def rest_model(self, connection_id: str, model: str, until: float, reason: str) -> None:
        """Rest one model of a connection until ``until`` (this clock): the provider limits
        that model (or model family, such as ``opus``) alone, so the others stay in use."""
        rests = self.state.account(connection_id).model_rests
        current = rests.get(model)
        if current is None or until > current[0]:
            rests[model] = (until, reason)

    def model_rest(self, connection_id: str, model: str | None) -> tuple[float, str] | None:
        """The rest ``model`` is under on this connection now, if any: its own, or its
        family's (``opus`` covers ``claude-opus-4-6``)."""
        state = self.state.accounts().get(connection_id)
        if state is None or not state.model_rests or not model:
            return None
        now = self.clock()
        parts = model.lower().replace("/", "-").split("-")
        for key, (until, reason) in list(state.model_rests.items()):
            if until <= now:
                del state.model_rests[key]
            elif key == model or key.lower() in parts:
                return until, reason
        return None

    def end_model_rest(self, connection_id: str, model: str | None = None) -> bool:
        """End one model's rest (every model's when ``model`` is None); whether any was
        resting."""
        state = self.state.accounts().get(connection_id)
        if state is None or not state.model_rests:
            return False
        now = self.clock()
        keys = [k for k, (until, _) in state.model_rests.items() if until > now]
        if model is not None:
            keys = [k for k in keys if k == model]
        for key in keys:
            del state.model_rests[key]
        return bool(keys)

    def unlock(self, connection_id: str) -> bool:
        """End a connection's rest now (a forced unlock), and any rest of its models; whether
        anything was resting."""
        models = self.end_model_rest(connection_id)
        state = self.state.accounts().get(connection_id)
        if state is None or not state.cooling(self.clock()):
            return models
        state.cooldown_until = 0.0
        state.cooldown_reason = None
        state.failures = 0
        return True

    def forget(self, keep: set[str]) -> None:
        """Drop the state of connections that no longer exist."""
        self.state.forget(keep)
