"""The ledger writer: a bounded queue drained in batches by one task into SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import sqlite_utils

from omniroute.accounts import client_keys
from omniroute.ledger.budgets import Spending, SpendingState
from omniroute.store.db import Store, transaction
from omniroute.store.rows import now_iso

log = logging.getLogger(__name__)

TABLE = "usage"
BATCH = 1000


COLUMNS = (
    "ts",
    "request_id",
    "endpoint",
    "provider",
    "model",
    "connection_id",
    "key_id",
    "stream",
    "status",
    "error_kind",
    "tokens_in",
    "tokens_out",
    "tokens_cached",
    "tokens_reasoning",
    "latency_ms",
    "ttft_ms",
    "combo",
    "cost_usd",
    "tokens_cache_write",
)
_INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _write(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> None:
    """Insert a batch and stamp the keys it used, in one transaction."""
    last_used = {row["key_id"]: now_iso() for row in rows if row.get("key_id")}
    with transaction(db) as conn:
        conn.executemany(_INSERT, [tuple(row.get(c) for c in COLUMNS) for row in rows])
        if last_used:
            client_keys.touch(db, last_used)


class Ledger:
    """Records usage without ever making a request wait for the disk.

    ``record`` is synchronous and never blocks: when the queue is full (the disk cannot keep
    up), the row is counted as dropped and a warning is logged, rather than slowing every
    request down. One writer task batches rows; :meth:`drain` writes everything recorded so
    far, including a batch the writer is still collecting. Each row's cost is counted against
    its client key in :attr:`spending` at once (even if the row itself is dropped), which is
    what budgets are enforced against.
    """

    def __init__(
        self,
        store: Store,
        *,
        queue_size: int,
        flush_seconds: float,
        spending: SpendingState | None = None,
    ) -> None:
        self._store = store
        self.spending: SpendingState = spending or Spending()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._flush_seconds = flush_seconds
        self._held: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0
        #: Called with every row as it is recorded (the dashboard's live monitor); each
        #: must be quick and must not raise. Empty, it costs ``record`` one check.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def record(self, row: dict[str, Any]) -> None:
        """Queue one usage row."""
        cost, key_id = row.get("cost_usd"), row.get("key_id")
        if cost and key_id:
            self.spending.add(key_id, cost, row.get("ts"))
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("usage ledger queue full: %d rows dropped so far", self.dropped)
        if self.listeners:
            for listener in self.listeners:
                listener(row)

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._run(), name="omniroute-ledger")

    async def _run(self) -> None:
        while True:
            # Not `self._held.append(await ...)`: that binds the list before waiting, and a
            # drain() meanwhile replaces it, so the row would land in the discarded list.
            row = await self._queue.get()
            self._held.append(row)
            await asyncio.sleep(self._flush_seconds)  # let a batch accumulate
            await self.drain()

    async def drain(self) -> None:
        """Write every row recorded until now (rows recorded meanwhile may wait for the next)."""
        async with self._lock:
            rows, self._held = self._held, []
            for _ in range(self._queue.qsize()):
                rows.append(self._queue.get_nowait())
            for start in range(0, len(rows), BATCH):
                batch = rows[start : start + BATCH]
                try:
                    await self._store.call(_write, batch)
                    self.written += len(batch)
                except Exception:
                    log.exception("usage ledger write of %d rows failed", len(batch))

    async def close(self) -> None:
        """Stop the writer and flush everything still queued or held."""
        if self._task is not None:
            async with self._lock:  # never cancel the writer in the middle of a write
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.drain()
