"""Quota windows of subscription accounts: snapshots refreshed in the background, and rests.

A subscription provider that reports its usage windows (Claude's 5-hour and weekly windows,
Codex's primary and secondary windows, Copilot's monthly premium requests) implements
:meth:`~omniroute.oauth.provider.OAuthProvider.quota`. The :class:`QuotaWatcher` reads every
active connection's windows every ``QUOTA_REFRESH_SECONDS`` (and right after an upstream 429),
keeps the newest snapshot for the management API, and rests a connection whose window is at or
above the routing settings' ``quotaThreshold`` until the window resets, through the account
health every strategy already reads (reason ``quota_window``). A window that names a model
(``model`` set: Claude's ``seven_day_opus``) limits only that model: it rests that model on the
connection (``AccountHealth.rest_model``), and the other models keep using it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from omniroute.errors import GatewayError
from omniroute.oauth.credentials import redact_all

if TYPE_CHECKING:
    import aiohttp

    from omniroute.oauth.keeper import TokenKeeper
    from omniroute.oauth.provider import OAuthProvider
    from omniroute.providers import Connection

log = logging.getLogger(__name__)

#: Why a connection rests while one of its windows is over the threshold.
QUOTA_REASON = "quota_window"
#: A read of one connection's windows gives up after this long (the watcher moves on).
READ_TIMEOUT_SECONDS = 30.0
#: The first read waits this long after start (at most ``interval``): a starting gateway, and
#: the tools that start one for a single call, need no round of usage reads at once.
START_DELAY_SECONDS = 10.0
#: Several 429s in a row read a connection's windows once: not again within this many seconds.
MIN_GAP_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    """One usage window of a subscription: how much of it is used and when it resets.

    ``name`` is the provider's key (``five_hour``, ``seven_day``, ``seven_day_opus``,
    ``primary``, ``premium_interactions``...), ``used_percent`` 0-100 and ``resets_at`` epoch
    seconds (``None`` when not given). ``model`` is set when the window limits one model (or
    model family) only, not the whole connection.
    """

    name: str
    used_percent: float
    resets_at: float | None
    model: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The management API's view: ``{name, usedPercent, resetsAt}`` (ISO 8601, UTC)."""
        view: dict[str, Any] = {
            "name": self.name,
            "usedPercent": round(self.used_percent, 2),
            "resetsAt": _iso(self.resets_at),
        }
        if self.model is not None:
            view["model"] = self.model
        return view


@dataclass(slots=True)
class QuotaSnapshot:
    """The newest read of one connection's windows (``error`` when the read failed: the windows
    are then those of the last good read)."""

    windows: list[QuotaWindow] = field(default_factory=list)
    checked_at: float = 0.0
    error: str | None = None

    def to_api(self) -> dict[str, Any]:
        """``{windows, checkedAt, error}`` for the management API."""
        return {
            "windows": [w.to_api() for w in self.windows],
            "checkedAt": _iso(self.checked_at),
            "error": self.error,
        }


def over_threshold(
    windows: Iterable[QuotaWindow], threshold: float, now: float
) -> QuotaWindow | None:
    """The connection-wide window at or above ``threshold`` percent that resets last (``None``
    when none is): the connection is spent until then. A window whose reset time has passed
    is stale, not spent."""
    spent = [
        w
        for w in windows
        if w.model is None
        and w.used_percent >= threshold
        and (w.resets_at is None or w.resets_at > now)
    ]
    if not spent:
        return None
    return max(spent, key=lambda w: w.resets_at if w.resets_at is not None else float("inf"))


def provides_quota(provider: Any) -> bool:
    """Whether an OAuth provider overrides :meth:`OAuthProvider.quota` (reads real windows)."""
    from omniroute.oauth.provider import OAuthProvider

    return isinstance(provider, OAuthProvider) and type(provider).quota is not OAuthProvider.quota


class QuotaWatcher:
    """Reads every active OAuth connection's quota windows in the background and rests the
    connections that are spent. One per app, started and stopped with the OAuth runtime.

    ``app`` is the running app (its gateway gives the routing index, with the connections and
    the threshold, and the account health); ``keeper`` gives fresh credentials.
    """

    def __init__(
        self,
        app: Mapping[Any, Any],
        keeper: TokenKeeper,
        session: aiohttp.ClientSession,
        *,
        interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.keeper = keeper
        self.session = session
        self.interval = interval
        self.clock = clock
        self.snapshots: dict[str, QuotaSnapshot] = {}
        self._loop: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[QuotaSnapshot | None]] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background refresh: a first read shortly after start (``START_DELAY_SECONDS``
        or ``interval``, whichever is shorter), then every ``interval``."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="omniroute-quota-watcher")

    async def stop(self) -> None:
        """Stop the background refresh and wait for reads in flight."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait for the reads in flight (tests, shutdown)."""
        tasks = list(self._inflight.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        await asyncio.sleep(min(self.interval, START_DELAY_SECONDS))
        while True:
            try:
                await self.refresh_all()
            except Exception:  # one bad round must not end the watcher
                log.exception("reading quota windows failed")
            await asyncio.sleep(self.interval)

    # -- reading --------------------------------------------------------------------------------

    def _gateway(self) -> Any:
        from omniroute.appkeys import GATEWAY

        return self.app[GATEWAY]

    def connections(self) -> list[tuple[Connection, OAuthProvider]]:
        """The active connections whose provider reports quota windows."""
        index = self._gateway().index
        found: list[tuple[Connection, OAuthProvider]] = []
        for provider_id, conns in index.connections.items():
            provider = index.providers.get(provider_id)
            if provides_quota(provider):
                found.extend((conn, provider) for conn in conns)
        return found

    async def refresh_all(self) -> None:
        """Read every watched connection's windows now (concurrently) and apply them."""
        watched = self.connections()
        keep = {conn.id for conn, _ in watched}
        for gone in [cid for cid in self.snapshots if cid not in keep]:
            del self.snapshots[gone]
        await asyncio.gather(*(self.refresh(conn, provider) for conn, provider in watched))

    async def refresh(self, conn: Connection, provider: OAuthProvider) -> QuotaSnapshot | None:
        """Read one connection's windows now, or join the read in flight for it."""
        task = self._inflight.get(conn.id)
        if task is None:
            task = asyncio.create_task(self._read(conn, provider))
            self._inflight[conn.id] = task
            task.add_done_callback(lambda done: self._done(conn.id, done))
        return await asyncio.shield(task)

    def after_rate_limit(self, conn: Connection, provider: OAuthProvider) -> None:
        """An upstream 429 on ``conn``: read its windows again soon (in the background), so a
        spent window rests the connection until its reset rather than for the 429's capped
        hint."""
        if not provides_quota(provider) or conn.id in self._inflight:
            return
        last = self.snapshots.get(conn.id)
        if last is not None and self.clock() - last.checked_at < MIN_GAP_SECONDS:
            return
        task = asyncio.create_task(self._read(conn, provider))
        self._inflight[conn.id] = task
        task.add_done_callback(lambda done: self._done(conn.id, done))

    def _done(self, connection_id: str, task: asyncio.Task[QuotaSnapshot | None]) -> None:
        if self._inflight.get(connection_id) is task:
            del self._inflight[connection_id]
        if not task.cancelled():
            task.exception()  # retrieved: _read logs its own failures

    async def _read(self, conn: Connection, provider: OAuthProvider) -> QuotaSnapshot | None:
        previous = self.snapshots.get(conn.id)
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                creds = await self.keeper.credentials(conn, provider)
                windows = await provider.quota(self.session, creds)
        except Exception as exc:  # refused, unreachable, timed out, a body it cannot parse
            message = exc.message if isinstance(exc, GatewayError) else type(exc).__name__
            # Upstreams echo tokens in their error bodies; the message is shown in the API.
            message = redact_all(message, self.keeper.current(conn))
            log.info("reading the quota of connection %s failed: %s", conn.id, message)
            windows = previous.windows if previous is not None else []
            failed = QuotaSnapshot(windows, self.clock(), message or "failed")
            self.snapshots[conn.id] = failed
            return failed
        snapshot = QuotaSnapshot(list(windows), self.clock())
        self.snapshots[conn.id] = snapshot
        self.apply(conn.id, snapshot)
        return snapshot

    # -- routing ----------------------------------------------------------------------------------

    def apply(self, connection_id: str, snapshot: QuotaSnapshot) -> None:
        """Rest the connection until its spent window resets, or end a quota rest that no
        window justifies any more. Without a reset time it rests until the next read."""
        gateway = self._gateway()
        health = gateway.resilience.health
        threshold = gateway.index.routing.quota_threshold
        now = self.clock()
        spent = over_threshold(snapshot.windows, threshold, now)
        state = health.state.account(connection_id)
        mono = health.clock()
        for window in snapshot.windows:
            # A window of one model (family) rests that model only.
            spent_model = window.model is not None and window.used_percent >= threshold
            if spent_model and (window.resets_at is None or window.resets_at > now):
                left = (window.resets_at - now) if window.resets_at else self.interval
                health.rest_model(connection_id, window.model, mono + left, QUOTA_REASON)
        if spent is None:
            if state.cooldown_reason == QUOTA_REASON and state.cooling(mono):
                state.cooldown_until = 0.0
                state.cooldown_reason = None
                state.last_error = None
            return
        seconds = (spent.resets_at - now) if spent.resets_at is not None else self.interval
        until = mono + max(0.0, seconds)
        if until > state.cooldown_until:
            state.cooldown_until = until
            state.cooldown_reason = QUOTA_REASON
            state.last_error = f"{spent.name} {spent.used_percent:g}% used"

    # -- views ------------------------------------------------------------------------------------

    def view(self, connection_id: str) -> dict[str, Any] | None:
        """``{windows, checkedAt, error}`` of a connection, or ``None`` before its first read."""
        snapshot = self.snapshots.get(connection_id)
        return snapshot.to_api() if snapshot is not None else None


def watcher_of(app: Mapping[Any, Any]) -> QuotaWatcher | None:
    """The app's quota watcher (``None`` when the OAuth plugin is off or the app stopped)."""
    from omniroute.appkeys import REGISTRY
    from omniroute.oauth.plugin import runtime_of

    runtime = runtime_of(app[REGISTRY])
    return runtime.quota if runtime is not None else None


def with_quota(app: Mapping[Any, Any], views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Connection views (``/api/providers``) with ``quota`` (``[{name, usedPercent,
    resetsAt}]``) and ``quotaCheckedAt`` added to those whose windows were read."""
    watcher = watcher_of(app)
    if watcher is None:
        return views
    for view in views:
        snapshot = watcher.snapshots.get(str(view.get("id")))
        if snapshot is not None:
            view["quota"] = [w.to_api() for w in snapshot.windows]
            view["quotaCheckedAt"] = _iso(snapshot.checked_at)
            if snapshot.error:
                view["quotaError"] = snapshot.error
    return views


def health_rows(
    app: Mapping[Any, Any], connections: Mapping[str, Connection]
) -> list[dict[str, Any]]:
    """Every read connection's windows for ``/api/monitoring/health``, by name."""
    watcher = watcher_of(app)
    if watcher is None:
        return []
    rows = []
    for connection_id, snapshot in sorted(watcher.snapshots.items()):
        conn = connections.get(connection_id)
        rows.append(
            {
                "connection": connection_id,
                "name": conn.name if conn else None,
                "provider": conn.provider if conn else None,
                **snapshot.to_api(),
            }
        )
    return rows


def epoch_of(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO 8601 date/time (a bare date is midnight UTC)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
