"""Automatic backups and retention (with an injected clock), and the backups directory API."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omniroute.appkeys import BACKUPS, SETTINGS
from omniroute.store.backup_schedule import BackupScheduler, BackupSettings, prune
from omniroute.store.backups import backup_path, list_backups
from omniroute.store.db import Store
from tests.conftest import Gateway

DAY = 86400.0
T0 = 1_800_000_000.0  # a fixed moment in 2027


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_backups(directory: Path, *ages_in_days: float, now: float = T0) -> list[str]:
    """Empty backup files made ``ages_in_days`` ago; their names."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for age in ages_in_days:
        path = backup_path(directory, "auto", now - age * DAY)
        path.write_bytes(b"")
        names.append(path.name)
    return names


def names(directory: Path) -> list[str]:
    return [b.name for b in list_backups(directory)]


# -- retention ----------------------------------------------------------------------------------


def test_keep_latest_keeps_the_newest_n(tmp_path: Path):
    made = make_backups(tmp_path, 0, 1, 2, 3, 4)
    deleted = prune(tmp_path, BackupSettings(keep_latest=3, retention_days=0), T0)
    assert sorted(deleted) == sorted(made[3:])
    assert names(tmp_path) == made[:3]


def test_retention_days_deletes_older_backups(tmp_path: Path):
    made = make_backups(tmp_path, 1, 10, 29.9, 30.1, 45)
    prune(tmp_path, BackupSettings(keep_latest=100, retention_days=30), T0)
    assert names(tmp_path) == made[:3]


def test_retention_never_deletes_the_newest_backup(tmp_path: Path):
    made = make_backups(tmp_path, 40, 50)
    prune(tmp_path, BackupSettings(keep_latest=5, retention_days=30), T0)
    assert names(tmp_path) == made[:1]


def test_retention_leaves_other_files_alone(tmp_path: Path):
    make_backups(tmp_path, 1, 2, 3)
    (tmp_path / "my-own-copy.sqlite").write_bytes(b"")
    (tmp_path / ".incoming-123.sqlite").write_bytes(b"")
    prune(tmp_path, BackupSettings(keep_latest=1, retention_days=0), T0)
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == [
        ".incoming-123.sqlite",
        "my-own-copy.sqlite",
    ]
    assert len(names(tmp_path)) == 1


def test_retention_removes_day_old_temporary_files(tmp_path: Path):
    stale, fresh = tmp_path / ".tmp-export-abc.sqlite", tmp_path / ".tmp-incoming-def.sqlite"
    for path, age in ((stale, 2 * DAY), (fresh, 60)):
        path.write_bytes(b"")
        os.utime(path, (T0 - age, T0 - age))
    prune(tmp_path, BackupSettings(), T0)
    assert not stale.exists() and fresh.exists()


def test_backups_made_in_the_same_second_get_distinct_names(tmp_path: Path):
    first = backup_path(tmp_path, "manual", T0)
    first.write_bytes(b"")
    second = backup_path(tmp_path, "manual", T0)
    assert second != first and second.name.endswith("-manual-2.sqlite")
    second.write_bytes(b"")
    assert set(names(tmp_path)) == {first.name, second.name}


# -- the scheduler ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "storage.sqlite")
    yield store
    store.close()


async def test_scheduler_backs_up_when_an_interval_has_passed(store: Store, tmp_path: Path):
    clock = Clock()
    scheduler = BackupScheduler(store, tmp_path / "backups", clock=clock)
    await scheduler.tick()
    assert len(list_backups(scheduler.directory)) == 1
    clock.now += 23 * 3600
    wait = await scheduler.tick()
    assert wait == pytest.approx(3600)  # an hour until the next one is due
    assert len(list_backups(scheduler.directory)) == 1
    clock.now += 3600
    await scheduler.tick()
    backups = list_backups(scheduler.directory)
    assert [b.reason for b in backups] == ["auto", "auto"]
    assert backups[0].created == clock.now
    copy = sqlite3.connect(backups[0].path)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM provider_connections").fetchone()[0] == 0


async def test_scheduler_applies_retention_after_each_backup(store: Store, tmp_path: Path):
    clock = Clock()
    scheduler = BackupScheduler(store, tmp_path / "backups", clock=clock)
    await store.call(
        lambda db: db["settings"].insert(
            {"key": "backups", "value": '{"intervalHours": 1, "keepLatest": 2}'}
        )
    )
    for _ in range(4):
        await scheduler.tick()
        clock.now += 3600
    backups = list_backups(scheduler.directory)
    assert len(backups) == 2
    assert backups[0].created == T0 + 3 * 3600


async def test_disabled_scheduler_makes_no_backups(store: Store, tmp_path: Path):
    scheduler = BackupScheduler(store, tmp_path / "backups", clock=Clock())
    await store.call(
        lambda db: db["settings"].insert({"key": "backups", "value": '{"enabled": false}'})
    )
    await scheduler.tick()
    assert list_backups(scheduler.directory) == []


async def eventually_backed_up(directory: Path) -> None:
    for _ in range(500):
        if list_backups(directory):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no backup was made")


async def test_background_task_backs_up_once_woken(store: Store, tmp_path: Path):
    scheduler = BackupScheduler(store, tmp_path / "backups", clock=Clock(), startup_delay=3600)
    scheduler.start()
    try:
        scheduler.wake()  # what a settings change does: look now, not after the startup delay
        await eventually_backed_up(scheduler.directory)
    finally:
        await scheduler.stop()


async def test_gateway_runs_the_scheduler_on_its_backups_directory(gateway: Gateway):
    scheduler = gateway.app[BACKUPS]
    assert scheduler.directory == gateway.app[SETTINGS].backups_dir
    status, _ = await gateway.api("PUT", "/api/db-backups/settings", json={"intervalHours": 1})
    assert status == 200
    await eventually_backed_up(scheduler.directory)  # the change woke it: the first one is due


# -- the API ------------------------------------------------------------------------------------


async def test_backup_settings_default_and_partial_update(gateway: Gateway):
    status, settings = await gateway.api("GET", "/api/db-backups/settings")
    assert status == 200
    assert settings == {
        "enabled": True,
        "intervalHours": 24.0,
        "keepLatest": 7,
        "retentionDays": 30.0,
    }
    status, settings = await gateway.api("PUT", "/api/db-backups/settings", json={"keepLatest": 3})
    assert status == 200 and settings["keepLatest"] == 3 and settings["intervalHours"] == 24.0
    _, again = await gateway.api("GET", "/api/db-backups/settings")
    assert again == settings


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"keepLatest": 0}, "keepLatest"),
        ({"intervalHours": -1}, "intervalHours"),
        ({"retentionDays": "soon"}, "retentionDays"),
        ({"keepEverything": True}, "keepEverything"),
    ],
)
async def test_bad_backup_settings_are_a_400_naming_the_field(
    gateway: Gateway, body: dict[str, Any], param: str
):
    status, answer = await gateway.api("PUT", "/api/db-backups/settings", json=body)
    assert status == 400 and answer["error"]["param"] == param
    _, settings = await gateway.api("GET", "/api/db-backups/settings")
    assert settings["keepLatest"] == 7


async def test_backup_now_list_download_and_delete(gateway: Gateway, tmp_path: Path):
    status, made = await gateway.api("POST", "/api/db-backups")
    assert status == 201 and made["backup"]["reason"] == "manual"
    name = made["backup"]["name"]
    status, listed = await gateway.api("GET", "/api/db-backups")
    assert [b["name"] for b in listed["backups"]] == [name]
    assert listed["backups"][0]["size"] > 0
    async with gateway.admin.get(f"{gateway.url}/api/db-backups/{name}") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        (tmp_path / name).write_bytes(await resp.read())
    assert sqlite3.connect(tmp_path / name).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    status, _ = await gateway.api("DELETE", f"/api/db-backups/{name}")
    assert status == 200
    _, listed = await gateway.api("GET", "/api/db-backups")
    assert listed["backups"] == []


@pytest.mark.parametrize("name", ["omniroute-20260101-000000-auto.sqlite", "..%2Fstorage.sqlite"])
async def test_unknown_backup_is_a_404(gateway: Gateway, name: str):
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/restore")):
        status, answer = await gateway.api(method, f"/api/db-backups/{name}{path}")
        assert status == 404, (method, answer)
    assert gateway.app[SETTINGS].database_path.exists()


async def test_restore_a_listed_backup(gateway: Gateway, upstream: str):
    _, made = await gateway.api("POST", "/api/db-backups")
    await gateway.connect(upstream)  # after the backup: the restore removes it
    status, answer = await gateway.api("POST", f"/api/db-backups/{made['backup']['name']}/restore")
    assert status == 200, answer
    assert answer["backup"]["reason"] == "pre-restore"
    _, providers = await gateway.api("GET", "/api/providers")
    assert providers == []
    _, listed = await gateway.api("GET", "/api/db-backups")
    assert len(listed["backups"]) == 2  # the restored one stays, plus the one taken before
