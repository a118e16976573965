"""Account health in memory: cooldowns after failures, last use. Hot state, never in SQLite."""

from __future__ import annotations

import time

from omniroute.errors import ErrorKind, GatewayError
from omniroute.extensions import AccountState


class AccountHealth:
    """Per-connection state that strategies read and attempts update."""

    def __init__(self, default_cooldown: float) -> None:
        self.default_cooldown = default_cooldown
        self.states: dict[str, AccountState] = {}

    def _state(self, connection_id: str) -> AccountState:
        state = self.states.get(connection_id)
        if state is None:
            state = self.states[connection_id] = AccountState()
        return state

    def used(self, connection_id: str) -> None:
        """Note that a request is going to this connection."""
        state = self._state(connection_id)
        state.last_used = time.monotonic()
        state.uses += 1

    def succeeded(self, connection_id: str) -> None:
        """A request through this connection worked: it is healthy again."""
        state = self.states.get(connection_id)
        if state is not None and (state.failures or state.cooldown_until):
            state.failures = 0
            state.cooldown_until = 0.0
            state.last_error = None

    def failed(self, connection_id: str, error: GatewayError) -> None:
        """A request failed in a way another account may not: rest this one for a while.

        The upstream's own retry hint wins; otherwise the configured cooldown applies. A
        timeout or a connect error rests the account briefly, since it is usually the
        provider rather than the account that is at fault.
        """
        state = self._state(connection_id)
        state.failures += 1
        state.last_error = error.kind.value
        if error.retry_after is not None:
            rest = error.retry_after
        elif error.kind in (ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE, ErrorKind.UPSTREAM):
            rest = min(self.default_cooldown, 5.0)
        else:
            rest = self.default_cooldown
        state.cooldown_until = time.monotonic() + rest

    def forget(self, keep: set[str]) -> None:
        """Drop the state of connections that no longer exist."""
        for connection_id in list(self.states):
            if connection_id not in keep:
                del self.states[connection_id]
