"""What plugins register besides providers and formats: auth flows, strategies, middlewares,
routes and dashboard panels, plus the types a middleware sees around one upstream attempt."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from omniroute.providers import Connection, Endpoint, Provider


# -- auth flows ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthField:
    """One input a user gives to create a connection (rendered by the dashboard and the CLI)."""

    name: str
    label: str
    secret: bool = False
    required: bool = True


@dataclass(frozen=True, slots=True)
class AuthFlow:
    """A way to obtain credentials for a connection.

    ``kind`` is one of ``api-key``, ``oauth-pkce``, ``device-code``, ``token-exchange`` or
    ``import``. ``credentials`` turns the user's input into the secret stored for the connection
    and raises ``ValueError`` naming the missing or bad field.
    """

    id: str
    kind: Literal["api-key", "oauth-pkce", "device-code", "token-exchange", "import"]
    title: str
    fields: tuple[AuthField, ...]
    credentials: Callable[[Mapping[str, Any]], str]


# -- strategies ---------------------------------------------------------------------------------


@dataclass(slots=True)
class AccountState:
    """What routing knows about one connection right now (hot state, in memory)."""

    cooldown_until: float = 0.0
    last_used: float = 0.0
    uses: int = 0
    failures: int = 0
    last_error: str | None = None

    def cooling(self, now: float) -> bool:
        """Whether the connection is resting after a failure."""
        return self.cooldown_until > now


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Inputs a strategy may use to order candidates."""

    provider: str
    states: Mapping[str, AccountState]
    now: float = field(default_factory=time.monotonic)

    def state(self, connection_id: str) -> AccountState:
        """The state of one connection (a fresh one if it was never used)."""
        return self.states.get(connection_id) or AccountState()


@dataclass(frozen=True, slots=True)
class Strategy:
    """An ordering policy. ``kind="account"`` orders a provider's connections; ``kind="combo"``
    orders a combo's targets. ``order`` is synchronous and must not do I/O: it runs per request.
    """

    id: str
    kind: Literal["account", "combo"]
    order: Callable[[Sequence[Any], StrategyContext], list[Any]]
    description: str = ""


# -- middlewares around one upstream attempt ----------------------------------------------------


@dataclass(slots=True)
class Attempt:
    """One upstream call about to be made with one connection. Middlewares may edit it.

    ``model`` is the upstream model id (also in ``body`` for formats that carry it there).
    """

    provider: Provider
    connection: Connection
    endpoint: Endpoint
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    stream: bool
    request_id: str
    client_key_id: str | None = None
    model: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


class UpstreamResponse:
    """An upstream answer as middlewares see it: status, headers and a body to read or iterate.

    The gateway's own sender returns one backed by a live aiohttp response; a middleware that
    answers by itself (a cache hit) returns one built from bytes.
    """

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        live: aiohttp.ClientResponse | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._body = body
        self._live = live

    async def read(self) -> bytes:
        """The whole body."""
        if self._live is not None:
            return await self._live.read()
        return self._body

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (a single chunk when it was built from bytes)."""
        if self._live is None:
            if self._body:
                yield self._body
            return
        async for chunk in self._live.content.iter_any():
            yield chunk

    def close(self) -> None:
        """Release the upstream connection; closing mid-body drops it instead of reusing it."""
        if self._live is not None:
            self._live.close()


CallNext = Callable[[Attempt], Awaitable[UpstreamResponse]]
MiddlewareHandler = Callable[[Attempt, CallNext], Awaitable[UpstreamResponse]]


@dataclass(frozen=True, slots=True)
class Middleware:
    """An async layer ``handler(attempt, call_next)`` around every upstream attempt.

    Lower ``order`` runs further outside. A middleware returns ``await call_next(attempt)`` or an
    :class:`UpstreamResponse` of its own.
    """

    id: str
    handler: MiddlewareHandler
    order: int = 100


# -- HTTP routes and dashboard panels -----------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    """An extra HTTP route. Paths under ``/api/`` join the management API (a sub-application)
    and require a dashboard session like all others; handlers reach shared state through
    ``request.config_dict``, which works on both sides."""

    method: str
    path: str
    handler: Handler
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DashboardPanel:
    """A dashboard page: navigation entry, the page module or template, its assets and the
    management API routes it calls (so the shell can tell a user what a panel needs)."""

    id: str
    title: str
    page: str
    icon: str = ""
    order: int = 100
    assets: tuple[str, ...] = ()
    api_routes: tuple[str, ...] = ()
