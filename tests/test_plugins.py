"""The plugin manager: discovery through entry points, allow and block lists, and the registry's
refusal of anything ambiguous (duplicate names, ids, prefixes), broken or of the wrong type.

Installed plugins are simulated the way pip installs them: a ``*.dist-info`` directory with
``METADATA`` and ``entry_points.txt`` next to the plugin module, on ``sys.path``. Discovery then
goes through the real ``importlib_metadata`` machinery.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import importlib_metadata
import pytest

from omniroute import (
    AuthField,
    AuthFlow,
    DashboardPanel,
    Middleware,
    ModelInfo,
    Provider,
    Route,
    Strategy,
    hookimpl,
)
from omniroute.app import create_app
from omniroute.errors import ConfigError
from omniroute.plugins import (
    DEFAULT_PLUGINS,
    Distribution,
    build_registry,
    describe_plugins,
    get_plugin_manager,
)
from tests.conftest import make_settings

PROVIDER_PLUGIN = """
from omniroute import ModelInfo, Provider, hookimpl

@hookimpl
def register_providers(register):
    register(Provider(id={id!r}, name={id!r}, prefix={prefix!r},
                      base_url="https://{id}.example.com/v1",
                      models=[ModelInfo("{id}-large"), ModelInfo("{id}-small")]))
"""


class Site:
    """A directory on ``sys.path`` where tests install fake distributions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def module(self, name: str, source: str) -> None:
        """Write an importable module."""
        (self.root / f"{name}.py").write_text(textwrap.dedent(source))
        self.modules.append(name)

    def distribution(
        self, name: str, version: str, entry_points: dict[str, str], modules: dict[str, str]
    ) -> None:
        """Install a distribution: its modules plus the metadata pip would write."""
        for module_name, source in modules.items():
            self.module(module_name, source)
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text("[omniroute]\n" + lines)

    def provider_distribution(self, name: str, provider_id: str, prefix: str) -> None:
        """A distribution whose one plugin (named like the provider) registers one provider."""
        module = f"{provider_id}_plugin"
        self.distribution(
            name,
            "1.2.3",
            {provider_id: module},
            {module: PROVIDER_PLUGIN.format(id=provider_id, prefix=prefix)},
        )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    site = Site(root)
    yield site
    for name in site.modules:  # the next test's modules of the same name live elsewhere
        sys.modules.pop(name, None)


def plugin(hook: str, *items: object) -> object:
    """A plugin object whose ``hook`` registers ``items``."""

    class One:
        pass

    def impl(self: object, register: Callable[[object], None]) -> None:
        for item in items:
            register(item)

    impl.__name__ = hook
    setattr(One, hook, hookimpl(impl))
    return One()


def provider(pid: str, prefix: str | None = None, aliases: tuple[str, ...] = ()) -> Provider:
    return Provider(
        id=pid,
        name=pid.title(),
        prefix=prefix,
        aliases=aliases,
        base_url=f"https://{pid}.example.com/v1",
        models=[ModelInfo(f"{pid}-1")],
    )


def bare_manager(**kwargs: object) -> object:
    """A manager with the default plugins only (no installed plugin)."""
    return get_plugin_manager(load=[], **kwargs)  # type: ignore[arg-type]


# -- discovery ----------------------------------------------------------------------------------


def test_installed_plugins_are_discovered_through_their_entry_points(site):
    site.provider_distribution("omniroute-alpha", "alpha", "al")
    pm = get_plugin_manager()
    assert pm.has_plugin("alpha")
    assert pm.distributions["alpha"] == Distribution("omniroute-alpha", "1.2.3")
    assert pm.has_plugin("omniroute-openai")  # the real installed plugin is found alongside
    registry = build_registry(pm)
    assert registry.prefixes["al"].id == "alpha"
    assert registry.providers["alpha"].base_url == "https://alpha.example.com/v1"


def test_default_plugins_are_always_loaded_before_installed_ones(site):
    site.provider_distribution("omniroute-alpha", "alpha", "al")
    pm = get_plugin_manager()
    names = [name for name, _ in pm.list_name_plugin()]
    assert names[: len(DEFAULT_PLUGINS)] == list(DEFAULT_PLUGINS)
    assert "alpha" in names[len(DEFAULT_PLUGINS) :]


def test_explicit_entry_points_replace_discovery(site):
    site.provider_distribution("omniroute-alpha", "alpha", "al")
    site.module("gamma_plugin", PROVIDER_PLUGIN.format(id="gamma", prefix="ga"))
    ep = importlib_metadata.EntryPoint(name="gamma", value="gamma_plugin", group="omniroute")
    pm = get_plugin_manager(entry_points=[ep])
    assert pm.has_plugin("gamma")
    assert not pm.has_plugin("alpha")
    assert not pm.has_plugin("omniroute-openai")


def test_each_call_builds_a_fresh_manager():
    first, second = get_plugin_manager(), get_plugin_manager()
    assert first is not second
    assert first.get_plugin("omniroute-openai") is second.get_plugin("omniroute-openai")
    first.unregister(name="omniroute-openai")
    assert second.has_plugin("omniroute-openai")


# -- allow and block lists ----------------------------------------------------------------------


@pytest.fixture
def two_plugins(site: Site) -> Site:
    site.provider_distribution("omniroute-alpha", "alpha", "al")
    site.provider_distribution("omniroute-beta", "beta", "be")
    return site


def loaded(pm: object) -> set[str]:
    return {name for name, _ in pm.list_name_plugin()} - set(DEFAULT_PLUGINS)  # type: ignore[attr-defined]


def test_allow_list_from_the_environment_loads_only_the_named_plugins(two_plugins, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_LOAD_PLUGINS", "alpha")
    pm = get_plugin_manager()
    assert loaded(pm) == {"alpha"}
    assert set(DEFAULT_PLUGINS) <= {name for name, _ in pm.list_name_plugin()}


def test_allow_list_accepts_distribution_names_and_spaces(two_plugins, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_LOAD_PLUGINS", " omniroute-beta , alpha ,")
    assert loaded(get_plugin_manager()) == {"alpha", "beta"}


def test_load_argument_overrides_the_environment(two_plugins, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_LOAD_PLUGINS", "alpha")
    assert loaded(get_plugin_manager(load=["beta"])) == {"beta"}


def test_empty_allow_list_loads_no_installed_plugin(two_plugins):
    pm = get_plugin_manager(load=[])
    assert loaded(pm) == set()
    assert "fill-first" in {sid for _, sid in build_registry(pm).strategies}


def test_block_list_from_the_environment_skips_the_named_plugins(two_plugins, monkeypatch):
    # Whatever provider plugins this environment has installed are blocked too.
    installed = loaded(get_plugin_manager()) - {"alpha", "beta"}
    monkeypatch.setenv("OMNIROUTE_DISABLE_PLUGINS", ",".join(["alpha", *sorted(installed)]))
    assert loaded(get_plugin_manager()) == {"beta"}


def test_disable_argument_blocks_by_distribution_name(two_plugins):
    everything = loaded(get_plugin_manager())
    assert {"alpha", "beta"} <= everything
    assert loaded(get_plugin_manager(disable=["omniroute-beta"])) == everything - {"beta"}


def test_block_list_wins_over_the_allow_list(two_plugins):
    assert loaded(get_plugin_manager(load=["alpha", "beta"], disable=["alpha"])) == {"beta"}


def test_block_list_can_disable_a_default_plugin(two_plugins):
    pm = get_plugin_manager(load=[], disable=["omniroute.routing.strategies"])
    assert not pm.has_plugin("omniroute.routing.strategies")
    assert pm.has_plugin("omniroute.formats.openai")
    assert [key for key in build_registry(pm).strategies if key[0] == "account"] == []


def test_gateway_refuses_to_start_without_the_strategy_it_is_configured_to_use(tmp_path):
    pm = get_plugin_manager(load=[], disable=["omniroute.routing.strategies"])
    with pytest.raises(ConfigError, match="unknown account strategy 'fill-first'"):
        create_app(make_settings(tmp_path), pm)


def test_gateway_refuses_to_start_without_the_openai_format(tmp_path):
    pm = get_plugin_manager(load=[], disable=["omniroute.formats.openai"])
    with pytest.raises(ConfigError, match="'openai' format"):
        create_app(make_settings(tmp_path), pm)


# -- broken or ambiguous plugins ----------------------------------------------------------------


def test_two_plugins_with_the_same_entry_point_name_fail_naming_both(site):
    site.distribution("omniroute-one", "1.0", {"dup": "dup_one"}, {"dup_one": ""})
    site.distribution("omniroute-two", "2.0", {"dup": "dup_two"}, {"dup_two": ""})
    with pytest.raises(ConfigError, match="two plugins are named 'dup'") as caught:
        get_plugin_manager(load=["dup"])
    assert "omniroute-one" in str(caught.value)
    assert "omniroute-two" in str(caught.value)


def test_an_entry_point_named_like_a_default_plugin_is_refused(site):
    site.distribution(
        "omniroute-impostor", "1.0", {"omniroute.formats.openai": "impostor"}, {"impostor": ""}
    )
    with pytest.raises(ConfigError, match="built-ins") as caught:
        get_plugin_manager(load=["omniroute-impostor"])
    assert "omniroute-impostor" in str(caught.value)


def test_a_plugin_that_fails_to_import_is_named(site):
    site.distribution(
        "omniroute-broken", "1.0", {"broken": "broken_plugin"}, {"broken_plugin": "1 / 0\n"}
    )
    with pytest.raises(ConfigError) as caught:
        get_plugin_manager(load=["broken"])
    message = str(caught.value)
    assert "'broken'" in message and "broken_plugin" in message
    assert "failed to import" in message and "division by zero" in message


def test_an_entry_point_naming_a_missing_module_is_named(site):
    site.distribution("omniroute-ghost", "1.0", {"ghost": "no_such_module_anywhere"}, {})
    with pytest.raises(ConfigError, match=r"'ghost'.*failed to import"):
        get_plugin_manager(load=["ghost"])


def test_a_misspelled_hook_fails_naming_the_plugin_and_the_hook(site):
    site.distribution(
        "omniroute-typo",
        "1.0",
        {"misspelt": "plugin_with_a_typo"},
        {
            "plugin_with_a_typo": """
                from omniroute import hookimpl

                @hookimpl
                def register_provider(register):
                    pass
            """
        },
    )
    with pytest.raises(ConfigError, match="register_provider") as caught:
        get_plugin_manager(load=["misspelt"])
    # The user knows the plugin by the name `omniroute plugins` shows, not by a module repr.
    assert "'misspelt'" in str(caught.value)


def test_a_misspelled_hook_on_a_plugin_registered_later_fails_check_pending():
    pm = bare_manager()
    pm.register(plugin("register_provider", provider("alpha")), name="typo")
    with pytest.raises(Exception, match="register_provider"):
        pm.check_pending()


def test_two_plugins_registering_the_same_provider_id_fail_naming_both():
    pm = bare_manager()
    pm.register(plugin("register_providers", provider("alpha", "a1")), name="first")
    pm.register(plugin("register_providers", provider("alpha", "a2")), name="second")
    with pytest.raises(ConfigError, match="provider 'alpha' is registered twice") as caught:
        build_registry(pm)
    assert "'first'" in str(caught.value) and "'second'" in str(caught.value)


def test_a_prefix_that_collides_with_another_plugins_prefix_fails_naming_both():
    pm = bare_manager()
    pm.register(plugin("register_providers", provider("alpha", "al")), name="first")
    pm.register(plugin("register_providers", provider("beta", "al")), name="second")
    with pytest.raises(ConfigError, match="'al' is registered twice") as caught:
        build_registry(pm)
    assert "'first'" in str(caught.value) and "'second'" in str(caught.value)


def test_an_alias_that_collides_with_a_bundled_prefix_fails_naming_both():
    pm = get_plugin_manager(load=["omniroute-openai"])
    pm.register(plugin("register_providers", provider("mine", aliases=("ds",))), name="mine")
    with pytest.raises(ConfigError, match="'ds' is registered twice") as caught:
        build_registry(pm)
    assert "'omniroute-openai'" in str(caught.value) and "'mine'" in str(caught.value)


def test_a_prefix_equal_to_another_providers_id_fails():
    pm = bare_manager()
    pm.register(plugin("register_providers", provider("alpha", "al")), name="first")
    pm.register(plugin("register_providers", provider("beta", "alpha")), name="second")
    with pytest.raises(ConfigError, match="'alpha' is registered twice"):
        build_registry(pm)


def test_prefixes_that_differ_only_in_case_collide():
    # Resolution lower-cases prefixes, so "AL/x" and "al/x" are the same route.
    pm = bare_manager()
    pm.register(plugin("register_providers", provider("alpha", "AL")), name="first")
    pm.register(plugin("register_providers", provider("beta", "al")), name="second")
    with pytest.raises(ConfigError, match="registered twice") as caught:
        build_registry(pm)
    assert "'first'" in str(caught.value) and "'second'" in str(caught.value)


def test_a_provider_prefix_with_a_slash_is_refused():
    pm = bare_manager()
    pm.register(plugin("register_providers", provider("alpha", "al/pha")), name="slashy")
    with pytest.raises(ConfigError, match=r"'slashy'.*without '/'"):
        build_registry(pm)


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        ("register_providers", "Provider"),
        ("register_formats", "Format"),
        ("register_auth_flows", "AuthFlow"),
        ("register_strategies", "Strategy"),
        ("register_middlewares", "Middleware"),
        ("register_routes", "Route"),
        ("register_dashboard_panels", "DashboardPanel"),
    ],
)
def test_registering_the_wrong_type_fails_naming_the_plugin_and_the_expected_type(hook, expected):
    pm = bare_manager()
    pm.register(plugin(hook, {"id": "not-an-object"}), name="sloppy")
    with pytest.raises(ConfigError, match=f"expected an instance of {expected}") as caught:
        build_registry(pm)
    assert "'sloppy'" in str(caught.value) and hook in str(caught.value)


@pytest.mark.parametrize(
    ("hook", "item"),
    [
        ("register_auth_flows", AuthFlow("api-key", "api-key", "Key", (), str)),
        ("register_strategies", Strategy("fill-first", "account", lambda c, ctx: list(c))),
    ],
)
def test_a_plugin_cannot_take_over_an_id_a_default_plugin_registered(hook, item):
    pm = bare_manager()
    pm.register(plugin(hook, item), name="usurper")
    with pytest.raises(ConfigError, match="registered twice") as caught:
        build_registry(pm)
    assert "'usurper'" in str(caught.value)


# -- describing what is loaded -------------------------------------------------------------------


async def _noop_handler(request):  # pragma: no cover - never called
    raise AssertionError


async def _passthrough(attempt, call_next):  # pragma: no cover - never called
    return await call_next(attempt)


class EverythingPlugin:
    """Registers one thing through every catalogue hook."""

    @hookimpl
    def register_providers(self, register):
        register(provider("alpha", "al"))

    @hookimpl
    def register_auth_flows(self, register):
        register(AuthFlow("alpha-key", "api-key", "Alpha key", (AuthField("apiKey", "Key"),), str))

    @hookimpl
    def register_strategies(self, register):
        register(Strategy("newest-first", "account", lambda conns, ctx: list(conns)[::-1]))

    @hookimpl
    def register_middlewares(self, register):
        register(Middleware("alpha-log", _passthrough))

    @hookimpl
    def register_routes(self, register):
        register(Route("GET", "/alpha", _noop_handler))

    @hookimpl
    def register_dashboard_panels(self, register):
        register(DashboardPanel("alpha", "Alpha", "alpha:panel.js"))


def test_describe_plugins_lists_name_distribution_version_hooks_and_registrations(site):
    site.provider_distribution("omniroute-alpha", "alpha", "al")
    pm = get_plugin_manager(load=["alpha", "omniroute-openai"])
    info = {p["name"]: p for p in describe_plugins(pm, build_registry(pm))}

    assert set(info) == {*DEFAULT_PLUGINS, "alpha", "omniroute-openai"}
    assert info["alpha"] == {
        "name": "alpha",
        "distribution": "omniroute-alpha",
        "version": "1.2.3",
        "builtin": False,
        "hooks": ["register_providers"],
        "registered": {"provider": ["alpha"]},
    }
    bundled = info["omniroute-openai"]
    assert bundled["distribution"] == "omniroute-openai"
    assert bundled["version"] == importlib_metadata.version("omniroute-openai")
    assert {"openai", "deepseek", "openai-compatible"} <= set(bundled["registered"]["provider"])
    formats = info["omniroute.formats.openai"]
    assert formats["builtin"] is True
    assert formats["distribution"] == "omniroute"
    assert formats["registered"] == {"format": ["openai"]}
    assert info["omniroute.routing.strategies"]["registered"] == {
        "strategy": [
            "account:fill-first",
            "account:round-robin",
            "account:p2c",
            "account:random",
            "account:least-used",
            "account:cost-optimized",
        ]
    }
    assert info["omniroute.accounts.flows"]["registered"] == {"auth flow": ["api-key"]}


def test_describe_plugins_records_every_kind_of_registration():
    pm = bare_manager()
    pm.register(EverythingPlugin(), name="everything")
    info = {p["name"]: p for p in describe_plugins(pm, build_registry(pm))}["everything"]
    assert info["hooks"] == [
        "register_auth_flows",
        "register_dashboard_panels",
        "register_middlewares",
        "register_providers",
        "register_routes",
        "register_strategies",
    ]
    assert info["registered"] == {
        "provider": ["alpha"],
        "auth flow": ["alpha-key"],
        "strategy": ["account:newest-first"],
        "middleware": ["alpha-log"],
        "route": ["GET /alpha"],
        "dashboard panel": ["alpha"],
    }


async def test_api_plugins_shows_what_describe_plugins_shows(gateway):
    status, body = await gateway.api("GET", "/api/plugins")
    assert status == 200
    pm = get_plugin_manager()
    assert body == describe_plugins(pm, build_registry(pm))
    by_name = {p["name"]: p for p in body}
    assert by_name["omniroute-openai"]["distribution"] == "omniroute-openai"
    assert "groq" in by_name["omniroute-openai"]["registered"]["provider"]


async def test_api_plugins_shows_a_discovered_plugin_with_its_version(site, make_gateway):
    site.provider_distribution("omniroute-alpha", "alpha", "al")
    gateway = await make_gateway(pm=get_plugin_manager(load=["alpha"]))
    status, body = await gateway.api("GET", "/api/plugins")
    assert status == 200
    alpha = next(p for p in body if p["name"] == "alpha")
    assert (alpha["distribution"], alpha["version"]) == ("omniroute-alpha", "1.2.3")
    assert alpha["registered"] == {"provider": ["alpha"]}


async def test_api_plugins_needs_a_dashboard_session(gateway):
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(gateway.url + "/api/plugins") as resp,
    ):
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "login_required"
