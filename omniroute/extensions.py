"""What plugins register besides providers and formats: auth flows, strategies, middlewares,
routes and dashboard panels, plus the types a middleware sees around one upstream attempt."""

from __future__ import annotations

import random
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
    """What routing knows about one connection right now (hot state, in memory).

    Times are ``time.monotonic()`` seconds. ``failures`` counts failures in a row (a success
    clears it); ``recent_errors`` is a decaying error rate between 0 and 1 and ``latency_ms`` a
    moving average of answer latency (0 until measured), both for health-aware strategies.
    ``cooldown_reason`` says why the account rests (``rate_limited``, ``quota_exhausted``, ...).
    """

    cooldown_until: float = 0.0
    last_used: float = 0.0
    uses: int = 0
    failures: int = 0
    last_error: str | None = None
    cooldown_reason: str | None = None
    recent_errors: float = 0.0
    latency_ms: float = 0.0
    in_flight: int = 0
    #: Rests of single models on this connection (a provider that limits per model):
    #: model id or family name → (until, reason). See ``AccountHealth.rest_model``.
    model_rests: dict[str, tuple[float, str]] = field(default_factory=dict)

    def cooling(self, now: float) -> bool:
        """Whether the connection is resting after a failure."""
        return self.cooldown_until > now


@dataclass(slots=True)
class Rotation:
    """Where a rotating strategy stands for one provider: the account it is on and how many
    calls in a row that account has had (hot state, shared by the provider's requests)."""

    current: str | None = None
    streak: int = 0


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Inputs a strategy may use to order candidates.

    ``rng`` is the source of randomness (seeded in tests); ``rotation`` is the provider's
    rotation record and ``sticky_limit`` how many calls in a row a rotating strategy gives one
    account. A combo strategy gets ``provider=""``, the ``combo``'s name and its ``turn``: how
    many requests that combo ordered before this one (what round-robin rotates by).
    """

    provider: str
    states: Mapping[str, AccountState]
    now: float = field(default_factory=time.monotonic)
    rng: random.Random = field(default_factory=random.Random)
    rotation: Rotation = field(default_factory=Rotation)
    sticky_limit: int = 3
    combo: str | None = None
    turn: int = 0

    def state(self, connection_id: str) -> AccountState:
        """The state of one connection (a fresh one if it was never used)."""
        return self.states.get(connection_id) or AccountState()


@dataclass(frozen=True, slots=True)
class Strategy:
    """An ordering policy. ``kind="account"`` orders a provider's connections; ``kind="combo"``
    orders a combo's targets, each with ``name``, ``weight``, ``connection_ids`` (to read their
    states from the context) and ``price`` (USD per 1M tokens, input + output, or ``None``).
    ``order`` is synchronous and must not do I/O: it runs per request.
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
        self._on_close: list[Callable[[], None]] = []

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

    def arrived(self) -> bool:
        """Whether the whole body is already here (buffered, or built from bytes): a relay
        needs no heartbeat for what is left."""
        return self._live is None or self._live.content.is_eof()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the response is closed (a stream's end, for the
        gateway's per-connection concurrency slots)."""
        self._on_close.append(callback)

    def close(self) -> None:
        """Release the upstream connection; closing mid-body drops it instead of reusing it."""
        if self._live is not None:
            self._live.close()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()


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
    """A piece of the dashboard, contributed by a plugin.

    ``page`` is the panel's ES module and ``assets`` its style sheets, each named
    ``"package:path/inside/it"`` (``"omniroute_kiro:dashboard/connect.js"``): the files ship
    inside the plugin's Python package and the gateway serves them from there, so a dashboard
    needs no CDN and no build step. The module's default export has
    ``mount(root, ctx)``; see ``docs/writing-a-plugin.md`` for what ``ctx`` offers.

    ``slot`` says where the panel goes: ``"page"`` is a page of its own in the navigation
    (ordered by ``order``, shown with ``title`` and ``icon``, a short name from the shell's
    icon set or one emoji); ``"connect:<provider id>"`` is the form the Providers page shows
    to connect an account of that provider (OAuth, device code, import), in place of the
    generic form built from the provider's auth flow. ``api_routes`` lists the management API
    routes the panel calls (``"GET /api/usage"``), shown when the panel fails to load.
    """

    id: str
    title: str
    page: str
    icon: str = ""
    order: int = 100
    assets: tuple[str, ...] = ()
    api_routes: tuple[str, ...] = ()
    slot: str = "page"

    def __post_init__(self) -> None:
        for spec in (self.page, *self.assets):
            package, _, path = spec.partition(":")
            if not package or not path or path.startswith("/") or ".." in path.split("/"):
                raise ValueError(
                    f"dashboard panel '{self.id}': '{spec}' is not 'package:relative/path'"
                )
        if self.slot != "page" and not self.slot.startswith("connect:"):
            raise ValueError(
                f"dashboard panel '{self.id}': slot must be 'page' or 'connect:<provider id>'"
            )
