"""A third-party plugin's panel joins the dashboard through the same hook as the built-in
ones: its page shows in the navigation in its order, its module and style sheet are served
from its own package, and it works with the shell's toolkit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from omniroute import DashboardPanel, hookimpl
from omniroute.plugins import get_plugin_manager
from tests.dashboard.conftest import BackgroundLoop, LiveGateway, login, open_panel, screenshot

PACKAGE = "tests.dashboard.third_party"


class TeamPlugin:
    @hookimpl
    def register_dashboard_panels(self, register):
        register(
            DashboardPanel(
                id="team",
                title="Team",
                page=f"{PACKAGE}:team.js",
                assets=(f"{PACKAGE}:team.css",),
                icon="🧑",
                order=15,
                api_routes=("GET /api/keys",),
            )
        )


@pytest.fixture(scope="module")
def live(
    background_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    pm = get_plugin_manager()
    pm.register(TeamPlugin(), name="team-plugin")
    gateway = LiveGateway(background_loop, tmp_path_factory.mktemp("third-party"), pm=pm)
    yield gateway
    gateway.close()


def test_a_plugin_page_joins_the_navigation_in_its_order_and_works(
    page: Page, live: LiveGateway
) -> None:
    live.api("POST", "/api/keys", {"name": "team-a"})
    login(page, live)
    links = page.get_by_role("navigation", name="Dashboard").get_by_role("link")
    expect(links.nth(1)).to_have_text("🧑Team")
    open_panel(page, "team")
    expect(page.locator(".team-count")).to_have_text("1 keys")
    # Its style sheet came from its own package.
    weight = page.locator(".team-count").evaluate("el => getComputedStyle(el).fontWeight")
    assert weight == "700"
    screenshot(page, "third-party-panel")
