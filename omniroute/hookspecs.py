"""The whole extension surface of OmniRoute. Only markers and hook specifications live here.

Catalogue hooks receive a ``register`` callback: call it once per thing the plugin contributes.
The kernel validates each item, rejects duplicate ids at startup naming both plugins, and
records which plugin registered what (``omniroute plugins``, ``GET /api/plugins``). Hooks are
called once, when the app (or the CLI) is built, never per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from omniroute.extensions import AuthFlow, DashboardPanel, Middleware, Route, Strategy
    from omniroute.formats.base import Format
    from omniroute.providers import Provider

PROJECT = "omniroute"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_formats(register: Callable[[Format], None]) -> None:
    """Register wire formats (instances of ``omniroute.Format``) by their ``id``."""


@hookspec
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register upstream providers (instances of ``omniroute.Provider``).

    A provider's ``id``, ``prefix`` and ``aliases`` must be unique across all plugins. Template
    providers (``template=True``) are the types users pick for custom provider nodes.
    """


@hookspec
def register_auth_flows(register: Callable[[AuthFlow], None]) -> None:
    """Register ways of obtaining credentials (``omniroute.AuthFlow``): API key, OAuth, device
    code, token exchange, credential-file import. Providers name the flow they use."""


@hookspec
def register_strategies(register: Callable[[Strategy], None]) -> None:
    """Register ordering strategies (``omniroute.Strategy``) for accounts or combo targets.

    ``Strategy.order`` is synchronous and runs on the hot path: no I/O, no awaits.
    """


@hookspec
def register_middlewares(register: Callable[[Middleware], None]) -> None:
    """Register async layers (``omniroute.Middleware``) around each upstream attempt: caching,
    idempotency, request logs, guardrails. ``handler(attempt, call_next)`` returns an
    ``UpstreamResponse``."""


@hookspec
def register_routes(register: Callable[[Route], None]) -> None:
    """Register extra HTTP routes (``omniroute.Route``); added before the router freezes."""


@hookspec
def register_dashboard_panels(register: Callable[[DashboardPanel], None]) -> None:
    """Register dashboard panels (``omniroute.DashboardPanel``); the dashboard builds its
    navigation from them."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``omniroute`` command line via ``cli.command()``."""
