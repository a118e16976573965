"""What a request may do: its key's model scope and requests per minute; blocked providers.

The rate windows are hot state (DESIGN §5): kept in memory behind :class:`KeyRateLimiter`'s two
methods, so a shared implementation (Redis) can replace it for several replicas.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import orjson

from omniroute.accounts.client_keys import KeyInfo
from omniroute.errors import ErrorKind, GatewayError
from omniroute.routing.index import Resolved

WINDOW_SECONDS = 60.0


class KeyRateLimiter:
    """A sliding 60-second window of request times per key.

    Exact ("at most N in any 60 s"), and cheap: each key keeps at most its limit's worth of
    timestamps, and a request costs one append plus dropping the ones that fell out.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, deque[float]] = {}

    def hit(self, key_id: str, limit: int) -> float | None:
        """Count one request; ``None`` when admitted, else the seconds until one would be."""
        now = self._clock()
        window = self._windows.get(key_id)
        if window is None:
            window = self._windows[key_id] = deque()
        horizon = now - WINDOW_SECONDS
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= limit:
            return window[len(window) - limit] - horizon
        window.append(now)
        return None

    def forget(self, keep: set[str]) -> None:
        """Drop the windows of keys that no longer exist (after a configuration change)."""
        for key_id in [k for k in self._windows if k not in keep]:
            del self._windows[key_id]


def canonical_names(model: str, resolved: Resolved) -> tuple[str, str, str]:
    """The names a scope pattern is matched against: the model as the client wrote it, and
    the resolved model under the provider's prefix and under its id."""
    provider = resolved.provider
    tail = f"/{resolved.model}" if resolved.model else ""
    return model, f"{provider.prefix}{tail}", f"{provider.id}{tail}"


def check_scope(key: KeyInfo, model: str, resolved: Resolved, *, combo: bool = False) -> None:
    """403 naming the model when the key may not use it.

    A combo is matched by its name alone: a key allowed a combo may use whatever the combo
    routes to, and a key allowed only some providers cannot reach others through a combo whose
    first target happens to be in scope.
    """
    if key.scope is None:
        return
    if key.allows(model) if combo else key.allows(*canonical_names(model, resolved)):
        return
    raise GatewayError(
        ErrorKind.AUTH,
        f"this API key may not use model '{model}'; it is limited to: {', '.join(key.allowed)}",
        status=403,
        param="model",
        code="model_not_allowed",
        type="permission_error",
    )


def check_rate(limiter: KeyRateLimiter, key: KeyInfo) -> None:
    """429 with ``Retry-After`` when the key is over its requests-per-minute limit."""
    if key.rpm is None:
        return
    wait = limiter.hit(key.id, key.rpm)
    if wait is not None:
        raise GatewayError(
            ErrorKind.RATE_LIMITED,
            f"this API key is limited to {key.rpm} requests per minute; retry in "
            f"{max(1, round(wait))} s",
            code="rate_limit_exceeded",
            retry_after=wait,
        )


def check_blocked(blocked: frozenset[str], resolved: Resolved) -> None:
    """403 naming the provider when the security section blocks it. Of kind ``bad_request``:
    no other account of the provider would do, though a combo's next target may."""
    if blocked and resolved.provider.id in blocked:
        raise GatewayError(
            ErrorKind.BAD_REQUEST,
            f"provider '{resolved.provider.id}' is blocked on this gateway",
            status=403,
            param="model",
            code="provider_blocked",
            type="permission_error",
        )


def models_body_for(body: bytes, key: KeyInfo | None) -> bytes:
    """The ``/v1/models`` body as ``key`` sees it: only the models in its scope.

    Unscoped keys (the common case) get the prebuilt body untouched; a scoped key costs one
    parse and filter of the list.
    """
    if key is None or key.scope is None:
        return body
    listing = orjson.loads(body)

    def visible(entry: dict[str, str]) -> bool:
        model = entry["id"].partition("/")[2]
        owner = entry.get("owned_by", "")
        return key.allows(entry["id"], f"{owner}/{model}" if model else "", model)

    listing["data"] = [entry for entry in listing["data"] if visible(entry)]
    return orjson.dumps(listing)
