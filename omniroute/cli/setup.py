"""``omniroute setup TOOL``: point a coding tool on this machine at the gateway, like the
dashboard's CLI tools page (same files, same merge, same backups)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from omniroute.admin import keys as admin_keys
from omniroute.admin.cli_tools import PUBLIC_URL_ENV
from omniroute.errors import ConfigError, GatewayError
from omniroute.secrets_store import load_secrets
from omniroute.settings import Settings
from omniroute.store.db import open_database
from omniroute.tools import (
    PLACEHOLDER_KEY,
    TOOLS,
    Target,
    Tool,
    apply,
    describe,
    get_tool,
    make_target,
    tools_home,
)


def _default_url(settings: Settings) -> str:
    public = os.environ.get(PUBLIC_URL_ENV)
    if public:
        return public
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _create_key(settings: Settings, name: str) -> str:
    """A new client key in the gateway's database; its plain value goes into the file."""
    db = open_database(settings.database_path)
    try:
        created = admin_keys.create(db, load_secrets(settings).api_key_secret, {"name": name})
    finally:
        db.close()
    click.echo(f"created key {created['id']} ({name})", err=True)
    return str(created["key"])


def _show(tool: Tool, target: Target) -> None:
    info = describe(tool, target, tools_home())
    for step in info["steps"]:
        click.echo(f"# {step}")
    if info["snippet"]:
        click.echo(f"# {info['file']['path']}:")
        click.echo(info["snippet"]["text"], nl=False)
    else:
        for item in info["settings"]:
            click.echo(f"{item['label']}: {item['value']}")
    for line in info["env"]:
        click.echo(line)


@click.command("setup")
@click.argument("tool", type=click.Choice([t.id for t in TOOLS]))
@click.option("--key", help="A client key of this gateway (sk-omni-...).")
@click.option("--create-key", is_flag=True, help="Create a new client key for this tool.")
@click.option("--key-name", help="Name of the key --create-key makes (default: the tool's id).")
@click.option(
    "--url", help="The gateway's URL as the tool reaches it (default: from PORT/HOSTNAME)."
)
@click.option("--model", help="The model (or combo) the tool should use.")
@click.option("--print", "print_only", is_flag=True, help="Show the configuration; write nothing.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory, for --create-key (env DATA_DIR, default ~/.omniroute).",
)
def setup(
    tool: str,
    key: str | None,
    create_key: bool,
    key_name: str | None,
    url: str | None,
    model: str | None,
    print_only: bool,
    data_dir: Path | None,
) -> None:
    """Point TOOL (claude-code, codex, cursor, openclaw, continue, cline, roocode) at the gateway.

    Tools configured by a file get it written (merged into an existing one, which is first
    backed up as FILE.omniroute-backup-TIMESTAMP) under CLI_TOOLS_HOME or your home; the
    others get the values to paste into their settings. --print only shows.
    """
    chosen = get_tool(tool)
    assert chosen is not None  # click.Choice
    if key and create_key:
        raise click.UsageError("give --key or --create-key, not both")
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir.expanduser()})
    try:
        if create_key:
            key = _create_key(settings, key_name or tool)
        if not key and not (print_only or chosen.config is None):
            raise click.UsageError("give --key KEY or --create-key (or --print to only show)")
        target = make_target(url or _default_url(settings), key or PLACEHOLDER_KEY, model)
        if print_only or chosen.config is None:
            _show(chosen, target)
            return
        applied = apply(chosen, target)
    except GatewayError as exc:
        raise click.ClickException(exc.message) from None
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {applied.path}")
    if applied.backup:
        click.echo(f"backup of the previous file: {applied.backup}")
    if chosen.id == "codex":
        click.echo("Codex reads the key from the environment; add to your shell profile:")
        for line in describe(chosen, target, tools_home())["env"]:
            click.echo(line)
