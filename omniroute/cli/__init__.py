"""The ``omniroute`` command line: run the gateway and manage it without the dashboard."""

from __future__ import annotations

import sys

import click

from omniroute.cli import budgets, combos, db, login, manage, serve, setup
from omniroute.errors import ConfigError
from omniroute.plugins import PluginManager, get_plugin_manager


def build_cli() -> click.Group:
    """The command group, with the commands plugins add through ``register_commands``."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="omniroute")
    def cli() -> None:
        """OmniRoute: one local endpoint for every coding tool's API, routed to any provider
        and account. Settings come from the environment (PORT, HOSTNAME, DATA_DIR, ...)."""

    cli.add_command(serve.run)
    cli.add_command(manage.plugins)
    cli.add_command(manage.providers)
    cli.add_command(manage.keys)
    cli.add_command(combos.combos)
    cli.add_command(db.db)
    cli.add_command(budgets.budgets_group)
    cli.add_command(setup.setup)
    cli.add_command(login.login)
    add_plugin_commands(cli, get_plugin_manager())
    return cli


def add_plugin_commands(cli: click.Group, pm: PluginManager) -> None:
    """Let each plugin add commands; replacing an existing command is a configuration error,
    like any other duplicate id (a plugin must not silently change what ``run`` does)."""
    for impl in pm.hook.register_commands.get_hookimpls():
        before = dict(cli.commands)
        impl.function(**{arg: cli for arg in impl.argnames})
        for name, command in before.items():
            if cli.commands.get(name) is not command:
                raise ConfigError(
                    f"plugin {impl.plugin_name!r} registers the command {name!r}, which "
                    "already exists; disable one of them with OMNIROUTE_DISABLE_PLUGINS"
                )


def main() -> None:
    """Console-script entry point."""
    try:
        cli = build_cli()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    cli()
