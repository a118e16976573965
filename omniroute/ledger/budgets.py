"""Per-key spending budgets: the limits (configuration) and the money spent (hot state).

A budget caps what one client key may spend in a calendar period — a UTC day, an ISO week
(Monday 00:00 UTC) or a calendar month in UTC. Enforcement never reads the database: the
gateway keeps what each key has spent in the current day, week and month in memory
(:class:`Spending`), seeded from the ledger when it starts and incremented as each request's
cost is recorded. A request is refused once the key's spending has reached its limit; requests
already in flight when that happens still finish, so a key can overshoot its limit by at most
the cost of the requests it had in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import sqlite_utils

from omniroute.errors import ErrorKind, GatewayError
from omniroute.store.db import Store, transaction
from omniroute.store.rows import now_iso

Period = Literal["daily", "weekly", "monthly"]
PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly")
TABLE = "budgets"
DEFAULT_WARN_AT = 0.8


@dataclass(frozen=True, slots=True)
class Budget:
    """A key's spending limit in USD per period; ``warn_at`` is the fraction of the limit at
    which the budget status reports a warning."""

    key_id: str
    limit: float
    period: Period
    warn_at: float = DEFAULT_WARN_AT


def period_bounds(period: Period, now: float) -> tuple[float, float]:
    """Start and end (Unix times) of the UTC calendar period containing ``now``."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start, end = day, day + timedelta(days=1)
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return start.timestamp(), end.timestamp()


class SpendingState(Protocol):
    """Money spent per client key and period: the hot state budgets are enforced against
    (DESIGN §5). :class:`Spending` keeps it in this process; an implementation shared by
    several replicas (Redis, with atomic increments) would provide the same methods."""

    clock: Callable[[], float]

    def add(self, key_id: str, cost: float, at: float | None = None) -> None:
        """Count ``cost`` against ``key_id`` in the periods containing ``at`` (default: now)."""

    def spent(self, key_id: str, period: Period) -> float:
        """What ``key_id`` has spent in the current ``period``."""

    def seed(self, sums: Mapping[Period, Mapping[str, float]], now: float) -> None:
        """Replace the counters with sums read from the ledger."""


class Spending:
    """What each client key has spent in the current UTC day, week and month, in memory.

    Counters roll over by themselves when a period ends. ``clock`` is injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # period -> (start and end of the current period, spent per key in it)
        self._current: dict[Period, tuple[float, float, dict[str, float]]] = {}

    def _bucket(self, period: Period, now: float) -> dict[str, float]:
        current = self._current.get(period)
        if current is not None and current[0] <= now < current[1]:
            return current[2]  # the common case: no calendar arithmetic per request
        start, end = period_bounds(period, now)
        if current is not None and current[0] > start:
            return {}  # a late row from a period already closed: not counted against this one
        self._current[period] = (start, end, {})
        return self._current[period][2]

    def add(self, key_id: str, cost: float, at: float | None = None) -> None:
        """Count ``cost`` (USD) against ``key_id`` in every period containing ``at``."""
        if cost <= 0:
            return
        at = self.clock() if at is None else at
        for period in PERIODS:
            bucket = self._bucket(period, at)
            bucket[key_id] = bucket.get(key_id, 0.0) + cost

    def spent(self, key_id: str, period: Period) -> float:
        """What ``key_id`` has spent in the current ``period``."""
        return self._bucket(period, self.clock()).get(key_id, 0.0)

    def seed(self, sums: Mapping[Period, Mapping[str, float]], now: float) -> None:
        """Replace the counters with sums read from the ledger for the periods around ``now``."""
        self._current = {
            period: (*period_bounds(period, now), dict(sums.get(period, {}))) for period in PERIODS
        }


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where a key stands against its budget right now."""

    budget: Budget
    spent: float
    resets_at: float

    @property
    def exceeded(self) -> bool:
        """Whether new requests are refused."""
        return self.spent >= self.budget.limit

    @property
    def warning(self) -> bool:
        """Whether spending has reached the warning threshold."""
        return self.spent >= self.budget.limit * self.budget.warn_at


def status(budget: Budget, spending: SpendingState) -> BudgetStatus:
    """The budget's status from the in-memory counters."""
    _start, end = period_bounds(budget.period, spending.clock())
    return BudgetStatus(budget, spending.spent(budget.key_id, budget.period), end)


def enforce(budgets: Mapping[str, Budget], spending: SpendingState, key_id: str | None) -> None:
    """Refuse the request (429 ``budget_exceeded``) when the key's budget is spent."""
    if key_id is None:
        return
    budget = budgets.get(key_id)
    if budget is None:
        return
    spent = spending.spent(key_id, budget.period)
    if spent >= budget.limit:
        _start, end = period_bounds(budget.period, spending.clock())
        raise GatewayError(
            ErrorKind.BUDGET_EXCEEDED,
            f"this API key has spent ${spent:.4f} of its {budget.period} budget of "
            f"${budget.limit:.2f}; it resets at "
            f"{datetime.fromtimestamp(end, UTC).isoformat(timespec='seconds')}",
            code="budget_exceeded",
            type="budget_exceeded",
            retry_after=max(1.0, end - spending.clock()),
        )


# -- storage (DB thread) ------------------------------------------------------------------------


def load(db: sqlite_utils.Database) -> dict[str, Budget]:
    """Every budget, by key id."""
    rows = db.execute(f"SELECT key_id, limit_usd, period, warn_at FROM {TABLE}").fetchall()
    return {row[0]: Budget(row[0], float(row[1]), row[2], float(row[3])) for row in rows}


def save(db: sqlite_utils.Database, budget: Budget) -> None:
    """Create or replace a key's budget."""
    now = now_iso()
    with transaction(db) as conn:
        conn.execute(
            f"INSERT INTO {TABLE} (key_id, limit_usd, period, warn_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key_id) DO UPDATE SET "
            "limit_usd = excluded.limit_usd, period = excluded.period, "
            "warn_at = excluded.warn_at, updated_at = excluded.updated_at",
            [budget.key_id, budget.limit, budget.period, budget.warn_at, now, now],
        )


def delete(db: sqlite_utils.Database, key_id: str) -> bool:
    """Remove a key's budget; whether it had one."""
    with transaction(db) as conn:
        return conn.execute(f"DELETE FROM {TABLE} WHERE key_id = ?", [key_id]).rowcount > 0


def spent_sums(db: sqlite_utils.Database, now: float) -> dict[Period, dict[str, float]]:
    """What each key spent in the current day, week and month, summed from the ledger."""
    starts = {period: period_bounds(period, now)[0] for period in PERIODS}
    sums = ", ".join("COALESCE(SUM(CASE WHEN ts >= ? THEN cost_usd END), 0)" for _ in PERIODS)
    cursor = db.execute(
        f"SELECT key_id, {sums} FROM usage WHERE ts >= ? AND key_id IS NOT NULL "
        "AND cost_usd > 0 GROUP BY key_id",
        [*(starts[p] for p in PERIODS), min(starts.values())],
    )
    out: dict[Period, dict[str, float]] = {p: {} for p in PERIODS}
    for key_id, *values in cursor.fetchall():
        for period, value in zip(PERIODS, values, strict=True):
            if value:
                out[period][key_id] = float(value)
    return out


async def seed_spending(store: Store, spending: SpendingState) -> None:
    """Load what each key has spent this day, week and month from the ledger (at startup,
    before any request is recorded, so nothing is counted twice or missed)."""
    now = spending.clock()
    spending.seed(await store.call(spent_sums, now), now)
