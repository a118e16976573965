"""Automatic backups: the ``backups`` settings document, retention, and the periodic task.

Backups go to ``DATA_DIR/backups/`` as plain ``.sqlite`` snapshots. Every backup there
(automatic, manual, or taken before an import) is one pool for retention: the newest
``keepLatest`` are kept, and of those, the ones older than ``retentionDays`` are deleted too,
except the newest, so retention never leaves the operator with nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from omniroute.store.backups import (
    BackupFile,
    backup_path,
    list_backups,
    remove_stale_temp_files,
    snapshot_file,
)
from omniroute.store.db import Store
from omniroute.store.documents import get_document, put_document

log = logging.getLogger(__name__)

DOCUMENT = "backups"
DIRECTORY = "backups"
#: The first automatic backup waits this long after start, so it never competes with startup.
STARTUP_DELAY = 60.0
#: Even with nothing due, look again this often (the clock may jump; files may be deleted).
MAX_SLEEP = 3600.0

Clock = Callable[[], float]


class BackupSettings(BaseModel):
    """When to back up automatically and how many backups to keep."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    enabled: bool = True
    interval_hours: float = Field(24.0, gt=0, le=24 * 366)
    keep_latest: int = Field(7, ge=1, le=10_000)
    retention_days: float = Field(30.0, ge=0, le=36_600)
    """0 keeps backups whatever their age (``keepLatest`` still applies)."""

    def to_api(self) -> dict[str, Any]:
        """The management-API view (camelCase)."""
        return self.model_dump(by_alias=True)


def load_settings(db: sqlite_utils.Database) -> BackupSettings:
    """The stored backup settings, or the defaults."""
    stored = get_document(db, DOCUMENT)
    return BackupSettings.model_validate(stored) if isinstance(stored, dict) else BackupSettings()


def merge_settings(db: sqlite_utils.Database, changes: dict[str, Any]) -> dict[str, Any]:
    """The stored settings with ``changes`` (camelCase) on top, ready to validate."""
    return {**load_settings(db).to_api(), **changes}


def save_settings(db: sqlite_utils.Database, settings: BackupSettings) -> None:
    """Store validated backup settings."""
    put_document(db, DOCUMENT, settings.to_api())


def prune(directory: Path, settings: BackupSettings, now: float) -> list[str]:
    """Delete the backups retention no longer keeps (and day-old temporary files); returns
    the names of the backups deleted."""
    remove_stale_temp_files(directory, now)
    backups = list_backups(directory)
    max_age = settings.retention_days * 86400
    doomed = [
        b
        for i, b in enumerate(backups)
        if i >= settings.keep_latest or (i > 0 and max_age and now - b.created > max_age)
    ]
    for backup in doomed:
        backup.path.unlink(missing_ok=True)
    return [b.name for b in doomed]


class BackupScheduler:
    """Takes a backup whenever the newest one is an interval old, then applies retention.

    ``clock`` is injectable so tests can move time; :meth:`tick` does one round of work and the
    background task (:meth:`run`) only repeats it.
    """

    def __init__(
        self,
        store: Store,
        directory: Path,
        *,
        clock: Clock = time.time,
        startup_delay: float = STARTUP_DELAY,
    ) -> None:
        self.store = store
        self.directory = directory
        self.clock = clock
        self.startup_delay = startup_delay
        #: Held while the live database is being replaced, so two imports never interleave.
        self.import_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def backup_now(self, reason: str) -> BackupFile:
        """Snapshot the live database into the backups directory now."""
        now = self.clock()
        path = await asyncio.to_thread(
            lambda: snapshot_file(self.store.path, backup_path(self.directory, reason, now))
        )
        stat = await asyncio.to_thread(path.stat)
        return BackupFile(path.name, path, int(now), reason, stat.st_size)

    async def prune(self, settings: BackupSettings | None = None) -> list[str]:
        """Apply retention with the stored (or given) settings."""
        if settings is None:
            settings = await self.store.call(load_settings)
        deleted = await asyncio.to_thread(prune, self.directory, settings, self.clock())
        if deleted:
            log.info("backup retention deleted %d old backup(s)", len(deleted))
        return deleted

    async def tick(self) -> float:
        """Back up if one is due, then apply retention. Returns seconds until the next check."""
        settings = await self.store.call(load_settings)
        if not settings.enabled:
            return MAX_SLEEP
        interval = settings.interval_hours * 3600
        backups = await asyncio.to_thread(list_backups, self.directory)
        now = self.clock()
        if backups and now - backups[0].created < interval:
            return min(MAX_SLEEP, backups[0].created + interval - now)
        made = await self.backup_now("auto")
        log.info("automatic backup %s written", made.name)
        await self.prune(settings)
        return min(MAX_SLEEP, interval)

    def wake(self) -> None:
        """Look again now (the settings changed)."""
        self._wake.set()

    def start(self) -> None:
        """Start the background task."""
        self._task = asyncio.create_task(self.run(), name="omniroute-backups")

    async def stop(self) -> None:
        """Stop the background task (a backup in progress finishes on its worker thread)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        """Repeat :meth:`tick` forever, sleeping until the next backup is due."""
        await self._sleep(self.startup_delay)
        while True:
            try:
                delay = await self.tick()
            except Exception:
                log.exception("automatic backup failed; trying again later")
                delay = MAX_SLEEP
            await self._sleep(max(1.0, delay))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()
