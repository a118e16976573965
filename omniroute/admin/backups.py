"""``/api/db-backups``: export, the credential-free archive, import, and the backups directory.

Snapshots are taken through a connection of their own on a worker thread (SQLite's backup API
reads one consistent state while the ledger keeps writing), as are checking and preparing an
uploaded file and building the archive. Only an import's last step runs on the DB thread: the
backup of the current database and the copy into it, together, so no write falls between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from omniroute.admin import config_ops
from omniroute.admin.http import json_body, json_response, not_found
from omniroute.appkeys import BACKUPS, LEDGER, SECRETS, SETTINGS, STORE
from omniroute.errors import BadRequest
from omniroute.ledger.budgets import seed_spending
from omniroute.reload import reload_index
from omniroute.store.archive import write_archive
from omniroute.store.backup_schedule import (
    BackupSettings,
    load_settings,
    merge_settings,
    save_settings,
)
from omniroute.store.backups import (
    BackupFile,
    Failure,
    ImportRejected,
    backup_path,
    copy_to_temp,
    find_backup,
    list_backups,
    page_size,
    prepare_import,
    read_local_settings,
    restore_into,
    snapshot_file,
    stamp,
    temp_file,
)

CHUNK = 256 * 1024
#: Room for the multipart framing around the file when judging a body by its length.
MULTIPART_ALLOWANCE = 64 * 1024


# -- export -------------------------------------------------------------------------------------


async def export_database(request: web.Request) -> web.StreamResponse:
    """The whole database as one consistent ``.sqlite`` file."""
    app = request.config_dict
    name = f"omniroute-{stamp(time.time())}.sqlite"
    copy = await _snapshot_to_temp(app)
    return await _send_file(request, copy, name, "application/vnd.sqlite3", delete=True)


async def export_all(request: web.Request) -> web.StreamResponse:
    """A ``.tar.gz`` of the configuration (database, settings, combos, connections, keys) with
    every credential removed, and a manifest."""
    app = request.config_dict
    now = time.time()
    copy = await _snapshot_to_temp(app)
    try:
        archive = await asyncio.to_thread(temp_file, app[BACKUPS].directory, "archive", ".tar.gz")
        try:
            await asyncio.to_thread(write_archive, copy, archive, now=now)
        except BaseException:
            await asyncio.to_thread(archive.unlink, missing_ok=True)
            raise
    finally:
        await asyncio.to_thread(copy.unlink, missing_ok=True)
    name = f"omniroute-export-{stamp(now)}.tar.gz"
    return await _send_file(request, archive, name, "application/gzip", delete=True)


async def _snapshot_to_temp(app: Mapping[Any, Any]) -> Path:
    directory, database = app[BACKUPS].directory, app[STORE].path
    return await asyncio.to_thread(lambda: snapshot_file(database, temp_file(directory, "export")))


async def _send_file(
    request: web.Request, path: Path, filename: str, content_type: str, *, delete: bool
) -> web.StreamResponse:
    """Stream a file as a download; a temporary one is unlinked once open (POSIX keeps it
    readable), so an interrupted download leaves nothing behind."""
    f = await asyncio.to_thread(path.open, "rb")
    try:
        size = os.fstat(f.fileno()).st_size
        if delete:
            await asyncio.to_thread(path.unlink)
        response = web.StreamResponse(
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            }
        )
        response.content_length = size
        await response.prepare(request)
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        f.close()


# -- import -------------------------------------------------------------------------------------


async def import_database(request: web.Request) -> web.Response:
    """Replace the database with an uploaded one (multipart field ``file``), after checking it
    and backing the current one up. A rejection (400) lists every failed check."""
    app = request.config_dict
    limit = app[SETTINGS].backup_import_max_bytes
    if request.content_length is not None and request.content_length > limit + MULTIPART_ALLOWANCE:
        return _rejected([_too_large(limit)])
    upload = await asyncio.to_thread(temp_file, app[BACKUPS].directory, "incoming")
    try:
        received = await _receive_file(request, upload, limit)
    except BaseException:
        await asyncio.to_thread(upload.unlink, missing_ok=True)
        raise
    if not received:
        await asyncio.to_thread(upload.unlink, missing_ok=True)
        return _rejected([_too_large(limit)])
    return await _import_to_the_end(app, upload, "pre-import")


async def _receive_file(request: web.Request, dest: Path, limit: int) -> bool:
    """Stream the ``file`` field to ``dest``; False as soon as it exceeds ``limit`` bytes."""
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("send the database as the multipart/form-data field 'file'", param="file")
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            await part.release()
            continue
        size = 0
        out = await asyncio.to_thread(dest.open, "wb")
        try:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > limit:
                    return False
                await asyncio.to_thread(out.write, chunk)
        finally:
            out.close()
        return True
    raise BadRequest("the multipart field 'file' is required", param="file")


def _too_large(limit: int) -> Failure:
    return Failure("size", f"the file is larger than the {limit}-byte limit")


def _rejected(failures: list[Failure]) -> web.Response:
    message = "import rejected, the database was not changed: " + "; ".join(
        f"{f.check}: {f.message}" for f in failures
    )
    error = {
        "message": message,
        "type": "bad_request",
        "code": "invalid_backup",
        "param": "file",
        "failures": [f.to_api() for f in failures],
    }
    return json_response({"error": error}, 400)


async def _import_to_the_end(app: Mapping[Any, Any], prepared: Path, reason: str) -> web.Response:
    """Import ``prepared`` (a temporary file this takes over) and answer.

    Shielded: a client that goes away must not stop an import between the copy into the
    database and the routing rebuild, which would leave the gateway routing by the old config.
    """

    async def run() -> web.Response:
        try:
            return json_response(await replace_database(app, prepared, reason))
        except ImportRejected as exc:
            return _rejected(exc.failures)
        finally:
            await asyncio.to_thread(prepared.unlink, missing_ok=True)

    return await asyncio.shield(run())


async def replace_database(app: Mapping[Any, Any], prepared: Path, reason: str) -> dict[str, Any]:
    """Check and prepare the private copy ``prepared``, back the live database up, copy the
    file into it and rebuild what the gateway keeps in memory from it (the routing index, the
    budgets' spending). If the new configuration cannot be loaded, the
    backup is copied back and the import is rejected."""
    store, backups = app[STORE], app[BACKUPS]
    async with backups.import_lock:
        warnings = await asyncio.to_thread(
            prepare_import,
            prepared,
            vault=app[SECRETS].vault,
            local_settings=await store.call(read_local_settings),
            page_size=await store.call(page_size),
            max_bytes=app[SETTINGS].backup_import_max_bytes,
        )
        before = await asyncio.to_thread(backup_path, backups.directory, reason, backups.clock())
        await store.call(lambda db: restore_into(db, prepared, backup_to=before))
        try:
            await reload_index(app)
            # Budgets count spending in memory, seeded from the ledger at start: the imported
            # ledger is now the one to count from.
            await seed_spending(store, app[LEDGER].spending)
        except Exception as exc:
            await _roll_back(app, before)
            raise ImportRejected(
                [Failure("load", f"the imported configuration cannot be loaded: {exc}")]
            ) from None
    backup = await asyncio.to_thread(find_backup, backups.directory, before.name)
    return {
        "imported": True,
        "backup": backup.to_api() if backup else None,  # None only if deleted meanwhile
        "warnings": warnings,
    }


async def _roll_back(app: Mapping[Any, Any], backup: Path) -> None:
    copy = await asyncio.to_thread(copy_to_temp, backup, backup.parent, "rollback")
    try:
        await app[STORE].call(lambda db: restore_into(db, copy, backup_to=None))
    finally:
        await asyncio.to_thread(copy.unlink, missing_ok=True)
    await reload_index(app)


# -- the backups directory ----------------------------------------------------------------------


async def list_all(request: web.Request) -> web.Response:
    """The backups in ``DATA_DIR/backups``, newest first."""
    backups = await asyncio.to_thread(list_backups, request.config_dict[BACKUPS].directory)
    return json_response({"backups": [b.to_api() for b in backups]})


async def backup_now(request: web.Request) -> web.Response:
    """Take a backup now (then apply retention)."""
    scheduler = request.config_dict[BACKUPS]
    made = await scheduler.backup_now("manual")
    deleted = await scheduler.prune()
    return json_response({"backup": made.to_api(), "deleted": deleted}, 201)


async def _backup(request: web.Request) -> BackupFile:
    name = request.match_info["name"]
    found = await asyncio.to_thread(find_backup, request.config_dict[BACKUPS].directory, name)
    if found is None:
        raise not_found("backup", name)
    return found


async def download(request: web.Request) -> web.StreamResponse:
    """One backup file, as a download."""
    backup = await _backup(request)
    return await _send_file(
        request, backup.path, backup.name, "application/vnd.sqlite3", delete=False
    )


async def delete(request: web.Request) -> web.Response:
    """Delete one backup file."""
    backup = await _backup(request)
    with contextlib.suppress(FileNotFoundError):
        await asyncio.to_thread(backup.path.unlink)
    return json_response({"deleted": backup.name})


async def restore(request: web.Request) -> web.Response:
    """Make a listed backup the live database, exactly like an import of that file."""
    backup = await _backup(request)
    directory = request.config_dict[BACKUPS].directory
    copy = await asyncio.to_thread(copy_to_temp, backup.path, directory, "incoming")
    return await _import_to_the_end(request.config_dict, copy, "pre-restore")


# -- settings -----------------------------------------------------------------------------------


async def get_settings(request: web.Request) -> web.Response:
    """Automatic backup settings."""
    settings = await request.config_dict[STORE].call(load_settings)
    return json_response(settings.to_api())


async def put_settings(request: web.Request) -> web.Response:
    """Change any subset of the automatic backup settings."""
    data = await json_body(request)
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    store = request.config_dict[STORE]
    settings: BackupSettings = config_ops.parse(
        BackupSettings, await store.call(merge_settings, data)
    )
    await store.call(save_settings, settings)
    request.config_dict[BACKUPS].wake()
    return json_response(settings.to_api())


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the backup routes on the management API's router."""
    router.add_get("/db-backups", list_all)
    router.add_post("/db-backups", backup_now)
    router.add_get("/db-backups/export", export_database)
    router.add_get("/db-backups/exportAll", export_all)
    router.add_post("/db-backups/import", import_database)
    router.add_get("/db-backups/settings", get_settings)
    router.add_put("/db-backups/settings", put_settings)
    router.add_get("/db-backups/{name}", download)
    router.add_delete("/db-backups/{name}", delete)
    router.add_post("/db-backups/{name}/restore", restore)
