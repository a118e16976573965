"""The plugin manager factory and the registry built from what plugins register."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata
import pluggy

from omniroute import hookspecs
from omniroute.errors import ConfigError
from omniroute.extensions import AuthFlow, DashboardPanel, Middleware, Route, Strategy
from omniroute.formats.base import Format
from omniroute.providers import Provider

ENTRY_POINT_GROUP = "omniroute"

#: Built-in behaviour, written as plugins against the public hooks.
DEFAULT_PLUGINS = (
    "omniroute.formats.openai",
    "omniroute.formats.anthropic",
    "omniroute.formats.responses",
    "omniroute.formats.gemini",
    "omniroute.routing.strategies",
    "omniroute.routing.combo_strategies",
    "omniroute.accounts.flows",
    "omniroute.oauth.plugin",
    "omniroute.dashboard.builtin_panels",
)


@dataclass(frozen=True, slots=True)
class Distribution:
    """The installed package a plugin came from."""

    name: str
    version: str


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.distributions: dict[str, Distribution] = {}


def _names_from_env(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def get_plugin_manager(
    *,
    load: Iterable[str] | None = None,
    disable: Iterable[str] | None = None,
    entry_points: Iterable[importlib_metadata.EntryPoint] | None = None,
) -> PluginManager:
    """Build a fresh plugin manager: default plugins, then installed entry points.

    ``load`` is an allow-list and ``disable`` a block-list of plugin names (entry point names or
    distribution names); when omitted they come from ``OMNIROUTE_LOAD_PLUGINS`` and
    ``OMNIROUTE_DISABLE_PLUGINS`` (comma-separated). The allow-list applies to installed plugins
    only; the block-list also applies to default plugins.
    """
    allow = set(load) if load is not None else _names_from_env("OMNIROUTE_LOAD_PLUGINS")
    block = set(disable) if disable is not None else _names_from_env("OMNIROUTE_DISABLE_PLUGINS")
    block = block or set()

    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        if module_name not in block:
            pm.register(importlib.import_module(module_name), name=module_name)

    if entry_points is None:
        entry_points = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in entry_points:
        dist = Distribution(ep.dist.name, ep.dist.version) if ep.dist else None
        names = {ep.name} | ({dist.name} if dist else set())
        if (allow is not None and not names & allow) or names & block:
            continue
        if pm.has_plugin(ep.name):
            other = pm.distributions.get(ep.name)
            raise ConfigError(
                f"two plugins are named {ep.name!r}: one from "
                f"{other.name if other else 'the built-ins'} and one from "
                f"{dist.name if dist else ep.value}; uninstall one or block it with "
                "OMNIROUTE_DISABLE_PLUGINS"
            )
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must say which one it is
            raise ConfigError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
        pm.register(plugin, name=ep.name)
        if dist:
            pm.distributions[ep.name] = dist

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(
            f"plugin {pm.get_name(exc.plugin)!r} implements an unknown hook: {exc.args[0]}"
        ) from exc
    return pm


# -- the registry -------------------------------------------------------------------------------


@dataclass
class Registry:
    """Everything the loaded plugins registered, indexed for use, with who registered what."""

    formats: dict[str, Format] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    templates: dict[str, Provider] = field(default_factory=dict)
    prefixes: dict[str, Provider] = field(default_factory=dict)
    auth_flows: dict[str, AuthFlow] = field(default_factory=dict)
    strategies: dict[tuple[str, str], Strategy] = field(default_factory=dict)
    middlewares: list[Middleware] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    panels: dict[str, DashboardPanel] = field(default_factory=dict)
    contributions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _owners: dict[tuple[str, str], str] = field(default_factory=dict)

    def strategy(self, kind: str, strategy_id: str) -> Strategy:
        """A registered strategy; a missing one is a configuration error."""
        try:
            return self.strategies[(kind, strategy_id)]
        except KeyError:
            known = sorted(sid for k, sid in self.strategies if k == kind)
            raise ConfigError(f"unknown {kind} strategy {strategy_id!r}; known: {known}") from None

    def owner(self, category: str, key: str) -> str | None:
        """The plugin that registered ``key`` in ``category`` (``"dashboard panel"``, ...)."""
        return self._owners.get((category, key.lower()))

    def claim(self, plugin: str, category: str, key: str, label: str | None = None) -> None:
        """Record that ``plugin`` owns ``key`` in ``category``; a second owner is an error.

        Keys compare case-insensitively, as prefixes and ids are matched that way.
        """
        owner = self._owners.get((category, key.lower()))
        if owner is not None:
            raise ConfigError(
                f"{category} {key!r} is registered twice: by plugin {owner!r} and by plugin "
                f"{plugin!r}; disable one of them with OMNIROUTE_DISABLE_PLUGINS"
            )
        self._owners[(category, key.lower())] = plugin
        if label is not None:
            self.contributions.setdefault(plugin, {}).setdefault(category, []).append(label)


def _expect(item: Any, cls: type, plugin: str, hook: str) -> None:
    if not isinstance(item, cls):
        raise ConfigError(
            f"plugin {plugin!r} passed {item!r} to {hook}; expected an instance of {cls.__name__}"
        )


def _add_format(reg: Registry, plugin: str, fmt: Format) -> None:
    _expect(fmt, Format, plugin, "register_formats")
    reg.claim(plugin, "format", fmt.id, fmt.id)
    reg.formats[fmt.id] = fmt


def _add_provider(reg: Registry, plugin: str, provider: Provider) -> None:
    _expect(provider, Provider, plugin, "register_providers")
    if not provider.id or "/" in provider.prefix:
        raise ConfigError(
            f"plugin {plugin!r}: provider {provider!r} needs an id and a prefix without '/'"
        )
    if provider.format not in reg.formats:
        raise ConfigError(
            f"plugin {plugin!r}: provider {provider.id!r} speaks the {provider.format!r} format, "
            f"which no loaded plugin registers (known: {', '.join(sorted(reg.formats))})"
        )
    reg.claim(plugin, "provider", provider.id, provider.id)
    if provider.template:
        reg.templates[provider.id] = provider
        return
    for name in {provider.prefix.lower(), *(a.lower() for a in provider.aliases)}:
        if name != provider.id.lower():
            reg.claim(plugin, "provider", name)
        reg.prefixes[name.lower()] = provider
    reg.prefixes[provider.id.lower()] = provider
    reg.providers[provider.id] = provider


def _add_auth_flow(reg: Registry, plugin: str, flow: AuthFlow) -> None:
    _expect(flow, AuthFlow, plugin, "register_auth_flows")
    reg.claim(plugin, "auth flow", flow.id, flow.id)
    reg.auth_flows[flow.id] = flow


def _add_strategy(reg: Registry, plugin: str, strategy: Strategy) -> None:
    _expect(strategy, Strategy, plugin, "register_strategies")
    key = f"{strategy.kind}:{strategy.id}"
    reg.claim(plugin, "strategy", key, key)
    reg.strategies[(strategy.kind, strategy.id)] = strategy


def _add_middleware(reg: Registry, plugin: str, middleware: Middleware) -> None:
    _expect(middleware, Middleware, plugin, "register_middlewares")
    reg.claim(plugin, "middleware", middleware.id, middleware.id)
    reg.middlewares.append(middleware)


def _add_route(reg: Registry, plugin: str, route: Route) -> None:
    _expect(route, Route, plugin, "register_routes")
    key = f"{route.method.upper()} {route.path}"
    reg.claim(plugin, "route", key, key)
    reg.routes.append(route)


def _add_panel(reg: Registry, plugin: str, panel: DashboardPanel) -> None:
    _expect(panel, DashboardPanel, plugin, "register_dashboard_panels")
    reg.claim(plugin, "dashboard panel", panel.id, panel.id)
    reg.panels[panel.id] = panel


_CATALOGUE: dict[str, Callable[[Registry, str, Any], None]] = {
    "register_formats": _add_format,
    "register_providers": _add_provider,
    "register_auth_flows": _add_auth_flow,
    "register_strategies": _add_strategy,
    "register_middlewares": _add_middleware,
    "register_routes": _add_route,
    "register_dashboard_panels": _add_panel,
}


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every catalogue hook, one plugin at a time so each item is attributed to its plugin."""
    reg = Registry()
    for hook_name, add in _CATALOGUE.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():

            def register(item: Any, _add: Any = add, _plugin: str = impl.plugin_name) -> None:
                _add(reg, _plugin, item)

            impl.function(**{arg: register for arg in impl.argnames})
    reg.middlewares.sort(key=lambda m: m.order)
    return reg


def describe_plugins(pm: PluginManager, reg: Registry) -> list[dict[str, Any]]:
    """One entry per loaded plugin: name, distribution, version, hooks and what it registered."""
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        dist = pm.distributions.get(name)
        builtin = name in DEFAULT_PLUGINS
        if dist is None and builtin:
            dist = Distribution("omniroute", kernel_version())
        out.append(
            {
                "name": name,
                "distribution": dist.name if dist else None,
                "version": dist.version if dist else None,
                "builtin": builtin,
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or ()),
                "registered": reg.contributions.get(name, {}),
            }
        )
    return out


def kernel_version() -> str:
    """The installed version of the kernel distribution."""
    try:
        return importlib_metadata.version("omniroute")
    except importlib_metadata.PackageNotFoundError:
        return "0+unknown"
