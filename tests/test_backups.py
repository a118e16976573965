"""Database backups over the API: export, the credential-free archive, import and its checks."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import tarfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
import sqlite_utils

from omniroute.admin import backups as admin_backups
from omniroute.admin.sessions import PASSWORD_KEY, hash_password
from omniroute.appkeys import LEDGER, SECRETS, SETTINGS, STORE
from omniroute.errors import ConfigError
from omniroute.reload import reload_index
from omniroute.store.db import migrate, open_database, transaction
from omniroute.store.documents import put_document
from omniroute.store.migrations import MIGRATIONS
from tests.conftest import ADMIN_PASSWORD, UPSTREAM_KEY, Gateway

MODEL = "openai/gpt-4o"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


async def download(gw: Gateway, path: str) -> tuple[int, bytes, Any]:
    """A logged-in GET returning the raw body and the headers."""
    async with gw.admin.get(gw.url + path) as resp:
        return resp.status, await resp.read(), resp.headers


async def upload(gw: Gateway, data: bytes, name: str = "backup.sqlite") -> tuple[int, Any]:
    """POST a file to the import endpoint as the multipart field ``file``."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await gw.api("POST", "/api/db-backups/import", data=form)


async def export(gw: Gateway) -> bytes:
    status, body, _ = await download(gw, "/api/db-backups/export")
    assert status == 200
    return body


def open_copy(data: bytes, tmp_path: Path, name: str = "copy.sqlite") -> sqlite3.Connection:
    path = tmp_path / name
    path.write_bytes(data)
    return sqlite3.connect(path)


async def chat(gw: Gateway, key: str = "no-key", model: str = MODEL) -> str:
    async with gw.openai(api_key=key) as client:
        reply = await client.chat.completions.create(  # type: ignore[call-overload]
            **{**CHAT, "model": model}
        )
    return reply.choices[0].message.content or ""


async def configure(gw: Gateway, upstream: str) -> dict[str, Any]:
    """A connection, a provider node, a client key and a combo row: something to lose."""
    conn = await gw.connect(upstream)
    status, node = await gw.api(
        "POST",
        "/api/provider-nodes",
        json={"name": "Local", "prefix": "local", "baseUrl": upstream, "models": ["m1"]},
    )
    assert status == 201, node
    key = await gw.create_key("team")
    status, combo = await gw.api("POST", "/api/combos", json={"name": "fast", "models": [MODEL]})
    assert status == 201, combo
    return {"connection": conn, "node": node, "key": key, "combo": combo}


async def config_snapshot(gw: Gateway) -> dict[str, Any]:
    """What the API shows of the configuration."""
    _, providers = await gw.api("GET", "/api/providers")
    _, nodes = await gw.api("GET", "/api/provider-nodes")
    _, keys = await gw.api("GET", "/api/keys")
    _, combos = await gw.api("GET", "/api/combos")
    return {"providers": providers, "nodes": nodes, "keys": keys, "combos": combos}


# -- export -------------------------------------------------------------------------------------


async def test_export_is_a_dated_sqlite_download(gateway: Gateway, upstream: str, tmp_path: Path):
    await gateway.connect(upstream)
    status, body, headers = await download(gateway, "/api/db-backups/export")
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.sqlite3"
    assert headers["Content-Disposition"].startswith('attachment; filename="omniroute-2')
    assert headers["Content-Disposition"].endswith('.sqlite"')
    db = open_copy(body, tmp_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    assert db.execute("SELECT provider FROM provider_connections").fetchall() == [("openai",)]
    leftovers = list(gateway.app[SETTINGS].backups_dir.iterdir())
    assert leftovers == []  # the temporary snapshot is gone once it has been sent


async def test_export_taken_while_requests_are_recorded_is_a_valid_database(
    gateway: Gateway, upstream: str, tmp_path: Path
):
    await gateway.connect(upstream)
    ledger = gateway.app[LEDGER]
    done = asyncio.Event()

    async def traffic() -> int:
        sent = 0
        while not done.is_set():
            await asyncio.gather(*(chat(gateway) for _ in range(8)))
            sent += 8
        return sent

    async def ledger_load() -> None:
        n = 0
        while not done.is_set():
            for _ in range(200):  # far more rows per flush than real traffic makes
                n += 1
                ledger.record({"ts": float(n), "request_id": f"load-{n}", "status": 200})
            await asyncio.sleep(0)

    workers = [asyncio.create_task(traffic()), asyncio.create_task(ledger_load())]
    exports = []
    for _ in range(4):
        await asyncio.sleep(0.05)
        exports.append(await export(gateway))
    done.set()
    sent = (await asyncio.gather(*workers))[0]
    assert sent > 0

    counts = []
    for i, data in enumerate(exports):
        db = open_copy(data, tmp_path, f"export{i}.sqlite")
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("SELECT count(*) FROM provider_connections").fetchone()[0] == 1
        counts.append(db.execute("SELECT count(*) FROM usage").fetchone()[0])
        db.close()
    assert counts == sorted(counts) and counts[-1] > counts[0]  # taken at different moments


async def test_export_all_holds_the_configuration_without_any_credential(
    gateway: Gateway, upstream: str, tmp_path: Path
):
    made = await configure(gateway, upstream)
    await gateway.api(
        "PUT",
        "/api/db-backups/settings",
        json={"keepLatest": 3},
    )

    encrypted = gateway.app[SECRETS].vault.encrypt("proxy-pass-456")

    def proxy_document(db: Any) -> None:
        put_document(
            db,
            "proxy",
            {"global": {"type": "http", "host": "p", "port": 8080, "password": "proxy-pass-123"}},
        )
        put_document(
            db, "proxies", {"providers": {"openai": {"host": "q", "passwordEnc": encrypted}}}
        )
        put_document(db, "oauth", {"accounts": [{"id": "a1", "blob": encrypted}]})

    await gateway.app[STORE].call(proxy_document)
    ciphertexts = await gateway.app[STORE].call(
        lambda db: [r[0] for r in db.execute("SELECT secret FROM provider_connections")]
    )
    key_hashes = await gateway.app[STORE].call(
        lambda db: [r[0] for r in db.execute("SELECT key_hash FROM api_keys")]
    )
    password_hash = await gateway.app[STORE].call(
        lambda db: db.execute("SELECT value FROM settings WHERE key = 'password_hash'").fetchone()
    )

    status, body, headers = await download(gateway, "/api/db-backups/exportAll")
    assert status == 200
    assert headers["Content-Type"] == "application/gzip"
    assert headers["Content-Disposition"].endswith('.tar.gz"')
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]

    forbidden = [UPSTREAM_KEY, made["key"], "proxy-pass-123", ADMIN_PASSWORD, encrypted]
    forbidden += ciphertexts + key_hashes + [password_hash[0]]
    for name, data in members.items():
        for secret in forbidden:
            assert secret.encode() not in data, f"{name} contains a credential"
        assert b"gAAAAA" not in data, f"{name} contains a Fernet token"

    manifest = orjson.loads(members["manifest.json"])
    assert manifest["format"] == "omniroute-export"
    assert manifest["credentials"] == "removed"
    assert "m001_initial" in manifest["migrations"]
    assert manifest["omnirouteVersion"]
    assert set(manifest["files"]) == set(members) - {"manifest.json"}
    connections = orjson.loads(members["connections.json"])
    assert [c["id"] for c in connections] == [made["connection"]["id"]]
    assert "secret" not in connections[0] and "secret_mask" not in connections[0]
    keys = orjson.loads(members["keys.json"])
    assert [k["name"] for k in keys] == ["team"] and "key_hash" not in keys[0]
    assert orjson.loads(members["combos.json"])[0]["models"][0]["model"] == "openai/gpt-4o"
    settings = orjson.loads(members["settings.json"])
    assert settings["proxy"]["global"] == {
        "type": "http",
        "host": "p",
        "port": 8080,
        "password": None,
    }
    assert settings["backups"]["keepLatest"] == 3
    assert settings["proxies"]["providers"]["openai"] == {"host": "q", "passwordEnc": None}
    assert settings["oauth"]["accounts"] == [{"id": "a1", "blob": None}]  # found by its value
    assert "password_hash" not in settings

    db = open_copy(members["omniroute.sqlite"], tmp_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT name FROM combos").fetchall() == [("fast",)]
    assert db.execute("SELECT secret FROM provider_connections").fetchall() == [("",)]


# -- import -------------------------------------------------------------------------------------


async def test_export_wipe_import_brings_everything_back(make_gateway: Any, upstream: str):
    gateway = await make_gateway(require_api_key=True)
    key = (await configure(gateway, upstream))["key"]
    assert await chat(gateway, key)
    # The ledger writer stamps the key's last use; let it land before the snapshot is taken.
    await gateway.app[LEDGER].drain()
    before = await config_snapshot(gateway)
    backup = await export(gateway)

    def wipe(db: Any) -> None:
        with transaction(db):
            for table in ("provider_connections", "provider_nodes", "api_keys", "combos"):
                db.execute(f"DELETE FROM {table}")

    await gateway.app[STORE].call(wipe)
    await reload_index(gateway.app)
    with pytest.raises(openai.AuthenticationError):  # the key is gone, and the connection
        await chat(gateway, key)

    status, answer = await upload(gateway, backup)
    assert status == 200, answer
    assert answer["imported"] is True and answer["warnings"] == []
    assert answer["backup"]["reason"] == "pre-import"
    assert await config_snapshot(gateway) == before
    assert await chat(gateway, key)  # the routing index was rebuilt from the imported database
    assert await chat(gateway, key, model="fast")  # and the combo routes again
    status, listed = await gateway.api("GET", "/api/db-backups")
    assert answer["backup"]["name"] in [b["name"] for b in listed["backups"]]


def corrupt(data: bytes) -> bytes:
    """Keep the header, overwrite the pages after the first with garbage."""
    page = int.from_bytes(data[16:18], "big")
    return data[:page] + b"\xa5" * (len(data) - page)


def foreign_database(tmp_path: Path) -> bytes:
    path = tmp_path / "foreign.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.commit()
    db.close()
    return path.read_bytes()


def from_the_future(data: bytes, tmp_path: Path) -> bytes:
    path = tmp_path / "future.sqlite"
    path.write_bytes(data)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_future', 0)")
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("case", "check"),
    [
        ("corrupt", "integrity"),
        ("foreign", "tables"),
        ("oversized", "size"),
        ("just-over-the-limit", "size"),
        ("not-sqlite", "sqlite"),
        ("newer", "migrations"),
    ],
)
async def test_rejected_import_lists_the_failure_and_changes_nothing(
    make_gateway: Any, upstream: str, tmp_path: Path, case: str, check: str
):
    gw = await make_gateway(backup_import_max_bytes=200_000)
    await configure(gw, upstream)
    good = await export(gw)
    before = await config_snapshot(gw)
    files = {
        "corrupt": lambda: corrupt(good),
        "foreign": lambda: foreign_database(tmp_path),
        "oversized": lambda: good + b"\0" * 200_000,  # refused by its Content-Length
        "just-over-the-limit": lambda: good.ljust(200_001, b"\0"),  # refused while streaming
        "not-sqlite": lambda: b"PK\x03\x04 this is a zip file, not a database" * 100,
        "newer": lambda: from_the_future(good, tmp_path),
    }
    status, answer = await upload(gw, files[case]())
    assert status == 400, answer
    error = answer["error"]
    assert error["code"] == "invalid_backup" and error["param"] == "file"
    assert check in [f["check"] for f in error["failures"]]
    assert error["message"].startswith("import rejected, the database was not changed")
    assert await config_snapshot(gw) == before
    assert await chat(gw)
    _, listed = await gw.api("GET", "/api/db-backups")
    assert listed["backups"] == []  # nothing was even backed up: the file never got that far


async def test_foreign_database_failure_names_every_missing_table(gateway: Gateway, tmp_path: Path):
    status, answer = await upload(gateway, foreign_database(tmp_path))
    assert status == 400
    messages = {f["check"]: f["message"] for f in answer["error"]["failures"]}
    for table in ("provider_connections", "provider_nodes", "combos", "api_keys"):
        assert table in messages["tables"]
    assert "_migrations" in messages["migrations"]


async def test_import_needs_a_multipart_file_field(gateway: Gateway):
    status, answer = await gateway.api("POST", "/api/db-backups/import", json={"file": "x"})
    assert status == 400 and answer["error"]["param"] == "file"
    form = aiohttp.FormData()
    form.add_field("other", b"data", filename="x.sqlite")
    status, answer = await gateway.api("POST", "/api/db-backups/import", data=form)
    assert status == 400 and "'file' is required" in answer["error"]["message"]


async def test_import_from_an_install_with_another_encryption_key_keeps_connections_inactive(
    make_gateway: Any, upstream: str
):
    source = await make_gateway()
    conn = await source.connect(upstream)
    backup = await export(source)
    target = await make_gateway()
    status, answer = await upload(target, backup)
    assert status == 200, answer
    assert [w["connectionId"] for w in answer["warnings"]] == [conn["id"]]
    assert "STORAGE_ENCRYPTION_KEY" in answer["warnings"][0]["message"]
    status, kept = await target.api("GET", f"/api/providers/{conn['id']}")
    assert status == 200 and kept["isActive"] is False
    status, updated = await target.api(
        "PUT", f"/api/providers/{conn['id']}", json={"apiKey": UPSTREAM_KEY, "isActive": True}
    )
    assert status == 200, updated
    assert await chat(target)


async def test_import_keeps_this_installs_login_and_sessions(make_gateway: Any):
    source = await make_gateway()

    def change_password(db: Any) -> None:
        db["settings"].upsert({"key": PASSWORD_KEY, "value": hash_password("theirs-123")}, pk="key")
        put_document(db, "session_generation", 5)  # they changed their password five times

    await source.app[STORE].call(change_password)
    backup = await export(source)
    target = await make_gateway()
    status, _ = await upload(target, backup)
    assert status == 200
    async with aiohttp.ClientSession() as fresh:
        for password, expected in ((ADMIN_PASSWORD, 200), ("theirs-123", 401)):
            url = target.url + "/api/auth/login"
            async with fresh.post(url, json={"password": password}) as resp:
                assert resp.status == expected
    status, _ = await target.api("GET", "/api/providers")  # the session from before still works
    assert status == 200
    generation = await target.app[STORE].call(
        lambda db: db.execute("SELECT 1 FROM settings WHERE key = 'session_generation'").fetchone()
    )
    assert generation is None


async def test_import_of_an_older_schema_runs_the_migrations(gateway: Gateway, tmp_path: Path):
    path = tmp_path / "old.sqlite"
    open_database(path, MIGRATIONS[:2]).close()  # an install from before any later migration
    status, answer = await upload(gateway, path.read_bytes())
    assert status == 200, answer
    applied = await gateway.app[STORE].call(
        lambda db: [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    )
    assert applied == [m.__name__ for m in MIGRATIONS]


async def test_import_whose_configuration_cannot_load_is_rolled_back(
    gateway: Gateway, upstream: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    await configure(gateway, upstream)
    before = await config_snapshot(gateway)
    path = tmp_path / "empty.sqlite"
    open_database(path).close()  # valid, but it would wipe the configuration
    failures = iter([ConfigError("a loader refused the imported data")])

    async def reload_failing_once(app: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        await reload_index(app)

    monkeypatch.setattr(admin_backups, "reload_index", reload_failing_once)
    status, answer = await upload(gateway, path.read_bytes())
    assert status == 400
    assert [f["check"] for f in answer["error"]["failures"]] == ["load"]
    assert "a loader refused" in answer["error"]["message"]
    assert await config_snapshot(gateway) == before
    assert await chat(gateway)


async def test_an_export_all_archive_imports_without_credentials(gateway: Gateway, upstream: str):
    made = await configure(gateway, upstream)
    before = await config_snapshot(gateway)
    _, archive, _ = await download(gateway, "/api/db-backups/exportAll")
    status, answer = await upload(gateway, archive, "config.tar.gz")
    assert status == 200, answer
    warned = {w.get("connectionId") or w.get("keyId") for w in answer["warnings"]}
    key_id = before["keys"][0]["id"]
    assert warned == {made["connection"]["id"], key_id}
    after = await config_snapshot(gateway)
    assert after["nodes"] == before["nodes"] and after["combos"] == before["combos"]
    assert [p["isActive"] for p in after["providers"]] == [False]
    status, _, _ = await gateway.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {made['key']}"}
    )
    assert status in (401, 503)  # neither the key nor the connection's credential came along


async def test_an_archive_without_a_database_is_rejected(gateway: Gateway, tmp_path: Path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("notes.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    status, answer = await upload(gateway, buffer.getvalue(), "x.tar.gz")
    assert status == 400
    assert [f["check"] for f in answer["error"]["failures"]] == ["archive"]


async def test_a_database_with_another_page_size_imports(gateway: Gateway, tmp_path: Path):
    path = tmp_path / "big-pages.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size = 8192")
    migrate(sqlite_utils.Database(conn))
    conn.close()
    status, answer = await upload(gateway, path.read_bytes())
    assert status == 200, answer
    size = await gateway.app[STORE].call(lambda db: db.execute("PRAGMA page_size").fetchone()[0])
    assert size == 4096


async def test_import_is_bounded_by_its_own_limit_not_the_request_body_limit(make_gateway: Any):
    gw = await make_gateway(max_body_bytes=10_000)  # far smaller than any database
    data = await export(gw)
    assert len(data) > 10_000
    status, answer = await upload(gw, data)
    assert status == 200, answer


async def test_import_recounts_budget_spending_from_the_imported_ledger(make_gateway: Any):
    source = await make_gateway()
    ledger = source.app[LEDGER]
    ledger.record({"ts": time.time(), "request_id": "r1", "key_id": "k1", "cost_usd": 1.25})
    await ledger.drain()
    backup = await export(source)
    target = await make_gateway()
    assert target.app[LEDGER].spending.spent("k1", "daily") == 0
    status, answer = await upload(target, backup)
    assert status == 200, answer
    assert target.app[LEDGER].spending.spent("k1", "daily") == pytest.approx(1.25)


async def test_tables_with_the_right_names_but_not_our_columns_are_rejected(
    gateway: Gateway, tmp_path: Path
):
    path = tmp_path / "lookalike.sqlite"
    db = open_database(path)
    db.execute("DROP TABLE provider_connections")
    db.execute("CREATE TABLE provider_connections (id TEXT PRIMARY KEY)")
    db.close()
    status, answer = await upload(gateway, path.read_bytes())
    assert status == 400, answer
    assert [f["check"] for f in answer["error"]["failures"]] == ["tables"]
