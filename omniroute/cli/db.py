"""``omniroute db export|import|backup|backups``: the database from a terminal.

Export and backup use SQLite's online backup API, so they are safe while the gateway runs.
Import is safe too: the file is checked and prepared as a private copy, then copied into the
live database in one transaction, which a running gateway notices within
``CONFIG_POLL_SECONDS`` and reloads its routing from, like any other CLI change.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
import orjson

from omniroute.cli.manage import Context, json_option, with_context
from omniroute.reload import index_from_db
from omniroute.store.archive import write_archive
from omniroute.store.backup_schedule import load_settings, prune
from omniroute.store.backups import (
    Failure,
    ImportRejected,
    backup_path,
    copy_to_temp,
    list_backups,
    page_size,
    prepare_import,
    read_local_settings,
    restore_into,
    snapshot,
    stamp,
    temp_file,
)


@click.group("db")
def db() -> None:
    """Back up, export and import the database."""


@db.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Write the credential-free .tar.gz (database, settings, combos, connections, key "
    "metadata, manifest) instead of the full database.",
)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@with_context
def export(ctx: Context, path: Path | None, everything: bool, force: bool) -> None:
    """Write a consistent copy of the database to PATH (default: a dated file here).

    The plain export keeps the credentials, encrypted with this install's key; restoring it
    elsewhere needs the same STORAGE_ENCRYPTION_KEY (or DATA_DIR/encryption.key).
    """
    now = time.time()
    if path is None:
        path = Path(
            f"omniroute-export-{stamp(now)}.tar.gz"
            if everything
            else f"omniroute-{stamp(now)}.sqlite"
        )
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; choose another path or pass --force")
    if not everything:
        snapshot(ctx.db.conn, path)
    else:
        copy = snapshot(ctx.db.conn, temp_file(ctx.settings.backups_dir, "export"))
        partial = temp_file(path.parent, "partial", ".tar.gz")
        try:
            write_archive(copy, partial, now=now)
            os.replace(partial, path)
        finally:
            copy.unlink(missing_ok=True)
            partial.unlink(missing_ok=True)
    click.echo(f"exported to {path} ({path.stat().st_size} bytes)")


@db.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_context
def import_(ctx: Context, path: Path, yes: bool) -> None:
    """Replace the database with the .sqlite file (or exportAll .tar.gz) at PATH.

    The file is checked first (size, SQLite, integrity, required tables, migrations no newer
    than this version); the current database is backed up into DATA_DIR/backups; this
    install's dashboard login is kept. Safe while the gateway runs: the import is one
    transaction, which the gateway picks up within a second.
    """
    if not yes:
        click.confirm(
            f"Replace the database in {ctx.settings.data_dir} with {path}? "
            "(the current one is backed up first)",
            abort=True,
        )
    limit = ctx.settings.backup_import_max_bytes
    try:
        if path.stat().st_size > limit:  # before copying it anywhere
            raise ImportRejected(
                [Failure("size", f"the file is larger than the {limit}-byte limit")]
            )
        before, warnings = _import(ctx, path, limit)
    except ImportRejected as exc:
        lines = "\n".join(f"  - {f.check}: {f.message}" for f in exc.failures)
        raise click.ClickException(
            f"import rejected, the database was not changed:\n{lines}"
        ) from None
    click.echo(f"imported {path}; the previous database is kept as {before.name}")
    for warning in warnings:
        click.echo(f"warning: connection {warning['connectionId']}: {warning['message']}", err=True)


def _import(ctx: Context, path: Path, limit: int) -> tuple[Path, list[dict[str, str]]]:
    directory = ctx.settings.backups_dir
    copy = copy_to_temp(path, directory, "incoming")
    try:
        warnings = prepare_import(
            copy,
            vault=ctx.secrets.vault,
            local_settings=read_local_settings(ctx.db),
            page_size=page_size(ctx.db),
            max_bytes=limit,
        )
        before = backup_path(directory, "pre-import", time.time())
        restore_into(ctx.db, copy, backup_to=before)
    finally:
        copy.unlink(missing_ok=True)
    try:
        index_from_db(ctx.db, ctx.registry, ctx.secrets.vault)  # what a gateway will load
    except Exception as exc:
        rollback = copy_to_temp(before, directory, "rollback")
        try:
            restore_into(ctx.db, rollback, backup_to=None)
        finally:
            rollback.unlink(missing_ok=True)
        failure = Failure("load", f"the imported configuration cannot be loaded: {exc}")
        raise ImportRejected([failure]) from None
    return before, warnings


@db.command("backup")
@with_context
def backup(ctx: Context) -> None:
    """Back the database up into DATA_DIR/backups now (retention applies)."""
    directory = ctx.settings.backups_dir
    made = snapshot(ctx.db.conn, backup_path(directory, "manual", time.time()))
    deleted = prune(directory, load_settings(ctx.db), time.time())
    click.echo(f"backed up to {made}")
    for name in deleted:
        click.echo(f"retention deleted {name}")


@db.command("backups")
@json_option
@with_context
def backups(ctx: Context, as_json: bool) -> None:
    """List the backups in DATA_DIR/backups, newest first."""
    found = [b.to_api() for b in list_backups(ctx.settings.backups_dir)]
    if as_json:
        click.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    if not found:
        click.echo(f"(no backups in {ctx.settings.backups_dir})")
        return
    width = max(len(b["name"]) for b in found)
    click.echo(f"{'name'.ljust(width)}  {'created'.ljust(25)}  size")
    for b in found:
        click.echo(f"{b['name'].ljust(width)}  {b['createdAt'].ljust(25)}  {b['size']}")
    settings = load_settings(ctx.db)
    state = "on" if settings.enabled else "off"
    click.echo(
        f"automatic backups {state}: every {settings.interval_hours:g} h, keep "
        f"{settings.keep_latest}, at most {settings.retention_days:g} days"
    )
