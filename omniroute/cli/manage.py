"""``omniroute plugins|providers|keys``: manage the gateway from a terminal.

These commands work on the database directly, so they work whether or not the gateway is
running; a running gateway notices the change within a second.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import click
import orjson
import sqlite_utils

from omniroute.accounts import client_keys, connections
from omniroute.accounts.checks import check_connection
from omniroute.admin import config_ops
from omniroute.admin import keys as admin_keys
from omniroute.errors import ConfigError, GatewayError
from omniroute.plugins import (
    PluginManager,
    Registry,
    build_registry,
    describe_plugins,
    get_plugin_manager,
)
from omniroute.reload import index_from_db
from omniroute.secrets_store import Secrets, load_secrets
from omniroute.settings import Settings
from omniroute.store.db import open_database


@dataclass
class Context:
    """What a management command works with."""

    settings: Settings
    pm: PluginManager
    registry: Registry
    db: sqlite_utils.Database
    secrets: Secrets


def with_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--data-dir`` and pass an opened :class:`Context`; errors become clean messages."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory (env DATA_DIR, default ~/.omniroute).",
    )
    @functools.wraps(fn)
    def wrapper(data_dir: Path | None, **kwargs: Any) -> Any:
        settings = Settings()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir.expanduser()})
        try:
            pm = get_plugin_manager()
            ctx = Context(
                settings,
                pm,
                build_registry(pm),
                open_database(settings.database_path),
                load_secrets(settings),
            )
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            return fn(ctx, **kwargs)
        except GatewayError as exc:
            raise click.ClickException(exc.message) from None
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            ctx.db.close()

    return wrapper


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = {
        c: max(len(c), *(len(str(r.get(c) if r.get(c) is not None else "-")) for r in rows))
        for c in columns
    }
    click.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        cells = (
            str(row.get(c) if row.get(c) is not None else "-").ljust(widths[c]) for c in columns
        )
        click.echo("  ".join(cells))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


# -- plugins ------------------------------------------------------------------------------------


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List loaded plugins, their versions and what each registered."""
    try:
        pm = get_plugin_manager()
        info = describe_plugins(pm, build_registry(pm))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return
    for plugin in info:
        origin = "built-in" if plugin["builtin"] else plugin["distribution"]
        click.echo(f"{plugin['name']} {plugin['version']} ({origin})")
        for category, items in plugin["registered"].items():
            click.echo(f"  {category}: {', '.join(items)}")


# -- providers (connections) --------------------------------------------------------------------


@click.group()
def providers() -> None:
    """Manage connections: accounts at providers."""


@providers.command("add")
@click.argument("provider")
@click.option(
    "--api-key",
    envvar="OMNIROUTE_PROVIDER_API_KEY",
    help="The provider API key (or env OMNIROUTE_PROVIDER_API_KEY; prompted if absent).",
)
@click.option("--name", help="A name to tell accounts apart.")
@click.option("--priority", type=int, default=0, show_default=True, help="Lower is tried first.")
@click.option("--base-url", help="Override the provider's base URL.")
@click.option("--default-model", help="Model used when a request names only the provider.")
@click.option("--inactive", is_flag=True, help="Store it disabled.")
@with_context
def providers_add(
    ctx: Context,
    provider: str,
    api_key: str | None,
    name: str | None,
    priority: int,
    base_url: str | None,
    default_model: str | None,
    inactive: bool,
) -> None:
    """Add a connection to PROVIDER (an id or prefix such as openai, ds, groq)."""
    if api_key is None:
        api_key = click.prompt("API key", hide_input=True)
    data = {
        "provider": provider,
        "apiKey": api_key,
        "name": name,
        "priority": priority,
        "baseUrl": base_url,
        "defaultModel": default_model,
        "isActive": not inactive,
    }
    created = config_ops.create_connection(
        ctx.db, ctx.registry, ctx.secrets.vault, {k: v for k, v in data.items() if v is not None}
    )
    click.echo(f"added connection {created['id']} ({created['provider']}, key {created['apiKey']})")


@providers.command("list")
@json_option
@with_context
def providers_list(ctx: Context, as_json: bool) -> None:
    """List connections in routing order (credentials masked)."""
    rows = [connections.to_api(r) for r in connections.list_rows(ctx.db)]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    _table(rows, ["id", "provider", "name", "priority", "isActive", "apiKey", "baseUrl"])


@providers.command("remove")
@click.argument("connection_id")
@with_context
def providers_remove(ctx: Context, connection_id: str) -> None:
    """Remove the connection CONNECTION_ID."""
    if not config_ops.delete_connection(ctx.db, connection_id):
        raise click.ClickException(f"connection '{connection_id}' not found")
    click.echo(f"removed connection {connection_id}")


@providers.command("test")
@click.argument("connection_id")
@with_context
def providers_test(ctx: Context, connection_id: str) -> None:
    """Make one real upstream call with CONNECTION_ID and report latency or the error."""
    index = index_from_db(ctx.db, ctx.registry, ctx.secrets.vault)
    conn = index.all_connections.get(connection_id)
    if conn is None:
        raise click.ClickException(f"connection '{connection_id}' not found")
    provider = index.providers.get(conn.provider)
    if provider is None:
        raise click.ClickException(f"provider '{conn.provider}' is not installed")

    async def check() -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=ctx.settings.connect_timeout, sock_read=ctx.settings.read_timeout
        )
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return await check_connection(session, provider, conn)

    result = asyncio.run(check())
    if result["ok"]:
        click.echo(f"ok: {provider.id} answered in {result['latencyMs']} ms")
    else:
        click.echo(f"failed after {result['latencyMs']} ms: {result['error']}", err=True)
        sys.exit(1)


# -- client keys --------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Manage client API keys (what tools send to the gateway)."""


def _key_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by ``keys create`` and ``keys update``."""
    fn = click.option(
        "--allow",
        "allowed_models",
        multiple=True,
        help="A model or combo the key may use; shell-style patterns (openai/*). Repeatable.",
    )(fn)
    fn = click.option(
        "--expires", help="When the key stops working: an ISO 8601 time with a timezone."
    )(fn)
    fn = click.option("--rpm", type=int, help="Requests per minute the key may make.")(fn)
    return fn


def _key_fields(
    allowed_models: tuple[str, ...], expires: str | None, rpm: int | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if allowed_models:
        fields["allowedModels"] = list(allowed_models)
    if expires is not None:
        fields["expiresAt"] = expires
    if rpm is not None:
        fields["rpmLimit"] = rpm
    return fields


@keys.command("create")
@click.argument("name", default="default")
@_key_options
@with_context
def keys_create(
    ctx: Context, name: str, allowed_models: tuple[str, ...], expires: str | None, rpm: int | None
) -> None:
    """Create a key called NAME and print it once."""
    data = {"name": name, **_key_fields(allowed_models, expires, rpm)}
    created = admin_keys.create(ctx.db, ctx.secrets.api_key_secret, data)
    click.echo(f"created key {created['id']} ({name}). Copy it now; it is not shown again:")
    click.echo(created["key"])


@keys.command("update")
@click.argument("key_id")
@click.option("--name", help="A new name.")
@_key_options
@click.option("--any-model", is_flag=True, help="Lift the model restriction.")
@click.option("--no-expiry", is_flag=True, help="Remove the expiry.")
@click.option("--no-rpm", is_flag=True, help="Remove the rate limit.")
@with_context
def keys_update(
    ctx: Context,
    key_id: str,
    name: str | None,
    allowed_models: tuple[str, ...],
    expires: str | None,
    rpm: int | None,
    any_model: bool,
    no_expiry: bool,
    no_rpm: bool,
) -> None:
    """Change the key KEY_ID's name, allowed models, expiry or rate limit."""
    data = _key_fields(allowed_models, expires, rpm)
    if name is not None:
        data["name"] = name
    for flag, field in (
        (any_model, "allowedModels"),
        (no_expiry, "expiresAt"),
        (no_rpm, "rpmLimit"),
    ):
        if flag:
            data[field] = None
    if admin_keys.update(ctx.db, key_id, data) is None:
        raise click.ClickException(f"key '{key_id}' not found")
    click.echo(f"updated key {key_id}")


@keys.command("regenerate")
@click.argument("key_id")
@with_context
def keys_regenerate(ctx: Context, key_id: str) -> None:
    """Give the key KEY_ID a new secret and print it once; the old one stops working."""
    result = admin_keys.regenerate(ctx.db, ctx.secrets.api_key_secret, key_id)
    if result is None:
        raise click.ClickException(f"key '{key_id}' not found")
    click.echo(f"regenerated key {key_id}. Copy it now; it is not shown again:")
    click.echo(result["key"])


@keys.command("list")
@json_option
@with_context
def keys_list(ctx: Context, as_json: bool) -> None:
    """List keys (masked)."""
    rows = [client_keys.to_api(r) for r in client_keys.list_rows(ctx.db)]
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    _table(
        rows,
        ["id", "name", "key", "active", "allowedModels", "expiresAt", "rpmLimit", "lastUsedAt"],
    )


@keys.command("revoke")
@click.argument("key_id")
@with_context
def keys_revoke(ctx: Context, key_id: str) -> None:
    """Revoke the key KEY_ID."""
    if not client_keys.revoke(ctx.db, key_id):
        raise click.ClickException(f"key '{key_id}' not found")
    click.echo(f"revoked key {key_id}")
