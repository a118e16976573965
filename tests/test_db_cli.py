"""``omniroute db export|import|backup|backups``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from omniroute.appkeys import GATEWAY
from omniroute.cli import build_cli
from tests.conftest import UPSTREAM_KEY


def omniroute(*args: str, data_dir: Path, input: str | None = None) -> Result:
    """Run a CLI command in-process on ``data_dir``."""
    argv = [*args, "--data-dir", str(data_dir)]
    return CliRunner().invoke(build_cli(), argv, input=input, catch_exceptions=False)


def ok(*args: str, data_dir: Path, input: str | None = None) -> str:
    result = omniroute(*args, data_dir=data_dir, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def connections(data_dir: Path) -> list[dict[str, Any]]:
    return json.loads(ok("providers", "list", "--json", data_dir=data_dir))


def add_connection(data_dir: Path, base_url: str = "http://127.0.0.1:9/v1") -> str:
    ok(
        "providers",
        "add",
        "openai",
        "--api-key",
        UPSTREAM_KEY,
        "--base-url",
        base_url,
        data_dir=data_dir,
    )
    return connections(data_dir)[-1]["id"]


def test_export_writes_a_dated_database_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = tmp_path / "data"
    add_connection(data)
    monkeypatch.chdir(tmp_path)
    output = ok("db", "export", data_dir=data)
    [written] = tmp_path.glob("omniroute-*.sqlite")
    assert str(written.name) in output
    db = sqlite3.connect(written)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT provider FROM provider_connections").fetchall() == [("openai",)]


def test_export_refuses_to_overwrite_without_force(tmp_path: Path):
    target = tmp_path / "out.sqlite"
    target.write_text("keep me")
    result = omniroute("db", "export", str(target), data_dir=tmp_path / "data")
    assert result.exit_code == 1 and "--force" in result.output
    assert target.read_text() == "keep me"
    ok("db", "export", str(target), "--force", data_dir=tmp_path / "data")
    assert target.read_bytes().startswith(b"SQLite format 3\x00")


def test_export_all_writes_an_archive_without_credentials(tmp_path: Path):
    data = tmp_path / "data"
    add_connection(data)
    target = tmp_path / "config.tar.gz"
    ok("db", "export", "--all", str(target), data_dir=data)
    with tarfile.open(target) as tar:
        contents = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert {"manifest.json", "omniroute.sqlite", "connections.json"} <= set(contents)
    for data_bytes in contents.values():
        assert UPSTREAM_KEY.encode() not in data_bytes and b"gAAAAA" not in data_bytes
    assert not list((data / "backups").iterdir())  # no temporary copy left behind


def test_import_round_trip_and_backups_listing(tmp_path: Path):
    data = tmp_path / "data"
    ident = add_connection(data)
    backup = tmp_path / "backup.sqlite"
    ok("db", "export", str(backup), data_dir=data)
    ok("providers", "remove", ident, data_dir=data)
    assert connections(data) == []

    output = ok("db", "import", str(backup), "--yes", data_dir=data)
    assert "pre-import" in output
    assert [c["id"] for c in connections(data)] == [ident]
    listing = ok("db", "backups", data_dir=data)
    assert "pre-import" in listing and "automatic backups on" in listing
    [listed] = json.loads(ok("db", "backups", "--json", data_dir=data))
    assert listed["reason"] == "pre-import" and listed["size"] > 0


def test_import_asks_for_confirmation(tmp_path: Path):
    data = tmp_path / "data"
    backup = tmp_path / "backup.sqlite"
    ok("db", "export", str(backup), data_dir=data)
    add_connection(data)
    result = omniroute("db", "import", str(backup), data_dir=data, input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert len(connections(data)) == 1


@pytest.mark.parametrize(
    ("content", "check"),
    [
        (b"not a database at all" * 50, "sqlite"),
        (b"SQLite format 3\x00" + b"\x00" * 4000, "integrity"),
    ],
)
def test_rejected_import_names_the_check_and_changes_nothing(
    tmp_path: Path, content: bytes, check: str
):
    data = tmp_path / "data"
    ident = add_connection(data)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(content)
    result = omniroute("db", "import", str(bad), "--yes", data_dir=data)
    assert result.exit_code == 1
    assert "import rejected, the database was not changed" in result.output
    assert f"{check}:" in result.output
    assert [c["id"] for c in connections(data)] == [ident]


def test_oversized_import_is_rejected_before_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = tmp_path / "data"
    backup = tmp_path / "backup.sqlite"
    ok("db", "export", str(backup), data_dir=data)
    monkeypatch.setenv("BACKUP_IMPORT_MAX_BYTES", "1000")
    result = omniroute("db", "import", str(backup), "--yes", data_dir=data)
    assert result.exit_code == 1 and "size:" in result.output


def test_backup_now_applies_retention(tmp_path: Path):
    data = tmp_path / "data"
    ok("db", "backups", data_dir=data)  # creates the database
    db = sqlite3.connect(data / "storage.sqlite")
    db.execute("INSERT INTO settings (key, value) VALUES ('backups', '{\"keepLatest\": 2}')")
    db.commit()
    db.close()
    made = [ok("db", "backup", data_dir=data).split()[-1] for _ in range(3)]
    assert "retention deleted" in ok("db", "backup", data_dir=data)
    listed = [b["name"] for b in json.loads(ok("db", "backups", "--json", data_dir=data))]
    assert len(listed) == 2 and Path(made[0]).name not in listed


async def test_import_under_a_running_gateway_is_picked_up(
    make_gateway: Any, upstream: str, tmp_path: Path
):
    data = tmp_path / "shared"
    gw = await make_gateway(data_dir=data)
    conn = await gw.connect(upstream)
    backup = tmp_path / "backup.sqlite"
    await asyncio.to_thread(ok, "db", "export", str(backup), data_dir=data)
    status, _ = await gw.api("DELETE", f"/api/providers/{conn['id']}")
    assert status == 200 and conn["id"] not in gw.app[GATEWAY].index.all_connections

    await asyncio.to_thread(ok, "db", "import", str(backup), "--yes", data_dir=data)
    for _ in range(500):  # the gateway polls PRAGMA data_version every 50 ms in tests
        if conn["id"] in gw.app[GATEWAY].index.all_connections:
            break
        await asyncio.sleep(0.01)
    async with gw.openai() as client:
        reply = await client.chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content
    status, key = await gw.api("POST", "/api/keys", json={"name": "after"})  # still writable
    assert status == 201, key
